#pragma once
// The command layer of live channels: viewers join (a token and a place in a stage with room), rejoin,
// heartbeat and leave; stages are created when every stage is full and deleted after staying empty for a grace
// period; broadcasters and media nodes get publish tokens; notifications are numbered and replayable.
// HTTP, WebSocket and any other transport are thin adapters onto this class.
//
// Thread-safe: every method may be called from any thread. It owns no timers: the owner calls sweep()
// periodically (e.g. every second) with the wall clock it was given.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stagecast/auth/token.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/control/store.hpp"

namespace stagecast::control {

struct ControlConfig {
  std::size_t stageCapacity = 50;
  std::chrono::milliseconds stageGrace{60'000};  // an empty stage is deleted after this long
  std::size_t minStages = 1;                     // per channel, never deleted below this
  std::chrono::milliseconds viewerTimeout{60'000};
  std::chrono::seconds viewerTokenTtl{24 * 3600};
  std::chrono::seconds publishTokenTtl{2 * 3600};
  std::chrono::milliseconds countInterval{1'000};  // viewer-count notices, at most this often per channel
  std::chrono::milliseconds mediaNodeTimeout{90'000};
  std::string defaultChannel = "main";
  std::vector<std::string> channels = {"main"};  // created at start (with minStages stages each)
  std::string arnPrefix = "arn:stagecast:stage:";
  std::string publicBaseUrl;  // prefix of the WHIP/WHEP URLs handed out; empty: paths only
  // Several nodes sharing a store: this node's id and the HTTP base URL other nodes pull a broadcast from when
  // it is published here. An empty nodeUrl: broadcasts published here are not offered to other nodes.
  std::string nodeId = "node";
  std::string nodeUrl;
  std::chrono::milliseconds originTtl{10'000};   // a broadcast's origin claim lapses this long after its node stops
  std::chrono::milliseconds pullLinger{5'000};  // a pull from another node stops this long after its last viewer
};

// Wall-clock milliseconds since the Unix epoch (stores are shared between nodes, so steady time won't do).
class WallClock {
 public:
  virtual ~WallClock() = default;
  [[nodiscard]] virtual std::int64_t nowMs() const = 0;
};

class SystemWallClock final : public WallClock {
 public:
  [[nodiscard]] std::int64_t nowMs() const override;
};

class ManualWallClock final : public WallClock {
 public:
  explicit ManualWallClock(std::int64_t start = 1'700'000'000'000) : now_(start) {}
  [[nodiscard]] std::int64_t nowMs() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mutex_);
    now_ += d.count();
  }

 private:
  mutable std::mutex mutex_;
  std::int64_t now_;
};

// What the command layer asks of the media plane of this node (implemented over the engine). Calls must not
// block: they post work and return.
class MediaPlane {
 public:
  virtual ~MediaPlane() = default;
  // A stage of `channelId` exists: create its media stage, relaying the channel's broadcast.
  virtual void stageCreated(const StageRecord& stage) = 0;
  virtual void stageDeleted(const StageRecord& stage) = 0;
  virtual void endSession(const std::string& stageId, const std::string& sessionId) = 0;
  // Where this node's copy of the channel's broadcast comes from, decided at every sweep: `remote` is another
  // node's origin to pull it from while this node has viewers of the channel; nullopt: no pull (the broadcast is
  // published here, or nobody here watches, or there is no broadcast).
  virtual void channelFeed(const std::string& channelId, const std::optional<OriginRecord>& remote) {}
};

struct ViewerJoin {
  std::string token;
  std::string participantId;
  std::string userId;
  std::string stageArn;
  std::string stageId;
  std::string channelId;
  std::string whepUrl;
  std::int64_t expiresAtMs = 0;
  std::int64_t expiresInSeconds = 0;
  std::size_t currentViewers = 0;
};

struct StageView {
  StageRecord stage;
  std::size_t viewerCount = 0;
  std::string publishToken;  // only in broadcaster / media-node listings
  std::string whipUrl;
  std::string whepUrl;
};

struct ChannelView {
  std::string channelId;
  std::vector<StageView> stages;
  std::size_t total = 0;
  std::string publishToken;  // the channel's own publish token (broadcaster listing only)
  std::string whipUrl;
};

struct ControlCounters {
  std::uint64_t viewerJoins = 0;
  std::uint64_t viewerRejoins = 0;
  std::uint64_t viewerLeaves = 0;
  std::uint64_t viewersExpired = 0;
  std::uint64_t heartbeats = 0;
  std::uint64_t tokensIssued = 0;
  std::uint64_t stagesCreated = 0;
  std::uint64_t stagesDeleted = 0;
  std::uint64_t sessionsEndedForViewers = 0;
  std::uint64_t storeErrors = 0;
};

class ChannelService {
 public:
  ChannelService(ControlConfig config, Store& store, const auth::TokenSigner& signer, MediaPlane& media,
                 const WallClock& clock);
  ~ChannelService();
  ChannelService(const ChannelService&) = delete;
  ChannelService& operator=(const ChannelService&) = delete;

  // Creates the configured channels' first stages and subscribes to the store. Errors: STORE_UNAVAILABLE.
  Status start();
  // The URL other nodes pull broadcasts published here from (known once the HTTP server listens); before start().
  void setNodeUrl(std::string url) { config_.nodeUrl = std::move(url); }
  // Unsubscribes from the store (before the service goes away).
  void stop();

  // --- viewers --- Errors: INVALID_REQUEST (field), CHANNEL_NOT_FOUND, STAGE_NOT_FOUND, VIEWER_NOT_FOUND,
  // STAGE_FULL, STORE_UNAVAILABLE, TOKEN_FAILED.
  Result<ViewerJoin> joinViewer(const std::string& userId, const std::string& channelId,
                                const nlohmann::json& attributes = nlohmann::json::object());
  Result<std::size_t> rejoin(const std::string& userId, const std::string& stageArn, const std::string& participantId);
  Result<std::size_t> heartbeat(const std::string& userId, const std::string& stageArn);
  // Returns the stage's count after the leave; leaving twice is not an error (the count is unchanged).
  Result<std::size_t> leave(const std::string& userId, const std::string& stageArn);

  // --- broadcaster ---
  Result<ChannelView> broadcasterStages(const std::string& channelId);
  Result<StageView> stageToken(const std::string& stageArn);
  // --- everybody ---
  Result<ChannelView> channel(const std::string& channelId);
  Result<std::vector<std::string>> channels();

  // --- media nodes ---
  Status registerMediaNode(const MediaNodeRecord& node);
  Status mediaNodeHeartbeat(const std::string& serverId);
  Result<std::vector<MediaNodeRecord>> mediaNodes();
  Result<std::vector<StageView>> allStages();
  Result<StageView> mediaToken(const std::string& stageArn);

  // --- media sessions of this node (reported by the WHEP adapter) ---
  void viewerSessionStarted(const std::string& stageId, const std::string& userId, const std::string& sessionId);
  // A WHIP publisher into a channel id (the channel's broadcast, not a single stage): this node becomes the
  // channel's origin for the other nodes while the session lasts.
  void publisherSessionStarted(const std::string& stageId, const std::string& sessionId);
  void sessionEnded(const std::string& stageId, const std::string& sessionId);

  // --- notifications ---
  Result<Store::Replay> eventsAfter(std::uint64_t seq) { return store_.eventsAfter(seq); }
  // Receives every notification (on a store thread or synchronously); set before start().
  void setEventSink(std::function<void(const Event&)> sink);

  // Expires viewers whose heartbeats stopped (ending their media sessions), deletes stages empty for longer
  // than the grace period, keeps the minimum per channel, mirrors the registry into the media plane and sends
  // batched viewer counts.
  void sweep();

  [[nodiscard]] ControlCounters counters() const;
  [[nodiscard]] const ControlConfig& config() const { return config_; }
  // Local view for metrics: stages and viewers known at the last sweep.
  [[nodiscard]] std::pair<std::size_t, std::size_t> lastSweepTotals() const;

  // Splits "arn:...:channel/stageId" or a bare stage id into the stage id; nullopt if malformed.
  [[nodiscard]] std::optional<std::string> stageIdFromArn(const std::string& stageArn) const;
  [[nodiscard]] std::string whipUrl(const std::string& id) const;
  [[nodiscard]] std::string whepUrl(const std::string& stageId) const;

 private:
  Result<StageRecord> createStage(const std::string& channelId);
  Result<StageRecord> resolveStage(const std::string& stageArn);
  // The stage among `stages` (but `exceptStageId`) that `userId` watches, if any: a user is counted in one stage
  // of a channel at most.
  Result<std::optional<StageRecord>> stageWatchedBy(const std::vector<StageRecord>& stages, const std::string& userId,
                                                    const std::string& exceptStageId = {});
  Result<std::string> sign(const StageRecord* stage, const std::string& topic, const std::string& userId,
                           const std::string& participantId, auth::Capabilities caps, std::chrono::seconds ttl,
                           const nlohmann::json& attributes, std::int64_t nowMs);
  void emitStageEvent(const char* type, const StageRecord& stage);
  void viewerRemoved(const ViewerRecord& viewer);
  void onInternal(const std::string& json);
  void markDirty(const std::string& channelId);
  template <class T>
  Result<T> storeResult(Result<T> r);

  ControlConfig config_;
  Store& store_;
  const auth::TokenSigner& signer_;
  MediaPlane& media_;
  const WallClock& clock_;

  mutable std::mutex mutex_;
  std::function<void(const Event&)> eventSink_;
  std::map<std::string, std::int64_t> emptySince_;                            // stageId -> ms
  std::map<std::string, StageRecord> localStages_;                            // mirrored into the media plane
  std::map<std::string, std::map<std::string, std::string>> viewerSessions_;  // stageId -> sessionId -> userId
  std::set<std::string> dirty_;                                               // channels with count changes
  std::map<std::string, std::string> originSessions_;  // channelId -> publisher session broadcasting here
  std::set<std::string> releasedOrigins_;               // channels whose broadcast left this node
  std::map<std::string, std::int64_t> lastDemand_;      // channelId -> last sweep with viewers here (ms)
  std::map<std::string, std::int64_t> lastCountEvent_;
  std::pair<std::size_t, std::size_t> lastTotals_{0, 0};
  ControlCounters counters_;                  // under mutex_, but for heartbeats:
  std::atomic<std::uint64_t> heartbeats_{0};  // counted apart, without the lock
};

// Channel and stage ids: 1..64 of [A-Za-z0-9_-].
bool validId(const std::string& id);
// ISO-8601 UTC with milliseconds, e.g. 2026-11-22T03:04:05.678Z.
std::string isoTimestamp(std::int64_t ms);

}  // namespace stagecast::control
