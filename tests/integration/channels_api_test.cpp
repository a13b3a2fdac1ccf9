// The live-channel API over real HTTP and WebSocket: API keys, JSON errors, viewer tokens gating WHEP, the
// channel token gating WHIP, a leave that ends the viewer's media session, notifications with replay.
#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "stagecast/client/http_client.hpp"
#include "support.hpp"

namespace stagecast::itest {
namespace {

using nlohmann::json;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

constexpr Duration kConnect = seconds(10);

class ChannelsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    app::ServerConfig cfg = testConfig();
    cfg.mediaAuth = true;
    cfg.stageCapacity = 2;
    auto s = app::Server::create(cfg);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(s).value();
    ASSERT_TRUE(server_->start());
    loop_ = std::make_unique<ClientLoop>();
  }
  void TearDown() override {
    if (loop_) {
      loop_->call([this] {
        for (auto& p : pumps_) p->stop();
        for (auto& p : peers_) p->stop();
        return 0;
      });
    }
    pumps_.clear();
    peers_.clear();
    loop_.reset();
    if (server_) server_->stop();
  }

  HttpClient http() { return HttpClient("127.0.0.1", server_->httpPort(), seconds(5)); }

  // POST JSON with the API key; returns (status, parsed body).
  std::pair<int, json> api(const std::string& target, const std::string& body,
                           std::optional<std::string> key = std::string(kApiKey)) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (key) headers.emplace_back("x-api-key", *key);
    auto r = http().post(target, body, "application/json", headers);
    if (!r) {
      ADD_FAILURE() << r.error().message;
      return {0, json()};
    }
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  std::pair<int, json> apiGet(const std::string& target) {
    HttpRequest req;
    req.method = "GET";
    req.target = target;
    req.headers = {{"x-api-key", kApiKey}};
    auto r = http().send(req);
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }

  // The value of one sample of /metrics, e.g. `stagecast_api_errors_total{code="VIEWER_NOT_FOUND"}`; -1 if absent.
  long long metric(const std::string& sample) {
    auto r = http().get("/metrics");
    if (!r || r->status != 200) return -1;
    const std::string prefix = "\n" + sample + " ";
    const auto at = r->body.find(prefix);
    if (at == std::string::npos) return -1;
    return std::stoll(r->body.substr(at + prefix.size()));
  }

  std::shared_ptr<NativePeer> connect(NativePeerOptions o) {
    o.httpPort = server_->httpPort();
    o.certificate = clientCertificate();
    auto r = NativePeer::connect(loop_->io(), std::move(o));
    if (!r) return nullptr;
    peers_.push_back(r.value());
    return r.value();
  }
  bool connected(const std::shared_ptr<NativePeer>& p) {
    return loop_->call([&p] { return p->stats().connectedAt.has_value(); });
  }

  std::unique_ptr<app::Server> server_;
  std::unique_ptr<ClientLoop> loop_;
  std::vector<std::shared_ptr<NativePeer>> peers_;
  std::vector<std::shared_ptr<SyntheticPublisher>> pumps_;
};

TEST_F(ChannelsApi, ApiKeyAndBadInputGetStableJsonErrors) {
  const auto errors = [this](const std::string& code) {
    return metric("stagecast_api_errors_total{code=\"" + code + "\"}");
  };
  const auto responses = [this](int status) {
    return metric("stagecast_http_responses_total{code=\"" + std::to_string(status) + "\"}");
  };
  const long long keyRequired = errors("API_KEY_REQUIRED");
  const long long viewerNotFound = errors("VIEWER_NOT_FOUND");
  const long long invalid = errors("INVALID_REQUEST");
  ASSERT_GE(keyRequired, 0) << "every known code is listed, from zero";
  ASSERT_GE(invalid, 0);
  const long long answered401 = std::max(0LL, responses(401));
  const long long answered404 = std::max(0LL, responses(404));
  auto [s1, b1] = api("/api/token/viewer", R"({"userId":"u"})", std::nullopt);
  EXPECT_EQ(s1, 401);
  EXPECT_EQ(b1["success"], false);
  EXPECT_EQ(b1["error"]["code"], "API_KEY_REQUIRED");
  auto [s2, b2] = api("/api/token/viewer", R"({"userId":"u"})", std::string("wrong"));
  EXPECT_EQ(s2, 401);
  EXPECT_EQ(b2["error"]["code"], "API_KEY_INVALID");
  auto [s3, b3] = api("/api/token/viewer", "{not json");
  EXPECT_EQ(s3, 400);
  EXPECT_EQ(b3["error"]["code"], "INVALID_REQUEST");
  auto [s4, b4] = api("/api/token/viewer", R"({"name":"u"})");
  EXPECT_EQ(s4, 400);
  EXPECT_NE(b4["error"]["message"].get<std::string>().find("userId"), std::string::npos);
  auto [s5, b5] = api("/api/token/viewer", R"({"userId":5})");
  EXPECT_EQ(s5, 400);
  auto [s6, b6] = api("/api/token/viewer", "{\"userId\":\"" + std::string(20000, 'a') + "\"}");
  EXPECT_EQ(s6, 400);
  EXPECT_NE(b6["error"]["message"].get<std::string>().find("body"), std::string::npos);
  auto [s7, b7] = api("/api/viewer/heartbeat", R"({"userId":"ghost","stageArn":"main-00000000"})");
  EXPECT_EQ(s7, 404);
  EXPECT_EQ(b7["error"]["code"], "VIEWER_NOT_FOUND");
  auto [s8, b8] = api("/api/viewer/leave", R"({"userId":"u","stageArn":"main-00000000"})");
  EXPECT_EQ(s8, 404);
  EXPECT_EQ(b8["error"]["code"], "STAGE_NOT_FOUND");
  auto [s9, b9] = apiGet("/api/channels/nope");
  EXPECT_EQ(s9, 404);
  EXPECT_EQ(b9["error"]["code"], "CHANNEL_NOT_FOUND");
  auto [s10, b10] = api("/api/media/register", R"({"serverId":"n1","ipAddress":"127.0.0.1","port":1})");
  EXPECT_EQ(s10, 403);
  EXPECT_EQ(b10["error"]["code"], "MEDIA_NODES_DISABLED");
  // The server still serves everybody after all that.
  auto [ok, body] = api("/api/token/viewer", R"({"userId":"u"})");
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(body["success"], true);

  // /metrics counts each of those answers by its code and by its status.
  EXPECT_EQ(errors("API_KEY_REQUIRED"), keyRequired + 1);
  EXPECT_EQ(errors("VIEWER_NOT_FOUND"), viewerNotFound + 1);
  EXPECT_EQ(errors("INVALID_REQUEST"), invalid + 4);  // s3, s4, s5, s6
  EXPECT_EQ(responses(401), answered401 + 2);        // s1, s2
  EXPECT_EQ(responses(404), answered404 + 3);        // s7, s8, s9
  EXPECT_EQ(errors("OTHER"), 0);
}

TEST_F(ChannelsApi, ARejoinNeverCountsAUserInTwoStages) {
  // Capacity 2: alice's first page joins stage 1 and leaves; while bob and carol fill it, her second page is
  // placed in stage 2. Carol leaves; the first page's rejoin into stage 1 must not count alice there too.
  auto join = [this](const std::string& user) { return api("/api/token/viewer", json{{"userId", user}}.dump()); };
  auto [s1, first] = join("alice");
  ASSERT_EQ(s1, 200);
  const json firstData = first["data"];
  ASSERT_EQ(api("/api/viewer/leave", json{{"userId", "alice"}, {"stageArn", firstData["stageArn"]}}.dump()).first, 200);
  ASSERT_EQ(join("bob").first, 200);
  ASSERT_EQ(join("carol").first, 200);
  auto [s2, second] = join("alice");
  ASSERT_EQ(s2, 200);
  ASSERT_NE(second["data"]["stageArn"], firstData["stageArn"]);
  ASSERT_EQ(api("/api/viewer/leave", json{{"userId", "carol"}, {"stageArn", firstData["stageArn"]}}.dump()).first, 200);

  auto [sr, rejoined] =
      api("/api/viewer/rejoin",
          json{{"userId", "alice"}, {"stageArn", firstData["stageArn"]}, {"participantId", firstData["participantId"]}}
              .dump());
  EXPECT_EQ(sr, 409);
  EXPECT_EQ(rejoined["success"], false);
  EXPECT_EQ(rejoined["error"]["code"], "VIEWER_IN_OTHER_STAGE");
  auto [sc, channel] = apiGet("/api/channels/main");
  ASSERT_EQ(sc, 200);
  EXPECT_EQ(channel["data"]["total"], 2) << channel.dump();  // bob and alice, once each
}

TEST_F(ChannelsApi, TokensGateWhipAndWhepAndLeaveEndsTheViewersSession) {
  // The broadcaster publishes once, into the channel, with the channel token.
  auto [bs, stages] = apiGet("/api/broadcaster/stages");
  ASSERT_EQ(bs, 200) << stages.dump();
  const std::string channelToken = stages["data"]["channelToken"];
  EXPECT_EQ(stages["data"]["whipUrl"], "/whip/main");
  NativePeerOptions po;
  po.role = Role::Publisher;
  po.stage = "main";
  EXPECT_EQ(connect(po), nullptr) << "no token, no publishing";
  po.bearerToken = stages["data"]["stages"][0]["token"];  // a stage token is not the channel's
  EXPECT_EQ(connect(po), nullptr);
  po.bearerToken = channelToken;
  auto pub = connect(po);
  ASSERT_TRUE(pub);
  SyntheticPublisherOptions so;
  so.videoSource.bitrate = 300'000;
  pumps_.push_back(SyntheticPublisher::create(loop_->io(), pub, so));

  auto [js, join] = api("/api/token/viewer", R"({"userId":"alice"})");
  ASSERT_EQ(js, 200) << join.dump();
  const auto& d = join["data"];
  const std::string stageId = d["stageId"];
  EXPECT_EQ(d["whepUrl"], "/whep/" + stageId);
  EXPECT_EQ(d["currentViewers"], 1);

  // WHEP: without a token 401 (with a Bearer challenge), with another stage's token 403, with hers 201.
  auto offer = http().post("/whep/" + stageId, "v=0\r\n", "application/sdp");
  ASSERT_TRUE(offer);
  EXPECT_EQ(offer->status, 401);
  EXPECT_TRUE(offer->header("WWW-Authenticate").has_value());
  auto wrong = http().post("/whep/main", "v=0\r\n", "application/sdp",
                           {{"Authorization", "Bearer " + d["token"].get<std::string>()}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  // A viewer's token does not let its holder publish, not even into its own stage.
  auto publishWithViewerToken = http().post("/whip/" + stageId, "v=0\r\n", "application/sdp",
                                            {{"Authorization", "Bearer " + d["token"].get<std::string>()}});
  ASSERT_TRUE(publishWithViewerToken);
  EXPECT_EQ(publishWithViewerToken->status, 403);
  EXPECT_EQ(publishWithViewerToken->errorCode(), "TOKEN_CAPABILITY");
  auto forged = http().post("/whep/" + stageId, "v=0\r\n", "application/sdp",
                            {{"Authorization", "Bearer " + d["token"].get<std::string>() + "x"}});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);

  NativePeerOptions vo;
  vo.role = Role::Viewer;
  vo.stage = stageId;
  vo.bearerToken = d["token"];
  std::atomic<int> packets{0};
  vo.onRtp = [&packets](const ReceivedPacket&) { ++packets; };
  auto viewer = connect(vo);
  ASSERT_TRUE(viewer);
  ASSERT_TRUE(waitFor([&] { return packets.load() > 20; }, kConnect)) << "the relayed broadcast reaches the stage";
  ASSERT_TRUE(waitFor([&] { return server_->engine().stats().total.subscribers == 1; }, kConnect));

  // Leaving ends her WHEP session on the server: nothing streams to nobody.
  auto [ls, left] = api("/api/viewer/leave", json{{"userId", "alice"}, {"stageArn", d["stageArn"]}}.dump());
  EXPECT_EQ(ls, 200);
  EXPECT_EQ(left["data"]["currentViewers"], 0);
  EXPECT_TRUE(waitFor([&] { return server_->engine().stats().total.subscribers == 0; }, seconds(5)));
  auto [ls2, left2] = api("/api/viewer/leave", json{{"userId", "alice"}, {"stageArn", d["stageArn"]}}.dump());
  EXPECT_EQ(ls2, 200) << "leaving twice is fine";
  EXPECT_EQ(left2["data"]["currentViewers"], 0);

  // The client's DELETE of its WHIP resource (RFC 9725 §4.3) carries its token, as the resource requires.
  ASSERT_EQ(server_->engine().stats().total.publishers, 1U);
  auto deleted = pub->sendDelete();
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200) << deleted->body;
  EXPECT_TRUE(waitFor([&] { return server_->engine().stats().total.publishers == 0; }, seconds(5)));
}

TEST_F(ChannelsApi, JwksServesTheVerificationKey) {
  auto r = http().get("/.well-known/jwks.json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = json::parse(r->body);
  ASSERT_EQ(j["keys"].size(), 1U);
  EXPECT_EQ(j["keys"][0]["crv"], "P-384");
  EXPECT_EQ(j["keys"][0]["kid"], server_->signingKey().keyId());
  EXPECT_FALSE(j["keys"][0].contains("d")) << "never the private part";
}

// Reads WebSocket messages until `pred` holds for one of them (deadline via the socket's timeout).
json readUntil(websocket::stream<beast::tcp_stream>& ws, const std::function<bool(const json&)>& pred) {
  for (;;) {
    beast::flat_buffer buf;
    ws.read(buf);
    auto j = json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
    if (pred(j)) return j;
  }
}

TEST_F(ChannelsApi, NotificationsAreNumberedAndReplayedAfterAReconnect) {
  boost::asio::io_context io;
  auto open = [&](const std::string& target) {
    auto ws = std::make_unique<websocket::stream<beast::tcp_stream>>(io);
    beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(*ws).connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server_->httpPort()));
    ws->handshake("127.0.0.1", target);
    return ws;
  };
  // Without the key: refused before the upgrade.
  EXPECT_THROW(open("/ws?type=broadcaster"), boost::system::system_error);

  auto ws = open(std::string("/ws?type=broadcaster&apiKey=") + kApiKey);
  EXPECT_EQ(readUntil(*ws, [](const json&) { return true; })["type"], "hello");
  // Capacity 2: three viewers make a second stage → stage_created, and a batched count.
  for (const char* u : {"a", "b", "c"}) ASSERT_EQ(api("/api/token/viewer", json{{"userId", u}}.dump()).first, 200);
  auto created = readUntil(*ws, [](const json& j) { return j["type"] == "stage_created"; });
  EXPECT_EQ(created["channelId"], "main");
  EXPECT_TRUE(created["timestamp"].get<std::string>().ends_with("Z"));
  auto count = readUntil(*ws, [](const json& j) { return j["type"] == "viewer_count" && j["total"] == 3; });
  const std::uint64_t seenSeq = count["seq"];
  ws->close(websocket::close_code::normal);

  // While disconnected, a viewer leaves; the reconnecting client gets the notices it missed, in order.
  auto [js, join] = api("/api/token/viewer", R"({"userId":"d"})");
  ASSERT_EQ(js, 200);
  ASSERT_EQ(api("/api/viewer/leave", json{{"userId", "d"}, {"stageArn", join["data"]["stageArn"]}}.dump()).first, 200);
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = server_->channels().eventsAfter(seenSeq);
        return r && !r->events.empty();
      },
      seconds(5)));
  auto again = open(std::string("/ws?type=broadcaster&since=") + std::to_string(seenSeq) + "&apiKey=" + kApiKey);
  auto hello = readUntil(*again, [](const json& j) { return j["type"] == "hello"; });
  EXPECT_EQ(hello["complete"], true);
  EXPECT_GE(hello["replayed"].get<int>(), 1);
  auto next = readUntil(*again, [](const json&) { return true; });
  EXPECT_EQ(next["seq"].get<std::uint64_t>(), seenSeq + 1) << next.dump();
}

}  // namespace
}  // namespace stagecast::itest
