#pragma once
// The live-channel HTTP API (/api/*, JSON) and the notifications WebSocket (/ws): thin adapters onto
// control::ChannelService. Every /api call needs an API key (x-api-key header); media-node calls also need the
// media-node secret (x-media-secret header). Answers are {"success": true, ...} or
// {"success": false, "error": {"code", "message"}}.
#include <memory>
#include <string>
#include <vector>

#include "stagecast/auth/key.hpp"
#include "stagecast/control/channel_service.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::api {

struct ControlApiOptions {
  std::vector<std::string> apiKeys;  // any of them is accepted
  std::string mediaNodeSecret;       // empty: media-node endpoints answer 403 MEDIA_NODES_DISABLED
  std::size_t maxBodyBytes = 16 * 1024;
  int heartbeatIntervalSeconds = 30;  // advertised to viewers
};

// Fans notifications out to WebSocket clients; a client may resume from the last sequence number it saw.
class NotificationHub;

std::shared_ptr<NotificationHub> registerControlRoutes(http::Router& router, control::ChannelService& service,
                                                       const auth::SigningKey& key, ControlApiOptions options);

// Constant-time comparison of a presented key with the configured ones.
bool apiKeyMatches(const std::vector<std::string>& keys, std::string_view presented);
// The API-key check of every /api call: the x-api-key header must hold one of `keys`.
// Errors: API_KEY_REQUIRED, API_KEY_INVALID.
Status checkApiKey(const std::vector<std::string>& keys, const http::Request& request);

}  // namespace stagecast::api
