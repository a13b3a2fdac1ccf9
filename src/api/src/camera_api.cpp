#include "stagecast/api/camera_api.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "stagecast/api/control_api.hpp"
#include "stagecast/api/errors.hpp"
#include "stagecast/auth/base64url.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

namespace stagecast::api {

using nlohmann::json;

class CameraApi {
 public:
  explicit CameraApi(CameraApiOptions options)
      : options_(std::move(options)), pool_(std::max<std::size_t>(1, options_.probeThreads)) {}
  ~CameraApi() { pool_.join(); }

  const CameraApiOptions& options() const { return options_; }
  boost::asio::thread_pool& pool() { return pool_; }

 private:
  CameraApiOptions options_;
  boost::asio::thread_pool pool_;
};

namespace {

// Standard base64 (RFC 4648 §4), for a data: URL.
std::string base64(const std::string& bytes) {
  std::string s = auth::base64UrlEncode(BytesView(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4 != 0) s.push_back('=');
  return s;
}

// The camera as logged and shown: host:port/path, never credentials.
std::string cameraLabel(const ingest::CameraAddress& a) {
  return a.ip + ":" + std::to_string(a.port) + a.path;
}

Result<ingest::CameraAddress> cameraFrom(const json& body) {
  ingest::CameraAddress a;
  auto str = [&body](const char* name, std::string& out, bool required) -> Status {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) {
      if (required) return Error("INVALID_REQUEST", std::string(name) + ": is required");
      return {};
    }
    if (!it->is_string()) return Error("INVALID_REQUEST", std::string(name) + ": must be a string");
    out = it->get<std::string>();
    return {};
  };
  if (auto s = str("ip", a.ip, true); !s) return s.error();
  if (auto s = str("path", a.path, false); !s) return s.error();
  if (auto s = str("username", a.username, false); !s) return s.error();
  if (auto s = str("password", a.password, false); !s) return s.error();
  if (auto s = str("transport", a.transport, false); !s) return s.error();
  if (a.path.empty()) a.path = "/";
  if (auto it = body.find("port"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 65535) {
      return Error("INVALID_REQUEST", "port: must be an integer 1-65535");
    }
    a.port = static_cast<std::uint16_t>(it->get<std::int64_t>());
  }
  if (auto url = ingest::buildRtspUrl(a); !url) return url.error();
  return a;
}

bool authorized(const CameraApiOptions& o, const http::Request& req, http::Responder& done) {
  auto st = checkApiKey(o.apiKeys, req);
  if (!st) done(errorResponse(st.error()));
  return st.ok();
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
    if (req.body.size() > o.maxBodyBytes) {
      return done(errorResponse(Error("INVALID_REQUEST", "body: larger than " + std::to_string(o.maxBodyBytes) + " bytes")));
    }
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return done(errorResponse(Error("INVALID_REQUEST", "body: a JSON object is required")));
    auto camera = cameraFrom(body);
    const std::string client = req.remote.toString();
    if (!camera) {
      if (o.actionLog) {
        o.actionLog->record({0, 0, actionlog::actions::kProbe, camera.error().code,
                             body.value("ip", std::string()), client, "", 0, camera.error().message});
      }
      return done(errorResponse(camera.error()));
    }
    bool snapshot = true;
    if (auto it = body.find("snapshot"); it != body.end() && it->is_boolean()) snapshot = it->get<bool>();
    // The probe blocks on the camera: run it on the probe pool and answer from there.
    boost::asio::post(self->pool(), [a = *camera, snapshot, done, client, timeout = o.probeTimeout,
                                     log = o.actionLog] {
      const auto t0 = std::chrono::steady_clock::now();
      auto r = ingest::probe(a, timeout, snapshot);
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
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
    if (req.body.size() > o.maxBodyBytes) {
      return done(errorResponse(Error("INVALID_REQUEST", "body: larger than " + std::to_string(o.maxBodyBytes) + " bytes")));
    }
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return done(errorResponse(Error("INVALID_REQUEST", "body: a JSON object is required")));
    auto camera = cameraFrom(body);
    if (!camera) return done(errorResponse(camera.error()));
    auto sdp = body.find("sdp");
    if (sdp == body.end() || !sdp->is_string() || sdp->get<std::string>().empty()) {
      return done(errorResponse(Error("INVALID_REQUEST", "sdp: an SDP offer is required")));
    }
    if (auto t = body.find("type"); t != body.end() && (!t->is_string() || *t != "offer")) {
      return done(errorResponse(Error("INVALID_REQUEST", "type: must be \"offer\"")));
    }
    // Waits for the camera's stream description: on the probe pool.
    boost::asio::post(self->pool(), [weak, a = *camera, offer = sdp->get<std::string>(), done,
                                     client = req.remote.toString()]() mutable {
      auto s = weak.lock();
      if (!s) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
      auto r = s->options().previews->offer(a, std::move(offer), client);
      if (!r) return done(errorResponse(r.error()));
      done(http::Response::json(200, json{{"success", true},
                                          {"data", {{"sessionId", r->sessionId}, {"sdp", r->sdp}, {"type", "answer"}}}}
                                         .dump()));
    });
  });

  router.add("POST", "/api/cameras/preview/webrtc/hangup", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    const auto& o = self->options();
    if (!authorized(o, req, done)) return;
    if (o.previews == nullptr) return done(errorResponse(Error("NOT_FOUND", "previews are not enabled")));
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("sessionId") || !body["sessionId"].is_string()) {
      return done(errorResponse(Error("INVALID_REQUEST", "sessionId: is required")));
    }
    auto st = o.previews->hangup(body["sessionId"].get<std::string>(), req.remote.toString());
    if (!st) return done(errorResponse(st.error()));
    done(http::Response::json(200, json{{"success", true}, {"message", "ended"}}.dump()));
  });

  router.add("POST", "/api/cameras/preview/webrtc/keepalive", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    const auto& o = self->options();
    if (!authorized(o, req, done)) return;
    if (o.previews == nullptr) return done(errorResponse(Error("NOT_FOUND", "previews are not enabled")));
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("sessionId") || !body["sessionId"].is_string()) {
      return done(errorResponse(Error("INVALID_REQUEST", "sessionId: is required")));
    }
    auto left = o.previews->extend(body["sessionId"].get<std::string>());
    if (!left) return done(errorResponse(left.error()));
    done(http::Response::json(200, json{{"success", true}, {"data", {{"expiresIn", *left}}}}.dump()));
  });

  router.add("GET", "/api/cameras/preview/stats", [weak](http::Request& req, http::Responder done) {
    auto self = weak.lock();
    if (!self) return done(errorResponse(Error("SHUTTING_DOWN", "the server is stopping")));
    if (!authorized(self->options(), req, done)) return;
    const auto st = self->options().previews != nullptr ? self->options().previews->stats() : CameraPreviews::Stats{};
    done(http::Response::json(
        200, json{{"success", true}, {"data", {{"pulls", st.cameras}, {"sessions", st.sessions}}}}.dump()));
  });

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
        out.push_back({{"id", r.id}, {"at", r.atMs}, {"action", r.action}, {"result", r.result}, {"camera", r.camera},
                       {"client", r.client}, {"sessionId", r.sessionId}, {"durationMs", r.durationMs},
                       {"detail", r.detail}});
      }
      done(http::Response::json(200, json{{"success", true}, {"data", out}}.dump()));
    });
  });
  return api;
}

}  // namespace stagecast::api
