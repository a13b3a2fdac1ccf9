#pragma once
// One stream sent to one viewer: its own SSRC, sequence and timestamp space (so the source can change under
// it), a retransmission buffer for NACKs, and the counters for its sender reports.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/clock.hpp"
#include "stagecast/rtp/rtp_packet.hpp"
#include "stagecast/sfu/source_track.hpp"

namespace stagecast::sfu {

struct OutgoingParams {
  std::uint32_t ssrc = 0;
  std::uint8_t payloadType = 0;
  std::optional<std::uint8_t> midExtensionId;
  // abs-send-time lets the viewer estimate its bandwidth and send REMB, which we relay to the publisher.
  std::optional<std::uint8_t> absSendTimeExtensionId;
  std::string mid;
  // The codec negotiated with the viewer ("VP8", "H264", "opus"); packets of a source carrying another codec are
  // not forwarded (no transcoding). Empty: no check.
  std::string codecName;
  std::uint32_t clockRate = 90000;
  bool video = false;
  std::size_t retransmitBufferPackets = 1024;  // power of two
  // A new video viewer starts from the cached keyframe group only while the group spans at most this much media
  // time: an older group would reach the viewer as one long burst it has to download before it is live. Past it,
  // a fresh keyframe is requested instead, and the cached group is replayed after `keyframeWait` only if none
  // came. A source that cannot answer keyframe requests (a camera) is always replayed from its group.
  Duration replayMaxAge = seconds(2);
  Duration keyframeWait = seconds(1);
};

class OutgoingStream {
 public:
  // `send` encrypts and sends one plaintext RTP packet (the buffer may be modified).
  using SendFn = std::function<void(Bytes& packet)>;
  using KeyframeRequestFn = std::function<void(TimePoint)>;

  OutgoingStream(OutgoingParams params, SendFn send, KeyframeRequestFn requestKeyframe);

  [[nodiscard]] const OutgoingParams& params() const { return params_; }
  // Starts sending from `source`: video replays its cached keyframe group at once (instant first frame) when
  // it is recent enough, or else waits for the next keyframe and asks for one.
  void start(SourceTrack& source, TimePoint now);
  [[nodiscard]] bool started() const { return active_; }

  // A packet of the source (publisher numbering); `packet` views into `raw`.
  void forward(const rtp::RtpPacket& packet, const SharedPacket& raw, std::uint32_t generation, TimePoint now);
  // Answers a NACK: resends buffered packets. Returns how many were found.
  std::size_t retransmit(const std::vector<std::uint16_t>& sequences, TimePoint now);

  // Sender report fields for this stream (RFC 3550 §6.4.1), mapped from the source's latest SR.
  struct SrFields {
    std::uint64_t ntp = 0;
    std::uint32_t rtpTimestamp = 0;
    std::uint32_t packetCount = 0;
    std::uint32_t octetCount = 0;
  };
  [[nodiscard]] std::optional<SrFields> senderReport(const SourceTrack& source) const;

  [[nodiscard]] std::uint64_t packetsSent() const { return packetsSent_; }
  [[nodiscard]] std::uint64_t retransmitted() const { return retransmitted_; }
  [[nodiscard]] std::uint64_t keyframeWaitDrops() const { return waitDrops_; }
  // How many times this stream started from the cached keyframe group.
  [[nodiscard]] std::uint64_t cachedGroupReplays() const { return replays_; }
  [[nodiscard]] std::uint64_t codecMismatchDrops() const { return codecDrops_; }
  [[nodiscard]] std::optional<TimePoint> firstPacketAt() const { return firstPacketAt_; }

 private:
  void sendRewritten(const rtp::RtpPacket& packet, const SharedPacket& raw, TimePoint now);
  void replayCachedGroup(const SourceTrack& source, TimePoint now);
  // Takes the current publisher's codec from the source (on start and whenever the publisher changes); keyframes
  // are recognised by the source, which always carries the current publisher's codec.
  void followSource();
  void write(const rtp::RtpPacket& packet, std::uint16_t sequence, std::uint32_t timestamp, TimePoint now);

  OutgoingParams params_;
  SendFn send_;
  KeyframeRequestFn requestKeyframe_;
  bool active_ = false;
  const SourceTrack* source_ = nullptr;
  bool codecMatches_ = true;
  std::uint64_t codecDrops_ = 0;
  bool waitingForKeyframe_ = false;
  // While waiting for a requested keyframe with an older group cached: when to fall back to that group.
  std::optional<TimePoint> replayAt_;
  std::uint64_t replays_ = 0;
  bool anyDropped_ = false;
  std::uint32_t lastDroppedTs_ = 0;
  bool haveOffsets_ = false;
  bool anySent_ = false;
  std::uint32_t generation_ = 0;
  std::uint16_t seqOffset_ = 0;
  std::uint32_t tsOffset_ = 0;
  std::uint16_t lastSeq_ = 0;
  std::uint32_t lastTs_ = 0;
  TimePoint lastSentAt_{};
  // Retransmission ring indexed by outgoing sequence & (size-1): the shared source packet and our numbering.
  struct Sent {
    SharedPacket source;
    std::uint16_t sequence = 0;
    std::uint32_t timestamp = 0;
  };
  std::vector<Sent> buffer_;
  Bytes scratch_;
  std::uint64_t packetsSent_ = 0;
  std::uint64_t octetsSent_ = 0;
  std::uint64_t retransmitted_ = 0;
  std::uint64_t waitDrops_ = 0;
  std::optional<TimePoint> firstPacketAt_;
};

}  // namespace stagecast::sfu
