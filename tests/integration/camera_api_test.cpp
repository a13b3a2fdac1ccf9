// Camera probes over the HTTP API against a real RTSP server (GStreamer, started by the test): streams and a
// snapshot for a good camera, classified errors with stable codes and statuses, every probe in the action log
// without the password.
#include <nlohmann/json.hpp>

#include "../ingest/camera_fixture.hpp"
#include "stagecast/client/http_client.hpp"
#include "support.hpp"

namespace stagecast::itest {
namespace {

using nlohmann::json;
using ingest::testing::RtspCamera;

class CameraApi : public ::testing::Test {
 protected:
  void SetUp() override {
    app::ServerConfig cfg = testConfig();
    cfg.probeTimeoutMs = 2000;
    dbDir_ = std::filesystem::temp_directory_path() / ("stagecast-camapi-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dbDir_);
    cfg.actionLogConnection = (dbDir_ / "actions.db").string();
    std::filesystem::remove(cfg.actionLogConnection);
    auto s = app::Server::create(cfg);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(s).value();
    ASSERT_TRUE(server_->start());
  }
  void TearDown() override {
    if (server_) server_->stop();
    std::filesystem::remove_all(dbDir_);
  }

  std::pair<int, json> probe(const json& body) {
    HttpClient http("127.0.0.1", server_->httpPort(), seconds(15));
    auto r = http.post("/api/cameras/preview/probe", body.dump(), "application/json", {{"x-api-key", kApiKey}});
    if (!r) {
      ADD_FAILURE() << r.error().message;
      return {0, json()};
    }
    return {r->status, json::parse(r->body, nullptr, false)};
  }

  std::filesystem::path dbDir_;
  std::unique_ptr<app::Server> server_;
};

TEST_F(CameraApi, ProbeReportsStreamsAndASnapshotAndClassifiesFailures) {
  RtspCamera good;
  START_CAMERA(good, "--port", "0", "--path", "/good", "--audio", "pcma", "--width", "320", "--height", "240");
  RtspCamera locked;
  START_CAMERA(locked, "--port", "0", "--path", "/locked", "--auth", "digest", "--user", "admin", "--password",
               "s3cret-pass");

  auto [status, body] = probe({{"ip", "127.0.0.1"}, {"port", good.port()}, {"path", "/good"}});
  ASSERT_EQ(status, 200) << body.dump();
  const auto& data = body["data"];
  bool video = false;
  bool audio = false;
  for (const auto& s : data["streams"]) {
    if (s["kind"] == "video") {
      video = true;
      EXPECT_EQ(s["codec"], "h264");
      EXPECT_EQ(s["width"], 320);
      EXPECT_EQ(s["height"], 240);
    } else if (s["kind"] == "audio") {
      audio = true;
      EXPECT_EQ(s["codec"], "pcm_alaw");
      EXPECT_EQ(s["sampleRate"], 8000);
    }
  }
  EXPECT_TRUE(video && audio) << data.dump();
  // A JPEG (FF D8 FF) as a data: URL.
  EXPECT_TRUE(data["snapshot"].get<std::string>().starts_with("data:image/jpeg;base64,/9j/")) << "no JPEG snapshot";

  auto [s1, b1] = probe({{"ip", "127.0.0.1"}, {"port", locked.port()}, {"path", "/locked"}});
  EXPECT_EQ(s1, 401);
  EXPECT_EQ(b1["error"]["code"], "AUTH_REQUIRED");
  auto [s2, b2] = probe({{"ip", "127.0.0.1"}, {"port", locked.port()}, {"path", "/locked"}, {"username", "admin"},
                         {"password", "wrong-pass"}});
  EXPECT_EQ(s2, 403);
  EXPECT_EQ(b2["error"]["code"], "AUTH_FAILED");
  auto [s3, b3] = probe({{"ip", "127.0.0.1"}, {"port", locked.port()}, {"path", "/locked"}, {"username", "admin"},
                         {"password", "s3cret-pass"}});
  EXPECT_EQ(s3, 200) << b3.dump();
  auto [s4, b4] = probe({{"ip", "127.0.0.1"}, {"port", good.port()}, {"path", "/nope"}});
  EXPECT_EQ(s4, 404);
  EXPECT_EQ(b4["error"]["code"], "NOT_FOUND");
  ingest::testing::SilentListener silent;
  const auto t0 = Clock::now();
  auto [s5, b5] = probe({{"ip", "127.0.0.1"}, {"port", silent.port()}, {"path", "/x"}, {"snapshot", false}});
  EXPECT_EQ(s5, 504);
  EXPECT_EQ(b5["error"]["code"], "TIMEOUT");
  EXPECT_LT(Clock::now() - t0, seconds(4)) << "the probe timeout (2 s) bounds the answer";
  auto [s6, b6] = probe({{"ip", "127.0.0.1"}, {"port", ingest::testing::closedPort()}, {"path", "/x"}});
  EXPECT_EQ(s6, 502);
  EXPECT_EQ(b6["error"]["code"], "UNREACHABLE");
  auto [s7, b7] = probe({{"ip", "not an ip!"}, {"port", 554}});
  EXPECT_EQ(s7, 400);
  EXPECT_EQ(b7["error"]["code"], "INVALID_REQUEST");
  auto [s8, b8] = probe({{"port", 554}});
  EXPECT_EQ(s8, 400);
  EXPECT_NE(b8["error"]["message"].get<std::string>().find("ip"), std::string::npos);

  // Every probe is in the action log, newest first, with its result and never a password.
  HttpRequest req;
  req.method = "GET";
  req.target = "/api/logs?action=probe&limit=50";
  req.headers = {{"x-api-key", kApiKey}};
  std::string text;
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = HttpClient("127.0.0.1", server_->httpPort(), seconds(5)).send(req);
        if (!r || r->status != 200) return false;
        text = r->body;
        return json::parse(r->body)["data"].size() >= 9;
      },
      seconds(10)))
      << text;
  auto rows = json::parse(text)["data"];
  std::multiset<std::string> results;
  for (const auto& r : rows) results.insert(r["result"].get<std::string>());
  for (const char* code : {"OK", "AUTH_REQUIRED", "AUTH_FAILED", "NOT_FOUND", "TIMEOUT", "UNREACHABLE", "INVALID_REQUEST"}) {
    EXPECT_EQ(results.count(code) > 0, true) << code << " missing from " << text;
  }
  EXPECT_EQ(text.find("s3cret-pass"), std::string::npos) << "a password reached the action log";
  EXPECT_EQ(text.find("wrong-pass"), std::string::npos) << "a password reached the action log";
  EXPECT_EQ(rows[0]["client"].get<std::string>().rfind("127.0.0.1:", 0), 0U);
}

TEST_F(CameraApi, ProbeNeedsTheApiKey) {
  HttpClient http("127.0.0.1", server_->httpPort(), seconds(5));
  auto r = http.post("/api/cameras/preview/probe", R"({"ip":"127.0.0.1"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->errorCode(), "API_KEY_REQUIRED");
}

}  // namespace
}  // namespace stagecast::itest
