#pragma once
// Shared state of live channels: the stage registry, the viewers of every stage, media nodes and the
// notification log. One interface, two implementations with the same behaviour: MemoryStore (one node) and
// RedisStore (several nodes sharing channels). Every operation that decides something (placing a viewer,
// removing one, deleting a stage) is atomic in the store, so two nodes racing never double-count.
//
// Times are wall-clock milliseconds since the Unix epoch (nodes share them); callers pass them in, the store
// never reads a clock.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "stagecast/common/error.hpp"

namespace stagecast::control {

struct StageRecord {
  std::string stageId;    // URL-safe identifier, e.g. "main-4f1c9a2e"; the media stage of the same name
  std::string stageArn;   // stable string id, e.g. "arn:stagecast:stage:main/4f1c9a2e"
  std::string channelId;  // the channel whose broadcast this stage carries
  std::int64_t createdAtMs = 0;
};

struct ViewerRecord {
  std::string stageId;
  std::string userId;
  std::string participantId;
  std::int64_t expiresAtMs = 0;  // last heartbeat + timeout
};

enum class PlaceResult {
  Added,           // a new viewer: the count went up by one
  AlreadyPresent,  // the user was already a viewer of the stage: refreshed, the count is unchanged
  Full,            // the stage holds `capacity` viewers: nothing changed
  NoSuchStage,     // the stage is not (or no longer) registered
};

struct MediaNodeRecord {
  std::string serverId;
  std::string ipAddress;
  std::uint16_t port = 0;
  std::int64_t registeredAtMs = 0;
  std::int64_t expiresAtMs = 0;  // last heartbeat + timeout
};

// Where a channel's broadcast is published: the node whose engine holds the broadcaster's WHIP session. Other
// nodes with viewers of the channel pull the broadcast from it (WHEP, node to node).
struct OriginRecord {
  std::string channelId;
  std::string nodeId;
  std::string url;               // the node's HTTP base URL, e.g. "http://10.0.0.5:8080"
  std::int64_t expiresAtMs = 0;  // refreshed while the broadcaster stays; a crashed node's claim lapses
};

// A notification as delivered to WebSocket clients. `seq` is assigned by the store, strictly increasing across
// every node sharing it; `json` is the full message object including "seq".
struct Event {
  std::uint64_t seq = 0;
  std::string json;
};

class Store {
 public:
  virtual ~Store() = default;

  // --- stage registry ---
  // Errors: STAGE_EXISTS.
  virtual Status addStage(const StageRecord& stage) = 0;
  // Deletes the stage only if it has no viewer and the channel keeps at least `minStages` stages afterwards.
  // Returns true when this call deleted it (exactly one caller wins a race).
  virtual Result<bool> removeStageIfEmpty(const std::string& channelId, const std::string& stageId,
                                          std::size_t minStages) = 0;
  // The channel's stages, oldest first.
  virtual Result<std::vector<StageRecord>> stages(const std::string& channelId) = 0;
  virtual Result<std::optional<StageRecord>> findStage(const std::string& stageId) = 0;
  // Every channel that has at least one stage, sorted.
  virtual Result<std::vector<std::string>> channels() = 0;

  // --- viewers ---
  // Places the user in the stage unless it is full; a user already there is refreshed (expiry and
  // participantId updated) and not counted twice.
  virtual Result<PlaceResult> placeViewer(const ViewerRecord& viewer, std::size_t capacity) = 0;
  // Heartbeat: moves the expiry forward. Returns false when the user is not a viewer of the stage.
  virtual Result<bool> touchViewer(const std::string& stageId, const std::string& userId,
                                   std::int64_t expiresAtMs) = 0;
  // Leave. Returns the removed record when this call removed it, nullopt when it was not there.
  virtual Result<std::optional<ViewerRecord>> removeViewer(const std::string& stageId,
                                                           const std::string& userId) = 0;
  // Removes the stage's viewers whose expiry is <= nowMs and returns them; each expired viewer is returned by
  // exactly one call, whichever node makes it.
  virtual Result<std::vector<ViewerRecord>> expireViewers(const std::string& stageId, std::int64_t nowMs) = 0;
  virtual Result<std::optional<ViewerRecord>> findViewer(const std::string& stageId, const std::string& userId) = 0;
  virtual Result<std::size_t> viewerCount(const std::string& stageId) = 0;

  // --- media nodes ---
  virtual Status upsertMediaNode(const MediaNodeRecord& node) = 0;
  // Returns false when the node is not registered (it must register again).
  virtual Result<bool> touchMediaNode(const std::string& serverId, std::int64_t expiresAtMs) = 0;
  // Registered nodes whose expiry is after nowMs (expired ones are dropped).
  virtual Result<std::vector<MediaNodeRecord>> mediaNodes(std::int64_t nowMs) = 0;

  // --- channel origins ---
  // Claims or refreshes the channel's origin for a node; the latest claim wins (a broadcaster who moved).
  virtual Status setOrigin(const OriginRecord& origin) = 0;
  // Removes the channel's origin if `nodeId` holds it (never another node's newer claim). Returns whether it did.
  virtual Result<bool> clearOrigin(const std::string& channelId, const std::string& nodeId) = 0;
  // The channel's origin if its claim is still live at nowMs.
  virtual Result<std::optional<OriginRecord>> origin(const std::string& channelId, std::int64_t nowMs) = 0;

  // --- notifications ---
  // Assigns the next sequence number, stores the event in a bounded history (`historyLimit` newest kept) and
  // delivers it to every subscriber on every node. `buildJson` receives the sequence number and returns the
  // complete message; it may be called more than once (RedisStore builds the event again when another node took the
  // number first), so it must have no side effects. Returns the stored event.
  virtual Result<Event> appendEvent(const std::function<std::string(std::uint64_t seq)>& buildJson) = 0;
  // Events with seq > afterSeq still in the history, oldest first; `complete` is false when some events after
  // afterSeq have already been dropped from the history (the client missed more than can be replayed).
  struct Replay {
    std::vector<Event> events;
    bool complete = true;
  };
  virtual Result<Replay> eventsAfter(std::uint64_t afterSeq) = 0;
  // Node-to-node messages that are not notifications (e.g. "end this viewer's media session"): delivered to
  // every node's internal subscriber, not stored.
  virtual Status publishInternal(const std::string& json) = 0;

  // Subscribers are called on a store-owned thread or synchronously inside appendEvent/publishInternal
  // (MemoryStore); they must not block and must not call back into the store synchronously.
  using EventFn = std::function<void(const Event&)>;
  using InternalFn = std::function<void(const std::string& json)>;
  virtual void setSubscribers(EventFn onEvent, InternalFn onInternal) = 0;
  // Stops delivering to subscribers (before destruction of whatever they capture).
  virtual void stopSubscribers() = 0;
};

}  // namespace stagecast::control
