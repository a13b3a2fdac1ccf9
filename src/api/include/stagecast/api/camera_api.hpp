#pragma once
// Camera preview endpoints (/api/cameras/*) and the action log (/api/logs): thin adapters onto the ingest layer
// (in-process RTSP probe) and the actionlog layer. Probes block on the network, so they run on a small pool of
// their own, never on the HTTP loop.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "stagecast/actionlog/action_log.hpp"
#include "stagecast/api/camera_preview.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::api {

struct CameraApiOptions {
  std::vector<std::string> apiKeys;
  std::chrono::milliseconds probeTimeout{5000};
  std::size_t probeThreads = 2;
  std::size_t maxBodyBytes = 16 * 1024;
  actionlog::ActionLog* actionLog = nullptr;  // optional
  CameraPreviews* previews = nullptr;         // optional: WebRTC previews
};

class CameraApi;

// Registers the routes; the returned object owns the probe pool (keep it alive while the server runs; its
// destructor waits for probes in flight).
std::shared_ptr<CameraApi> registerCameraRoutes(http::Router& router, CameraApiOptions options);

}  // namespace stagecast::api
