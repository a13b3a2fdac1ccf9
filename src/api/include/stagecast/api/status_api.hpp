#pragma once
// /health and /metrics (Prometheus text exposition format 0.0.4).
#include <atomic>

#include "stagecast/control/channel_service.hpp"
#include "stagecast/engine/engine.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::api {

// `ready` turns /health from 503 to 200 once the server accepts work, and back to 503 while shutting down.
// `service` (optional) adds the live-channel figures to /metrics.
void registerStatusRoutes(http::Router& router, engine::Engine& engine, const std::atomic<bool>& ready,
                          control::ChannelService* service = nullptr);

}  // namespace stagecast::api
