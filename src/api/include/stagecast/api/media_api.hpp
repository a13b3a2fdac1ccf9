#pragma once
// WHIP (RFC 9725) and WHEP endpoints: thin adapters from HTTP requests onto engine commands.
#include <functional>
#include <string>
#include <vector>

#include "stagecast/auth/token.hpp"
#include "stagecast/engine/engine.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::api {

struct IceServerLink {
  std::string url;  // "stun:host:port" or "turn:host:port?transport=udp"
  std::string username;
  std::string credential;
};

struct MediaApiOptions {
  std::vector<IceServerLink> iceServers;  // advertised in Link headers (RFC 9725 §4.6)
  // Participant tokens (RFC 6750 Bearer): WHIP needs allow_publish, WHEP allow_subscribe, for the stage (or
  // channel) named in the URL; PATCH and DELETE of a session need a token for its stage too. Null: open.
  std::shared_ptr<const auth::TokenVerifier> verifier;
  std::function<std::int64_t()> nowSeconds;  // wall clock for token expiry
  // A viewer's WHEP session was created (the token's user) / a session was deleted by its client.
  std::function<void(const std::string& stage, const std::string& userId, const std::string& sessionId)>
      onViewerSession;
  std::function<void(const std::string& stage, const std::string& sessionId)> onSessionDeleted;
  // A WHIP publisher's session was created.
  std::function<void(const std::string& stage, const std::string& sessionId)> onPublisherSession;
};

void registerMediaRoutes(http::Router& router, engine::Engine& engine, MediaApiOptions options);

// Valid stage ids: 1..64 characters of [A-Za-z0-9_.-].
bool validStageId(const std::string& id);

}  // namespace stagecast::api
