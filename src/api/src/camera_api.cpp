#include "stagecast/api/camera_api.hpp"

#include <atomic>
#include <openssl/crypto.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "stagecast/api/control_api.hpp"
#include "stagecast/api/errors.hpp"
#include "stagecast/api/json_body.hpp"
#include "stagecast/auth/base64url.hpp"
#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/common/text.hpp"
#include "stagecast/control/channel_service.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

namespace stagecast::api {

using nlohmann::json;

// The registry's actions in the action log (the column is free text).
namespace registry_actions {
constexpr const char* kAdd = "camera_add";
constexpr const char* kUpdate = "camera_update";
constexpr const char* kDelete = "camera_delete";
}  // namespace registry_actions

class CameraApi {
 public:
  using SteadyClock = std::chrono::steady_clock;

  explicit CameraApi(CameraApiOptions options)
      : options_(std::move(options)), pool_(std::max<std::size_t>(1, options_.probeThreads)), registryPool_(1) {}
  ~CameraApi() {
    pool_.join();
    registryPool_.join();
  }

  const CameraApiOptions& options() const { return options_; }
  boost::asio::thread_pool& pool() { return pool_; }
  // Registry changes write the file: one thread, so they also apply in the order they arrived.
  boost::asio::thread_pool& registryPool() { return registryPool_; }

  // Preview sessions opened through the registry (an offer with cameraId, or WHEP), so that deleting a camera
  // ends them, a WHEP DELETE can check the session belongs to the camera of its URL, and WHEP sessions outlive
  // the preview TTL.
  struct Tracked {
    std::string cameraId;
    bool whep = false;
    SteadyClock::time_point due;  // WHEP: when to extend the TTL next; JSON offers: when to forget it
  };

  void track(const std::string& sessionId, const std::string& cameraId, bool whep) {
    std::lock_guard lock(mutex_);
    sessions_[sessionId] = Tracked{cameraId, whep, whep ? SteadyClock::now() + renewInterval() : jsonExpiry()};
  }
  std::optional<Tracked> tracked(const std::string& sessionId) {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(sessionId);
    if (it == sessions_.end()) return std::nullopt;
    return it->second;
  }
  void forget(const std::string& sessionId) {
    std::lock_guard lock(mutex_);
    sessions_.erase(sessionId);
  }
  // A JSON preview was kept alive by its page.
  void touch(const std::string& sessionId) {
    std::lock_guard lock(mutex_);
    if (auto it = sessions_.find(sessionId); it != sessions_.end() && !it->second.whep) it->second.due = jsonExpiry();
  }
  // Removes and returns the sessions of a camera.
  std::vector<std::string> takeSessionsOf(const std::string& cameraId) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second.cameraId == cameraId) {
        out.push_back(it->first);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  // Moves a camera's warm pull from its old address to its new one (registry changes); either may be absent.
  void rewarm(const std::optional<ingest::CameraAddress>& before, const std::optional<ingest::CameraAddress>& after) {
    if (options_.previews == nullptr) return;
    if (before) (void)options_.previews->setWarm(*before, false);
    if (after) {
      if (auto st = options_.previews->setWarm(*after, true); !st) {
        spdlog::warn("camera {}:{}{}: not kept warm: {}", after->ip, after->port, after->path, st.error().message);
      }
    }
  }

  void sweep() {
    // Registered warm cameras start pulling at the first sweep (the engine runs by then).
    if (!warmedAtStart_.exchange(true) && options_.registry != nullptr) {
      for (const auto& c : options_.registry->list()) {
        if (!c.warm) continue;
        auto a = options_.registry->address(c.id);
        if (a) rewarm(std::nullopt, *a);
      }
    }
    const auto now = SteadyClock::now();
    std::vector<std::string> renew;
    {
      std::lock_guard lock(mutex_);
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second.due > now) {
          ++it;
        } else if (it->second.whep) {
          renew.push_back(it->first);
          ++it;
        } else {
          it = sessions_.erase(it);  // the preview's own TTL has ended it by now
        }
      }
    }
    for (const auto& id : renew) {
      // A WHEP player has no keepalive call: its session lives while ICE consent holds (the engine ends it
      // otherwise), so its TTL is extended here.
      const bool alive = options_.previews != nullptr && options_.previews->extend(id).ok();
      std::lock_guard lock(mutex_);
      if (!alive) {
        sessions_.erase(id);
      } else if (auto it = sessions_.find(id); it != sessions_.end()) {
        it->second.due = SteadyClock::now() + renewInterval();
      }
    }
  }

 private:
  // Renewed when half the TTL is left, less one sweep period; every sweep for short TTLs.
  SteadyClock::duration renewInterval() const {
    const auto half = std::chrono::duration_cast<SteadyClock::duration>(options_.previewTtl) / 2;
    return std::max<SteadyClock::duration>(SteadyClock::duration::zero(), half - std::chrono::seconds(1));
  }
  SteadyClock::time_point jsonExpiry() const {
    return SteadyClock::now() + options_.previewTtl + std::chrono::seconds(10);
  }

  CameraApiOptions options_;
  boost::asio::thread_pool pool_;
  boost::asio::thread_pool registryPool_;
  std::mutex mutex_;
  std::map<std::string, Tracked> sessions_;  // by preview session id
  std::atomic<bool> warmedAtStart_{false};
};

void sweepCameraSessions(CameraApi& api) { api.sweep(); }
void cameraSessionEnded(CameraApi& api, const std::string& sessionId) { api.forget(sessionId); }

namespace {

constexpr std::size_t kMaxWhepOffer = 64 * 1024;  // as WHIP/WHEP offers (SDP_TOO_LARGE)

// Standard base64 (RFC 4648 §4), for a data: URL.
std::string base64(const std::string& bytes) {
  std::string s = auth::base64UrlEncode(BytesView(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4 != 0) s.push_back('=');
  return s;
}

// The camera as logged and shown: host:port/path, never credentials.
std::string cameraLabel(const ingest::CameraAddress& a) { return a.ip + ":" + std::to_string(a.port) + a.path; }

// Wipes a camera's password once the request that needed it is done with it.
void wipeCredentials(ingest::CameraAddress& a) {
  if (!a.password.empty()) OPENSSL_cleanse(a.password.data(), a.password.size());
  a.password.clear();
  a.username.clear();
}

std::int64_t msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

// A string field for a log line: empty when absent or not a string (never throws).
std::string loggable(const json& body, const char* name) {
  auto it = body.find(name);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A string member: absent and null leave `out` alone (unless required), other types are an error.
Status stringMember(const json& body, const char* name, std::string& out, bool required) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) return Error("INVALID_REQUEST", std::string(name) + ": is required");
    return {};
  }
  if (!it->is_string()) return Error("INVALID_REQUEST", std::string(name) + ": must be a string");
  out = it->get<std::string>();
  return {};
}

Result<std::uint16_t> portMember(const json& value) {
  if (!value.is_number_integer() || value.get<std::int64_t>() < 1 || value.get<std::int64_t>() > 65535) {
    return Error("INVALID_REQUEST", "port: must be an integer 1-65535");
  }
  return static_cast<std::uint16_t>(value.get<std::int64_t>());
}

Result<ingest::CameraAddress> cameraFrom(const json& body) {
  ingest::CameraAddress a;
  if (auto s = stringMember(body, "ip", a.ip, true); !s) return s.error();
  if (auto s = stringMember(body, "path", a.path, false); !s) return s.error();
  if (auto s = stringMember(body, "username", a.username, false); !s) return s.error();
  if (auto s = stringMember(body, "password", a.password, false); !s) return s.error();
  if (auto s = stringMember(body, "transport", a.transport, false); !s) return s.error();
  if (a.path.empty()) a.path = "/";
  if (auto it = body.find("port"); it != body.end() && !it->is_null()) {
    auto port = portMember(*it);
    if (!port) return port.error();
    a.port = *port;
  }
  if (auto url = ingest::buildRtspUrl(a); !url) return url.error();
  return a;
}

// The camera of a probe or an offer: {cameraId} names a registered camera, whose address and credentials the
// server fills in (a username or password in the same body replaces the stored one, so a page can try
// credentials before saving them); otherwise the address fields. `cameraId` is set when the registry was used.
Result<ingest::CameraAddress> cameraOfRequest(const CameraApiOptions& o, const json& body, std::string& cameraId) {
  auto idIt = body.find("cameraId");
  if (idIt == body.end() || idIt->is_null()) return cameraFrom(body);
  if (!idIt->is_string() || idIt->get<std::string>().empty()) {
    return Error("INVALID_REQUEST", "cameraId: must be a non-empty string");
  }
  if (o.registry == nullptr) return Error("INVALID_REQUEST", "cameraId: the camera registry is not enabled");
  for (const char* name : {"ip", "port", "path", "transport"}) {
    if (auto it = body.find(name); it != body.end() && !it->is_null()) {
      return Error("INVALID_REQUEST", std::string(name) + ": not allowed with cameraId (the registry has the address)");
    }
  }
  cameraId = idIt->get<std::string>();
  auto a = o.registry->address(cameraId);
  if (!a) return a.error();
  auto camera = std::move(a).value();
  Status st = stringMember(body, "username", camera.username, false);
  if (st) st = stringMember(body, "password", camera.password, false);
  if (st) {
    if (auto url = ingest::buildRtspUrl(camera); url) {
      OPENSSL_cleanse(url->data(), url->size());
    } else {
      st = url.error();
    }
  }
  if (!st) {
    wipeCredentials(camera);
    return st.error();
  }
  return camera;
}

bool authorized(const CameraApiOptions& o, const http::Request& req, http::Responder& done) {
  auto st = checkApiKey(o.apiKeys, req);
  if (!st) done(errorResponse(st.error()));
  return st.ok();
}

// Parses a JSON object body within the size limit; answers the request itself when it cannot.
std::optional<json> jsonBody(const CameraApiOptions& o, const http::Request& req, http::Responder& done) {
  auto body = jsonObjectBody(req.body, o.maxBodyBytes);
  if (!body) {
    done(errorResponse(body.error()));
    return std::nullopt;
  }
  return std::move(*body);
}

std::int64_t wallNowMs(const CameraApiOptions& o) {
  if (o.nowMs) return o.nowMs();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string whepUrlOf(const std::string& cameraId) { return "/whep/camera/" + cameraId; }
std::string tokenResource(const std::string& cameraId) { return "camera/" + cameraId; }

// A camera as the API shows it: never its credentials.
json cameraJson(const CameraInfo& c) {
  return json{{"id", c.id},
              {"name", c.name},
              {"ip", c.ip},
              {"port", c.port},
              {"path", c.path},
              {"transport", c.transport},
              {"hasCredentials", c.hasCredentials},
              {"warm", c.warm},
              {"createdAt", control::isoTimestamp(c.createdAtMs)},
              {"whepUrl", whepUrlOf(c.id)}};
}

http::Response okJson(int status, json data) {
  return http::Response::json(status, json{{"success", true}, {"data", std::move(data)}}.dump());
}

// PATCH /api/cameras/{id}: which fields change. null resets port, path and transport to their defaults and
// removes credentials ("username": null removes both, "password": null the password).
Result<CameraChange> changeFrom(const json& body) {
  CameraChange c;
  bool any = false;
  auto text = [&](const char* name, std::optional<std::string>& out, std::optional<std::string> ifNull) -> Status {
    auto it = body.find(name);
    if (it == body.end()) return {};
    any = true;
    if (it->is_null()) {
      if (!ifNull) return Error("INVALID_REQUEST", std::string(name) + ": cannot be removed");
      out = std::move(ifNull);
      return {};
    }
    if (!it->is_string()) return Error("INVALID_REQUEST", std::string(name) + ": must be a string");
    out = it->get<std::string>();
    return {};
  };
  if (auto st = text("name", c.name, std::nullopt); !st) return st.error();
  if (auto st = text("ip", c.ip, std::nullopt); !st) return st.error();
  if (auto st = text("path", c.path, std::string("/")); !st) return st.error();
  if (auto st = text("transport", c.transport, std::string("tcp")); !st) return st.error();
  if (auto st = text("username", c.username, std::string()); !st) return st.error();
  if (auto st = text("password", c.password, std::string()); !st) return st.error();
  if (auto it = body.find("port"); it != body.end()) {
    any = true;
    if (it->is_null()) {
      c.port = ingest::CameraAddress{}.port;
    } else {
      auto port = portMember(*it);
      if (!port) return port.error();
      c.port = *port;
    }
  }
  if (auto it = body.find("warm"); it != body.end()) {
    any = true;
    if (!it->is_boolean()) return Error("INVALID_REQUEST", "warm: must be true or false");
    c.warm = it->get<bool>();
  }
  if (c.path && c.path->empty()) c.path = "/";
  if (!any) {
    return Error("INVALID_REQUEST",
                 "body: nothing to change (name, ip, port, path, transport, username, password, warm)");
  }
  return c;
}

// The names of the fields a change touches, for the action log (never their values).
std::string changedFields(const CameraChange& c) {
  std::string out;
  auto add = [&out](bool set, const char* name) {
    if (!set) return;
    if (!out.empty()) out += ",";
    out += name;
  };
  add(c.name.has_value(), "name");
  add(c.ip.has_value(), "ip");
  add(c.port.has_value(), "port");
  add(c.path.has_value(), "path");
  add(c.transport.has_value(), "transport");
  add(c.username.has_value(), "username");
  add(c.password.has_value(), "password");
  add(c.warm.has_value(), "warm");
  return out;
}

void logRegistry(const CameraApiOptions& o, const char* action, const std::string& result, const std::string& camera,
                 const std::string& client, std::int64_t ms, const std::string& detail) {
  if (o.actionLog != nullptr) o.actionLog->record({0, 0, action, result, camera, client, "", ms, detail});
}

// RFC 6750 §2.1: "Authorization: Bearer <token>" on /whep/camera/{id}. The token is one of the API keys, or a
// camera token (a JWT of this server) whose resource is this camera and that allows subscribing.
// Errors: TOKEN_REQUIRED, TOKEN_* of TokenVerifier::verify (401), TOKEN_WRONG_CAMERA, TOKEN_CAPABILITY (403).
Status authorizeViewer(const CameraApiOptions& o, const http::Request& req, const std::string& cameraId) {
  auto h = req.header("Authorization");
  if (!h || h->size() < 7 || !iequals(h->substr(0, 7), "bearer ")) {
    return Error("TOKEN_REQUIRED", "send an API key or a camera token as Authorization: Bearer <token>");
  }
  std::string_view token(*h);
  token.remove_prefix(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return Error("TOKEN_REQUIRED", "the Bearer token is empty");
  if (apiKeyMatches(o.apiKeys, token)) return {};
  if (!o.verifier) return Error("TOKEN_BAD_SIGNATURE", "not an API key (camera tokens are not enabled)");
  auto claims = o.verifier->verify(token, wallNowMs(o) / 1000);
  if (!claims) return claims.error();
  if (claims->resource != tokenResource(cameraId))
    return Error("TOKEN_WRONG_CAMERA", "the token is for another camera");
  if (!claims->capabilities.allowSubscribe) return Error("TOKEN_CAPABILITY", "the token does not allow watching");
  return {};
}

bool contentTypeIs(const http::Request& req, std::string_view expected) {
  auto ct = req.header("Content-Type");
  if (!ct) return false;
  std::string v = ct->substr(0, ct->find(';'));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return iequals(v, expected);
}

// RFC 9725 §4.6: Link: <turn:host>; rel="ice-server"; username="..."; credential="..."
std::string iceServerLink(const IceServerLink& s) {
  std::string v = "<" + s.url + ">; rel=\"ice-server\"";
  if (!s.username.empty()) v += "; username=\"" + s.username + "\"; credential=\"" + s.credential + "\"";
  return v;
}

}  // namespace

std::shared_ptr<CameraApi> registerCameraRoutes(http::Router& router, CameraApiOptions optionsIn) {
  auto api = std::make_shared<CameraApi>(std::move(optionsIn));
  std::weak_ptr<CameraApi> weak = api;

  router.add("POST", "/api/cameras/preview/probe", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    const auto& o = self->options();
    if (!authorized(o, req, done)) return;
    auto body = jsonBody(o, req, done);
    if (!body) return;
    std::string cameraId;
    auto camera = cameraOfRequest(o, *body, cameraId);
    const std::string client = req.remote.toString();
    if (!camera) {
      if (o.actionLog) {
        o.actionLog->record({0, 0, actionlog::actions::kProbe, camera.error().code,
                             cameraId.empty() ? loggable(*body, "ip") : "camera " + cameraId, client, "", 0,
                             camera.error().message});
      }
      return done(errorResponse(camera.error()));
    }
    bool snapshot = true;
    if (auto it = body->find("snapshot"); it != body->end() && it->is_boolean()) snapshot = it->get<bool>();
    // The probe blocks on the camera: run it on the probe pool and answer from there.
    boost::asio::post(self->pool(), [a = std::move(camera).value(), cameraId, snapshot, done, client,
                                     timeout = o.probeTimeout, log = o.actionLog]() mutable {
      const auto t0 = std::chrono::steady_clock::now();
      auto r = ingest::probe(a, timeout, snapshot);
      wipeCredentials(a);
      const auto ms = msSince(t0);
      if (log != nullptr) {
        log->record({0, 0, actionlog::actions::kProbe, r ? "OK" : r.error().code, cameraLabel(a), client, "", ms,
                     r ? std::string() : r.error().message});
      }
      if (!r) return done(errorResponse(r.error()));
      json streams = json::array();
      for (const auto& s : r->streams) {
        json j{{"kind", s.kind}, {"codec", s.codec}};
        if (!s.profile.empty()) j["profile"] = s.profile;
        if (s.kind == "video") {
          j["width"] = s.width;
          j["height"] = s.height;
          j["frameRate"] = s.frameRate;
        } else {
          j["sampleRate"] = s.sampleRate;
          j["channels"] = s.channels;
        }
        streams.push_back(std::move(j));
      }
      json data{{"camera", cameraLabel(a)}, {"streams", streams}, {"elapsedMs", ms}};
      if (!cameraId.empty()) data["cameraId"] = cameraId;
      if (!r->snapshotJpeg.empty()) data["snapshot"] = "data:image/jpeg;base64," + base64(r->snapshotJpeg);
      done(http::Response::json(200, json{{"success", true}, {"data", data}}.dump()));
    });
  });

  router.add("POST", "/api/cameras/preview/webrtc/offer", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    const auto& o = self->options();
    if (!authorized(o, req, done)) return;
    if (o.previews == nullptr) return done(errorResponse(Error("NOT_FOUND", "previews are not enabled")));
    auto body = jsonBody(o, req, done);
    if (!body) return;
    auto sdp = body->find("sdp");
    if (sdp == body->end() || !sdp->is_string() || sdp->get<std::string>().empty()) {
      return done(errorResponse(Error("INVALID_REQUEST", "sdp: an SDP offer is required")));
    }
    if (auto t = body->find("type"); t != body->end() && (!t->is_string() || *t != "offer")) {
      return done(errorResponse(Error("INVALID_REQUEST", "type: must be \"offer\"")));
    }
    std::string cameraId;
    auto camera = cameraOfRequest(o, *body, cameraId);
    if (!camera) return done(errorResponse(camera.error()));
    // Waits for the camera's stream description: on the probe pool.
    boost::asio::post(self->pool(), [weak, a = std::move(camera).value(), cameraId, offer = sdp->get<std::string>(),
                                     done, client = req.remote.toString()]() mutable {
      auto s = weak.lock();
      if (!s) {
        wipeCredentials(a);
        return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
      }
      auto r = s->options().previews->offer(a, std::move(offer), client);
      wipeCredentials(a);
      if (!r) return done(errorResponse(r.error()));
      if (!cameraId.empty()) {
        s->track(r->sessionId, cameraId, false);
        // Deleted meanwhile: its previews end (the delete may have looked before this session was tracked).
        if (!s->options().registry->get(cameraId)) {
          s->forget(r->sessionId);
          (void)s->options().previews->hangup(r->sessionId, client);
          return done(errorResponse(Error(camera_error::kNotFound, "no camera " + cameraId)));
        }
      }
      json data{{"sessionId", r->sessionId}, {"sdp", r->sdp}, {"type", "answer"}};
      if (!cameraId.empty()) data["cameraId"] = cameraId;
      done(http::Response::json(200, json{{"success", true}, {"data", data}}.dump()));
    });
  });

  router.add("POST", "/api/cameras/preview/webrtc/hangup", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    const auto& o = self->options();
    if (!authorized(o, req, done)) return;
    if (o.previews == nullptr) return done(errorResponse(Error("NOT_FOUND", "previews are not enabled")));
    auto body = StringMembers::parse(req.body, {"sessionId"}, o.maxBodyBytes);
    if (!body) return done(errorResponse(body.error()));
    auto id = body->get("sessionId");
    if (!id) return done(errorResponse(id.error()));
    const std::string& sessionId = *id;
    auto st = o.previews->hangup(sessionId, req.remote.toString());
    self->forget(sessionId);
    if (!st) return done(errorResponse(st.error()));
    done(http::Response::json(200, json{{"success", true}, {"message", "ended"}}.dump()));
  });

  router.add("POST", "/api/cameras/preview/webrtc/keepalive", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    const auto& o = self->options();
    if (!authorized(o, req, done)) return;
    if (o.previews == nullptr) return done(errorResponse(Error("NOT_FOUND", "previews are not enabled")));
    auto body = StringMembers::parse(req.body, {"sessionId"}, o.maxBodyBytes);
    if (!body) return done(errorResponse(body.error()));
    auto id = body->get("sessionId");
    if (!id) return done(errorResponse(id.error()));
    const std::string& sessionId = *id;
    auto left = o.previews->extend(sessionId);
    if (!left) return done(errorResponse(left.error()));
    self->touch(sessionId);
    done(http::Response::json(200, json{{"success", true}, {"data", {{"expiresIn", *left}}}}.dump()));
  });

  router.add("GET", "/api/cameras/preview/stats", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    if (!authorized(self->options(), req, done)) return;
    const auto st = self->options().previews != nullptr ? self->options().previews->stats() : CameraPreviews::Stats{};
    done(http::Response::json(
        200, json{{"success", true}, {"data", {{"pulls", st.cameras}, {"sessions", st.sessions}, {"warm", st.warm}}}}.dump()));
  });

  // --- The camera registry -------------------------------------------------------------------------------

  // Every registry route: the API key, then the registry (absent: 404).
  auto registryRoute = [weak](auto fn) {
    return [weak, fn](http::Request& req, http::Responder done) {
      auto self = weak.lock();
      if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
      if (!authorized(self->options(), req, done)) return;
      if (self->options().registry == nullptr) {
        return done(errorResponse(Error("NOT_FOUND", "the camera registry is not enabled")));
      }
      fn(self, req, std::move(done));
    };
  };

  router.add(
      "POST", "/api/cameras",
      registryRoute([](const std::shared_ptr<CameraApi>& self, http::Request& req, http::Responder done) {
        const auto& o = self->options();
        auto body = jsonBody(o, req, done);
        if (!body) return;
        const std::string client = req.remote.toString();
        CameraSpec spec;
        Status st = stringMember(*body, "name", spec.name, true);
        if (auto w = body->find("warm"); st && w != body->end() && !w->is_null()) {
          if (w->is_boolean()) {
            spec.warm = w->get<bool>();
          } else {
            st = Error("INVALID_REQUEST", "warm: must be true or false");
          }
        }
        if (st) {
          auto camera = cameraFrom(*body);
          if (camera) {
            spec.address = std::move(camera).value();
          } else {
            st = camera.error();
          }
        }
        if (!st) {
          logRegistry(o, registry_actions::kAdd, st.error().code, loggable(*body, "ip"), client, 0, st.error().message);
          return done(errorResponse(st.error()));
        }
        // Writes the registry file: on the registry's own thread.
        boost::asio::post(self->registryPool(),
                          [weak = std::weak_ptr<CameraApi>(self), spec = std::move(spec), client, done]() mutable {
                            auto s = weak.lock();
                            if (!s) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
                            const auto t0 = std::chrono::steady_clock::now();
                            auto r = s->options().registry->add(spec);
                            wipeCredentials(spec.address);
                            if (!r) {
                              logRegistry(s->options(), registry_actions::kAdd, r.error().code,
                                          cameraLabel(spec.address), client, msSince(t0), r.error().message);
                              return done(errorResponse(r.error()));
                            }
                            logRegistry(s->options(), registry_actions::kAdd, "OK", cameraInfoLabel(*r), client,
                                        msSince(t0), "id=" + r->id + (r->hasCredentials ? " with credentials" : ""));
                            spdlog::info("camera {} ({}) added: {}", r->id, r->name, cameraInfoLabel(*r));
                            if (r->warm) {
                              auto a = s->options().registry->address(r->id);
                              if (a) s->rewarm(std::nullopt, *a);
                            }
                            http::Response resp = okJson(201, cameraJson(*r));
                            resp.headers.emplace("Location", "/api/cameras/" + r->id);
                            done(std::move(resp));
                          });
      }));

  router.add("GET", "/api/cameras",
             registryRoute([](const std::shared_ptr<CameraApi>& self, http::Request&, http::Responder done) {
               json out = json::array();
               for (const auto& c : self->options().registry->list()) out.push_back(cameraJson(c));
               done(okJson(200, std::move(out)));
             }));

  router.add("GET", "/api/cameras/{id}",
             registryRoute([](const std::shared_ptr<CameraApi>& self, http::Request& req, http::Responder done) {
               auto c = self->options().registry->get(req.params["id"]);
               if (!c) return done(errorResponse(c.error()));
               done(okJson(200, cameraJson(*c)));
             }));

  router.add("PATCH", "/api/cameras/{id}",
             registryRoute([](const std::shared_ptr<CameraApi>& self, http::Request& req, http::Responder done) {
               const auto& o = self->options();
               auto body = jsonBody(o, req, done);
               if (!body) return;
               const std::string id = req.params["id"];
               const std::string client = req.remote.toString();
               auto change = changeFrom(*body);
               if (!change) {
                 logRegistry(o, registry_actions::kUpdate, change.error().code, "camera " + id, client, 0,
                             "id=" + id + ": " + change.error().message);
                 return done(errorResponse(change.error()));
               }
               boost::asio::post(self->registryPool(), [weak = std::weak_ptr<CameraApi>(self), id,
                                                        change = std::move(change).value(), client, done]() mutable {
                 auto s = weak.lock();
                 if (!s) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
                 const auto t0 = std::chrono::steady_clock::now();
                 std::optional<ingest::CameraAddress> warmBefore;
                 if (auto before = s->options().registry->get(id); before && before->warm) {
                   if (auto a = s->options().registry->address(id)) warmBefore = *a;
                 }
                 auto r = s->options().registry->update(id, change);
                 const std::string fields = changedFields(change);
                 for (auto* secret : {&change.username, &change.password}) {
                   if (*secret && !(*secret)->empty()) OPENSSL_cleanse((*secret)->data(), (*secret)->size());
                 }
                 if (!r) {
                   logRegistry(s->options(), registry_actions::kUpdate, r.error().code, "camera " + id, client,
                               msSince(t0), "id=" + id + ": " + r.error().message);
                   return done(errorResponse(r.error()));
                 }
                 logRegistry(s->options(), registry_actions::kUpdate, "OK", cameraInfoLabel(*r), client, msSince(t0),
                             "id=" + id + " changed " + fields);
                 spdlog::info("camera {} updated ({})", id, fields);
                 std::optional<ingest::CameraAddress> warmAfter;
                 if (r->warm) {
                   if (auto a = s->options().registry->address(id)) warmAfter = *a;
                 }
                 if (warmBefore || warmAfter) s->rewarm(warmBefore, warmAfter);
                 done(okJson(200, cameraJson(*r)));
               });
             }));

  router.add("DELETE", "/api/cameras/{id}",
             registryRoute([](const std::shared_ptr<CameraApi>& self, http::Request& req, http::Responder done) {
               boost::asio::post(self->registryPool(), [weak = std::weak_ptr<CameraApi>(self), id = req.params["id"],
                                                        client = req.remote.toString(), done] {
                 auto s = weak.lock();
                 if (!s) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
                 const auto& o = s->options();
                 const auto t0 = std::chrono::steady_clock::now();
                 auto before = o.registry->address(id);
                 auto r = o.registry->remove(id);
                 if (r && r->warm && before) s->rewarm(*before, std::nullopt);
                 if (!r) {
                   logRegistry(o, registry_actions::kDelete, r.error().code, "camera " + id, client, msSince(t0),
                               "id=" + id + ": " + r.error().message);
                   return done(errorResponse(r.error()));
                 }
                 // Its previews end with it.
                 std::size_t ended = 0;
                 for (const auto& session : s->takeSessionsOf(id)) {
                   if (o.previews != nullptr && o.previews->hangup(session, client)) ++ended;
                 }
                 logRegistry(o, registry_actions::kDelete, "OK", cameraInfoLabel(*r), client, msSince(t0),
                             "id=" + id + ", " + std::to_string(ended) + " previews ended");
                 spdlog::info("camera {} ({}) deleted, {} previews ended", id, r->name, ended);
                 done(http::Response::json(
                     200, json{{"success", true},
                               {"message", "camera " + id + " deleted; " + std::to_string(ended) + " previews ended"}}
                              .dump()));
               });
             }));

  // A camera token: a JWT for /whep/camera/{id} only (resource camera/{id}, allow_subscribe), signed like
  // participant tokens, so a player can be handed a link without the API key.
  router.add("POST", "/api/cameras/{id}/token",
             registryRoute([](const std::shared_ptr<CameraApi>& self, http::Request& req, http::Responder done) {
               const auto& o = self->options();
               if (o.signer == nullptr) return done(errorResponse(Error("NOT_FOUND", "camera tokens are not enabled")));
               const std::string id = req.params["id"];
               auto c = o.registry->get(id);
               if (!c) return done(errorResponse(c.error()));
               auth::Claims claims;
               claims.jti = crypto::randomId(16);
               claims.resource = tokenResource(id);
               claims.topic = tokenResource(id);  // never a stage id (those have no '/'): useless on /whep/{stage}
               claims.capabilities.allowSubscribe = true;
               claims.whipUrl = whepUrlOf(id);
               claims.iat = wallNowMs(o) / 1000;
               claims.exp = claims.iat + o.cameraTokenTtl.count();
               auto token = o.signer->sign(claims);
               if (!token) return done(errorResponse(Error("TOKEN_FAILED", token.error().message)));
               done(okJson(200, json{{"token", *token},
                                     {"expiresAt", control::isoTimestamp(claims.exp * 1000)},
                                     {"expiresIn", o.cameraTokenTtl.count()},
                                     {"cameraId", id},
                                     {"whepUrl", whepUrlOf(id)}}));
             }));

  // --- WHEP for registered cameras (RFC 9725 conventions, as /whep/{stage}) --------------------------------

  // Both WHEP camera routes: the registry and the previews must be enabled (absent: 404). Each checks the bearer.
  auto whepRoute = [weak](auto fn) {
    return [weak, fn](http::Request& req, http::Responder done) {
      auto self = weak.lock();
      if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
      if (self->options().registry == nullptr || self->options().previews == nullptr) {
        return done(errorResponse(Error("NOT_FOUND", "camera previews are not enabled")));
      }
      fn(self, req, std::move(done));
    };
  };

  router.add("POST", "/whep/camera/{cameraId}", whepRoute([weak](const std::shared_ptr<CameraApi>& self,
                                                                  http::Request& req, http::Responder done) {
    const auto& o = self->options();
    const std::string cameraId = req.params["cameraId"];
    // The credential first: nothing about the camera is told to a client without one.
    if (auto st = authorizeViewer(o, req, cameraId); !st) return done(errorResponse(st.error()));
    if (!contentTypeIs(req, "application/sdp")) {
      return done(errorResponse(Error("UNSUPPORTED_MEDIA_TYPE", "the offer must be sent as application/sdp")));
    }
    if (req.body.empty()) return done(errorResponse(Error("SDP_MALFORMED", "empty offer")));
    if (req.body.size() > kMaxWhepOffer) return done(errorResponse(Error("SDP_TOO_LARGE", "the offer is over 64 KiB")));
    auto address = o.registry->address(cameraId);
    if (!address) return done(errorResponse(address.error()));
    // CameraPreviews::offer waits for the camera: on the probe pool, like the JSON offer.
    boost::asio::post(self->pool(), [weak, a = std::move(address).value(), cameraId, offer = std::move(req.body), done,
                                     client = req.remote.toString()]() mutable {
      auto s = weak.lock();
      if (!s) {
        wipeCredentials(a);
        return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
      }
      const auto& so = s->options();
      auto r = so.previews->offer(a, std::move(offer), client);
      wipeCredentials(a);
      if (!r) return done(errorResponse(r.error()));
      s->track(r->sessionId, cameraId, true);
      if (!so.registry->get(cameraId)) {  // deleted while the offer was in progress
        s->forget(r->sessionId);
        (void)so.previews->hangup(r->sessionId, client);
        return done(errorResponse(Error(camera_error::kNotFound, "no camera " + cameraId)));
      }
      // RFC 9725 §4.2: 201 Created, the answer, and the session resource in Location.
      http::Response resp = http::Response::text(201, r->sdp, "application/sdp");
      resp.headers.emplace("Location", whepUrlOf(cameraId) + "/" + r->sessionId);
      for (const auto& ice : so.iceServers) resp.headers.emplace("Link", iceServerLink(ice));
      done(std::move(resp));
    });
  }));

  // RFC 9725 §4.3: DELETE of the session resource ends it. (No PATCH: trickle ICE and ICE restarts are not
  // offered for camera sessions, so the router answers 405, as §4.3.1 asks.)
  router.add("DELETE", "/whep/camera/{cameraId}/{sessionId}", whepRoute([](const std::shared_ptr<CameraApi>& self,
                                                                              http::Request& req, http::Responder done) {
    const auto& o = self->options();
    const std::string cameraId = req.params["cameraId"];
    const std::string sessionId = req.params["sessionId"];
    if (auto st = authorizeViewer(o, req, cameraId); !st) return done(errorResponse(st.error()));
    auto t = self->tracked(sessionId);
    if (!t || t->cameraId != cameraId) {
      return done(errorResponse(Error("SESSION_NOT_FOUND", "no such session of camera " + cameraId)));
    }
    auto st = o.previews->hangup(sessionId, req.remote.toString());
    self->forget(sessionId);
    if (!st) return done(errorResponse(st.error()));
    done(http::Response{200, {}, ""});
  }));

  router.add("GET", "/api/logs", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    const auto& o = self->options();
    if (!authorized(o, req, done)) return;
    if (o.actionLog == nullptr) return done(errorResponse(Error("NOT_FOUND", "the action log is not enabled")));
    actionlog::LogQuery q;
    if (auto it = req.query.find("camera"); it != req.query.end()) q.camera = it->second;
    if (auto it = req.query.find("action"); it != req.query.end()) q.action = it->second;
    for (const char* name : {"since", "limit"}) {
      auto it = req.query.find(name);
      if (it == req.query.end()) continue;
      char* end = nullptr;
      const long long v = std::strtoll(it->second.c_str(), &end, 10);
      if (it->second.empty() || *end != '\0' || v < 0) {
        return done(errorResponse(Error("INVALID_REQUEST", std::string(name) + ": must be a non-negative integer")));
      }
      if (std::string(name) == "since") {
        q.sinceMs = v;
      } else {
        q.limit = static_cast<std::size_t>(std::min<long long>(v, 1000));
      }
    }
    // Reads are quick but touch the database: keep them off the HTTP loop too.
    boost::asio::post(self->pool(), [weak, q, done] {
      auto s = weak.lock();
      if (!s) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
      auto rows = s->options().actionLog->query(q);
      if (!rows) return done(errorResponse(rows.error()));
      json out = json::array();
      for (const auto& r : *rows) {
        out.push_back({{"id", r.id},
                       {"at", r.atMs},
                       {"action", r.action},
                       {"result", r.result},
                       {"camera", r.camera},
                       {"client", r.client},
                       {"sessionId", r.sessionId},
                       {"durationMs", r.durationMs},
                       {"detail", r.detail}});
      }
      done(http::Response::json(200, json{{"success", true}, {"data", out}}.dump()));
    });
  });
  return api;
}

}  // namespace stagecast::api
