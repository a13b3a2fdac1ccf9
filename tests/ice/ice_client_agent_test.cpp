#include "stagecast/ice/ice_client_agent.hpp"

#include <gtest/gtest.h>

using namespace stagecast;
using namespace stagecast::ice;

namespace {

// Wires a controlling client agent to a lite server agent in memory.
struct Wire : IceListener {
  std::vector<std::pair<Bytes, Endpoint>> out;
  std::vector<IceState> states;
  std::vector<Endpoint> selected;
  void onIceSend(BytesView d, const Endpoint& to) override { out.emplace_back(Bytes(d.begin(), d.end()), to); }
  void onIceAddressValidated(const Endpoint&) override {}
  void onIceSelected(const Endpoint& r) override { selected.push_back(r); }
  void onIceStateChanged(IceState s) override { states.push_back(s); }
};

const Endpoint kServer = *Endpoint::fromString("127.0.0.1:8443");
const Endpoint kClient = *Endpoint::fromString("127.0.0.1:40000");

}  // namespace

TEST(IceClient, ConnectsToLiteAgentAndKeepsConsent) {
  TimePoint t{seconds(10)};
  Wire cw;
  Wire sw;
  IceClientAgent client("cliU", "client-password-0123456789", "srvU", "server-password-0123456789", kServer, cw, {}, t);
  IceLiteAgent server("srvU", "server-password-0123456789", sw, {}, t);
  server.setRemoteCredentials("cliU", "client-password-0123456789");

  client.start(t);
  ASSERT_EQ(cw.out.size(), 1U);
  auto req = stun::parse(cw.out[0].first);
  ASSERT_TRUE(req.ok());
  EXPECT_TRUE(req->useCandidate);
  EXPECT_TRUE(req->iceControlling);
  ASSERT_TRUE(server.handleStun(*req, cw.out[0].first, kClient, t));
  EXPECT_EQ(server.state(), IceState::Completed);
  auto resp = stun::parse(sw.out.at(0).first);
  ASSERT_TRUE(resp.ok());
  ASSERT_TRUE(client.handleStun(*resp, sw.out[0].first, kServer, t));
  EXPECT_EQ(client.state(), IceState::Completed);
  EXPECT_EQ(client.selected(), kServer);

  // Consent checks every 5 s keep both sides alive well past 30 s.
  for (int i = 0; i < 10; ++i) {
    t = client.nextTimeout();
    cw.out.clear();
    sw.out.clear();
    client.handleTimeout(t);
    ASSERT_EQ(cw.out.size(), 1U);
    auto r = stun::parse(cw.out[0].first);
    ASSERT_TRUE(server.handleStun(*r, cw.out[0].first, kClient, t));
    auto s = stun::parse(sw.out.at(0).first);
    ASSERT_TRUE(client.handleStun(*s, sw.out[0].first, kServer, t));
    server.handleTimeout(t);
  }
  EXPECT_GE(t, TimePoint{seconds(10 + 45)});
  EXPECT_EQ(server.state(), IceState::Completed);
  EXPECT_EQ(client.state(), IceState::Completed);
}

TEST(IceClient, RetransmitsWithBackoffAndFailsWithoutAnswer) {
  TimePoint t{seconds(10)};
  Wire cw;
  IceClientConfig cfg;
  IceClientAgent client("c", "client-password-0123456789", "s", "server-password-0123456789", kServer, cw, cfg, t);
  client.start(t);
  std::vector<Duration> gaps;
  TimePoint last = t;
  while (client.state() != IceState::Failed) {
    const TimePoint next = client.nextTimeout();
    ASSERT_NE(next, TimePoint::max());
    gaps.push_back(next - last);
    last = next;
    client.handleTimeout(next);
    ASSERT_LT(gaps.size(), 200U);
  }
  ASSERT_GE(gaps.size(), 3U);
  EXPECT_EQ(gaps[0], cfg.initialRto);
  EXPECT_EQ(gaps[1], cfg.initialRto * 2);
  EXPECT_LE(gaps.back(), cfg.maxRto);
  EXPECT_GE(last - t, cfg.connectTimeout);
}

TEST(IceClient, IgnoresResponsesWithWrongIntegrityOrSource) {
  TimePoint t{seconds(10)};
  Wire cw;
  IceClientAgent client("c", "client-password-0123456789", "s", "server-password-0123456789", kServer, cw, {}, t);
  client.start(t);
  auto req = stun::parse(cw.out.at(0).first);
  auto resp = stun::makeBindingSuccess(req->transactionId, kClient);
  const auto wrong = asBytes("not-the-server-password");
  Bytes bad = stun::serialize(resp, {.integrityKey = Bytes(wrong.begin(), wrong.end()), .fingerprint = true});
  auto badParsed = stun::parse(bad);
  EXPECT_FALSE(client.handleStun(*badParsed, bad, kServer, t));
  const auto right = asBytes("server-password-0123456789");
  Bytes good = stun::serialize(resp, {.integrityKey = Bytes(right.begin(), right.end()), .fingerprint = true});
  auto goodParsed = stun::parse(good);
  EXPECT_FALSE(client.handleStun(*goodParsed, good, kClient, t));  // from the wrong address
  EXPECT_TRUE(client.handleStun(*goodParsed, good, kServer, t));
}
