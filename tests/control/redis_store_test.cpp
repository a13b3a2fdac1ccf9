#include "stagecast/control/redis_store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "channel_service_test.hpp"
#include "redis_server.hpp"
#include "store_conformance.hpp"

namespace stagecast::control::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

// One server per test process, shared by the tests that do not restart it; each store gets its own key prefix.
struct SharedServer {
  std::unique_ptr<RedisServer> server;
  std::string error;  // set when redis-server is installed but did not start
};

SharedServer& shared() {
  static SharedServer s = [] {
    SharedServer out;
    out.server = RedisServer::start({}, &out.error);
    return out;
  }();
  return s;
}

std::string freshPrefix() {
  static std::atomic<int> counter{0};
  return "test" + std::to_string(++counter) + ":";
}

RedisOptions optionsFor(const RedisServer& server, const std::string& prefix) {
  RedisOptions o;
  o.port = server.port();
  o.password = server.password();
  o.keyPrefix = prefix;
  return o;
}

std::unique_ptr<RedisStore> connectOrFail(const RedisOptions& options) {
  auto store = RedisStore::connect(options);
  if (!store) {
    ADD_FAILURE() << store.error().code << ": " << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

std::unique_ptr<Store> makeRedisStore() {
  auto& s = shared();
  if (!s.server) {
    if (!s.error.empty()) ADD_FAILURE() << s.error;  // installed but broken: fail rather than skip
    return nullptr;
  }
  return connectOrFail(optionsFor(*s.server, freshPrefix()));
}

INSTANTIATE_TEST_SUITE_P(Redis, StoreConformance, ::testing::Values(StoreFactory{"Redis", makeRedisStore}),
                         factoryName);
// The command layer's suite against Redis as well (the same tests as with the memory store).
INSTANTIATE_TEST_SUITE_P(Redis, ChannelServiceTest, ::testing::Values(StoreFactory{"Redis", makeRedisStore}),
                         factoryName);

// Skips the test when redis-server is not installed, fails it when it does not start.
#define REQUIRE_REDIS_SERVER()                                              \
  do {                                                                      \
    if (!shared().server) {                                                 \
      if (!shared().error.empty()) FAIL() << shared().error;                \
      GTEST_SKIP() << "redis-server is not installed; Redis tests skipped"; \
    }                                                                       \
  } while (false)

StageRecord stage(const std::string& channel, const std::string& id, std::int64_t created = 1) {
  return {id, "arn:stagecast:stage:" + channel + "/" + id, channel, created};
}

ViewerRecord viewer(const std::string& stageId, const std::string& user, std::int64_t expires = 100'000) {
  return {stageId, user, "p-" + user, expires};
}

// Collects what a store's subscribers receive.
struct Inbox {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Event> events;
  std::vector<std::string> internal;

  void subscribe(Store& store) {
    store.setSubscribers(
        [this](const Event& e) {
          std::lock_guard lock(mutex);
          events.push_back(e);
          changed.notify_all();
        },
        [this](const std::string& json) {
          std::lock_guard lock(mutex);
          internal.push_back(json);
          changed.notify_all();
        });
  }

  template <class Pred>
  bool waitFor(Pred pred, SteadyClock::duration timeout = seconds(10)) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, pred);
  }
};

TEST(RedisStore, PlacementFromTwoNodesNeverExceedsCapacity) {
  REQUIRE_REDIS_SERVER();
  const auto options = optionsFor(*shared().server, freshPrefix());
  auto a = connectOrFail(options);
  auto b = connectOrFail(options);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->addStage(stage("show", "s1")));

  std::atomic<int> added{0};
  std::latch start(6);
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    Store& node = t % 2 == 0 ? *a : *b;
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 25; ++i) {
        auto r = node.placeViewer(viewer("s1", "u" + std::to_string(t) + "-" + std::to_string(i)), 40);
        ASSERT_TRUE(r) << r.error().message;
        if (*r == PlaceResult::Added) ++added;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(added.load(), 40);
  EXPECT_EQ(*a->viewerCount("s1"), 40U);
  EXPECT_EQ(*b->viewerCount("s1"), 40U);

  // The same user joining through both nodes at once is counted once.
  ASSERT_TRUE(a->addStage(stage("show", "s2")));
  for (int round = 0; round < 20; ++round) {
    const std::string user = "same-" + std::to_string(round);
    std::latch go(2);
    std::atomic<int> newViewers{0};
    auto join = [&](Store& node) {
      go.arrive_and_wait();
      if (auto r = node.placeViewer(viewer("s2", user), 1000); r && *r == PlaceResult::Added) ++newViewers;
    };
    std::thread x(join, std::ref(*a));
    std::thread y(join, std::ref(*b));
    x.join();
    y.join();
    ASSERT_EQ(newViewers.load(), 1) << "round " << round;
  }
  EXPECT_EQ(*b->viewerCount("s2"), 20U);
}

TEST(RedisStore, ViewerExpiredByTwoNodesRacingIsReturnedOnce) {
  REQUIRE_REDIS_SERVER();
  const auto options = optionsFor(*shared().server, freshPrefix());
  auto a = connectOrFail(options);
  auto b = connectOrFail(options);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->addStage(stage("show", "s1")));
  for (int round = 0; round < 30; ++round) {
    for (int i = 0; i < 10; ++i) {
      ASSERT_EQ(*a->placeViewer(viewer("s1", "u" + std::to_string(i), 1'000 + i), 100), PlaceResult::Added);
    }
    ASSERT_EQ(*b->placeViewer(viewer("s1", "fresh", 1'000'000), 100), PlaceResult::Added);
    std::latch go(2);
    std::vector<ViewerRecord> byA;
    std::vector<ViewerRecord> byB;
    std::thread x([&] {
      go.arrive_and_wait();
      if (auto r = a->expireViewers("s1", 5'000)) byA = *r;
    });
    std::thread y([&] {
      go.arrive_and_wait();
      if (auto r = b->expireViewers("s1", 5'000)) byB = *r;
    });
    x.join();
    y.join();
    std::multiset<std::string> users;
    for (const auto& v : byA) users.insert(v.userId);
    for (const auto& v : byB) users.insert(v.userId);
    ASSERT_EQ(users.size(), 10U) << "round " << round;
    for (int i = 0; i < 10; ++i) ASSERT_EQ(users.count("u" + std::to_string(i)), 1U) << "round " << round;
    for (const auto& v : byA) {
      EXPECT_EQ(v.participantId, "p-" + v.userId);
      EXPECT_EQ(v.expiresAtMs, 1'000 + std::stoi(v.userId.substr(1)));
    }
    ASSERT_EQ(*a->viewerCount("s1"), 1U);
    ASSERT_TRUE(b->removeViewer("s1", "fresh"));
  }
}

TEST(RedisStore, EventsAreSharedBetweenNodesAndDeliveredInOrder) {
  REQUIRE_REDIS_SERVER();
  const auto options = optionsFor(*shared().server, freshPrefix());
  auto a = connectOrFail(options);
  auto b = connectOrFail(options);
  ASSERT_TRUE(a && b);
  Inbox inboxA;
  Inbox inboxB;
  inboxA.subscribe(*a);
  inboxB.subscribe(*b);

  auto json = [](const std::string& node, int i) {
    return [node, i](std::uint64_t seq) {
      return "{\"seq\":" + std::to_string(seq) + ",\"node\":\"" + node + "\",\"i\":" + std::to_string(i) + "}";
    };
  };
  auto first = a->appendEvent(json("a", 0));
  ASSERT_TRUE(first) << first.error().message;
  auto second = b->appendEvent(json("b", 0));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->seq, first->seq + 1);
  EXPECT_EQ(second->json, "{\"seq\":" + std::to_string(second->seq) + ",\"node\":\"b\",\"i\":0}");

  // Both nodes append from several threads at once: every subscriber sees one gap-free sequence, in order.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::latch go(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& node = t % 2 == 0 ? *a : *b;
      go.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        auto e = node.appendEvent(json(t % 2 == 0 ? "a" : "b", t * 100 + i + 1));
        ASSERT_TRUE(e) << e.error().message;
        // The JSON returned is the one built for the number the event got.
        ASSERT_NE(e->json.find("\"seq\":" + std::to_string(e->seq) + ","), std::string::npos);
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::size_t total = 2 + kThreads * kPerThread;
  for (Inbox* inbox : {&inboxA, &inboxB}) {
    ASSERT_TRUE(inbox->waitFor([&] { return inbox->events.size() >= total; }));
    std::lock_guard lock(inbox->mutex);
    ASSERT_EQ(inbox->events.size(), total);
    for (std::size_t i = 0; i < total; ++i) {
      ASSERT_EQ(inbox->events[i].seq, first->seq + i);
      ASSERT_NE(inbox->events[i].json.find("\"seq\":" + std::to_string(first->seq + i) + ","), std::string::npos);
    }
  }
  // The history is shared too.
  auto replay = a->eventsAfter(first->seq);
  ASSERT_TRUE(replay);
  EXPECT_TRUE(replay->complete);
  ASSERT_EQ(replay->events.size(), total - 1);
  EXPECT_EQ(replay->events.front().json, second->json);

  ASSERT_TRUE(a->publishInternal("{\"kind\":\"end-session\"}"));
  ASSERT_TRUE(inboxB.waitFor([&] { return !inboxB.internal.empty(); }));
  EXPECT_EQ(inboxB.internal.front(), "{\"kind\":\"end-session\"}");
  a->stopSubscribers();
  b->stopSubscribers();
}

TEST(RedisStore, HistoryIsBoundedAndReplayReportsTheGap) {
  REQUIRE_REDIS_SERVER();
  auto options = optionsFor(*shared().server, freshPrefix());
  options.historyLimit = 3;
  auto store = connectOrFail(options);
  ASSERT_TRUE(store);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->appendEvent([](std::uint64_t seq) { return "{\"seq\":" + std::to_string(seq) + "}"; }));
  }
  auto r = store->eventsAfter(2);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->complete);  // 3..7 were dropped
  ASSERT_EQ(r->events.size(), 3U);
  EXPECT_EQ(r->events[0].seq, 8U);
  EXPECT_EQ(r->events[0].json, "{\"seq\":8}");
  auto ok = store->eventsAfter(7);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->complete);
  EXPECT_EQ(ok->events.size(), 3U);
  EXPECT_TRUE(store->eventsAfter(10)->complete);
}

TEST(RedisStore, PasswordIsRequiredAndNeverReported) {
  if (findRedisServer().empty()) GTEST_SKIP() << "redis-server is not installed; Redis tests skipped";
  const std::string password = "correct-horse-battery-staple";
  std::string why;
  auto server = RedisServer::start({password, 0}, &why);
  ASSERT_TRUE(server) << why;

  auto good = connectOrFail(optionsFor(*server, "auth:"));
  ASSERT_TRUE(good);
  ASSERT_TRUE(good->addStage(stage("show", "s1")));
  EXPECT_EQ(*good->viewerCount("s1"), 0U);

  auto options = optionsFor(*server, "auth:");
  options.password = "wrong-password-4711";
  auto wrong = RedisStore::connect(options);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, "STORE_UNAVAILABLE");
  EXPECT_EQ(wrong.error().message.find(options.password), std::string::npos) << wrong.error().message;
  EXPECT_EQ(wrong.error().message.find(password), std::string::npos) << wrong.error().message;

  options.password.clear();
  auto none = RedisStore::connect(options);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, "STORE_UNAVAILABLE");
}

TEST(RedisStore, ReconnectsAndResubscribesAfterRedisRestarts) {
  if (findRedisServer().empty()) GTEST_SKIP() << "redis-server is not installed; Redis tests skipped";
  std::string why;
  auto server = RedisServer::start({}, &why);
  ASSERT_TRUE(server) << why;
  const std::uint16_t port = server->port();
  auto store = connectOrFail(optionsFor(*server, "restart:"));
  ASSERT_TRUE(store);
  Inbox inbox;
  inbox.subscribe(*store);
  ASSERT_TRUE(store->appendEvent([](std::uint64_t) { return "{\"before\":true}"; }));
  ASSERT_TRUE(inbox.waitFor([&] { return inbox.events.size() == 1; }));
  // Several pooled connections, all of which the restart breaks.
  {
    std::vector<std::thread> threads;
    std::latch go(4);
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        go.arrive_and_wait();
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(store->viewerCount("s1"));
      });
    }
    for (auto& t : threads) t.join();
  }

  // Restarted while idle: the very next call works.
  server->kill();
  server = RedisServer::start({"", port}, &why);
  ASSERT_TRUE(server) << why;
  auto added = store->addStage(stage("show", "s1"));
  ASSERT_TRUE(added) << added.error().message;

  // Down while called: the call fails, the first one after the restart works.
  server->kill();
  auto down = store->viewerCount("s1");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, "STORE_UNAVAILABLE");
  EXPECT_NE(down.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos);
  server = RedisServer::start({"", port}, &why);
  ASSERT_TRUE(server) << why;
  auto count = store->viewerCount("s1");
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(*count, 0U);  // the data went with the server (no persistence)

  // The subscriber thread resubscribes on its own; until it has, published events are not delivered, so keep
  // appending (each wait is for a delivery, bounded) until one arrives.
  const auto deadline = SteadyClock::now() + seconds(20);
  bool delivered = false;
  for (int i = 0; !delivered && SteadyClock::now() < deadline; ++i) {
    const std::string marker = "{\"after\":" + std::to_string(i) + "}";
    auto e = store->appendEvent([&](std::uint64_t) { return marker; });
    ASSERT_TRUE(e) << e.error().message;
    delivered = inbox.waitFor(
        [&] {
          return std::any_of(inbox.events.begin(), inbox.events.end(),
                             [&](const Event& got) { return got.json == marker && got.seq == e->seq; });
        },
        milliseconds(200));
  }
  EXPECT_TRUE(delivered);
  store->stopSubscribers();
}

TEST(RedisStore, StoppingSubscribersDoesNotHangWhileRedisIsDown) {
  if (findRedisServer().empty()) GTEST_SKIP() << "redis-server is not installed; Redis tests skipped";
  std::string why;
  auto server = RedisServer::start({}, &why);
  ASSERT_TRUE(server) << why;
  auto store = connectOrFail(optionsFor(*server, "stop:"));
  ASSERT_TRUE(store);
  Inbox inbox;
  inbox.subscribe(*store);
  server->kill();
  const auto started = SteadyClock::now();
  store->stopSubscribers();
  EXPECT_LT(SteadyClock::now() - started, seconds(3));
  // Subscribing while Redis is down returns too (the thread keeps trying), and so does stopping it.
  inbox.subscribe(*store);
  store->stopSubscribers();
  EXPECT_LT(SteadyClock::now() - started, seconds(6));
}

TEST(RedisStore, ClosedPortIsUnavailableQuickly) {
  RedisOptions options;
  options.port = freeLocalPort();
  ASSERT_NE(options.port, 0);
  options.password = "never-shown-0815";
  const auto started = SteadyClock::now();
  auto store = RedisStore::connect(options);
  const auto elapsed = SteadyClock::now() - started;
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, "STORE_UNAVAILABLE");
  EXPECT_NE(store.error().message.find("127.0.0.1:" + std::to_string(options.port)), std::string::npos)
      << store.error().message;
  EXPECT_EQ(store.error().message.find(options.password), std::string::npos);
  EXPECT_LT(elapsed, milliseconds(1000));
}

}  // namespace
}  // namespace stagecast::control::testing
