#pragma once
// Camera endpoints (/api/cameras/*, /whep/camera/*) and the action log (/api/logs): thin adapters onto the ingest
// layer (in-process RTSP probe), the camera previews, the camera registry and the actionlog layer. Probes and
// preview offers block on the network, so they run on a small pool of their own, never on the HTTP loop; registry
// changes write a file, so they run on a thread of their own too.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stagecast/actionlog/action_log.hpp"
#include "stagecast/api/camera_preview.hpp"
#include "stagecast/api/camera_registry.hpp"
#include "stagecast/api/media_api.hpp"
#include "stagecast/auth/token.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::api {

struct CameraApiOptions {
  std::vector<std::string> apiKeys;
  std::chrono::milliseconds probeTimeout{5000};
  std::size_t probeThreads = 2;
  std::size_t maxBodyBytes = 16 * 1024;
  actionlog::ActionLog* actionLog = nullptr;  // optional
  CameraPreviews* previews = nullptr;         // optional: WebRTC previews
  // Optional: the camera registry (/api/cameras CRUD, {cameraId} in probes and offers, /whep/camera/{id}).
  CameraRegistry* registry = nullptr;
  // Camera viewer tokens (POST /api/cameras/{id}/token) and their check on /whep/camera/{id}. Without a signer
  // no tokens are issued; without a verifier only the API keys open /whep/camera/{id}.
  const auth::TokenSigner* signer = nullptr;
  std::shared_ptr<const auth::TokenVerifier> verifier;
  std::chrono::seconds cameraTokenTtl{3600};
  std::function<std::int64_t()> nowMs;    // wall clock (token times); empty: the system clock
  std::vector<IceServerLink> iceServers;  // Link headers of /whep/camera answers (RFC 9725 §4.6)
  std::chrono::seconds previewTtl{180};   // the previews' TTL (CameraPreviewOptions::sessionTtl)
};

class CameraApi;

// Registers the routes; the returned object owns the probe pool (keep it alive while the server runs; its
// destructor waits for probes in flight).
std::shared_ptr<CameraApi> registerCameraRoutes(http::Router& router, CameraApiOptions options);

// Upkeep, about once a second: keeps the previews of WHEP players (/whep/camera/...) alive past the preview TTL
// for as long as their peer is (ICE consent, RFC 7675, ends a gone player), and forgets sessions that ended.
void sweepCameraSessions(CameraApi& api);
// The engine ended a session by itself (ICE/DTLS failure, consent expiry).
void cameraSessionEnded(CameraApi& api, const std::string& sessionId);

}  // namespace stagecast::api
