#pragma once
// Everything one worker thread owns: its stages and the routes from remote addresses and ICE ufrags to
// sessions. Not thread-safe by design: the engine calls it only from the worker's own loop.
#include <memory>
#include <string>
#include <unordered_map>

#include "stagecast/common/clock.hpp"
#include "stagecast/common/endpoint.hpp"
#include "stagecast/sfu/config.hpp"
#include "stagecast/sfu/stage.hpp"
#include "stagecast/sfu/transport.hpp"

namespace stagecast::sfu {

struct PatchResult {
  // Empty for a trickle-only patch (204); an SDP fragment with our new credentials after an ICE restart (200).
  std::string answerFragment;
  std::string etag;
};

struct ShardStats : StageStats {
  std::size_t stages = 0;
  std::uint64_t unroutedDatagrams = 0;
  std::uint64_t sessionsEnded = 0;

  ShardStats& operator+=(const ShardStats& o);
};

class Shard final : public RouteTable {
 public:
  Shard(const SfuConfig& config, DatagramSender& sender, ShardObserver& observer);
  ~Shard() override;

  // Parses the offer and answers it. Errors: SDP_MALFORMED, SDP_TOO_LARGE, NO_COMMON_CODEC, STAGE_NOT_FOUND
  // (subscribe to a stage nobody publishes to), STAGE_FULL.
  Result<CreatedSession> publish(const std::string& stageId, std::string_view offer, TimePoint now);
  Result<CreatedSession> subscribe(const std::string& stageId, std::string_view offer, TimePoint now);
  // DELETE. Errors: SESSION_NOT_FOUND.
  Status remove(const std::string& stageId, const std::string& sessionId);
  // PATCH with an application/trickle-ice-sdpfrag body (RFC 9725 §4.3). `ifMatch` empty = no precondition.
  // Errors: SESSION_NOT_FOUND, SDP_MALFORMED, PRECONDITION_FAILED.
  Result<PatchResult> patch(const std::string& stageId, const std::string& sessionId, const std::string& ifMatch,
                            std::string_view fragment, TimePoint now);

  // A stage created ahead of its viewers and kept while empty (a channel's stage); idempotent.
  void ensureStage(const std::string& stageId);
  // Ends every session of the stage and drops it. Returns false when unknown.
  bool dropStage(const std::string& stageId);

  // Relay input for a stage (see Stage::relay*); ignored for unknown stages.
  void relayAttach(const std::string& stageId, const std::string& kind, const sdp::Codec& codec);
  // An external source feeding the stage (Stage::setExternalSource): relay input that is passed on to relays.
  void sourceAttach(const std::string& stageId, const std::string& kind, const sdp::Codec& codec,
                    bool keyframesOnRequest = true);
  void relayDetach(const std::string& stageId, const std::string& kind);
  void relayPacket(const std::string& stageId, const std::string& kind, const SharedPacket& packet, TimePoint now);
  void relaySenderReport(const std::string& stageId, const std::string& kind, const SenderReportInfo& sr);
  // Asks the stage's own publisher for a keyframe (merged like viewers' requests).
  void requestKeyframe(const std::string& stageId, TimePoint now);
  [[nodiscard]] std::vector<RelaySnapshot> relaySnapshot(const std::string& stageId);

  void handleDatagram(BytesView datagram, const Endpoint& from, TimePoint now);
  void tick(TimePoint now);
  void closeAll();

  [[nodiscard]] bool hasStage(const std::string& stageId) const { return stages_.count(stageId) != 0; }
  [[nodiscard]] ShardStats stats() const;

  // RouteTable
  void addRoute(const Endpoint& remote, Session& session) override;
  void removeRoute(const Endpoint& remote, Session& session) override;
  void addUfrag(const std::string& ufrag, Session& session) override;
  void removeUfrag(const std::string& ufrag) override;
  void sessionEnded(const std::string& stageId, const std::string& sessionId, const Error& reason) override;

 private:
  Stage* findStage(const std::string& id);
  void retire(const Stage& stage);

  const SfuConfig& config_;
  DatagramSender& sender_;
  ShardObserver& observer_;
  std::unordered_map<std::string, std::unique_ptr<Stage>> stages_;
  std::unordered_map<Endpoint, Session*, EndpointHash> byAddress_;
  std::unordered_map<std::string, Session*> byUfrag_;
  std::uint64_t unrouted_ = 0;
  std::uint64_t ended_ = 0;
  StageStats retired_;  // totals of stages already closed
};

}  // namespace stagecast::sfu
