#pragma once
// The multi-node store: every node of a deployment connects to the same Redis server, which holds the shared
// state. Deciding operations run as Lua scripts, so they are atomic across nodes. Operations are synchronous and
// may be called from any number of threads: each call borrows a connection from a small pool (a new one is made
// when none is idle). A connection that failed is dropped, so the next call reconnects. Subscribers run on a
// dedicated thread with its own connection, which resubscribes (with backoff) after Redis restarts.
//
// Errors: STORE_UNAVAILABLE when Redis cannot be reached or answers with an error (the message never contains
// the password).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stagecast/control/store.hpp"

struct redisContext;
struct redisReply;

namespace stagecast::control {

struct RedisOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;                     // empty: no AUTH
  std::string keyPrefix = "stagecast:";     // every key and pub/sub channel starts with it
  std::size_t historyLimit = 1000;          // notifications kept for replay
  std::chrono::milliseconds timeout{2000};  // connect, and each read or write; not positive: the default
};

class RedisStore final : public Store {
 public:
  // Connects once (checking the address and the password) and loads the scripts.
  static Result<std::unique_ptr<RedisStore>> connect(RedisOptions options);
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  Status addStage(const StageRecord& stage) override;
  Result<bool> removeStageIfEmpty(const std::string& channelId, const std::string& stageId,
                                  std::size_t minStages) override;
  Result<std::vector<StageRecord>> stages(const std::string& channelId) override;
  Result<std::optional<StageRecord>> findStage(const std::string& stageId) override;
  Result<std::vector<std::string>> channels() override;

  Result<PlaceResult> placeViewer(const ViewerRecord& viewer, std::size_t capacity) override;
  Result<bool> touchViewer(const std::string& stageId, const std::string& userId, std::int64_t expiresAtMs) override;
  Result<std::optional<ViewerRecord>> removeViewer(const std::string& stageId, const std::string& userId) override;
  Result<std::vector<ViewerRecord>> expireViewers(const std::string& stageId, std::int64_t nowMs) override;
  Result<std::optional<ViewerRecord>> findViewer(const std::string& stageId, const std::string& userId) override;
  Result<std::size_t> viewerCount(const std::string& stageId) override;

  Status upsertMediaNode(const MediaNodeRecord& node) override;
  Result<bool> touchMediaNode(const std::string& serverId, std::int64_t expiresAtMs) override;
  Result<std::vector<MediaNodeRecord>> mediaNodes(std::int64_t nowMs) override;

  Status setOrigin(const OriginRecord& origin) override;
  Result<bool> clearOrigin(const std::string& channelId, const std::string& nodeId) override;
  Result<std::optional<OriginRecord>> origin(const std::string& channelId, std::int64_t nowMs) override;

  // buildJson may be called more than once: the sequence number is claimed optimistically, and when another node
  // took it first the event is built again with the next one (see redis_store.cpp).
  Result<Event> appendEvent(const std::function<std::string(std::uint64_t seq)>& buildJson) override;
  Result<Replay> eventsAfter(std::uint64_t afterSeq) override;
  Status publishInternal(const std::string& json) override;
  // Returns once the subscription is active (or its first attempt failed; the thread keeps retrying).
  void setSubscribers(EventFn onEvent, InternalFn onInternal) override;
  // Stops and joins the subscriber thread; no callback runs after it returns. Must not be called from a callback.
  void stopSubscribers() override;

 private:
  struct ContextDeleter {
    void operator()(redisContext* c) const;
  };
  using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
  class Lease;

  RedisStore(RedisOptions options, int wakeFd);
  Result<ContextPtr> open() const;  // connect, set timeouts, AUTH
  Result<Lease> acquire();
  void release(ContextPtr context, bool broken);
  std::string key(const std::string& kind, const std::string& id = {}) const;
  Error unavailable(const std::string& what) const;  // STORE_UNAVAILABLE naming the server, password redacted

  // Subscriber thread.
  void runSubscriber();
  Result<ContextPtr> openSubscription();
  void pumpSubscription(redisContext* c);
  void deliver(const redisReply* message);
  void stopSubscriberThread();

  const RedisOptions options_;
  std::vector<std::string> scriptShas_;  // by script index; fixed after connect()

  std::mutex poolMutex_;
  std::vector<ContextPtr> idle_;

  std::mutex appendMutex_;     // one appendEvent at a time per node
  std::uint64_t lastSeq_ = 0;  // guess of the current sequence number; guarded by appendMutex_

  std::mutex subscriberControl_;  // serializes setSubscribers / stopSubscribers
  std::thread subscriber_;
  const int wakeFd_;  // eventfd: wakes the subscriber thread when it must stop
  std::atomic<bool> stopping_{false};
  std::mutex stateMutex_;
  std::condition_variable stateChanged_;
  bool firstAttempt_ = false;  // guarded by stateMutex_: the first subscription attempt finished
  EventFn onEvent_;            // only touched by the subscriber thread while it runs
  InternalFn onInternal_;
};

}  // namespace stagecast::control
