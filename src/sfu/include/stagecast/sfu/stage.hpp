#pragma once
// A stage: publishers and viewers of one show, pinned to one worker. Not thread-safe: every call comes from
// the owning worker's loop.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stagecast/common/clock.hpp"
#include "stagecast/sfu/config.hpp"
#include "stagecast/sfu/session.hpp"
#include "stagecast/sfu/source_track.hpp"
#include "stagecast/sfu/transport.hpp"

namespace stagecast::sfu {

struct CreatedSession {
  std::string sessionId;
  std::string etag;
  std::string answerSdp;
  std::string localUfrag;
};

struct StageStats {
  std::size_t publishers = 0;
  std::size_t subscribers = 0;
  std::uint64_t packetsIn = 0;
  std::uint64_t packetsOut = 0;
  std::uint64_t bytesIn = 0;
  std::uint64_t bytesOut = 0;
  std::uint64_t retransmitted = 0;
  std::uint64_t keyframeRequests = 0;
  std::uint64_t cachedGroupReplays = 0;  // viewers started from the cached keyframe group

  StageStats& operator+=(const StageStats& o);
};

class Stage final : private SourceListener {
 public:
  // `relay` (optional) hears what this stage's own publisher does, and is asked for keyframes when this stage
  // is fed by a relay.
  Stage(std::string id, const SfuConfig& config, DatagramSender& sender, RouteTable& routes,
        ShardObserver* relay = nullptr);
  ~Stage();

  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] const SfuConfig& config() const { return config_; }

  // WHIP: answers a publisher's offer. A new publisher replaces the current one (its viewers keep playing).
  Result<CreatedSession> publish(const sdp::SessionDescription& offer, TimePoint now);
  // WHEP: answers a viewer's offer.
  Result<CreatedSession> subscribe(const sdp::SessionDescription& offer, TimePoint now);
  Session* find(const std::string& sessionId);
  // Ends a session (DELETE). Returns false when unknown.
  bool remove(const std::string& sessionId);
  void closeAll();

  // ICE restart: new local credentials for the session; returns them.
  Result<std::pair<std::string, std::string>> restartIce(const std::string& sessionId, std::string remoteUfrag,
                                                         std::string remotePwd);

  void tick(TimePoint now);
  [[nodiscard]] bool empty() const { return sessions_.empty(); }
  [[nodiscard]] StageStats stats() const;

  // Internal, used by sessions.
  SourceTrack& source(const std::string& kind);
  DatagramSender& sender() { return sender_; }
  RouteTable& routes() { return routes_; }
  void requestKeyframe(TimePoint now);
  void publisherConnected(PublisherSession& publisher, TimePoint now);
  // The bitrate the publisher may use: the configured cap, lowered to the smallest estimate a viewer reports.
  std::uint64_t publisherBitrateLimit(TimePoint now) const;
  void sessionFailed(Session& session, const Error& reason);

  // Relay input: the origin stage's publisher, forwarded by the engine. A publisher of this stage's own takes
  // precedence; the relay feeds the viewers again once it leaves.
  void relayAttach(const std::string& kind, const sdp::Codec& codec);
  void relayDetach(const std::string& kind);
  void relayPacket(const std::string& kind, const SharedPacket& packet, TimePoint now);
  void relaySenderReport(const std::string& kind, SenderReportInfo sr);
  [[nodiscard]] bool relayed() const { return !relayCodecs_.empty(); }
  // The relay input is an external source (a camera pull, or another node's broadcast): this stage is then an
  // origin, and what the source sends is passed on to the stages that relay this one, as a publisher's would be.
  // `keyframesOnRequest`: whether the source answers keyframe requests (a camera does not; SourceTrack).
  void setExternalSource(bool external, bool keyframesOnRequest = true) {
    externalSource_ = external;
    externalKeyframes_ = keyframesOnRequest;
  }
  // The live sources of this stage's own publisher (for a stage that starts relaying this one).
  [[nodiscard]] std::vector<RelaySnapshot> relaySnapshot() const;

  // Kept while empty (a channel's stage, created ahead of its viewers); the shard never drops it by itself.
  void setPersistent(bool persistent) { persistent_ = persistent; }
  [[nodiscard]] bool persistent() const { return persistent_; }

 private:
  // SourceListener: this stage's own publisher, reported to the relay observer.
  void sourceAttached(SourceTrack& source) override;
  void sourcePacket(SourceTrack& source, const SharedPacket& packet) override;
  void sourceSenderReport(SourceTrack& source) override;
  void sourceDetached(SourceTrack& source) override;
  [[nodiscard]] bool ownPublisher() const { return !publisherId_.empty(); }
  // Whether what this stage's sources carry is reported to the relay observer.
  [[nodiscard]] bool feedsRelays() const { return ownPublisher() || externalSource_; }
  [[nodiscard]] bool relayKeyframes() const { return !externalSource_ || externalKeyframes_; }

  Result<CreatedSession> create(const sdp::SessionDescription& offer, SessionKind kind, TimePoint now);
  void destroy(const std::string& sessionId);
  // One session's contribution to the stage's counters and gauges.
  static StageStats countersOf(const Session& session);

  std::string id_;
  const SfuConfig& config_;
  DatagramSender& sender_;
  RouteTable& routes_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  std::map<std::string, std::unique_ptr<SourceTrack>> sources_;
  std::string publisherId_;
  std::vector<std::string> doomed_;  // failed sessions, destroyed at the next tick (not inside callbacks)
  TimePoint nextRtcp_{};
  std::uint64_t keyframeRequests_ = 0;
  StageStats retired_;  // counters of sessions already destroyed
  ShardObserver* relay_ = nullptr;
  std::map<std::string, sdp::Codec> relayCodecs_;  // kind -> codec of the relay feeding this stage
  bool persistent_ = false;
  bool externalSource_ = false;
  bool externalKeyframes_ = true;
};

}  // namespace stagecast::sfu
