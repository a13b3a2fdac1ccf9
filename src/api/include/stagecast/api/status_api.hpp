#pragma once
// /health and /metrics (Prometheus text exposition format 0.0.4).
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "stagecast/cluster/channel_pulls.hpp"
#include "stagecast/control/channel_service.hpp"
#include "stagecast/engine/engine.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::api {

// `ready` turns /health from 503 to 200 once the server accepts work, and back to 503 while shutting down.
// `service` (optional) adds the live-channel figures to /metrics, `pulls` (optional) those of broadcasts pulled
// from other nodes, `httpResponses` (optional) the HTTP server's responses by status (http::Server::responseCounts).
// Error answers by code (api::errorCounts) are always included.
void registerStatusRoutes(http::Router& router, engine::Engine& engine, const std::atomic<bool>& ready,
                          control::ChannelService* service = nullptr,
                          std::function<std::optional<cluster::ChannelPullStats>()> pulls = {},
                          std::function<std::vector<std::pair<int, std::uint64_t>>()> httpResponses = {});

}  // namespace stagecast::api
