#pragma once
// WHIP (RFC 9725) and WHEP endpoints: thin adapters from HTTP requests onto engine commands.
#include <string>
#include <vector>

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
};

void registerMediaRoutes(http::Router& router, engine::Engine& engine, MediaApiOptions options);

// Valid stage ids: 1..64 characters of [A-Za-z0-9_.-].
bool validStageId(const std::string& id);

}  // namespace stagecast::api
