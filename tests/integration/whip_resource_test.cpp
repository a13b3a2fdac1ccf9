// WHIP/WHEP session resources over real HTTP (RFC 9725 §4): CORS preflight, ICE server Link headers, trickle and
// ICE-restart PATCHes with ETag preconditions, and session teardown when the server shuts down.
#include "stagecast/client/http_client.hpp"
#include "stagecast/client/offer.hpp"
#include "stagecast/common/crypto.hpp"
#include "support.hpp"

namespace stagecast::itest {
namespace {

std::unique_ptr<app::Server> serverWithIceServers() {
  app::ServerConfig cfg = testConfig();
  cfg.iceServers = {{"stun:127.0.0.1:3478", "", ""}, {"turn:127.0.0.1:3478?transport=udp", "user1", "secret1"}};
  auto s = app::Server::create(cfg);
  if (!s) return nullptr;
  auto server = std::move(s).value();
  if (!server->start()) return nullptr;
  return server;
}

struct Offer {
  std::string sdp;
  std::string ufrag;
  std::string pwd;
};

Offer publisherOffer() {
  OfferOptions o;
  o.role = Role::Publisher;
  o.iceUfrag = crypto::randomIceString(8);
  o.icePwd = crypto::randomIceString(24);
  o.fingerprint = clientCertificate()->fingerprintSha256();
  o.audioSsrc = 1111;
  o.videoSsrc = 2222;
  o.videoRtxSsrc = 3333;
  return {buildOfferSdp(o), o.iceUfrag, o.icePwd};
}

std::string answerUfrag(const std::string& sdp) {
  auto parsed = sdp::parse(sdp);
  return parsed ? parsed->iceUfragFor(parsed->media.at(0)).value_or("") : "";
}

class WhipResource : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = serverWithIceServers();
    ASSERT_NE(server_, nullptr);
    http_ = std::make_unique<HttpClient>("127.0.0.1", server_->httpPort());
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  std::unique_ptr<app::Server> server_;
  std::unique_ptr<HttpClient> http_;
};

TEST_F(WhipResource, PreflightAdvertisesMethodsAndPatchFormat) {
  auto r = http_->send({"OPTIONS",
                        "/whip/s1",
                        "",
                        {{"Origin", "http://example.test"},
                         {"Access-Control-Request-Method", "POST"},
                         {"Access-Control-Request-Headers", "authorization, content-type"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 204);
  EXPECT_NE(r->header("Access-Control-Allow-Methods").value_or("").find("POST"), std::string::npos);
  EXPECT_EQ(r->header("Access-Control-Allow-Origin").value_or(""), "*");
  EXPECT_NE(r->header("Access-Control-Allow-Headers").value_or("").find("authorization"), std::string::npos);
}

TEST_F(WhipResource, CreatedSessionCarriesLocationEtagAndIceServers) {
  const Offer offer = publisherOffer();
  auto r = http_->post("/whip/s2", offer.sdp, "application/sdp");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(r->header("Content-Type").value_or(""), "application/sdp");
  const std::string location = r->header("Location").value_or("");
  EXPECT_EQ(location.rfind("/whip/s2/", 0), 0U) << location;
  EXPECT_FALSE(r->header("ETag").value_or("").empty());
  EXPECT_EQ(r->header("Accept-Patch").value_or(""), "application/trickle-ice-sdpfrag");
  std::vector<std::string> links;
  for (const auto& [k, v] : r->headers) {
    if (k == "Link" || k == "link") links.push_back(v);
  }
  ASSERT_EQ(links.size(), 2U);
  EXPECT_EQ(links[0], "<stun:127.0.0.1:3478>; rel=\"ice-server\"");
  EXPECT_EQ(links[1],
            "<turn:127.0.0.1:3478?transport=udp>; rel=\"ice-server\"; username=\"user1\"; credential=\"secret1\"");
  auto del = http_->del(location);
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->status, 200);
  auto again = http_->del(location);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 404);
  EXPECT_EQ(again->errorCode(), "SESSION_NOT_FOUND");
}

TEST_F(WhipResource, TrickleThenIceRestartWithPreconditions) {
  const Offer offer = publisherOffer();
  auto created = http_->post("/whip/s3", offer.sdp, "application/sdp");
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201);
  const std::string location = *created->header("Location");
  const std::string etag = *created->header("ETag");
  const std::string oldUfrag = answerUfrag(created->body);
  ASSERT_FALSE(oldUfrag.empty());

  // Trickle (RFC 9725 §4.3.1): the session's own credentials plus a candidate → 204, ETag unchanged.
  const std::string trickle = "a=ice-ufrag:" + offer.ufrag + "\r\na=ice-pwd:" + offer.pwd +
                              "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
                              "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n";
  auto t = http_->patch(location, trickle, "application/trickle-ice-sdpfrag", {{"If-Match", etag}});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->status, 204) << t->body;

  // A stale ETag is refused.
  const std::string restart = "a=ice-ufrag:newU\r\na=ice-pwd:new-client-password-000000\r\n";
  auto stale = http_->patch(location, restart, "application/trickle-ice-sdpfrag", {{"If-Match", "\"stale\""}});
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->status, 412);
  EXPECT_EQ(stale->errorCode(), "PRECONDITION_FAILED");

  // ICE restart (RFC 9725 §4.3.2): new credentials → 200 with ours, and a new ETag.
  auto ok = http_->patch(location, restart, "application/trickle-ice-sdpfrag", {{"If-Match", "*"}});
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(ok->header("Content-Type").value_or(""), "application/trickle-ice-sdpfrag");
  auto frag = sdp::parseFragment(ok->body);
  ASSERT_TRUE(frag.ok()) << ok->body;
  ASSERT_TRUE(frag->iceUfrag && frag->icePwd);
  EXPECT_NE(*frag->iceUfrag, oldUfrag);
  EXPECT_GE(frag->icePwd->size(), 22U);  // RFC 8839 §5.4
  EXPECT_NE(ok->header("ETag").value_or(etag), etag);

  auto wrongType = http_->patch(location, restart, "application/sdp");
  ASSERT_TRUE(wrongType.ok());
  EXPECT_EQ(wrongType->status, 415);
}

TEST_F(WhipResource, ViewerGetsThePendingPublishersCodec) {
  // The publisher's session exists but has not connected yet: a viewer must still be held to its codec (H.264).
  ASSERT_EQ(http_->post("/whip/s5", publisherOffer().sdp, "application/sdp")->status, 201);
  OfferOptions vp8;
  vp8.role = Role::Viewer;
  vp8.videoCodec = VideoCodecKind::VP8;
  vp8.iceUfrag = crypto::randomIceString(8);
  vp8.icePwd = crypto::randomIceString(24);
  vp8.fingerprint = clientCertificate()->fingerprintSha256();
  // Audio (Opus) is common, so the session is created, but its video section is rejected (port 0, RFC 3264 §6).
  auto partial = http_->post("/whep/s5", buildOfferSdp(vp8), "application/sdp");
  ASSERT_TRUE(partial.ok());
  ASSERT_EQ(partial->status, 201) << partial->body;
  auto a1 = sdp::parse(partial->body);
  ASSERT_TRUE(a1.ok());
  EXPECT_EQ(a1->media.at(1).port, 0) << partial->body;
  OfferOptions h264 = vp8;
  h264.videoCodec = VideoCodecKind::H264;
  auto ok = http_->post("/whep/s5", buildOfferSdp(h264), "application/sdp");
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->status, 201) << ok->body;
  auto a2 = sdp::parse(ok->body);
  ASSERT_TRUE(a2.ok());
  ASSERT_NE(a2->media.at(1).port, 0);
  ASSERT_FALSE(a2->media[1].codecs.empty());
  EXPECT_EQ(a2->media[1].codecs.front().name, "H264");
  // Video only and VP8 only: nothing in common at all.
  vp8.audio = false;
  auto refused = http_->post("/whep/s5", buildOfferSdp(vp8), "application/sdp");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 406);
  EXPECT_EQ(refused->errorCode(), "NO_COMMON_CODEC");
}

TEST_F(WhipResource, UnknownRoutesAndMethodsAreJsonErrors) {
  auto r = http_->get("/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->errorCode(), "NOT_FOUND");
  auto m = http_->send({"PUT", "/whip/s4", "x", {{"Content-Type", "application/sdp"}}});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->status, 405);
  EXPECT_EQ(m->errorCode(), "METHOD_NOT_ALLOWED");
  auto bad = http_->post("/whip/" + std::string(65, 'a'), publisherOffer().sdp, "application/sdp");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->errorCode(), "INVALID_STAGE");
}

TEST(AnnouncedAddress, ReplacesTheBoundAddressInCandidates) {
  // Behind NAT the server names its public address (only in SDP; nothing is sent to it here).
  app::ServerConfig cfg = testConfig();
  cfg.announcedAddresses = {"203.0.113.7"};
  auto s = app::Server::create(cfg);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto server = std::move(s).value();
  ASSERT_TRUE(server->start().ok());
  HttpClient http("127.0.0.1", server->httpPort());
  auto r = http.post("/whip/nat", publisherOffer().sdp, "application/sdp");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 201);
  auto answer = sdp::parse(r->body);
  ASSERT_TRUE(answer.ok());
  ASSERT_FALSE(answer->media.at(0).candidates.empty());
  for (const auto& c : answer->media[0].candidates) {
    EXPECT_EQ(c.address, "203.0.113.7");
    EXPECT_EQ(c.port, server->udpEndpoint().port);
    EXPECT_EQ(c.type, "host");
  }
  server->stop();
}

TEST(ServerShutdown, ClosesEverySessionWithCloseNotify) {
  auto server = startServer();
  ASSERT_NE(server, nullptr);
  ClientLoop loop;
  NativePeerOptions po;
  po.role = Role::Publisher;
  po.httpPort = server->httpPort();
  po.stage = "bye";
  po.certificate = clientCertificate();
  auto pub = NativePeer::connect(loop.io(), po);
  ASSERT_TRUE(pub.ok());
  NativePeerOptions vo = po;
  vo.role = Role::Viewer;
  auto viewer = NativePeer::connect(loop.io(), vo);
  ASSERT_TRUE(viewer.ok());
  ASSERT_TRUE(
      waitFor([&] { return loop.call([&] { return (*pub)->connected() && (*viewer)->connected(); }); }, seconds(10)));
  server->stop();
  // Both peers learn at once (DTLS close_notify), not after a consent timeout.
  ASSERT_TRUE(waitFor([&] { return loop.call([&] { return (*pub)->stats().closed && (*viewer)->stats().closed; }); },
                      seconds(3)));
  for (auto* p : {&*pub, &*viewer}) {
    auto reason = loop.call([&] { return (*p)->stats().closeReason; });
    ASSERT_TRUE(reason.has_value());
    EXPECT_EQ(reason->code, "PEER_CLOSED") << reason->message;
  }
  loop.call([&] {
    (*pub)->stop();
    (*viewer)->stop();
    return 0;
  });
}

}  // namespace
}  // namespace stagecast::itest
