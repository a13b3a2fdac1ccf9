#pragma once
#include <map>
#include <mutex>
#include <optional>

#include "stagecast/control/channel_service.hpp"
#include "stagecast/control/memory_store.hpp"
#include "store_conformance.hpp"

namespace stagecast::control::testing {

class FakeMediaPlane final : public MediaPlane {
 public:
  void stageCreated(const StageRecord& s) override {
    std::lock_guard lock(mu);
    created.push_back(s.stageId);
  }
  void stageDeleted(const StageRecord& s) override {
    std::lock_guard lock(mu);
    deleted.push_back(s.stageId);
  }
  void endSession(const std::string& stageId, const std::string& sessionId) override {
    std::lock_guard lock(mu);
    ended.emplace_back(stageId, sessionId);
  }
  void channelFeed(const std::string& channelId, const std::optional<OriginRecord>& remote) override {
    std::lock_guard lock(mu);
    feeds[channelId] = remote;
  }
  // The node the channel's broadcast was last pulled from ("" for none).
  std::string feedOf(const std::string& channelId) {
    std::lock_guard lock(mu);
    auto it = feeds.find(channelId);
    return it == feeds.end() || !it->second ? std::string() : it->second->nodeId + " " + it->second->url;
  }
  std::mutex mu;
  std::map<std::string, std::optional<OriginRecord>> feeds;
  std::vector<std::string> created;
  std::vector<std::string> deleted;
  std::vector<std::pair<std::string, std::string>> ended;
};

class EventLog {
 public:
  void add(const Event& e) {
    std::lock_guard lock(mu_);
    events_.push_back(e);
  }
  std::vector<Event> all() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    events_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
};

class ChannelServiceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store = GetParam().make();
    if (!store) GTEST_SKIP() << GetParam().name << " store is not available";
    ControlConfig cfg;
    cfg.stageCapacity = 3;
    service = std::make_unique<ChannelService>(cfg, *store, signer, media, clock);
    service->setEventSink([this](const Event& e) { sink.add(e); });
    auto st = service->start();
    ASSERT_TRUE(st) << st.error().message;
  }
  void TearDown() override {
    if (service) service->stop();
  }

  static auth::SigningKey makeKey() { return auth::SigningKey::generate().value(); }

  auth::SigningKey key = makeKey();
  auth::TokenSigner signer{key};
  ManualWallClock clock;
  FakeMediaPlane media;
  EventLog sink;
  std::unique_ptr<Store> store;
  std::unique_ptr<ChannelService> service;
};

}  // namespace stagecast::control::testing
