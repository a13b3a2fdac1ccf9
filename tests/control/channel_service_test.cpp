// The command layer of live channels against every store (the same suite runs on MemoryStore and RedisStore).
#include "channel_service_test.hpp"

#include <set>
#include <thread>

namespace stagecast::control::testing {
namespace {

using nlohmann::json;

// Waits (bounded) for something delivered asynchronously.
template <class Pred>
bool waitUntil(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::vector<json> eventsOf(const std::vector<Event>& events, const std::string& type) {
  std::vector<json> out;
  for (const auto& e : events) {
    auto j = json::parse(e.json);
    if (j["type"] == type) out.push_back(j);
  }
  return out;
}

TEST_P(ChannelServiceTest, ConfiguredChannelStartsWithItsMinimumStages) {
  auto ch = service->channel("main");
  ASSERT_TRUE(ch) << ch.error().message;
  ASSERT_EQ(ch->stages.size(), 1U);
  EXPECT_EQ(ch->total, 0U);
  EXPECT_EQ(media.created.size(), 1U);
  EXPECT_EQ(ch->stages[0].stage.stageArn, "arn:stagecast:stage:main/" + ch->stages[0].stage.stageId);
  EXPECT_TRUE(waitUntil([&] { return eventsOf(sink.all(), "stage_created").size() == 1; }));
}

TEST_P(ChannelServiceTest, ViewersFillStagesAndNewStagesAreCreatedWhenAllAreFull) {
  std::map<std::string, int> perStage;
  for (int i = 0; i < 7; ++i) {
    auto j = service->joinViewer("user" + std::to_string(i), "");
    ASSERT_TRUE(j) << j.error().message;
    ++perStage[j->stageId];
    EXPECT_EQ(j->channelId, "main");
    EXPECT_EQ(j->whepUrl, "/whep/" + j->stageId);
    EXPECT_EQ(j->expiresInSeconds, 24 * 3600);
  }
  ASSERT_EQ(perStage.size(), 3U);  // capacity 3: 3 + 3 + 1
  std::multiset<int> sizes;
  for (const auto& [id, n] : perStage) sizes.insert(n);
  EXPECT_EQ(sizes, (std::multiset<int>{1, 3, 3}));
  auto ch = service->channel("main");
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->total, 7U);
  EXPECT_EQ(media.created.size(), 3U);
  ASSERT_TRUE(waitUntil([&] { return eventsOf(sink.all(), "stage_created").size() >= 3; }));
  const auto created = eventsOf(sink.all(), "stage_created");
  ASSERT_EQ(created.size(), 3U);
  for (const auto& e : created) {
    EXPECT_EQ(e["channelId"], "main");
    EXPECT_TRUE(e["timestamp"].get<std::string>().ends_with("Z"));
    EXPECT_TRUE(perStage.count(e["stageId"].get<std::string>()) == 1);
  }
}

TEST_P(ChannelServiceTest, ViewerTokenCarriesTheClaims) {
  auto j = service->joinViewer("alice", "main", json{{"name", "Alice"}});
  ASSERT_TRUE(j) << j.error().message;
  auth::TokenVerifier verifier(key);
  auto claims = verifier.verify(j->token, clock.nowMs() / 1000);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->jti, j->participantId);
  EXPECT_EQ(claims->resource, j->stageArn);
  EXPECT_EQ(claims->topic, j->stageId);
  EXPECT_EQ(claims->userId, "alice");
  EXPECT_EQ(claims->attributes["name"], "Alice");
  EXPECT_TRUE(claims->capabilities.allowSubscribe);
  EXPECT_FALSE(claims->capabilities.allowPublish);
  EXPECT_EQ(claims->exp - claims->iat, 24 * 3600);
  EXPECT_EQ(claims->whipUrl, "/whep/" + j->stageId);
  // Expired a day later.
  EXPECT_EQ(verifier.verify(j->token, clock.nowMs() / 1000 + 24 * 3600 + 60).error().code, "TOKEN_EXPIRED");
  // Oversized attributes are refused with the field named.
  auto big = service->joinViewer("bob", "main", json{{"x", std::string(2000, 'a')}});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, "INVALID_REQUEST");
  EXPECT_NE(big.error().message.find("attributes"), std::string::npos);
}

TEST_P(ChannelServiceTest, JoiningTwiceKeepsOnePlace) {
  auto a = service->joinViewer("alice", "");
  auto b = service->joinViewer("alice", "");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->stageId, b->stageId);
  EXPECT_NE(a->participantId, b->participantId);
  EXPECT_EQ(b->currentViewers, 1U);
  // Rejoin while active does not count twice either.
  auto r = service->rejoin("alice", a->stageArn, a->participantId);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, 1U);
}

TEST_P(ChannelServiceTest, RejoinIntoAnotherStageWhileWatchingOneIsRefused) {
  // Capacity 3. Alice's first page joins stage 1, which fills; she leaves it, and her second page is placed in
  // stage 2. Then the first page comes back with its stage-1 token while stage 1 has room again.
  auto first = service->joinViewer("alice", "");
  ASSERT_TRUE(first && service->joinViewer("bob", "") && service->joinViewer("carol", ""));
  ASSERT_TRUE(service->leave("alice", first->stageArn));
  ASSERT_TRUE(service->joinViewer("dave", ""));
  auto second = service->joinViewer("alice", "");
  ASSERT_TRUE(second);
  ASSERT_NE(second->stageId, first->stageId);
  ASSERT_TRUE(service->leave("dave", first->stageArn));
  ASSERT_EQ(service->channel("main")->total, 3U);

  auto r = service->rejoin("alice", first->stageArn, first->participantId);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "VIEWER_IN_OTHER_STAGE");
  EXPECT_NE(r.error().message.find(second->stageArn), std::string::npos);
  EXPECT_EQ(service->channel("main")->total, 3U);  // bob, carol, alice once
  // A new token places her where she watches.
  auto again = service->joinViewer("alice", "");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->stageId, second->stageId);
  EXPECT_EQ(service->channel("main")->total, 3U);
  // Once she has left that stage, the rejoin succeeds.
  ASSERT_TRUE(service->leave("alice", second->stageArn));
  auto ok = service->rejoin("alice", first->stageArn, first->participantId);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, 3U);
  EXPECT_EQ(service->channel("main")->total, 3U);
}

TEST_P(ChannelServiceTest, HeartbeatsKeepViewersAndSilenceRemovesThemAndTheirMediaSession) {
  auto a = service->joinViewer("alice", "");
  auto b = service->joinViewer("bob", "");
  ASSERT_TRUE(a && b);
  service->viewerSessionStarted(a->stageId, "alice", "session-a");
  service->viewerSessionStarted(b->stageId, "bob", "session-b");
  for (int i = 0; i < 4; ++i) {
    clock.advance(std::chrono::seconds(30));
    ASSERT_TRUE(service->heartbeat("bob", b->stageArn));
    service->sweep();
  }
  // Alice stopped at t=0: removed once 60 s passed; her WHEP session is ended; Bob stays.
  EXPECT_EQ(service->channel("main")->total, 1U);
  ASSERT_EQ(media.ended.size(), 1U);
  EXPECT_EQ(media.ended[0], std::make_pair(a->stageId, std::string("session-a")));
  auto hb = service->heartbeat("alice", a->stageArn);
  ASSERT_FALSE(hb);
  EXPECT_EQ(hb.error().code, "VIEWER_NOT_FOUND");
  EXPECT_EQ(service->counters().viewersExpired, 1U);
  // Rejoin after the timeout counts her again.
  auto r = service->rejoin("alice", a->stageArn, a->participantId);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 2U);
}

TEST_P(ChannelServiceTest, LeaveIsIdempotentAndEndsTheSession) {
  auto a = service->joinViewer("alice", "");
  ASSERT_TRUE(a);
  service->viewerSessionStarted(a->stageId, "alice", "s1");
  auto l1 = service->leave("alice", a->stageArn);
  ASSERT_TRUE(l1);
  EXPECT_EQ(*l1, 0U);
  auto l2 = service->leave("alice", a->stageArn);
  ASSERT_TRUE(l2);
  EXPECT_EQ(*l2, 0U);
  EXPECT_EQ(media.ended.size(), 1U);
  // A leave racing the timeout: the sweep finds nobody to remove, the count stays at zero.
  clock.advance(std::chrono::seconds(120));
  service->sweep();
  EXPECT_EQ(service->counters().viewersExpired, 0U);
  EXPECT_EQ(service->counters().viewerLeaves, 1U);
  EXPECT_EQ(service->channel("main")->total, 0U);
}

TEST_P(ChannelServiceTest, EmptyStagesAreDeletedAfterTheGraceKeepingTheMinimum) {
  std::vector<ViewerJoin> joins;
  for (int i = 0; i < 9; ++i) joins.push_back(*service->joinViewer("u" + std::to_string(i), ""));
  ASSERT_EQ(service->channel("main")->stages.size(), 3U);
  for (const auto& j : joins) ASSERT_TRUE(service->leave(j.userId, j.stageArn));
  service->sweep();
  clock.advance(std::chrono::seconds(59));
  service->sweep();
  EXPECT_EQ(service->channel("main")->stages.size(), 3U) << "still within the grace period";
  clock.advance(std::chrono::seconds(2));
  service->sweep();
  EXPECT_EQ(service->channel("main")->stages.size(), 1U) << "deleted down to the minimum";
  EXPECT_EQ(media.deleted.size(), 2U);
  ASSERT_TRUE(waitUntil([&] { return eventsOf(sink.all(), "stage_deleted").size() >= 2; }));
  const auto deleted = eventsOf(sink.all(), "stage_deleted");
  ASSERT_EQ(deleted.size(), 2U);
  EXPECT_FALSE(deleted[0]["stageArn"].get<std::string>().empty());
  // A stage with a viewer again is not deleted.
  auto j = service->joinViewer("late", "");
  ASSERT_TRUE(j);
  clock.advance(std::chrono::seconds(61));
  ASSERT_TRUE(service->heartbeat("late", j->stageArn));
  service->sweep();
  EXPECT_EQ(service->channel("main")->total, 1U);
}

TEST_P(ChannelServiceTest, ViewerCountsAreBatchedPerChannelAndSecond) {
  service->sweep();
  clock.advance(std::chrono::milliseconds(1000));  // the start-up notice was this second's
  // Read notices back from the store (delivery to subscribers may be asynchronous, e.g. Redis pub/sub).
  auto stored = service->eventsAfter(0);
  ASSERT_TRUE(stored);
  const std::uint64_t base = stored->events.empty() ? 0 : stored->events.back().seq;
  auto countsSince = [&] {
    auto r = service->eventsAfter(base);
    return r ? eventsOf(r->events, "viewer_count") : std::vector<json>{};
  };
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(service->joinViewer("u" + std::to_string(i), ""));
  service->sweep();
  service->sweep();  // same instant: nothing new to say
  auto counts = countsSince();
  ASSERT_EQ(counts.size(), 1U);
  EXPECT_EQ(counts[0]["total"], 5);
  EXPECT_EQ(counts[0]["stages"].size(), 2U);
  ASSERT_TRUE(service->joinViewer("u9", ""));
  service->sweep();  // within the second: held back
  EXPECT_EQ(countsSince().size(), 1U);
  clock.advance(std::chrono::milliseconds(1000));
  service->sweep();
  counts = countsSince();
  ASSERT_EQ(counts.size(), 2U);
  EXPECT_EQ(counts[1]["total"], 6);
  EXPECT_GT(counts[1]["seq"].get<std::uint64_t>(), counts[0]["seq"].get<std::uint64_t>());
  // Subscribers get the same notices, in order.
  ASSERT_TRUE(waitUntil([&] { return eventsOf(sink.all(), "viewer_count").size() >= 3; }));
  auto delivered = eventsOf(sink.all(), "viewer_count");
  EXPECT_EQ(delivered.back()["seq"], counts[1]["seq"]);
}

TEST_P(ChannelServiceTest, BadRequestsGetClearErrors) {
  EXPECT_EQ(service->joinViewer("", "").error().code, "INVALID_REQUEST");
  EXPECT_EQ(service->joinViewer(std::string(200, 'u'), "").error().code, "INVALID_REQUEST");
  EXPECT_EQ(service->joinViewer("u", "bad channel").error().code, "INVALID_REQUEST");
  EXPECT_EQ(service->joinViewer("u", "unknown").error().code, "CHANNEL_NOT_FOUND");
  EXPECT_EQ(service->heartbeat("u", "").error().code, "INVALID_REQUEST");
  EXPECT_EQ(service->heartbeat("u", "arn:other:x/y").error().code, "INVALID_REQUEST");
  EXPECT_EQ(service->leave("u", "arn:stagecast:stage:main/main-00000000").error().code, "STAGE_NOT_FOUND");
  EXPECT_EQ(service->rejoin("u", "main-00000000", "p").error().code, "STAGE_NOT_FOUND");
  EXPECT_EQ(service->rejoin("u", "main-00000000", "").error().code, "INVALID_REQUEST");
  EXPECT_EQ(service->channel("nope").error().code, "CHANNEL_NOT_FOUND");
  EXPECT_EQ(service->stageToken("main-00000000").error().code, "STAGE_NOT_FOUND");
}

TEST_P(ChannelServiceTest, BroadcasterGetsPublishTokensForTheChannelAndEachStage) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(service->joinViewer("u" + std::to_string(i), ""));
  auto v = service->broadcasterStages("");
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->stages.size(), 2U);
  EXPECT_EQ(v->total, 4U);
  auth::TokenVerifier verifier(key);
  for (const auto& s : v->stages) {
    auto c = verifier.verify(s.publishToken, clock.nowMs() / 1000);
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->capabilities.allowPublish);
    EXPECT_FALSE(c->capabilities.allowSubscribe);
    EXPECT_EQ(c->topic, s.stage.stageId);
    EXPECT_EQ(c->exp - c->iat, 2 * 3600);
  }
  auto channelToken = verifier.verify(v->publishToken, clock.nowMs() / 1000);
  ASSERT_TRUE(channelToken);
  EXPECT_EQ(channelToken->topic, "main");
  EXPECT_EQ(v->whipUrl, "/whip/main");
  auto st = service->stageToken(v->stages[1].stage.stageArn);
  ASSERT_TRUE(st);
  EXPECT_EQ(verifier.verify(st->publishToken, clock.nowMs() / 1000)->topic, v->stages[1].stage.stageId);
}

TEST_P(ChannelServiceTest, MediaNodesRegisterBeatAndExpire) {
  EXPECT_EQ(service->registerMediaNode({"", "10.0.0.1", 8443}).error().code, "INVALID_REQUEST");
  ASSERT_TRUE(service->registerMediaNode({"node-1", "10.0.0.1", 8443}));
  EXPECT_EQ(service->mediaNodeHeartbeat("node-2").error().code, "NODE_NOT_FOUND");
  clock.advance(std::chrono::seconds(60));
  ASSERT_TRUE(service->mediaNodeHeartbeat("node-1"));
  clock.advance(std::chrono::seconds(60));
  auto nodes = service->mediaNodes();
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->size(), 1U);
  EXPECT_EQ((*nodes)[0].ipAddress, "10.0.0.1");
  clock.advance(std::chrono::seconds(91));
  EXPECT_TRUE(service->mediaNodes()->empty());
  auto stages = service->allStages();
  ASSERT_TRUE(stages);
  ASSERT_EQ(stages->size(), 1U);
  auto t = service->mediaToken(stages->front().stage.stageArn);
  ASSERT_TRUE(t);
  auto c = auth::TokenVerifier(key).verify(t->publishToken, clock.nowMs() / 1000);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->capabilities.allowPublish && c->capabilities.allowSubscribe);
}

TEST_P(ChannelServiceTest, ABroadcastPublishedOnOneNodeIsPulledByTheNodesWhoseViewersWatchIt) {
  // Two nodes on one store, on the real wall clock (Redis lapses origin claims by its own clock).
  ManualWallClock now(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  ControlConfig a;
  a.nodeId = "node-a";
  a.nodeUrl = "http://127.0.0.1:18081";
  ControlConfig b = a;
  b.nodeId = "node-b";
  b.nodeUrl = "http://127.0.0.1:18082";
  FakeMediaPlane mediaA;
  FakeMediaPlane mediaB;
  ChannelService nodeA(a, *store, signer, mediaA, now);
  ChannelService nodeB(b, *store, signer, mediaB, now);
  nodeA.sweep();
  nodeB.sweep();
  auto stages = store->stages("main");
  ASSERT_TRUE(stages && !stages->empty());
  const std::string stage = (*stages)[0].stageId;

  nodeA.publisherSessionStarted("main", "pub-1");
  nodeA.sweep();
  nodeB.sweep();
  EXPECT_EQ(mediaB.feedOf("main"), "") << "no viewer on node B yet: nothing is pulled";

  nodeB.viewerSessionStarted(stage, "u1", "sess-1");
  nodeB.sweep();
  EXPECT_EQ(mediaB.feedOf("main"), "node-a http://127.0.0.1:18081");
  nodeA.viewerSessionStarted(stage, "u2", "sess-2");
  nodeA.sweep();
  EXPECT_EQ(mediaA.feedOf("main"), "") << "the origin node never pulls its own broadcast";

  // The last viewer on B leaves: the pull lingers, then stops.
  nodeB.sessionEnded(stage, "sess-1");
  nodeB.sweep();
  EXPECT_EQ(mediaB.feedOf("main"), "node-a http://127.0.0.1:18081");
  now.advance(b.pullLinger + std::chrono::milliseconds(1));
  nodeA.sweep();
  nodeB.sweep();
  EXPECT_EQ(mediaB.feedOf("main"), "");

  // The broadcaster leaves A: its claim is released at A's next sweep.
  nodeB.viewerSessionStarted(stage, "u1", "sess-3");
  nodeB.sweep();
  EXPECT_EQ(mediaB.feedOf("main"), "node-a http://127.0.0.1:18081");
  nodeA.sessionEnded("main", "pub-1");
  nodeA.sweep();
  nodeB.sweep();
  EXPECT_EQ(mediaB.feedOf("main"), "");

  // Publishing into a single stage is not a channel broadcast: nothing is claimed.
  nodeA.publisherSessionStarted(stage, "pub-stage");
  nodeA.sweep();
  nodeB.sweep();
  EXPECT_EQ(mediaB.feedOf("main"), "");

  // The broadcaster comes back on B: B is now the origin and A, with a viewer, pulls from B.
  nodeB.publisherSessionStarted("main", "pub-2");
  nodeB.sweep();
  nodeA.sweep();
  EXPECT_EQ(mediaB.feedOf("main"), "");
  EXPECT_EQ(mediaA.feedOf("main"), "node-b http://127.0.0.1:18082");

  // B stops refreshing its claim (a crashed node): it lapses after the origin TTL.
  now.advance(b.originTtl + std::chrono::milliseconds(1));
  nodeA.sweep();
  EXPECT_EQ(mediaA.feedOf("main"), "");
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Memory, ChannelServiceTest,
                         ::testing::Values(StoreFactory{"Memory", [] { return std::make_unique<MemoryStore>(); }}),
                         factoryName);

}  // namespace stagecast::control::testing
