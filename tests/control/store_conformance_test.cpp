#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "store_conformance.hpp"

namespace stagecast::control::testing {
namespace {

StageRecord stage(const std::string& channel, const std::string& id, std::int64_t created = 1) {
  return {id, "arn:stagecast:stage:" + channel + "/" + id, channel, created};
}

ViewerRecord viewer(const std::string& stageId, const std::string& user, std::int64_t expires = 100'000) {
  return {stageId, user, "p-" + user, expires};
}

TEST_P(StoreConformance, StagesAreRegisteredPerChannelOldestFirst) {
  ASSERT_TRUE(store->addStage(stage("show", "show-a", 1)));
  ASSERT_TRUE(store->addStage(stage("show", "show-b", 2)));
  ASSERT_TRUE(store->addStage(stage("other", "other-a", 3)));
  auto again = store->addStage(stage("show", "show-a", 4));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "STAGE_EXISTS");

  auto list = store->stages("show");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2U);
  EXPECT_EQ((*list)[0].stageId, "show-a");
  EXPECT_EQ((*list)[1].stageId, "show-b");
  EXPECT_EQ((*list)[0].stageArn, "arn:stagecast:stage:show/show-a");
  EXPECT_EQ((*list)[0].createdAtMs, 1);

  auto found = store->findStage("other-a");
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->channelId, "other");
  EXPECT_FALSE(store->findStage("nope")->has_value());

  auto channels = store->channels();
  ASSERT_TRUE(channels);
  EXPECT_EQ(*channels, (std::vector<std::string>{"other", "show"}));
  EXPECT_TRUE(store->stages("none")->empty());
}

TEST_P(StoreConformance, ViewersArePlacedUpToCapacityAndNeverCountedTwice) {
  ASSERT_TRUE(store->addStage(stage("show", "s1")));
  EXPECT_EQ(*store->placeViewer(viewer("s1", "u1"), 2), PlaceResult::Added);
  EXPECT_EQ(*store->placeViewer(viewer("s1", "u1", 200'000), 2), PlaceResult::AlreadyPresent);
  EXPECT_EQ(*store->viewerCount("s1"), 1U);
  EXPECT_EQ(*store->placeViewer(viewer("s1", "u2"), 2), PlaceResult::Added);
  EXPECT_EQ(*store->placeViewer(viewer("s1", "u3"), 2), PlaceResult::Full);
  // A viewer already present is refreshed even when the stage is full.
  EXPECT_EQ(*store->placeViewer(viewer("s1", "u2", 300'000), 2), PlaceResult::AlreadyPresent);
  EXPECT_EQ(*store->viewerCount("s1"), 2U);
  EXPECT_EQ(*store->placeViewer(viewer("missing", "u1"), 2), PlaceResult::NoSuchStage);

  auto u1 = store->findViewer("s1", "u1");
  ASSERT_TRUE(u1 && u1->has_value());
  EXPECT_EQ((*u1)->expiresAtMs, 200'000);
  EXPECT_EQ((*u1)->participantId, "p-u1");
  EXPECT_FALSE(store->findViewer("s1", "u3")->has_value());
}

TEST_P(StoreConformance, HeartbeatLeaveAndRepeatedLeave) {
  ASSERT_TRUE(store->addStage(stage("show", "s1")));
  EXPECT_FALSE(*store->touchViewer("s1", "u1", 5'000));
  ASSERT_EQ(*store->placeViewer(viewer("s1", "u1", 1'000), 50), PlaceResult::Added);
  EXPECT_TRUE(*store->touchViewer("s1", "u1", 5'000));
  EXPECT_EQ((*store->findViewer("s1", "u1"))->expiresAtMs, 5'000);

  auto left = store->removeViewer("s1", "u1");
  ASSERT_TRUE(left && left->has_value());
  EXPECT_EQ((*left)->userId, "u1");
  EXPECT_EQ(*store->viewerCount("s1"), 0U);
  auto again = store->removeViewer("s1", "u1");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(*store->viewerCount("s1"), 0U);
  EXPECT_FALSE(*store->touchViewer("s1", "u1", 9'000));
  EXPECT_FALSE(store->removeViewer("missing", "u1")->has_value());
}

TEST_P(StoreConformance, ExpiryRemovesOnlyStaleViewersOnce) {
  ASSERT_TRUE(store->addStage(stage("show", "s1")));
  ASSERT_EQ(*store->placeViewer(viewer("s1", "old", 1'000), 50), PlaceResult::Added);
  ASSERT_EQ(*store->placeViewer(viewer("s1", "edge", 2'000), 50), PlaceResult::Added);
  ASSERT_EQ(*store->placeViewer(viewer("s1", "fresh", 3'000), 50), PlaceResult::Added);
  auto gone = store->expireViewers("s1", 2'000);
  ASSERT_TRUE(gone);
  std::set<std::string> users;
  for (const auto& v : *gone) users.insert(v.userId);
  EXPECT_EQ(users, (std::set<std::string>{"old", "edge"}));
  EXPECT_EQ(*store->viewerCount("s1"), 1U);
  EXPECT_TRUE(store->expireViewers("s1", 2'000)->empty());
  // A heartbeat that arrived in time keeps the viewer.
  EXPECT_TRUE(*store->touchViewer("s1", "fresh", 10'000));
  EXPECT_TRUE(store->expireViewers("s1", 5'000)->empty());
  EXPECT_EQ(*store->viewerCount("s1"), 1U);
}

TEST_P(StoreConformance, LeaveRacingExpiryCountsOnce) {
  ASSERT_TRUE(store->addStage(stage("show", "s1")));
  for (int round = 0; round < 50; ++round) {
    ASSERT_EQ(*store->placeViewer(viewer("s1", "u", 1'000), 50), PlaceResult::Added);
    std::atomic<int> removals{0};
    std::thread a([&] {
      if (auto r = store->removeViewer("s1", "u"); r && r->has_value()) ++removals;
    });
    std::thread b([&] {
      if (auto r = store->expireViewers("s1", 5'000); r) removals += static_cast<int>(r->size());
    });
    a.join();
    b.join();
    ASSERT_EQ(removals.load(), 1) << "round " << round;
    ASSERT_EQ(*store->viewerCount("s1"), 0U);
  }
}

TEST_P(StoreConformance, ConcurrentPlacementNeverExceedsCapacity) {
  ASSERT_TRUE(store->addStage(stage("show", "s1")));
  std::atomic<int> added{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        auto r = store->placeViewer(viewer("s1", "u" + std::to_string(t) + "-" + std::to_string(i)), 50);
        if (r && *r == PlaceResult::Added) ++added;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(added.load(), 50);
  EXPECT_EQ(*store->viewerCount("s1"), 50U);
}

TEST_P(StoreConformance, StageIsRemovedOnlyWhenEmptyAndAboveTheMinimum) {
  ASSERT_TRUE(store->addStage(stage("show", "s1", 1)));
  ASSERT_TRUE(store->addStage(stage("show", "s2", 2)));
  ASSERT_EQ(*store->placeViewer(viewer("s2", "u"), 50), PlaceResult::Added);
  EXPECT_FALSE(*store->removeStageIfEmpty("show", "s2", 1));  // has a viewer
  EXPECT_FALSE(*store->removeStageIfEmpty("other", "s1", 1));  // wrong channel
  EXPECT_TRUE(*store->removeStageIfEmpty("show", "s1", 1));
  EXPECT_FALSE(*store->removeStageIfEmpty("show", "s1", 1));  // already gone
  ASSERT_TRUE(store->removeViewer("s2", "u"));
  EXPECT_FALSE(*store->removeStageIfEmpty("show", "s2", 1));  // would go below the minimum
  EXPECT_TRUE(*store->removeStageIfEmpty("show", "s2", 0));
  EXPECT_TRUE(store->stages("show")->empty());
  EXPECT_TRUE(store->channels()->empty());
  EXPECT_EQ(*store->placeViewer(viewer("s2", "u"), 50), PlaceResult::NoSuchStage);
}

TEST_P(StoreConformance, MediaNodesExpire) {
  ASSERT_TRUE(store->upsertMediaNode({"n1", "10.0.0.1", 8443, 1, 5'000}));
  ASSERT_TRUE(store->upsertMediaNode({"n2", "10.0.0.2", 8443, 1, 2'000}));
  EXPECT_TRUE(*store->touchMediaNode("n1", 9'000));
  EXPECT_FALSE(*store->touchMediaNode("n3", 9'000));
  auto nodes = store->mediaNodes(3'000);
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->size(), 1U);
  EXPECT_EQ((*nodes)[0].serverId, "n1");
  EXPECT_EQ((*nodes)[0].ipAddress, "10.0.0.1");
  EXPECT_EQ((*nodes)[0].port, 8443);
  EXPECT_EQ((*nodes)[0].expiresAtMs, 9'000);
  EXPECT_TRUE(store->mediaNodes(10'000)->empty());
}

TEST_P(StoreConformance, ChannelOriginIsClaimedMovedAndReleasedOnlyByItsHolder) {
  // Real wall-clock times: Redis lapses the claim by its own clock.
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_TRUE(store->setOrigin({"show", "n1", "http://10.0.0.1:8080", now + 60'000}));
  auto o = store->origin("show", now);
  ASSERT_TRUE(o && o->has_value());
  EXPECT_EQ((*o)->nodeId, "n1");
  EXPECT_EQ((*o)->url, "http://10.0.0.1:8080");
  EXPECT_EQ((*o)->expiresAtMs, now + 60'000);
  EXPECT_FALSE(store->origin("other", now)->has_value());

  // The broadcaster moved to n2: the latest claim wins, and n1 letting go must not remove n2's claim.
  ASSERT_TRUE(store->setOrigin({"show", "n2", "http://10.0.0.2:8080", now + 60'000}));
  EXPECT_FALSE(*store->clearOrigin("show", "n1"));
  ASSERT_TRUE(store->origin("show", now)->has_value());
  EXPECT_EQ((*store->origin("show", now))->nodeId, "n2");
  EXPECT_TRUE(*store->clearOrigin("show", "n2"));
  EXPECT_FALSE(store->origin("show", now)->has_value());
  EXPECT_FALSE(*store->clearOrigin("show", "n2"));

  // A claim that is not refreshed lapses (a node that crashed with its broadcaster).
  ASSERT_TRUE(store->setOrigin({"show", "n1", "http://10.0.0.1:8080", now + 60'000}));
  EXPECT_FALSE(store->origin("show", now + 60'001)->has_value());
}

TEST_P(StoreConformance, EventsAreNumberedDeliveredAndReplayed) {
  std::mutex m;
  std::condition_variable cv;
  std::vector<Event> delivered;
  std::vector<std::string> internal;
  store->setSubscribers(
      [&](const Event& e) {
        std::lock_guard lock(m);
        delivered.push_back(e);
        cv.notify_all();
      },
      [&](const std::string& json) {
        std::lock_guard lock(m);
        internal.push_back(json);
        cv.notify_all();
      });
  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    auto e = store->appendEvent([i](std::uint64_t seq) {
      return "{\"seq\":" + std::to_string(seq) + ",\"n\":" + std::to_string(i) + "}";
    });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->json, "{\"seq\":" + std::to_string(e->seq) + ",\"n\":" + std::to_string(i) + "}");
    if (!seqs.empty()) {
      EXPECT_GT(e->seq, seqs.back());
    }
    seqs.push_back(e->seq);
  }
  ASSERT_TRUE(store->publishInternal("{\"kind\":\"x\"}"));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return delivered.size() == 5 && internal.size() == 1; }));
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(delivered[i].seq, seqs[i]);
    EXPECT_EQ(internal[0], "{\"kind\":\"x\"}");
  }
  auto replay = store->eventsAfter(seqs[1]);
  ASSERT_TRUE(replay);
  EXPECT_TRUE(replay->complete);
  ASSERT_EQ(replay->events.size(), 3U);
  EXPECT_EQ(replay->events[0].seq, seqs[2]);
  EXPECT_EQ(replay->events[2].seq, seqs[4]);
  EXPECT_TRUE(store->eventsAfter(seqs[4])->events.empty());
  EXPECT_TRUE(store->eventsAfter(seqs[4])->complete);
  store->stopSubscribers();
  ASSERT_TRUE(store->appendEvent([](std::uint64_t seq) { return "{}"; }));
  std::lock_guard lock(m);
  EXPECT_EQ(delivered.size(), 5U);
}

}  // namespace
}  // namespace stagecast::control::testing
