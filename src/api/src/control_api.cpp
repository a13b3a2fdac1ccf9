#include "stagecast/api/control_api.hpp"

#include <openssl/crypto.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "stagecast/api/errors.hpp"
#include "stagecast/api/json_body.hpp"
#include "stagecast/common/log.hpp"

namespace stagecast::api {

using nlohmann::json;

bool apiKeyMatches(const std::vector<std::string>& keys, std::string_view presented) {
  bool ok = false;
  for (const auto& k : keys) {
    if (k.empty() || k.size() != presented.size()) continue;
    ok = (CRYPTO_memcmp(k.data(), presented.data(), k.size()) == 0) || ok;
  }
  return ok;
}

Status checkApiKey(const std::vector<std::string>& keys, const http::Request& request) {
  auto key = request.header("x-api-key");
  if (!key || key->empty()) return Error("API_KEY_REQUIRED", "send the API key in the x-api-key header");
  if (!apiKeyMatches(keys, *key)) return Error("API_KEY_INVALID", "the API key is not valid");
  return {};
}

namespace {

http::Response ok(json data, std::string message = {}) {
  json j{{"success", true}};
  if (!message.empty()) j["message"] = std::move(message);
  if (!data.is_null()) j["data"] = std::move(data);
  return http::Response::json(200, j.dump());
}

json stageJson(const control::StageView& s, bool withToken) {
  json j{{"stageArn", s.stage.stageArn},
         {"stageId", s.stage.stageId},
         {"channelId", s.stage.channelId},
         {"viewerCount", s.viewerCount},
         {"createdAt", control::isoTimestamp(s.stage.createdAtMs)},
         {"whepUrl", s.whepUrl},
         {"whipUrl", s.whipUrl}};
  if (withToken) j["token"] = s.publishToken;
  return j;
}

json channelJson(const control::ChannelView& v, bool withTokens) {
  json stages = json::array();
  for (const auto& s : v.stages) stages.push_back(stageJson(s, withTokens));
  json j{{"channelId", v.channelId}, {"stages", stages}, {"total", v.total}, {"whipUrl", v.whipUrl}};
  if (withTokens) j["channelToken"] = v.publishToken;
  return j;
}

// Wraps a handler with the API-key check and the JSON error boundary.
http::Handler guarded(std::shared_ptr<const ControlApiOptions> options, bool mediaNode,
                      std::function<http::Response(http::Request&)> fn) {
  return [options, mediaNode, fn = std::move(fn)](http::Request& req, http::Responder done) {
    if (auto st = checkApiKey(options->apiKeys, req); !st) {
      done(errorResponse(st.error()));
      return;
    }
    if (mediaNode) {
      if (options->mediaNodeSecret.empty()) {
        done(errorResponse(Error("MEDIA_NODES_DISABLED", "no media-node secret is configured")));
        return;
      }
      auto secret = req.header("x-media-secret");
      if (!secret || !apiKeyMatches({options->mediaNodeSecret}, *secret)) {
        done(errorResponse(Error("MEDIA_SECRET_INVALID", "media-node calls need the x-media-secret header")));
        return;
      }
    }
    done(fn(req));
  };
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Notifications

class NotificationHub : public std::enable_shared_from_this<NotificationHub> {
 public:
  explicit NotificationHub(control::ChannelService& service) : service_(service) {}

  struct Client {
    std::weak_ptr<http::WebSocket> socket;
    std::string type;  // broadcaster | media-server | viewer
    bool replaying = true;
    std::vector<control::Event> held;  // live events that arrived during the replay
    std::uint64_t lastSent = 0;
  };

  static bool wants(const std::string& clientType, const std::string& json) {
    if (clientType == "viewer") return json.find("\"type\":\"viewer_count\"") != std::string::npos;
    if (clientType == "media-server") return json.find("\"type\":\"viewer_count\"") == std::string::npos;
    return true;
  }

  void publish(const control::Event& e) {
    std::vector<std::shared_ptr<http::WebSocket>> targets;
    {
      std::lock_guard lock(mutex_);
      for (auto it = clients_.begin(); it != clients_.end();) {
        auto& c = it->second;
        auto s = c.socket.lock();
        if (!s) {
          it = clients_.erase(it);
          continue;
        }
        ++it;
        if (!wants(c.type, e.json)) continue;
        if (c.replaying) {
          c.held.push_back(e);
          continue;
        }
        if (e.seq <= c.lastSent) continue;
        c.lastSent = e.seq;
        targets.push_back(std::move(s));
      }
    }
    for (auto& s : targets) s->send(e.json);
  }

  // Registers the client (live events are held), sends what it missed, then releases the held ones in order.
  void attach(std::uint64_t id, const std::shared_ptr<http::WebSocket>& socket, const std::string& type,
              std::optional<std::uint64_t> since) {
    {
      std::lock_guard lock(mutex_);
      clients_[id] = Client{socket, type, true, {}, 0};
    }
    json hello{{"type", "hello"}, {"clientType", type}};
    std::uint64_t last = since.value_or(0);
    std::vector<std::string> out;
    if (since) {
      auto replay = service_.eventsAfter(*since);
      if (replay) {
        hello["replayed"] = replay->events.size();
        hello["complete"] = replay->complete;
        for (const auto& e : replay->events) {
          if (wants(type, e.json)) out.push_back(e.json);
          last = std::max(last, e.seq);
        }
      } else {
        hello["complete"] = false;
      }
    }
    socket->send(hello.dump());
    for (auto& m : out) socket->send(std::move(m));
    std::vector<control::Event> held;
    {
      std::lock_guard lock(mutex_);
      auto it = clients_.find(id);
      if (it == clients_.end()) return;
      it->second.replaying = false;
      held = std::move(it->second.held);
      std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
      std::vector<control::Event> fresh;
      for (auto& e : held) {
        if (e.seq > last) {
          last = e.seq;
          fresh.push_back(std::move(e));
        }
      }
      held = std::move(fresh);
      it->second.lastSent = last;
    }
    for (auto& e : held) socket->send(e.json);
  }

  void detach(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    clients_.erase(id);
  }

  std::uint64_t nextId() { return ++ids_; }
  std::size_t clientCount() {
    std::lock_guard lock(mutex_);
    return clients_.size();
  }

 private:
  control::ChannelService& service_;
  std::mutex mutex_;
  std::map<std::uint64_t, Client> clients_;
  std::atomic<std::uint64_t> ids_{0};
};

std::shared_ptr<NotificationHub> registerControlRoutes(http::Router& router, control::ChannelService& service,
                                                       const auth::SigningKey& key, ControlApiOptions optionsIn) {
  auto options = std::make_shared<const ControlApiOptions>(std::move(optionsIn));
  auto hub = std::make_shared<NotificationHub>(service);
  service.setEventSink([weak = std::weak_ptr<NotificationHub>(hub)](const control::Event& e) {
    if (auto h = weak.lock()) h->publish(e);
  });
  auto& svc = service;
  const std::size_t limit = options->maxBodyBytes;

  // --- viewers ---
  router.add("POST", "/api/token/viewer", guarded(options, false, [&svc, limit](http::Request& req) {
               auto body = jsonObjectBody(req.body, limit);
               if (!body) return errorResponse(body.error());
               auto user = stringMember(*body, "userId");
               if (!user) return errorResponse(user.error());
               auto channel = stringMember(*body, "channelId", true);
               if (!channel) return errorResponse(channel.error());
               json attributes = json::object();
               if (auto a = body->find("attributes"); a != body->end() && !a->is_null()) attributes = *a;
               auto j = svc.joinViewer(*user, *channel, attributes);
               if (!j) return errorResponse(j.error());
               return ok(json{{"token", j->token},
                              {"participantId", j->participantId},
                              {"userId", j->userId},
                              {"stageArn", j->stageArn},
                              {"stageId", j->stageId},
                              {"channelId", j->channelId},
                              {"whepUrl", j->whepUrl},
                              {"expiresAt", control::isoTimestamp(j->expiresAtMs)},
                              {"expiresIn", j->expiresInSeconds},
                              {"currentViewers", j->currentViewers}});
             }));

  router.add("POST", "/api/viewer/rejoin", guarded(options, false, [&svc, limit](http::Request& req) {
               auto body = StringMembers::parse(req.body, {"userId", "stageArn", "participantId"}, limit);
               if (!body) return errorResponse(body.error());
               auto user = body->get("userId");
               if (!user) return errorResponse(user.error());
               auto arn = body->get("stageArn");
               if (!arn) return errorResponse(arn.error());
               auto pid = body->get("participantId");
               if (!pid) return errorResponse(pid.error());
               auto n = svc.rejoin(*user, *arn, *pid);
               if (!n) return errorResponse(n.error());
               return ok(json{{"currentViewers", *n}}, "rejoined");
             }));

  // The hottest call: its answer never changes, so it is serialized once.
  const std::string heartbeatAnswer =
      json{{"success", true},
           {"data", {{"nextHeartbeatIn", options->heartbeatIntervalSeconds},
                     {"timeoutIn", svc.config().viewerTimeout.count() / 1000}}}}
          .dump();
  router.add("POST", "/api/viewer/heartbeat",
             guarded(options, false, [&svc, limit, heartbeatAnswer](http::Request& req) {
               auto body = StringMembers::parse(req.body, {"userId", "stageArn"}, limit);
               if (!body) return errorResponse(body.error());
               auto user = body->get("userId");
               if (!user) return errorResponse(user.error());
               auto arn = body->get("stageArn");
               if (!arn) return errorResponse(arn.error());
               auto n = svc.heartbeat(*user, *arn);
               if (!n) return errorResponse(n.error());
               return http::Response::json(200, heartbeatAnswer);
             }));

  router.add("POST", "/api/viewer/leave", guarded(options, false, [&svc, limit](http::Request& req) {
               auto body = StringMembers::parse(req.body, {"userId", "stageArn"}, limit);
               if (!body) return errorResponse(body.error());
               auto user = body->get("userId");
               if (!user) return errorResponse(user.error());
               auto arn = body->get("stageArn");
               if (!arn) return errorResponse(arn.error());
               auto n = svc.leave(*user, *arn);
               if (!n) return errorResponse(n.error());
               return ok(json{{"currentViewers", *n}}, "left");
             }));

  // --- broadcaster ---
  router.add("GET", "/api/broadcaster/stages", guarded(options, false, [&svc](http::Request& req) {
               auto it = req.query.find("channelId");
               auto v = svc.broadcasterStages(it == req.query.end() ? std::string() : it->second);
               if (!v) return errorResponse(v.error());
               return ok(channelJson(*v, true));
             }));

  router.add("POST", "/api/broadcaster/stage-token", guarded(options, false, [&svc, limit](http::Request& req) {
               auto body = StringMembers::parse(req.body, {"stageArn"}, limit);
               if (!body) return errorResponse(body.error());
               auto arn = body->get("stageArn");
               if (!arn) return errorResponse(arn.error());
               auto s = svc.stageToken(*arn);
               if (!s) return errorResponse(s.error());
               return ok(json{{"token", s->publishToken},
                              {"stageArn", s->stage.stageArn},
                              {"stageId", s->stage.stageId},
                              {"whipUrl", s->whipUrl},
                              {"expiresIn", svc.config().publishTokenTtl.count()}});
             }));

  // --- channels ---
  router.add("GET", "/api/channels", guarded(options, false, [&svc](http::Request&) {
               auto list = svc.channels();
               if (!list) return errorResponse(list.error());
               json out = json::array();
               for (const auto& c : *list) {
                 if (auto v = svc.channel(c)) out.push_back(channelJson(*v, false));
               }
               return ok(out);
             }));
  router.add("GET", "/api/channels/{id}", guarded(options, false, [&svc](http::Request& req) {
               auto v = svc.channel(req.params["id"]);
               if (!v) return errorResponse(v.error());
               return ok(channelJson(*v, false));
             }));

  // --- media nodes ---
  router.add("POST", "/api/media/register", guarded(options, true, [&svc, limit](http::Request& req) {
               auto body = jsonObjectBody(req.body, limit);
               if (!body) return errorResponse(body.error());
               auto id = stringMember(*body, "serverId");
               if (!id) return errorResponse(id.error());
               auto ip = stringMember(*body, "ipAddress");
               if (!ip) return errorResponse(ip.error());
               auto port = body->find("port");
               if (port == body->end() || !port->is_number_integer() || port->get<std::int64_t>() < 1 ||
                   port->get<std::int64_t>() > 65535) {
                 return errorResponse(Error("INVALID_REQUEST", "port: must be an integer 1-65535"));
               }
               control::MediaNodeRecord n{*id, *ip, static_cast<std::uint16_t>(port->get<std::int64_t>())};
               auto st = svc.registerMediaNode(n);
               if (!st) return errorResponse(st.error());
               return ok(json{{"serverId", *id}, {"heartbeatInterval", 30}}, "registered");
             }));
  router.add("POST", "/api/media/heartbeat", guarded(options, true, [&svc, limit](http::Request& req) {
               auto body = StringMembers::parse(req.body, {"serverId"}, limit);
               if (!body) return errorResponse(body.error());
               auto id = body->get("serverId");
               if (!id) return errorResponse(id.error());
               auto st = svc.mediaNodeHeartbeat(*id);
               if (!st) return errorResponse(st.error());
               return ok(nullptr, "ok");
             }));
  router.add("GET", "/api/media/stages", guarded(options, true, [&svc](http::Request&) {
               auto stages = svc.allStages();
               if (!stages) return errorResponse(stages.error());
               json out = json::array();
               for (const auto& s : *stages) out.push_back(stageJson(s, false));
               auto nodes = svc.mediaNodes();
               json nodeList = json::array();
               if (nodes) {
                 for (const auto& n : *nodes) {
                   nodeList.push_back({{"serverId", n.serverId}, {"ipAddress", n.ipAddress}, {"port", n.port}});
                 }
               }
               return ok(json{{"stages", out}, {"nodes", nodeList}});
             }));
  router.add("POST", "/api/media/token", guarded(options, true, [&svc, limit](http::Request& req) {
               auto body = StringMembers::parse(req.body, {"stageArn"}, limit);
               if (!body) return errorResponse(body.error());
               auto arn = body->get("stageArn");
               if (!arn) return errorResponse(arn.error());
               auto s = svc.mediaToken(*arn);
               if (!s) return errorResponse(s.error());
               return ok(json{{"token", s->publishToken}, {"stageArn", s->stage.stageArn}, {"whipUrl", s->whipUrl},
                              {"whepUrl", s->whepUrl}});
             }));

  // --- public key (RFC 7517 JWK Set), for anyone verifying participant tokens ---
  const std::string jwks = json{{"keys", json::array({key.publicJwk()})}}.dump();
  router.add("GET", "/.well-known/jwks.json", [jwks](http::Request&, http::Responder done) {
    done(http::Response::json(200, jwks));
  });

  // --- notifications ---
  router.addWebSocket(
      "/ws", [options, hub](http::Request& req,
                            std::shared_ptr<http::WebSocket> socket) -> std::variant<http::Response, http::WebSocketCallbacks> {
        // Browsers cannot set headers on a WebSocket: the key may come as ?apiKey= too.
        std::string key = req.header("x-api-key").value_or("");
        if (key.empty()) {
          if (auto q = req.query.find("apiKey"); q != req.query.end()) key = q->second;
        }
        if (key.empty()) return errorResponse(Error("API_KEY_REQUIRED", "send the API key (x-api-key or ?apiKey=)"));
        if (!apiKeyMatches(options->apiKeys, key)) return errorResponse(Error("API_KEY_INVALID", "the API key is not valid"));
        std::string type = "broadcaster";
        if (auto t = req.query.find("type"); t != req.query.end()) type = t->second;
        if (type != "broadcaster" && type != "media-server" && type != "viewer") {
          return errorResponse(Error("INVALID_REQUEST", "type: must be broadcaster, media-server or viewer"));
        }
        std::optional<std::uint64_t> since;
        if (auto s = req.query.find("since"); s != req.query.end()) {
          char* end = nullptr;
          const unsigned long long v = std::strtoull(s->second.c_str(), &end, 10);
          if (s->second.empty() || end == nullptr || *end != '\0' || s->second.size() > 19) {
            return errorResponse(Error("INVALID_REQUEST", "since: must be a sequence number"));
          }
          since = v;
        }
        const std::uint64_t id = hub->nextId();
        hub->attach(id, socket, type, since);
        http::WebSocketCallbacks cb;
        cb.onMessage = [socket](std::string_view text) {
          // The only message a client sends is a ping of its own.
          if (text == "ping") socket->send("{\"type\":\"pong\"}");
        };
        cb.onClose = [hub, id] { hub->detach(id); };
        return cb;
      });
  return hub;
}

}  // namespace stagecast::api
