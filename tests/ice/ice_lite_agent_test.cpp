#include "stagecast/ice/ice_lite_agent.hpp"

#include <gtest/gtest.h>

#include "stagecast/common/crypto.hpp"

using namespace stagecast;
using namespace stagecast::ice;

namespace {

struct Recorder : IceListener {
  std::vector<std::pair<Bytes, Endpoint>> sent;
  std::vector<Endpoint> validated;
  std::vector<Endpoint> selected;
  std::vector<IceState> states;
  void onIceSend(BytesView d, const Endpoint& to) override { sent.emplace_back(Bytes(d.begin(), d.end()), to); }
  void onIceAddressValidated(const Endpoint& r) override { validated.push_back(r); }
  void onIceSelected(const Endpoint& r) override { selected.push_back(r); }
  void onIceStateChanged(IceState s) override { states.push_back(s); }
};

constexpr const char* kLocalUfrag = "srvU";
constexpr const char* kLocalPwd = "server-password-0123456789";
constexpr const char* kRemoteUfrag = "cliU";

Bytes check(const std::string& username, const std::string& key, bool useCandidate, bool controlling = true) {
  stun::Message m;
  m.cls = stun::Class::Request;
  crypto::randomBytes(m.transactionId.data(), m.transactionId.size());
  m.username = username;
  m.priority = 12345;
  m.useCandidate = useCandidate;
  if (controlling) {
    m.iceControlling = 7;
  } else {
    m.iceControlled = 7;
  }
  const auto k = asBytes(key);
  return stun::serialize(m, {.integrityKey = Bytes(k.begin(), k.end()), .fingerprint = true});
}

bool feed(IceLiteAgent& agent, const Bytes& raw, const Endpoint& from, TimePoint now) {
  auto msg = stun::parse(raw);
  EXPECT_TRUE(msg.ok());
  return agent.handleStun(*msg, raw, from, now);
}

const Endpoint kA = *Endpoint::fromString("127.0.0.1:5000");
const Endpoint kB = *Endpoint::fromString("127.0.0.1:6000");

class IceLite : public ::testing::Test {
 protected:
  TimePoint t0{seconds(100)};
  Recorder rec;
  IceConfig cfg;
  std::unique_ptr<IceLiteAgent> agent;
  void SetUp() override {
    agent = std::make_unique<IceLiteAgent>(kLocalUfrag, kLocalPwd, rec, cfg, t0);
    agent->setRemoteCredentials(kRemoteUfrag, "client-password-0123456789");
  }
};

}  // namespace

TEST_F(IceLite, AnswersValidCheckWithAuthenticatedSuccess) {
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, false), kA, t0));
  ASSERT_EQ(rec.sent.size(), 1U);
  const auto& [resp, to] = rec.sent[0];
  EXPECT_EQ(to, kA);
  auto parsed = stun::parse(resp);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->cls, stun::Class::SuccessResponse);
  ASSERT_TRUE(parsed->xorMappedAddress);
  EXPECT_EQ(*parsed->xorMappedAddress, kA);
  EXPECT_TRUE(stun::verifyMessageIntegrity(resp, *parsed, asBytes(kLocalPwd)));
  EXPECT_TRUE(parsed->hasFingerprint);
  EXPECT_EQ(rec.validated, std::vector<Endpoint>{kA});
  EXPECT_EQ(agent->state(), IceState::Connected);
  EXPECT_EQ(agent->selected(), kA);
}

TEST_F(IceLite, RejectsBadIntegrityWith401AndNoRoute) {
  EXPECT_FALSE(feed(*agent, check("srvU:cliU", "wrong-password", true), kA, t0));
  ASSERT_EQ(rec.sent.size(), 1U);
  auto parsed = stun::parse(rec.sent[0].first);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->cls, stun::Class::ErrorResponse);
  ASSERT_TRUE(parsed->errorCode);
  EXPECT_EQ(parsed->errorCode->code, 401);
  EXPECT_TRUE(rec.validated.empty());
  EXPECT_FALSE(agent->selected());
}

TEST_F(IceLite, IgnoresWrongUfrag) {
  EXPECT_FALSE(feed(*agent, check("other:cliU", kLocalPwd, true), kA, t0));
  EXPECT_FALSE(feed(*agent, check("srvU:stranger", kLocalPwd, true), kA, t0));
  EXPECT_TRUE(rec.validated.empty());
}

TEST_F(IceLite, RoleConflictWhenPeerClaimsControlled) {
  EXPECT_FALSE(feed(*agent, check("srvU:cliU", kLocalPwd, true, /*controlling=*/false), kA, t0));
  auto parsed = stun::parse(rec.sent.at(0).first);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->errorCode->code, 487);
}

TEST_F(IceLite, NominationSwitchesSelectedPair) {
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, true), kA, t0));
  EXPECT_EQ(agent->state(), IceState::Completed);
  // A check without USE-CANDIDATE from another address does not move the selected pair...
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, false), kB, t0));
  EXPECT_EQ(agent->selected(), kA);
  // ...a nomination does (RFC 8445 §7.3.1.5).
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, true), kB, t0 + seconds(1)));
  EXPECT_EQ(agent->selected(), kB);
  EXPECT_EQ(rec.selected, (std::vector<Endpoint>{kA, kB}));
}

TEST_F(IceLite, ConsentExpiresThirtySecondsAfterLastCheck) {
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, true), kA, t0));
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, false), kA, t0 + seconds(20)));
  EXPECT_EQ(agent->nextTimeout(), t0 + seconds(50));
  agent->handleTimeout(t0 + seconds(49));
  EXPECT_EQ(agent->state(), IceState::Completed);
  agent->handleTimeout(t0 + seconds(50));
  EXPECT_EQ(agent->state(), IceState::Failed);
  // A failed agent answers nothing.
  rec.sent.clear();
  EXPECT_FALSE(feed(*agent, check("srvU:cliU", kLocalPwd, true), kA, t0 + seconds(51)));
  EXPECT_TRUE(rec.sent.empty());
}

TEST_F(IceLite, ChecksFromOtherAddressesDoNotRefreshConsent) {
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, true), kA, t0));
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, false), kB, t0 + seconds(25)));
  agent->handleTimeout(t0 + seconds(30));
  EXPECT_EQ(agent->state(), IceState::Failed);
}

TEST_F(IceLite, NoCheckAtAllFailsAfterConnectTimeout) {
  agent->handleTimeout(t0 + seconds(29));
  EXPECT_EQ(agent->state(), IceState::New);
  agent->handleTimeout(t0 + seconds(30));
  EXPECT_EQ(agent->state(), IceState::Failed);
}

TEST_F(IceLite, RestartAcceptsOnlyNewCredentials) {
  ASSERT_TRUE(feed(*agent, check("srvU:cliU", kLocalPwd, true), kA, t0));
  agent->restart("newU", "new-server-password-000000", "cli2", "new-client-password-000000");
  EXPECT_FALSE(feed(*agent, check("srvU:cliU", kLocalPwd, true), kA, t0 + seconds(1)));
  EXPECT_TRUE(feed(*agent, check("newU:cli2", "new-server-password-000000", true), kB, t0 + seconds(2)));
  EXPECT_EQ(agent->selected(), kB);
}

TEST_F(IceLite, BoundsRemoteAddresses) {
  for (std::uint16_t p = 1; p <= cfg.maxRemoteAddresses + 5; ++p) {
    feed(*agent, check("srvU:cliU", kLocalPwd, false), Endpoint::v4(0x7f000001, p), t0);
  }
  EXPECT_EQ(agent->validatedAddresses().size(), cfg.maxRemoteAddresses);
}

TEST(RecipientUfrag, IsTheUsernamePartBeforeTheColon) {
  EXPECT_EQ(recipientUfrag(check("srvU:cliU", kLocalPwd, false)), "srvU");
  EXPECT_EQ(recipientUfrag(check("noColon", kLocalPwd, false)), "noColon");
  const Bytes rtpLike{0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_FALSE(recipientUfrag(rtpLike));
  stun::Message anonymous;
  anonymous.cls = stun::Class::Request;
  EXPECT_FALSE(recipientUfrag(stun::serialize(anonymous, {})));
}
