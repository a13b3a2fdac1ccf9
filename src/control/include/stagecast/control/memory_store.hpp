#pragma once
// The single-node store: everything in process memory behind one mutex (adaptive: heartbeats from several HTTP
// loops take it briefly and often). Subscribers are called synchronously
// from appendEvent / publishInternal (after the mutex is released).
#include <deque>
#include <map>
#include <mutex>

#include "stagecast/common/adaptive_mutex.hpp"
#include "stagecast/control/store.hpp"

namespace stagecast::control {

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(std::size_t historyLimit = 1000) : historyLimit_(historyLimit) {}

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

  Result<Event> appendEvent(const std::function<std::string(std::uint64_t seq)>& buildJson) override;
  Result<Replay> eventsAfter(std::uint64_t afterSeq) override;
  Status publishInternal(const std::string& json) override;
  void setSubscribers(EventFn onEvent, InternalFn onInternal) override;
  void stopSubscribers() override;

 private:
  struct StageState {
    StageRecord record;
    std::map<std::string, ViewerRecord> viewers;  // by userId
  };
  AdaptiveMutex mutex_;
  std::map<std::string, StageState> stages_;                 // by stageId
  std::map<std::string, std::vector<std::string>> channels_;  // channelId -> stageIds, oldest first
  std::map<std::string, MediaNodeRecord> nodes_;
  std::map<std::string, OriginRecord> origins_;  // by channelId
  std::size_t historyLimit_;
  std::deque<Event> history_;
  std::uint64_t seq_ = 0;
  std::mutex subscribersMutex_;  // held while delivering, so stopSubscribers() waits for deliveries in flight
  EventFn onEvent_;
  InternalFn onInternal_;
};

}  // namespace stagecast::control
