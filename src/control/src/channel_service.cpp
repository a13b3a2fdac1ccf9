#include "stagecast/control/channel_service.hpp"

#include <algorithm>
#include <ctime>

#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"

namespace stagecast::control {

using nlohmann::json;

std::int64_t SystemWallClock::nowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool validId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string isoTimestamp(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

namespace {

Error invalid(const std::string& field, const std::string& why) {
  return Error("INVALID_REQUEST", field + ": " + why);
}

Status validUser(const std::string& userId) {
  if (userId.empty()) return invalid("userId", "is required");
  if (userId.size() > 128) return invalid("userId", "must be at most 128 characters");
  for (unsigned char c : userId) {
    if (c < 0x20 || c == 0x7f) return invalid("userId", "must not contain control characters");
  }
  return {};
}

}  // namespace

ChannelService::ChannelService(ControlConfig config, Store& store, const auth::TokenSigner& signer,
                               MediaPlane& media, const WallClock& clock)
    : config_(std::move(config)), store_(store), signer_(signer), media_(media), clock_(clock) {
  if (config_.stageCapacity == 0) config_.stageCapacity = 1;
}

ChannelService::~ChannelService() { stop(); }

template <class T>
Result<T> ChannelService::storeResult(Result<T> r) {
  if (!r) {
    std::lock_guard lock(mutex_);
    ++counters_.storeErrors;
  }
  return r;
}

Status ChannelService::start() {
  store_.setSubscribers(
      [this](const Event& e) {
        std::function<void(const Event&)> sink;
        {
          std::lock_guard lock(mutex_);
          sink = eventSink_;
        }
        if (sink) sink(e);
      },
      [this](const std::string& j) { onInternal(j); });
  for (const auto& c : config_.channels) {
    if (!validId(c)) return Error("CONFIG_INVALID", "channel id '" + c + "' must be 1-64 of [A-Za-z0-9_-]");
    auto stages = storeResult(store_.stages(c));
    if (!stages) return stages.error();
    for (std::size_t i = stages->size(); i < std::max<std::size_t>(config_.minStages, 1); ++i) {
      auto s = createStage(c);
      if (!s) return s.error();
    }
  }
  sweep();
  return {};
}

void ChannelService::stop() { store_.stopSubscribers(); }

void ChannelService::setEventSink(std::function<void(const Event&)> sink) {
  std::lock_guard lock(mutex_);
  eventSink_ = std::move(sink);
}

std::optional<std::string> ChannelService::stageIdFromArn(const std::string& stageArn) const {
  std::string id = stageArn;
  if (auto slash = stageArn.rfind('/'); slash != std::string::npos) {
    if (stageArn.rfind(config_.arnPrefix, 0) != 0) return std::nullopt;
    id = stageArn.substr(slash + 1);
  }
  if (!validId(id)) return std::nullopt;
  return id;
}

std::string ChannelService::whipUrl(const std::string& id) const { return config_.publicBaseUrl + "/whip/" + id; }
std::string ChannelService::whepUrl(const std::string& stageId) const {
  return config_.publicBaseUrl + "/whep/" + stageId;
}

Result<std::optional<StageRecord>> ChannelService::stageWatchedBy(const std::vector<StageRecord>& stages,
                                                                  const std::string& userId,
                                                                  const std::string& exceptStageId) {
  for (const auto& s : stages) {
    if (s.stageId == exceptStageId) continue;
    auto v = storeResult(store_.findViewer(s.stageId, userId));
    if (!v) return v.error();
    if (v->has_value()) return std::optional<StageRecord>(s);
  }
  return std::optional<StageRecord>();
}

Result<StageRecord> ChannelService::resolveStage(const std::string& stageArn) {
  if (stageArn.empty()) return invalid("stageArn", "is required");
  auto id = stageIdFromArn(stageArn);
  if (!id) return invalid("stageArn", "is not a stage ARN or stage id");
  auto found = storeResult(store_.findStage(*id));
  if (!found) return found.error();
  if (!found->has_value()) return Error("STAGE_NOT_FOUND", "no stage '" + stageArn + "'");
  const StageRecord& s = **found;
  if (stageArn.find('/') != std::string::npos && s.stageArn != stageArn) {
    return Error("STAGE_NOT_FOUND", "no stage '" + stageArn + "'");
  }
  return s;
}

Result<StageRecord> ChannelService::createStage(const std::string& channelId) {
  StageRecord s;
  s.channelId = channelId;
  s.createdAtMs = clock_.nowMs();
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::uint32_t r = crypto::randomU32();
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", r);
    s.stageId = channelId.substr(0, 55) + "-" + hex;
    s.stageArn = config_.arnPrefix + channelId + "/" + s.stageId;
    auto added = storeResult(store_.addStage(s));
    if (added) break;
    if (added.error().code != "STAGE_EXISTS" || attempt == 4) return added.error();
  }
  {
    std::lock_guard lock(mutex_);
    ++counters_.stagesCreated;
    localStages_[s.stageId] = s;
  }
  media_.stageCreated(s);
  spdlog::info("channel {}: stage {} created", channelId, s.stageId);
  emitStageEvent("stage_created", s);
  markDirty(channelId);
  return s;
}

void ChannelService::emitStageEvent(const char* type, const StageRecord& stage) {
  const std::string ts = isoTimestamp(clock_.nowMs());
  auto r = store_.appendEvent([&](std::uint64_t seq) {
    return json{{"seq", seq},
                {"type", type},
                {"channelId", stage.channelId},
                {"stageArn", stage.stageArn},
                {"stageId", stage.stageId},
                {"timestamp", ts}}
        .dump();
  });
  if (!r) spdlog::warn("notification {} not stored: {}", type, r.error().message);
}

void ChannelService::markDirty(const std::string& channelId) {
  std::lock_guard lock(mutex_);
  dirty_.insert(channelId);
}

Result<std::string> ChannelService::sign(const StageRecord* stage, const std::string& topic, const std::string& userId,
                                         const std::string& participantId, auth::Capabilities caps,
                                         std::chrono::seconds ttl, const json& attributes, std::int64_t nowMs) {
  auth::Claims c;
  c.jti = participantId;
  c.resource = stage != nullptr ? stage->stageArn : config_.arnPrefix + topic;
  c.topic = topic;
  c.userId = userId;
  c.attributes = attributes.is_object() ? attributes : json::object();
  c.capabilities = caps;
  c.whipUrl = caps.allowPublish ? whipUrl(topic) : whepUrl(topic);
  c.version = 1;
  c.iat = nowMs / 1000;
  c.exp = c.iat + ttl.count();
  auto t = signer_.sign(c);
  if (!t) {
    if (t.error().code == "ATTRIBUTES_TOO_LARGE") return invalid("attributes", t.error().message);
    return Error("TOKEN_FAILED", t.error().message);
  }
  std::lock_guard lock(mutex_);
  ++counters_.tokensIssued;
  return t;
}

Result<ViewerJoin> ChannelService::joinViewer(const std::string& userId, const std::string& channelIdIn,
                                              const json& attributes) {
  if (auto v = validUser(userId); !v) return v.error();
  const std::string channelId = channelIdIn.empty() ? config_.defaultChannel : channelIdIn;
  if (!validId(channelId)) return invalid("channelId", "must be 1-64 of [A-Za-z0-9_-]");
  if (!attributes.is_object()) return invalid("attributes", "must be an object");
  if (attributes.dump().size() > auth::kMaxAttributesSize) return invalid("attributes", "must be at most 1 KB");
  const std::int64_t now = clock_.nowMs();
  const std::string participantId = crypto::randomId(16);

  auto stages = storeResult(store_.stages(channelId));
  if (!stages) return stages.error();
  if (stages->empty() &&
      std::find(config_.channels.begin(), config_.channels.end(), channelId) == config_.channels.end()) {
    return Error("CHANNEL_NOT_FOUND", "no channel '" + channelId + "'");
  }
  ViewerRecord rec{"", userId, participantId, now + config_.viewerTimeout.count()};
  std::optional<StageRecord> placed;
  bool added = false;
  // A user who already watches a stage of this channel stays there (never counted in two stages).
  auto watched = stageWatchedBy(*stages, userId);
  if (!watched) return watched.error();
  if (*watched) {
    rec.stageId = (*watched)->stageId;
    auto r = storeResult(store_.placeViewer(rec, config_.stageCapacity));
    if (!r) return r.error();
    if (*r == PlaceResult::Added || *r == PlaceResult::AlreadyPresent) {
      placed = *watched;
      added = *r == PlaceResult::Added;
    }
  }
  for (std::size_t i = 0; !placed && i < stages->size(); ++i) {
    rec.stageId = (*stages)[i].stageId;
    auto r = storeResult(store_.placeViewer(rec, config_.stageCapacity));
    if (!r) return r.error();
    if (*r == PlaceResult::Added || *r == PlaceResult::AlreadyPresent) {
      placed = (*stages)[i];
      added = *r == PlaceResult::Added;
    }
  }
  // Every stage is full (or there is none yet): scale up. Another node may be doing the same; both stages
  // then have room, which is harmless.
  for (int attempt = 0; !placed && attempt < 3; ++attempt) {
    auto s = createStage(channelId);
    if (!s) return s.error();
    rec.stageId = s->stageId;
    auto r = storeResult(store_.placeViewer(rec, config_.stageCapacity));
    if (!r) return r.error();
    if (*r == PlaceResult::Added || *r == PlaceResult::AlreadyPresent) {
      placed = *s;
      added = *r == PlaceResult::Added;
    }
  }
  if (!placed) return Error("STAGE_FULL", "no stage of channel '" + channelId + "' has room");

  auto token = sign(&*placed, placed->stageId, userId, participantId, {false, true}, config_.viewerTokenTtl,
                    attributes, now);
  if (!token) {
    // Do not keep a place for a viewer who got no token.
    if (added) (void)store_.removeViewer(placed->stageId, userId);
    return token.error();
  }
  auto count = storeResult(store_.viewerCount(placed->stageId));
  ViewerJoin j;
  j.token = std::move(token).value();
  j.participantId = participantId;
  j.userId = userId;
  j.stageArn = placed->stageArn;
  j.stageId = placed->stageId;
  j.channelId = channelId;
  j.whepUrl = whepUrl(placed->stageId);
  j.expiresInSeconds = config_.viewerTokenTtl.count();
  j.expiresAtMs = (now / 1000 + j.expiresInSeconds) * 1000;
  j.currentViewers = count ? *count : 0;
  {
    std::lock_guard lock(mutex_);
    ++counters_.viewerJoins;
    emptySince_.erase(placed->stageId);
  }
  if (added) markDirty(channelId);
  return j;
}

Result<std::size_t> ChannelService::rejoin(const std::string& userId, const std::string& stageArn,
                                           const std::string& participantId) {
  if (auto v = validUser(userId); !v) return v.error();
  if (participantId.empty() || participantId.size() > 128) return invalid("participantId", "is required");
  auto stage = resolveStage(stageArn);
  if (!stage) return stage.error();
  // As with a join, a user is counted in one stage of a channel at most: one already watching another stage
  // (say from a second page that joined while this one was away) is sent for a new viewer token, which places
  // it in the stage it watches.
  auto stages = storeResult(store_.stages(stage->channelId));
  if (!stages) return stages.error();
  auto watched = stageWatchedBy(*stages, userId, stage->stageId);
  if (!watched) return watched.error();
  if (*watched) {
    return Error("VIEWER_IN_OTHER_STAGE", "user already watches stage '" + (*watched)->stageArn +
                                              "' of this channel; ask for a new viewer token");
  }
  ViewerRecord rec{stage->stageId, userId, participantId, clock_.nowMs() + config_.viewerTimeout.count()};
  auto r = storeResult(store_.placeViewer(rec, config_.stageCapacity));
  if (!r) return r.error();
  if (*r == PlaceResult::NoSuchStage) return Error("STAGE_NOT_FOUND", "no stage '" + stageArn + "'");
  if (*r == PlaceResult::Full) return Error("STAGE_FULL", "stage is full; ask for a new viewer token");
  {
    std::lock_guard lock(mutex_);
    ++counters_.viewerRejoins;
    emptySince_.erase(stage->stageId);
  }
  if (*r == PlaceResult::Added) markDirty(stage->channelId);
  auto count = storeResult(store_.viewerCount(stage->stageId));
  if (!count) return count.error();
  return *count;
}

Result<std::size_t> ChannelService::heartbeat(const std::string& userId, const std::string& stageArn) {
  if (auto v = validUser(userId); !v) return v.error();
  auto id = stageArn.empty() ? std::nullopt : stageIdFromArn(stageArn);
  if (!id) return invalid("stageArn", stageArn.empty() ? "is required" : "is not a stage ARN or stage id");
  // The hot path: one store operation. A stage that does not exist has no viewers either.
  auto touched = storeResult(store_.touchViewer(*id, userId, clock_.nowMs() + config_.viewerTimeout.count()));
  if (!touched) return touched.error();
  if (!*touched) return Error("VIEWER_NOT_FOUND", "user is not watching this stage; rejoin");
  heartbeats_.fetch_add(1, std::memory_order_relaxed);  // the hot path takes no lock of ours
  return std::size_t{1};
}

Result<std::size_t> ChannelService::leave(const std::string& userId, const std::string& stageArn) {
  if (auto v = validUser(userId); !v) return v.error();
  auto stage = resolveStage(stageArn);
  if (!stage) return stage.error();
  auto removed = storeResult(store_.removeViewer(stage->stageId, userId));
  if (!removed) return removed.error();
  if (removed->has_value()) {
    {
      std::lock_guard lock(mutex_);
      ++counters_.viewerLeaves;
    }
    viewerRemoved(**removed);
    markDirty(stage->channelId);
  }
  auto count = storeResult(store_.viewerCount(stage->stageId));
  if (!count) return count.error();
  return *count;
}

void ChannelService::viewerRemoved(const ViewerRecord& viewer) {
  // Every node ends the media sessions it holds for this viewer (this one included, through the store).
  auto st = store_.publishInternal(
      json{{"type", "viewer_removed"}, {"stageId", viewer.stageId}, {"userId", viewer.userId}}.dump());
  if (!st) spdlog::warn("viewer removal not propagated: {}", st.error().message);
}

void ChannelService::onInternal(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("type") || j["type"] != "viewer_removed") return;
  if (!j.contains("stageId") || !j["stageId"].is_string() || !j.contains("userId") || !j["userId"].is_string()) return;
  const std::string stageId = j["stageId"];
  const std::string userId = j["userId"];
  std::vector<std::string> ending;
  {
    std::lock_guard lock(mutex_);
    auto it = viewerSessions_.find(stageId);
    if (it == viewerSessions_.end()) return;
    for (auto s = it->second.begin(); s != it->second.end();) {
      if (s->second == userId) {
        ending.push_back(s->first);
        s = it->second.erase(s);
      } else {
        ++s;
      }
    }
    counters_.sessionsEndedForViewers += ending.size();
  }
  for (const auto& sid : ending) media_.endSession(stageId, sid);
}

void ChannelService::viewerSessionStarted(const std::string& stageId, const std::string& userId,
                                          const std::string& sessionId) {
  std::lock_guard lock(mutex_);
  viewerSessions_[stageId][sessionId] = userId;
}

void ChannelService::publisherSessionStarted(const std::string& stageId, const std::string& sessionId) {
  std::lock_guard lock(mutex_);
  if (localStages_.count(stageId) != 0) return;  // publishing into one stage stays on this node
  originSessions_[stageId] = sessionId;
  releasedOrigins_.erase(stageId);
}

void ChannelService::sessionEnded(const std::string& stageId, const std::string& sessionId) {
  std::lock_guard lock(mutex_);
  if (auto o = originSessions_.find(stageId); o != originSessions_.end() && o->second == sessionId) {
    originSessions_.erase(o);
    releasedOrigins_.insert(stageId);
  }
  auto it = viewerSessions_.find(stageId);
  if (it == viewerSessions_.end()) return;
  it->second.erase(sessionId);
  if (it->second.empty()) viewerSessions_.erase(it);
}

Result<ChannelView> ChannelService::channel(const std::string& channelId) {
  if (!validId(channelId)) return invalid("channelId", "must be 1-64 of [A-Za-z0-9_-]");
  auto stages = storeResult(store_.stages(channelId));
  if (!stages) return stages.error();
  if (stages->empty()) return Error("CHANNEL_NOT_FOUND", "no channel '" + channelId + "'");
  ChannelView v;
  v.channelId = channelId;
  v.whipUrl = whipUrl(channelId);
  for (const auto& s : *stages) {
    auto n = storeResult(store_.viewerCount(s.stageId));
    if (!n) return n.error();
    v.stages.push_back({s, *n, "", whipUrl(s.stageId), whepUrl(s.stageId)});
    v.total += *n;
  }
  return v;
}

Result<std::vector<std::string>> ChannelService::channels() { return storeResult(store_.channels()); }

Result<ChannelView> ChannelService::broadcasterStages(const std::string& channelIdIn) {
  const std::string channelId = channelIdIn.empty() ? config_.defaultChannel : channelIdIn;
  auto v = channel(channelId);
  if (!v) return v.error();
  const std::int64_t now = clock_.nowMs();
  for (auto& s : v->stages) {
    auto t = sign(&s.stage, s.stage.stageId, "broadcaster", crypto::randomId(16), {true, false},
                  config_.publishTokenTtl, json::object(), now);
    if (!t) return t.error();
    s.publishToken = std::move(t).value();
  }
  auto t = sign(nullptr, channelId, "broadcaster", crypto::randomId(16), {true, false}, config_.publishTokenTtl,
                json::object(), now);
  if (!t) return t.error();
  v->publishToken = std::move(t).value();
  return v;
}

Result<StageView> ChannelService::stageToken(const std::string& stageArn) {
  auto stage = resolveStage(stageArn);
  if (!stage) return stage.error();
  auto t = sign(&*stage, stage->stageId, "broadcaster", crypto::randomId(16), {true, false}, config_.publishTokenTtl,
                json::object(), clock_.nowMs());
  if (!t) return t.error();
  auto n = storeResult(store_.viewerCount(stage->stageId));
  return StageView{*stage, n ? *n : 0, std::move(t).value(), whipUrl(stage->stageId), whepUrl(stage->stageId)};
}

Status ChannelService::registerMediaNode(const MediaNodeRecord& nodeIn) {
  if (!validId(nodeIn.serverId)) return invalid("serverId", "must be 1-64 of [A-Za-z0-9_-]");
  if (nodeIn.ipAddress.empty() || nodeIn.ipAddress.size() > 64) return invalid("ipAddress", "is required");
  if (nodeIn.port == 0) return invalid("port", "must be 1-65535");
  MediaNodeRecord node = nodeIn;
  node.registeredAtMs = clock_.nowMs();
  node.expiresAtMs = node.registeredAtMs + config_.mediaNodeTimeout.count();
  return storeResult(store_.upsertMediaNode(node));
}

Status ChannelService::mediaNodeHeartbeat(const std::string& serverId) {
  if (!validId(serverId)) return invalid("serverId", "must be 1-64 of [A-Za-z0-9_-]");
  auto r = storeResult(store_.touchMediaNode(serverId, clock_.nowMs() + config_.mediaNodeTimeout.count()));
  if (!r) return r.error();
  if (!*r) return Error("NODE_NOT_FOUND", "media node '" + serverId + "' is not registered; register again");
  return {};
}

Result<std::vector<MediaNodeRecord>> ChannelService::mediaNodes() {
  return storeResult(store_.mediaNodes(clock_.nowMs()));
}

Result<std::vector<StageView>> ChannelService::allStages() {
  auto chans = channels();
  if (!chans) return chans.error();
  std::vector<StageView> out;
  for (const auto& c : *chans) {
    auto v = channel(c);
    if (!v) {
      if (v.error().code == "CHANNEL_NOT_FOUND") continue;  // deleted meanwhile
      return v.error();
    }
    for (auto& s : v->stages) out.push_back(std::move(s));
  }
  return out;
}

Result<StageView> ChannelService::mediaToken(const std::string& stageArn) {
  auto stage = resolveStage(stageArn);
  if (!stage) return stage.error();
  auto t = sign(&*stage, stage->stageId, "media-node", crypto::randomId(16), {true, true}, config_.publishTokenTtl,
                json::object(), clock_.nowMs());
  if (!t) return t.error();
  auto n = storeResult(store_.viewerCount(stage->stageId));
  return StageView{*stage, n ? *n : 0, std::move(t).value(), whipUrl(stage->stageId), whepUrl(stage->stageId)};
}

void ChannelService::sweep() {
  const std::int64_t now = clock_.nowMs();
  auto chans = storeResult(store_.channels());
  if (!chans) return;
  std::set<std::string> channelsSeen(chans->begin(), chans->end());
  for (const auto& c : config_.channels) channelsSeen.insert(c);

  std::map<std::string, StageRecord> present;
  std::size_t totalViewers = 0;
  for (const auto& channelId : channelsSeen) {
    auto stages = storeResult(store_.stages(channelId));
    if (!stages) continue;
    std::size_t remaining = stages->size();
    for (const auto& s : *stages) {
      auto expired = storeResult(store_.expireViewers(s.stageId, now));
      if (expired && !expired->empty()) {
        {
          std::lock_guard lock(mutex_);
          counters_.viewersExpired += expired->size();
        }
        for (const auto& v : *expired) {
          spdlog::debug("stage {}: viewer timed out", s.stageId);
          viewerRemoved(v);
        }
        markDirty(channelId);
      }
      auto count = storeResult(store_.viewerCount(s.stageId));
      if (!count) {
        present[s.stageId] = s;
        continue;
      }
      totalViewers += *count;
      bool deleted = false;
      if (*count == 0) {
        std::int64_t since = 0;
        {
          std::lock_guard lock(mutex_);
          since = emptySince_.try_emplace(s.stageId, now).first->second;
        }
        if (now - since >= config_.stageGrace.count() && remaining > config_.minStages) {
          auto r = storeResult(store_.removeStageIfEmpty(channelId, s.stageId, config_.minStages));
          if (r && *r) {
            deleted = true;
            --remaining;
            {
              std::lock_guard lock(mutex_);
              ++counters_.stagesDeleted;
              emptySince_.erase(s.stageId);
            }
            spdlog::info("channel {}: empty stage {} deleted", channelId, s.stageId);
            emitStageEvent("stage_deleted", s);
            markDirty(channelId);
          }
        }
      } else {
        std::lock_guard lock(mutex_);
        emptySince_.erase(s.stageId);
      }
      if (!deleted) present[s.stageId] = s;
    }
    const bool configured =
        std::find(config_.channels.begin(), config_.channels.end(), channelId) != config_.channels.end();
    for (std::size_t i = remaining; configured && i < std::max<std::size_t>(config_.minStages, 1); ++i) {
      if (auto s = createStage(channelId)) present[s->stageId] = *s;
    }
  }

  // Mirror the registry into this node's media plane (stages created or deleted by other nodes included).
  std::vector<StageRecord> toCreate;
  std::vector<StageRecord> toDelete;
  std::vector<std::string> countChannels;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, s] : present) {
      if (localStages_.count(id) == 0) toCreate.push_back(s);
    }
    for (const auto& [id, s] : localStages_) {
      if (present.count(id) == 0) toDelete.push_back(s);
    }
    for (const auto& s : toCreate) localStages_[s.stageId] = s;
    for (const auto& s : toDelete) {
      localStages_.erase(s.stageId);
      viewerSessions_.erase(s.stageId);
      emptySince_.erase(s.stageId);
    }
    for (auto it = dirty_.begin(); it != dirty_.end();) {
      auto& last = lastCountEvent_[*it];
      if (now - last >= config_.countInterval.count()) {
        last = now;
        countChannels.push_back(*it);
        it = dirty_.erase(it);
      } else {
        ++it;
      }
    }
    lastTotals_ = {present.size(), totalViewers};
  }
  for (const auto& s : toCreate) media_.stageCreated(s);
  for (const auto& s : toDelete) media_.stageDeleted(s);

  // Broadcasts between nodes: claim the channels published here, let go of those that left, and pull from the
  // origin node the channels that viewers here watch.
  std::vector<std::string> claims;
  std::vector<std::string> releases;
  std::map<std::string, bool> demand;  // channelId -> pull wanted
  {
    std::lock_guard lock(mutex_);
    for (const auto& [channelId, session] : originSessions_) claims.push_back(channelId);
    releases.assign(releasedOrigins_.begin(), releasedOrigins_.end());
    releasedOrigins_.clear();
    std::set<std::string> watched;
    for (const auto& [stageId, sessions] : viewerSessions_) {
      if (auto st = localStages_.find(stageId); st != localStages_.end() && !sessions.empty()) {
        watched.insert(st->second.channelId);
      }
    }
    for (const auto& channelId : channelsSeen) {
      if (watched.count(channelId) != 0) lastDemand_[channelId] = now;
      auto last = lastDemand_.find(channelId);
      const bool wanted = last != lastDemand_.end() && now - last->second < config_.pullLinger.count();
      if (!wanted && last != lastDemand_.end()) lastDemand_.erase(last);
      demand[channelId] = wanted && originSessions_.count(channelId) == 0;
    }
  }
  for (const auto& channelId : releases) {
    if (auto r = store_.clearOrigin(channelId, config_.nodeId); !r) {
      spdlog::warn("channel {}: origin not released: {}", channelId, r.error().message);
    }
  }
  if (!config_.nodeUrl.empty()) {
    for (const auto& channelId : claims) {
      if (auto r = store_.setOrigin({channelId, config_.nodeId, config_.nodeUrl, now + config_.originTtl.count()}); !r) {
        spdlog::warn("channel {}: origin not claimed: {}", channelId, r.error().message);
      }
    }
  }
  for (const auto& [channelId, wanted] : demand) {
    std::optional<OriginRecord> remote;
    if (wanted) {
      auto o = storeResult(store_.origin(channelId, now));
      if (!o) continue;  // the store is unreachable: keep whatever feed there is
      if (o->has_value() && (*o)->nodeId != config_.nodeId) remote = **o;
    }
    media_.channelFeed(channelId, remote);
  }

  for (const auto& channelId : countChannels) {
    auto v = channel(channelId);
    json stages = json::array();
    std::size_t total = 0;
    if (v) {
      for (const auto& s : v->stages) {
        stages.push_back({{"stageArn", s.stage.stageArn}, {"stageId", s.stage.stageId}, {"viewerCount", s.viewerCount}});
      }
      total = v->total;
    }
    const std::string ts = isoTimestamp(now);
    auto r = store_.appendEvent([&](std::uint64_t seq) {
      return json{{"seq", seq},        {"type", "viewer_count"}, {"channelId", channelId},
                  {"total", total},    {"stages", stages},       {"timestamp", ts}}
          .dump();
    });
    if (!r) spdlog::warn("viewer count notice not stored: {}", r.error().message);
  }
}

ControlCounters ChannelService::counters() const {
  std::lock_guard lock(mutex_);
  ControlCounters out = counters_;
  out.heartbeats = heartbeats_.load(std::memory_order_relaxed);
  return out;
}

std::pair<std::size_t, std::size_t> ChannelService::lastSweepTotals() const {
  std::lock_guard lock(mutex_);
  return lastTotals_;
}

}  // namespace stagecast::control
