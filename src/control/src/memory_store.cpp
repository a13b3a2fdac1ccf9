#include "stagecast/control/memory_store.hpp"

#include <algorithm>

namespace stagecast::control {

Status MemoryStore::addStage(const StageRecord& stage) {
  std::lock_guard lock(mutex_);
  if (stages_.count(stage.stageId) != 0) return Error("STAGE_EXISTS", "stage " + stage.stageId + " already exists");
  stages_[stage.stageId].record = stage;
  channels_[stage.channelId].push_back(stage.stageId);
  return {};
}

Result<bool> MemoryStore::removeStageIfEmpty(const std::string& channelId, const std::string& stageId,
                                             std::size_t minStages) {
  std::lock_guard lock(mutex_);
  auto it = stages_.find(stageId);
  if (it == stages_.end() || it->second.record.channelId != channelId || !it->second.viewers.empty()) return false;
  auto& list = channels_[channelId];
  if (list.size() <= minStages) return false;
  std::erase(list, stageId);
  if (list.empty()) channels_.erase(channelId);
  stages_.erase(it);
  return true;
}

Result<std::vector<StageRecord>> MemoryStore::stages(const std::string& channelId) {
  std::lock_guard lock(mutex_);
  std::vector<StageRecord> out;
  if (auto it = channels_.find(channelId); it != channels_.end()) {
    for (const auto& id : it->second) out.push_back(stages_.at(id).record);
  }
  return out;
}

Result<std::optional<StageRecord>> MemoryStore::findStage(const std::string& stageId) {
  std::lock_guard lock(mutex_);
  auto it = stages_.find(stageId);
  if (it == stages_.end()) return std::optional<StageRecord>{};
  return std::optional<StageRecord>{it->second.record};
}

Result<std::vector<std::string>> MemoryStore::channels() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [id, list] : channels_) out.push_back(id);
  return out;
}

Result<PlaceResult> MemoryStore::placeViewer(const ViewerRecord& viewer, std::size_t capacity) {
  std::lock_guard lock(mutex_);
  auto it = stages_.find(viewer.stageId);
  if (it == stages_.end()) return PlaceResult::NoSuchStage;
  auto& viewers = it->second.viewers;
  if (auto v = viewers.find(viewer.userId); v != viewers.end()) {
    v->second = viewer;
    return PlaceResult::AlreadyPresent;
  }
  if (viewers.size() >= capacity) return PlaceResult::Full;
  viewers.emplace(viewer.userId, viewer);
  return PlaceResult::Added;
}

Result<bool> MemoryStore::touchViewer(const std::string& stageId, const std::string& userId,
                                      std::int64_t expiresAtMs) {
  std::lock_guard lock(mutex_);
  auto it = stages_.find(stageId);
  if (it == stages_.end()) return false;
  auto v = it->second.viewers.find(userId);
  if (v == it->second.viewers.end()) return false;
  v->second.expiresAtMs = expiresAtMs;
  return true;
}

Result<std::optional<ViewerRecord>> MemoryStore::removeViewer(const std::string& stageId, const std::string& userId) {
  std::lock_guard lock(mutex_);
  auto it = stages_.find(stageId);
  if (it == stages_.end()) return std::optional<ViewerRecord>{};
  auto v = it->second.viewers.find(userId);
  if (v == it->second.viewers.end()) return std::optional<ViewerRecord>{};
  ViewerRecord out = v->second;
  it->second.viewers.erase(v);
  return std::optional<ViewerRecord>{out};
}

Result<std::vector<ViewerRecord>> MemoryStore::expireViewers(const std::string& stageId, std::int64_t nowMs) {
  std::lock_guard lock(mutex_);
  std::vector<ViewerRecord> out;
  auto it = stages_.find(stageId);
  if (it == stages_.end()) return out;
  auto& viewers = it->second.viewers;
  for (auto v = viewers.begin(); v != viewers.end();) {
    if (v->second.expiresAtMs <= nowMs) {
      out.push_back(v->second);
      v = viewers.erase(v);
    } else {
      ++v;
    }
  }
  return out;
}

Result<std::optional<ViewerRecord>> MemoryStore::findViewer(const std::string& stageId, const std::string& userId) {
  std::lock_guard lock(mutex_);
  auto it = stages_.find(stageId);
  if (it == stages_.end()) return std::optional<ViewerRecord>{};
  auto v = it->second.viewers.find(userId);
  if (v == it->second.viewers.end()) return std::optional<ViewerRecord>{};
  return std::optional<ViewerRecord>{v->second};
}

Result<std::size_t> MemoryStore::viewerCount(const std::string& stageId) {
  std::lock_guard lock(mutex_);
  auto it = stages_.find(stageId);
  return it == stages_.end() ? std::size_t{0} : it->second.viewers.size();
}

Status MemoryStore::upsertMediaNode(const MediaNodeRecord& node) {
  std::lock_guard lock(mutex_);
  nodes_[node.serverId] = node;
  return {};
}

Result<bool> MemoryStore::touchMediaNode(const std::string& serverId, std::int64_t expiresAtMs) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(serverId);
  if (it == nodes_.end()) return false;
  it->second.expiresAtMs = expiresAtMs;
  return true;
}

Status MemoryStore::setOrigin(const OriginRecord& origin) {
  std::lock_guard lock(mutex_);
  origins_[origin.channelId] = origin;
  return {};
}

Result<bool> MemoryStore::clearOrigin(const std::string& channelId, const std::string& nodeId) {
  std::lock_guard lock(mutex_);
  auto it = origins_.find(channelId);
  if (it == origins_.end() || it->second.nodeId != nodeId) return false;
  origins_.erase(it);
  return true;
}

Result<std::optional<OriginRecord>> MemoryStore::origin(const std::string& channelId, std::int64_t nowMs) {
  std::lock_guard lock(mutex_);
  auto it = origins_.find(channelId);
  if (it == origins_.end()) return std::optional<OriginRecord>{};
  if (it->second.expiresAtMs <= nowMs) {
    origins_.erase(it);
    return std::optional<OriginRecord>{};
  }
  return std::optional<OriginRecord>{it->second};
}

Result<std::vector<MediaNodeRecord>> MemoryStore::mediaNodes(std::int64_t nowMs) {
  std::lock_guard lock(mutex_);
  std::vector<MediaNodeRecord> out;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second.expiresAtMs <= nowMs) {
      it = nodes_.erase(it);
    } else {
      out.push_back(it->second);
      ++it;
    }
  }
  return out;
}

Result<Event> MemoryStore::appendEvent(const std::function<std::string(std::uint64_t seq)>& buildJson) {
  // Held across numbering and delivery, so subscribers see events in sequence order.
  std::lock_guard deliver(subscribersMutex_);
  Event e;
  {
    std::lock_guard lock(mutex_);
    e.seq = ++seq_;
    e.json = buildJson(e.seq);
    history_.push_back(e);
    while (history_.size() > historyLimit_) history_.pop_front();
  }
  if (onEvent_) onEvent_(e);
  return e;
}

Result<Store::Replay> MemoryStore::eventsAfter(std::uint64_t afterSeq) {
  std::lock_guard lock(mutex_);
  Replay r;
  for (const auto& e : history_) {
    if (e.seq > afterSeq) r.events.push_back(e);
  }
  // Complete when the oldest kept event directly follows afterSeq, or nothing newer was ever dropped.
  const std::uint64_t oldestKept = history_.empty() ? seq_ + 1 : history_.front().seq;
  r.complete = afterSeq + 1 >= oldestKept;
  return r;
}

Status MemoryStore::publishInternal(const std::string& json) {
  std::lock_guard lock(subscribersMutex_);
  if (onInternal_) onInternal_(json);
  return {};
}

void MemoryStore::setSubscribers(EventFn onEvent, InternalFn onInternal) {
  std::lock_guard lock(subscribersMutex_);
  onEvent_ = std::move(onEvent);
  onInternal_ = std::move(onInternal);
}

void MemoryStore::stopSubscribers() {
  std::lock_guard lock(subscribersMutex_);
  onEvent_ = nullptr;
  onInternal_ = nullptr;
}

}  // namespace stagecast::control
