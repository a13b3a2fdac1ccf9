// The camera registry over the HTTP API, against a real RTSP camera with digest authentication (GStreamer,
// started by the test): cameras registered with credentials that no answer, log line or file byte ever shows;
// probes and offers by cameraId; WHEP at /whep/camera/{id} with a native client (API key, camera token, wrong
// tokens), video arriving over WebRTC, and DELETE of the session resource ending it.
#include <nlohmann/json.hpp>

#include "../ingest/camera_fixture.hpp"
#include "stagecast/auth/token.hpp"
#include "stagecast/client/http_client.hpp"
#include "stagecast/client/offer.hpp"
#include "stagecast/common/crypto.hpp"
#include "support.hpp"

namespace stagecast::itest {
namespace {

using ingest::testing::RtspCamera;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kCamUser = "admin";
constexpr const char* kCamPassword = "Digest-s3cret-77";

struct Answer {
  int status = 0;
  json body;
  HttpResponse raw;
};

class CameraRegistryApi : public ::testing::Test {
 protected:
  void SetUp() override {
    dataDir_ = fs::temp_directory_path() / ("stagecast-camreg-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dataDir_);
    fs::create_directories(dataDir_);
    startServer();
    loop_ = std::make_unique<ClientLoop>();
  }
  void TearDown() override {
    if (loop_) {
      loop_->call([this] {
        for (auto& p : peers_) p->stop();
        return 0;
      });
    }
    peers_.clear();
    loop_.reset();
    if (server_) server_->stop();
    server_.reset();
    fs::remove_all(dataDir_);
  }

  void startServer() {
    app::ServerConfig cfg = testConfig();
    cfg.dataDir = dataDir_.string();
    cfg.probeTimeoutMs = 4000;
    cfg.previewTtlSeconds = previewTtlSeconds_;
    cfg.actionLogConnection = (dataDir_ / "actions.db").string();
    auto s = app::Server::create(cfg);
    ASSERT_TRUE(s) << s.error().code << " " << s.error().message;
    server_ = std::move(s).value();
    ASSERT_TRUE(server_->start());
  }

  Answer call(const std::string& method, const std::string& target, const std::string& body = "",
              std::vector<std::pair<std::string, std::string>> headers = {{"x-api-key", kApiKey}},
              const std::string& contentType = "application/json") {
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.body = body;
    req.headers = std::move(headers);
    if (!body.empty()) req.headers.emplace_back("Content-Type", contentType);
    auto r = HttpClient("127.0.0.1", server_->httpPort(), seconds(15)).send(req);
    if (!r) {
      ADD_FAILURE() << method << " " << target << ": " << r.error().message;
      return {};
    }
    return {r->status, json::parse(r->body, nullptr, false), *r};
  }
  Answer call(const std::string& method, const std::string& target, const json& body) {
    return call(method, target, body.dump());
  }

  // Registers a camera; returns its id.
  std::string add(const json& body) {
    auto a = call("POST", "/api/cameras", body);
    EXPECT_EQ(a.status, 201) << a.raw.body;
    if (a.status != 201 || !a.body["data"]["id"].is_string()) return "";
    return a.body["data"]["id"].get<std::string>();
  }

  std::string cameraToken(const std::string& id) {
    auto a = call("POST", "/api/cameras/" + id + "/token");
    EXPECT_EQ(a.status, 200) << a.raw.body;
    if (a.status != 200 || !a.body["data"]["token"].is_string()) return "";
    return a.body["data"]["token"].get<std::string>();
  }

  // A WHEP viewer of a registered camera.
  Result<std::shared_ptr<NativePeer>> watch(const std::string& cameraId, const std::string& bearer) {
    NativePeerOptions o;
    o.role = Role::Viewer;
    o.httpPort = server_->httpPort();
    o.stage = "camera/" + cameraId;  // POST /whep/camera/{id}
    o.bearerToken = bearer;
    o.certificate = clientCertificate();
    o.httpTimeout = seconds(15);
    auto r = NativePeer::connect(loop_->io(), std::move(o));
    if (r) peers_.push_back(r.value());
    return r;
  }
  std::uint64_t videoPackets(const std::shared_ptr<NativePeer>& p) {
    return loop_->call([&p] { return p->stats().video.packets; });
  }
  std::size_t previewSessions() {
    auto a = call("GET", "/api/cameras/preview/stats");
    if (a.status != 200 || !a.body["data"]["sessions"].is_number_unsigned()) return 999;
    return a.body["data"]["sessions"].get<std::size_t>();
  }
  std::string logText(const std::string& query) {
    auto a = call("GET", "/api/logs?" + query);
    EXPECT_EQ(a.status, 200) << a.raw.body;
    return a.raw.body;
  }

  fs::path dataDir_;
  int previewTtlSeconds_ = 180;
  std::unique_ptr<app::Server> server_;
  std::unique_ptr<ClientLoop> loop_;
  std::vector<std::shared_ptr<NativePeer>> peers_;
};

void expectNoCredentials(const std::string& text, const std::string& where) {
  EXPECT_EQ(text.find(kCamPassword), std::string::npos) << "the password appears in " << where << ": " << text;
  EXPECT_EQ(text.find("\"username\""), std::string::npos) << "a username field appears in " << where << ": " << text;
  EXPECT_EQ(text.find("\"password\""), std::string::npos) << "a password field appears in " << where << ": " << text;
}

TEST_F(CameraRegistryApi, RegisterListUpdateDeleteNeverShowingCredentials) {
  auto created = call("POST", "/api/cameras",
                      json{{"name", "Front gate"},
                           {"ip", "127.0.0.1"},
                           {"port", 8554},
                           {"path", "/ch1"},
                           {"username", kCamUser},
                           {"password", kCamPassword}});
  ASSERT_EQ(created.status, 201) << created.raw.body;
  const json cam = created.body["data"];
  const std::string id = cam["id"];
  EXPECT_TRUE(created.body["success"].get<bool>());
  EXPECT_EQ(cam["name"], "Front gate");
  EXPECT_EQ(cam["ip"], "127.0.0.1");
  EXPECT_EQ(cam["port"], 8554);
  EXPECT_EQ(cam["path"], "/ch1");
  EXPECT_EQ(cam["transport"], "tcp");
  EXPECT_EQ(cam["hasCredentials"], true);
  EXPECT_EQ(cam["whepUrl"], "/whep/camera/" + id);
  EXPECT_TRUE(cam["createdAt"].get<std::string>().ends_with("Z")) << cam.dump();
  EXPECT_EQ(created.raw.header("Location").value_or(""), "/api/cameras/" + id);
  expectNoCredentials(created.raw.body, "the POST answer");

  const std::string plainId = add({{"name", "Lobby"}, {"ip", "127.0.0.1"}});
  auto list = call("GET", "/api/cameras");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["data"].size(), 2U);
  EXPECT_EQ(list.body["data"][0]["id"], id);
  EXPECT_EQ(list.body["data"][1]["id"], plainId);
  EXPECT_EQ(list.body["data"][1]["hasCredentials"], false);
  EXPECT_EQ(list.body["data"][1]["port"], 554);
  EXPECT_EQ(list.body["data"][1]["path"], "/");
  expectNoCredentials(list.raw.body, "GET /api/cameras");
  auto one = call("GET", "/api/cameras/" + id);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body["data"], cam);
  expectNoCredentials(one.raw.body, "GET /api/cameras/{id}");

  // The file on disk does not hold them in clear either.
  std::ifstream in(dataDir_ / "cameras.json");
  std::stringstream file;
  file << in.rdbuf();
  ASSERT_NE(file.str().find(id), std::string::npos);
  EXPECT_EQ(file.str().find(kCamPassword), std::string::npos);

  // PATCH: "password": null clears the password only, "username": null the credentials.
  auto renamed = call("PATCH", "/api/cameras/" + id, json{{"name", "Gate"}, {"password", nullptr}});
  ASSERT_EQ(renamed.status, 200) << renamed.raw.body;
  EXPECT_EQ(renamed.body["data"]["name"], "Gate");
  EXPECT_EQ(renamed.body["data"]["hasCredentials"], true);
  auto cleared = call("PATCH", "/api/cameras/" + id, json{{"username", nullptr}, {"port", nullptr}});
  ASSERT_EQ(cleared.status, 200) << cleared.raw.body;
  EXPECT_EQ(cleared.body["data"]["hasCredentials"], false);
  EXPECT_EQ(cleared.body["data"]["port"], 554);
  auto set = call("PATCH", "/api/cameras/" + id, json{{"username", kCamUser}, {"password", kCamPassword}});
  ASSERT_EQ(set.status, 200);
  EXPECT_EQ(set.body["data"]["hasCredentials"], true);
  expectNoCredentials(set.raw.body, "the PATCH answer");

  // A restart reads the registry back.
  server_->stop();
  server_.reset();
  startServer();
  auto again = call("GET", "/api/cameras/" + id);
  ASSERT_EQ(again.status, 200) << again.raw.body;
  EXPECT_EQ(again.body["data"]["name"], "Gate");
  EXPECT_EQ(again.body["data"]["hasCredentials"], true);
  EXPECT_EQ(again.body["data"]["createdAt"], cam["createdAt"]);

  auto deleted = call("DELETE", "/api/cameras/" + plainId);
  ASSERT_EQ(deleted.status, 200) << deleted.raw.body;
  EXPECT_TRUE(deleted.body["success"].get<bool>());
  EXPECT_FALSE(deleted.body["message"].get<std::string>().empty());
  EXPECT_EQ(call("GET", "/api/cameras").body["data"].size(), 1U);

  // Every change is in the action log, without credentials.
  std::string text;
  ASSERT_TRUE(waitFor(
      [&] {
        text = logText("limit=100");
        const json rows = json::parse(text)["data"];
        std::size_t adds = 0, updates = 0, deletes = 0;
        for (const auto& r : rows) {
          adds += r["action"] == "camera_add" && r["result"] == "OK";
          updates += r["action"] == "camera_update" && r["result"] == "OK";
          deletes += r["action"] == "camera_delete" && r["result"] == "OK";
        }
        return adds == 2 && updates == 3 && deletes == 1;
      },
      seconds(10)))
      << text;
  EXPECT_EQ(text.find(kCamPassword), std::string::npos) << text;
  EXPECT_NE(text.find(id), std::string::npos) << "the log names the camera id";
}

TEST_F(CameraRegistryApi, NotFoundAndBadInput) {
  const std::string id = add({{"name", "Gate"}, {"ip", "127.0.0.1"}});
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/cameras/nope"}, {"DELETE", "/api/cameras/nope"}, {"POST", "/api/cameras/nope/token"}}) {
    auto a = call(method, target);
    EXPECT_EQ(a.status, 404) << method << " " << target;
    EXPECT_EQ(a.raw.errorCode(), "CAMERA_NOT_FOUND") << method << " " << target;
  }
  auto patch404 = call("PATCH", "/api/cameras/nope", json{{"name", "x"}});
  EXPECT_EQ(patch404.status, 404);
  EXPECT_EQ(patch404.raw.errorCode(), "CAMERA_NOT_FOUND");

  auto bad = [&](const std::string& method, const std::string& target, const std::string& body,
                 const std::string& field) {
    auto a = call(method, target, body);
    EXPECT_EQ(a.status, 400) << body;
    EXPECT_EQ(a.raw.errorCode(), "INVALID_REQUEST") << body;
    EXPECT_NE(a.body["error"]["message"].get<std::string>().find(field), std::string::npos)
        << body << " -> " << a.raw.body;
  };
  bad("POST", "/api/cameras", R"({"ip":"127.0.0.1"})", "name");
  bad("POST", "/api/cameras", json{{"name", std::string(101, 'x')}, {"ip", "127.0.0.1"}}.dump(), "name");
  bad("POST", "/api/cameras", R"({"name":7,"ip":"127.0.0.1"})", "name");
  bad("POST", "/api/cameras", R"({"name":"x"})", "ip");
  bad("POST", "/api/cameras", R"({"name":"x","ip":"not an ip!"})", "ip");
  bad("POST", "/api/cameras", R"({"name":"x","ip":5})", "ip");
  bad("POST", "/api/cameras", R"({"name":"x","ip":"127.0.0.1","port":0})", "port");
  bad("POST", "/api/cameras", R"({"name":"x","ip":"127.0.0.1","port":"80"})", "port");
  bad("POST", "/api/cameras", R"({"name":"x","ip":"127.0.0.1","password":"p"})", "username");
  bad("POST", "/api/cameras", R"({"name":"x","ip":"127.0.0.1","transport":"sctp"})", "transport");
  bad("POST", "/api/cameras", "{not json", "body");
  bad("PATCH", "/api/cameras/" + id, "{}", "body");
  bad("PATCH", "/api/cameras/" + id, R"({"name":null})", "name");
  bad("PATCH", "/api/cameras/" + id, R"({"ip":"300.1.1.1"})", "ip");
  bad("PATCH", "/api/cameras/" + id, R"({"password":"p"})", "username");
  bad("POST", "/api/cameras/preview/probe", json{{"cameraId", id}, {"ip", "127.0.0.1"}}.dump(), "ip");
  bad("POST", "/api/cameras/preview/probe", R"({"cameraId":5})", "cameraId");
  EXPECT_EQ(call("GET", "/api/cameras/" + id).body["data"]["name"], "Gate") << "bad input changed nothing";
  EXPECT_EQ(call("GET", "/api/cameras").body["data"].size(), 1U);

  auto probe404 = call("POST", "/api/cameras/preview/probe", json{{"cameraId", "nope"}});
  EXPECT_EQ(probe404.status, 404);
  EXPECT_EQ(probe404.raw.errorCode(), "CAMERA_NOT_FOUND");

  // The API key is needed on every registry route.
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/api/cameras"},
                                                        {"GET", "/api/cameras/" + id},
                                                        {"POST", "/api/cameras"},
                                                        {"PATCH", "/api/cameras/" + id},
                                                        {"DELETE", "/api/cameras/" + id},
                                                        {"POST", "/api/cameras/" + id + "/token"}}) {
    auto a = call(method, target, method == "GET" || method == "DELETE" ? "" : R"({"name":"y","ip":"127.0.0.1"})", {});
    EXPECT_EQ(a.status, 401) << method << " " << target;
    EXPECT_EQ(a.raw.errorCode(), "API_KEY_REQUIRED") << method << " " << target;
    auto wrong = call(method, target, "", {{"x-api-key", "wrong"}});
    EXPECT_EQ(wrong.status, 401) << method << " " << target;
  }
  EXPECT_EQ(call("GET", "/api/cameras").body["data"].size(), 1U);
}

TEST_F(CameraRegistryApi, CameraTokensAreForOneCameraAndOneHour) {
  const std::string a = add({{"name", "A"}, {"ip", "127.0.0.1"}});
  auto r = call("POST", "/api/cameras/" + a + "/token");
  ASSERT_EQ(r.status, 200) << r.raw.body;
  const std::string token = r.body["data"]["token"];
  auth::TokenVerifier verifier(server_->signingKey());
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto claims = verifier.verify(token, now);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->resource, "camera/" + a);
  EXPECT_TRUE(claims->capabilities.allowSubscribe);
  EXPECT_FALSE(claims->capabilities.allowPublish);
  EXPECT_EQ(claims->exp - claims->iat, 3600);
  EXPECT_LE(std::abs(claims->iat - now), 5);
  EXPECT_TRUE(r.body["data"]["expiresAt"].get<std::string>().ends_with("Z"));
  EXPECT_FALSE(verifier.verify(token, now + 3600 + 31)) << "expired after an hour";
}

// Probes and offers by cameraId against a camera that wants digest credentials.
TEST_F(CameraRegistryApi, ProbeAndOfferByCameraIdUseTheStoredCredentials) {
  RtspCamera cam;
  START_CAMERA(cam, "--port", "0", "--path", "/locked", "--auth", "digest", "--user", kCamUser, "--password",
               kCamPassword);
  const std::string id = add({{"name", "Locked"}, {"ip", "127.0.0.1"}, {"port", cam.port()}, {"path", "/locked"}});

  // No credentials stored: the camera asks for them.
  auto noCreds = call("POST", "/api/cameras/preview/probe", json{{"cameraId", id}, {"snapshot", false}});
  EXPECT_EQ(noCreds.status, 401) << noCreds.raw.body;
  EXPECT_EQ(noCreds.raw.errorCode(), "AUTH_REQUIRED");
  // The page tries credentials before saving them: body credentials override the (absent) stored ones.
  auto wrong = call("POST", "/api/cameras/preview/probe",
                    json{{"cameraId", id}, {"username", kCamUser}, {"password", "nope"}, {"snapshot", false}});
  EXPECT_EQ(wrong.status, 403) << wrong.raw.body;
  EXPECT_EQ(wrong.raw.errorCode(), "AUTH_FAILED");
  auto tried = call("POST", "/api/cameras/preview/probe",
                    json{{"cameraId", id}, {"username", kCamUser}, {"password", kCamPassword}, {"snapshot", false}});
  EXPECT_EQ(tried.status, 200) << tried.raw.body;

  // Saved: the stored credentials open the camera.
  ASSERT_EQ(call("PATCH", "/api/cameras/" + id, json{{"username", kCamUser}, {"password", kCamPassword}}).status, 200);
  auto probed = call("POST", "/api/cameras/preview/probe", json{{"cameraId", id}, {"snapshot", false}});
  ASSERT_EQ(probed.status, 200) << probed.raw.body;
  EXPECT_EQ(probed.body["data"]["cameraId"], id);
  ASSERT_FALSE(probed.body["data"]["streams"].empty());
  EXPECT_EQ(probed.body["data"]["streams"][0]["codec"], "h264");
  expectNoCredentials(probed.raw.body, "the probe answer");
  // A stored-credentials probe with a wrong override fails: the override is really used.
  auto overridden =
      call("POST", "/api/cameras/preview/probe", json{{"cameraId", id}, {"password", "not-it"}, {"snapshot", false}});
  EXPECT_EQ(overridden.status, 403) << overridden.raw.body;

  // A WebRTC offer by cameraId (a browser-like offer; the answer is what matters here).
  client::OfferOptions oo;
  oo.role = Role::Viewer;
  oo.iceUfrag = crypto::randomIceString(8);
  oo.icePwd = crypto::randomIceString(24);
  oo.fingerprint = clientCertificate()->fingerprintSha256();
  auto offer = call("POST", "/api/cameras/preview/webrtc/offer",
                    json{{"cameraId", id}, {"sdp", client::buildOfferSdp(oo)}, {"type", "offer"}});
  ASSERT_EQ(offer.status, 200) << offer.raw.body;
  EXPECT_EQ(offer.body["data"]["type"], "answer");
  EXPECT_NE(offer.body["data"]["sdp"].get<std::string>().find("m=video"), std::string::npos);
  const std::string session = offer.body["data"]["sessionId"];
  EXPECT_EQ(previewSessions(), 1U);
  auto unknown = call("POST", "/api/cameras/preview/webrtc/offer",
                      json{{"cameraId", "nope"}, {"sdp", client::buildOfferSdp(oo)}, {"type", "offer"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.raw.errorCode(), "CAMERA_NOT_FOUND");
  auto hung = call("POST", "/api/cameras/preview/webrtc/hangup", json{{"sessionId", session}});
  EXPECT_EQ(hung.status, 200) << hung.raw.body;
  EXPECT_EQ(previewSessions(), 0U);

  // The log shows the probes with the camera's address and no password.
  std::string text;
  ASSERT_TRUE(waitFor(
      [&] {
        text = logText("action=probe&limit=50");
        return json::parse(text)["data"].size() >= 5;
      },
      seconds(10)))
      << text;
  EXPECT_EQ(text.find(kCamPassword), std::string::npos) << text;
  EXPECT_NE(text.find("127.0.0.1:" + std::to_string(cam.port()) + "/locked"), std::string::npos) << text;
}

// WHEP at /whep/camera/{id} with the native client: video arrives; DELETE of the Location ends the session.
TEST_F(CameraRegistryApi, WhepByCameraIdGetsVideoAndDeleteEndsIt) {
  RtspCamera cam;
  START_CAMERA(cam, "--port", "0", "--path", "/locked", "--auth", "digest", "--user", kCamUser, "--password",
               kCamPassword, "--width", "320", "--height", "240");
  const std::string id = add({{"name", "Locked"},
                              {"ip", "127.0.0.1"},
                              {"port", cam.port()},
                              {"path", "/locked"},
                              {"username", kCamUser},
                              {"password", kCamPassword}});
  ASSERT_FALSE(id.empty());

  for (const bool withToken : {false, true}) {
    SCOPED_TRACE(withToken ? "camera token" : "API key");
    const std::string bearer = withToken ? cameraToken(id) : std::string(kApiKey);
    auto peer = watch(id, bearer);
    ASSERT_TRUE(peer) << peer.error().code << " " << peer.error().message;
    const std::string location = (*peer)->resourceUrl();
    EXPECT_EQ(location.rfind("/whep/camera/" + id + "/", 0), 0U) << location;
    EXPECT_NE((*peer)->answerSdp().find("a=sendonly"), std::string::npos);
    ASSERT_TRUE(waitFor([&] { return videoPackets(*peer) >= 20; }, seconds(20)))
        << "video packets: " << videoPackets(*peer);
    EXPECT_EQ(previewSessions(), 1U);

    // DELETE needs the bearer too, and only this camera's sessions are reachable under its URL.
    auto anonymous = call("DELETE", location, "", {});
    EXPECT_EQ(anonymous.status, 401);
    EXPECT_NE(anonymous.raw.header("WWW-Authenticate").value_or("").find("Bearer"), std::string::npos);
    const std::string other = add({{"name", "Other"}, {"ip", "127.0.0.1"}});
    const std::string sessionId = location.substr(location.rfind('/') + 1);
    auto elsewhere = call("DELETE", "/whep/camera/" + other + "/" + sessionId, "",
                          {{"Authorization", "Bearer " + std::string(kApiKey)}});
    EXPECT_EQ(elsewhere.status, 404) << elsewhere.raw.body;
    EXPECT_EQ(elsewhere.raw.errorCode(), "SESSION_NOT_FOUND");
    EXPECT_EQ(previewSessions(), 1U);
    ASSERT_EQ(call("DELETE", "/api/cameras/" + other).status, 200);

    auto ended = call("DELETE", location, "", {{"Authorization", "Bearer " + bearer}});
    EXPECT_EQ(ended.status, 200) << ended.raw.body;
    EXPECT_TRUE(waitFor([&] { return previewSessions() == 0; }, seconds(5)));
    // The server stopped sending: a whole second passes without a packet (at 25 frames/s one came every 40 ms).
    std::uint64_t last = videoPackets(*peer);
    auto lastChange = Clock::now();
    EXPECT_TRUE(waitFor(
        [&] {
          if (const std::uint64_t n = videoPackets(*peer); n != last) {
            last = n;
            lastChange = Clock::now();
          }
          return Clock::now() - lastChange >= seconds(1);
        },
        seconds(8), milliseconds(20)))
        << "packets keep arriving after DELETE";
    auto again = call("DELETE", location, "", {{"Authorization", "Bearer " + bearer}});
    EXPECT_EQ(again.status, 404);
    EXPECT_EQ(again.raw.errorCode(), "SESSION_NOT_FOUND");
    loop_->call([&] {
      (*peer)->stop();
      return 0;
    });
  }
}

TEST_F(CameraRegistryApi, WhepCredentialsApiKeyCameraTokenWrongTokenOtherCamera) {
  const std::string a = add({{"name", "A"}, {"ip", "127.0.0.1"}});
  const std::string b = add({{"name", "B"}, {"ip", "127.0.0.1"}});
  const std::string tokenB = cameraToken(b);
  client::OfferOptions oo;
  oo.iceUfrag = crypto::randomIceString(8);
  oo.icePwd = crypto::randomIceString(24);
  oo.fingerprint = clientCertificate()->fingerprintSha256();
  const std::string sdp = client::buildOfferSdp(oo);
  auto post = [&](const std::string& camera, std::optional<std::string> bearer,
                  const std::string& type = "application/sdp") {
    std::vector<std::pair<std::string, std::string>> h;
    if (bearer) h.emplace_back("Authorization", "Bearer " + *bearer);
    return call("POST", "/whep/camera/" + camera, sdp, h, type);
  };

  auto none = post(a, std::nullopt);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.raw.errorCode(), "TOKEN_REQUIRED");
  EXPECT_NE(none.raw.header("WWW-Authenticate").value_or("").find("Bearer"), std::string::npos);
  auto garbage = post(a, std::string("not-a-token"));
  EXPECT_EQ(garbage.status, 401);
  EXPECT_NE(garbage.raw.header("WWW-Authenticate").value_or("").find("Bearer"), std::string::npos);
  EXPECT_EQ(post(a, std::string("integration-test-keyX")).status, 401) << "almost the API key";
  // A token of this server, but for camera B.
  auto otherCamera = post(a, tokenB);
  EXPECT_EQ(otherCamera.status, 403) << otherCamera.raw.body;
  EXPECT_EQ(otherCamera.raw.errorCode(), "TOKEN_WRONG_CAMERA");
  // A live-channel viewer token is not a camera token.
  auto viewer = call("POST", "/api/token/viewer", json{{"userId", "u1"}});
  ASSERT_EQ(viewer.status, 200) << viewer.raw.body;
  auto channelToken = post(a, viewer.body["data"]["token"].get<std::string>());
  EXPECT_EQ(channelToken.status, 403) << channelToken.raw.body;
  // A token signed by another key.
  auto foreignKey = auth::SigningKey::generate();
  ASSERT_TRUE(foreignKey);
  auth::Claims forged;
  forged.jti = "forged";
  forged.resource = "camera/" + a;
  forged.topic = "camera/" + a;
  forged.capabilities.allowSubscribe = true;
  forged.iat =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  forged.exp = forged.iat + 600;
  auto forgedToken = auth::TokenSigner(*foreignKey).sign(forged);
  ASSERT_TRUE(forgedToken);
  auto forgedAnswer = post(a, *forgedToken);
  EXPECT_EQ(forgedAnswer.status, 401);
  EXPECT_EQ(forgedAnswer.raw.errorCode(), "TOKEN_BAD_SIGNATURE");

  // Authorized, but: unknown camera, wrong content type, empty offer.
  auto unknown = post("nope", std::string(kApiKey));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.raw.errorCode(), "CAMERA_NOT_FOUND");
  auto json415 = post(a, std::string(kApiKey), "application/json");
  EXPECT_EQ(json415.status, 415);
  // DELETE: the token of B opens B's URLs only.
  auto tokenOnItsCamera =
      call("DELETE", "/whep/camera/" + b + "/no-such-session", "", {{"Authorization", "Bearer " + tokenB}});
  EXPECT_EQ(tokenOnItsCamera.status, 404);
  EXPECT_EQ(tokenOnItsCamera.raw.errorCode(), "SESSION_NOT_FOUND");
  auto tokenOnOther =
      call("DELETE", "/whep/camera/" + a + "/no-such-session", "", {{"Authorization", "Bearer " + tokenB}});
  EXPECT_EQ(tokenOnOther.status, 403);
  // No trickle ICE for camera sessions: PATCH is 405 (RFC 9725 §4.3.1).
  auto patch = call("PATCH", "/whep/camera/" + a + "/x", "a=end-of-candidates\r\n",
                    {{"Authorization", "Bearer " + std::string(kApiKey)}}, "application/trickle-ice-sdpfrag");
  EXPECT_EQ(patch.status, 405);
}

// A WHEP player has no keepalive call: its session is not cut by the preview TTL while its peer is there (ICE
// consent ends it otherwise), unlike a JSON-offer preview that nobody keeps alive.
TEST_F(CameraRegistryApi, WhepSessionsOutliveThePreviewTtl) {
  server_->stop();
  server_.reset();
  previewTtlSeconds_ = 2;
  startServer();
  RtspCamera cam;
  START_CAMERA(cam, "--port", "0", "--path", "/open", "--width", "320", "--height", "240");
  const std::string id = add({{"name", "Open"}, {"ip", "127.0.0.1"}, {"port", cam.port()}, {"path", "/open"}});
  auto peer = watch(id, std::string(kApiKey));
  ASSERT_TRUE(peer) << peer.error().code << " " << peer.error().message;
  ASSERT_TRUE(waitFor([&] { return videoPackets(*peer) >= 5; }, seconds(20)));
  client::OfferOptions oo;
  oo.iceUfrag = crypto::randomIceString(8);
  oo.icePwd = crypto::randomIceString(24);
  oo.fingerprint = clientCertificate()->fingerprintSha256();
  auto unattended = call("POST", "/api/cameras/preview/webrtc/offer",
                         json{{"cameraId", id}, {"sdp", client::buildOfferSdp(oo)}, {"type", "offer"}});
  ASSERT_EQ(unattended.status, 200) << unattended.raw.body;
  ASSERT_EQ(previewSessions(), 2U);

  // The unattended preview ends with its TTL; the WHEP session stays, through more than twice the TTL.
  EXPECT_TRUE(waitFor([&] { return previewSessions() == 1; }, seconds(6)));
  const auto start = Clock::now();
  while (Clock::now() - start < seconds(5)) {
    ASSERT_EQ(previewSessions(), 1U) << "the WHEP session ended after " << (Clock::now() - start).count() << " ns";
    std::this_thread::sleep_for(milliseconds(200));  // polling interval of an observation over time
  }
  const std::uint64_t before = videoPackets(*peer);
  EXPECT_TRUE(waitFor([&] { return videoPackets(*peer) > before + 5; }, seconds(3))) << "the video stopped";
}

TEST_F(CameraRegistryApi, AWarmCameraIsPulledWithoutViewersFromStartAndUntilItIsNoLongerWarm) {
  RtspCamera cam;
  START_CAMERA(cam, "--port", "0", "--path", "/open", "--width", "320", "--height", "240");
  auto stat = [&](const char* key) -> std::size_t {
    auto a = call("GET", "/api/cameras/preview/stats");
    return a.status == 200 && a.body["data"][key].is_number_unsigned() ? a.body["data"][key].get<std::size_t>() : 999;
  };
  EXPECT_EQ(call("POST", "/api/cameras", json{{"name", "Bad"}, {"ip", "127.0.0.1"}, {"warm", "yes"}}).status, 400);
  const std::string id =
      add({{"name", "Warm"}, {"ip", "127.0.0.1"}, {"port", cam.port()}, {"path", "/open"}, {"warm", true}});
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(call("GET", "/api/cameras/" + id).body["data"]["warm"], true);
  ASSERT_TRUE(waitFor([&] { return stat("pulls") == 1 && stat("warm") == 1; }, seconds(10)))
      << "a warm camera is pulled as soon as it is registered";
  EXPECT_EQ(stat("sessions"), 0U);

  // A viewer is served from the running pull: its first packet starts the cached keyframe group.
  auto peer = watch(id, kApiKey);
  ASSERT_TRUE(peer) << peer.error().code << " " << peer.error().message;
  ASSERT_TRUE(waitFor([&] { return loop_->call([&] { return (*peer)->stats().video.firstKeyframeAt.has_value(); }); },
                      seconds(10)));
  EXPECT_TRUE(loop_->call([&] { return (*peer)->stats().video.firstPacketWasKeyframe; }));
  EXPECT_EQ(stat("pulls"), 1U) << "the viewer shares the warm pull";
  ASSERT_EQ(call("DELETE", (*peer)->resourceUrl(), "", {{"Authorization", "Bearer " + std::string(kApiKey)}}).status,
            200);
  ASSERT_TRUE(waitFor([&] { return stat("sessions") == 0; }, seconds(5)));
  // Unwatched, it outlives the linger (5 s) that stops other pulls.
  const auto idle = Clock::now();
  EXPECT_TRUE(waitFor([&] { return Clock::now() - idle >= seconds(7) || stat("pulls") != 1; }, seconds(10)));
  EXPECT_EQ(stat("pulls"), 1U);

  // No longer warm: it stops like any idle pull.
  auto cold = call("PATCH", "/api/cameras/" + id, json{{"warm", false}});
  ASSERT_EQ(cold.status, 200) << cold.raw.body;
  EXPECT_EQ(cold.body["data"]["warm"], false);
  EXPECT_TRUE(waitFor([&] { return stat("pulls") == 0; }, seconds(10)));

  // Warm again, then a restart: the registry remembers, and the pull starts with the server.
  ASSERT_EQ(call("PATCH", "/api/cameras/" + id, json{{"warm", true}}).status, 200);
  ASSERT_TRUE(waitFor([&] { return stat("pulls") == 1; }, seconds(10)));
  loop_->call([&] {
    (*peer)->stop();
    return 0;
  });
  server_->stop();
  server_.reset();
  startServer();
  ASSERT_TRUE(server_);
  EXPECT_TRUE(waitFor([&] { return stat("pulls") == 1 && stat("warm") == 1; }, seconds(10)));
  EXPECT_EQ(stat("sessions"), 0U);
  ASSERT_EQ(call("DELETE", "/api/cameras/" + id).status, 200);
  EXPECT_TRUE(waitFor([&] { return stat("pulls") == 0; }, seconds(10))) << "a deleted camera is no longer warm";
}

TEST_F(CameraRegistryApi, DeletingACameraEndsItsPreviews) {
  RtspCamera cam;
  START_CAMERA(cam, "--port", "0", "--path", "/open", "--width", "320", "--height", "240");
  const std::string id = add({{"name", "Open"}, {"ip", "127.0.0.1"}, {"port", cam.port()}, {"path", "/open"}});
  auto peer = watch(id, cameraToken(id));
  ASSERT_TRUE(peer) << peer.error().code << " " << peer.error().message;
  ASSERT_TRUE(waitFor([&] { return videoPackets(*peer) >= 5; }, seconds(20)));
  ASSERT_EQ(previewSessions(), 1U);

  auto deleted = call("DELETE", "/api/cameras/" + id);
  ASSERT_EQ(deleted.status, 200) << deleted.raw.body;
  EXPECT_NE(deleted.body["message"].get<std::string>().find("1 previews ended"), std::string::npos) << deleted.raw.body;
  EXPECT_TRUE(waitFor([&] { return previewSessions() == 0; }, seconds(5)));
  // The camera is gone for WHEP too, whatever the credential.
  auto gone = call("POST", "/whep/camera/" + id, "v=0\r\n", {{"Authorization", "Bearer " + std::string(kApiKey)}},
                   "application/sdp");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.raw.errorCode(), "CAMERA_NOT_FOUND");
}

}  // namespace
}  // namespace stagecast::itest
