#pragma once
// One media source of a stage (its audio or its video), independent of which publisher feeds it, so that a
// publisher can reconnect or be replaced without breaking the viewers' streams.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/clock.hpp"
#include "stagecast/rtp/codec_info.hpp"
#include "stagecast/rtp/rtp_packet.hpp"
#include "stagecast/sdp/session_description.hpp"

namespace stagecast::sfu {

class OutgoingStream;

// A publisher's packet (plaintext RTP, publisher numbering), shared by the keyframe cache and every viewer's
// retransmission ring: one copy however many viewers there are.
using SharedPacket = std::shared_ptr<const Bytes>;

struct SenderReportInfo {
  std::uint64_t ntp = 0;
  std::uint32_t rtpTimestamp = 0;
  std::uint32_t generation = 0;
};

class SourceTrack;

// Told about what a source's publisher does (the stage uses it to relay a channel's broadcast to its other
// stages). Called on the stage's worker, inside the source's own calls.
class SourceListener {
 public:
  virtual ~SourceListener() = default;
  virtual void sourceAttached(SourceTrack& source) = 0;
  virtual void sourcePacket(SourceTrack& source, const SharedPacket& packet) = 0;
  virtual void sourceSenderReport(SourceTrack& source) = 0;
  virtual void sourceDetached(SourceTrack& source) = 0;
};

class SourceTrack {
 public:
  SourceTrack(std::string kind, std::size_t gopMaxPackets, std::size_t gopMaxBytes);

  [[nodiscard]] const std::string& kind() const { return kind_; }
  [[nodiscard]] bool isVideo() const { return kind_ == "video"; }
  // Called when a (new) publisher starts feeding this source; `keyframesOnRequest`: see keyframesOnRequest().
  void attachPublisher(const sdp::Codec& codec, bool keyframesOnRequest = true);
  void detachPublisher();
  [[nodiscard]] bool live() const { return live_; }
  [[nodiscard]] std::uint32_t generation() const { return generation_; }
  [[nodiscard]] const std::optional<sdp::Codec>& codec() const { return codec_; }
  [[nodiscard]] std::uint32_t clockRate() const { return codec_ ? codec_->clockRate : 90000; }
  [[nodiscard]] rtp::VideoCodec videoCodec() const { return videoCodec_; }
  // Whether the payload begins a keyframe of the current publisher's video codec (H.265 included).
  [[nodiscard]] bool isKeyframeStart(BytesView payload) const;

  // A packet from the publisher (after RTX unwrapping): caches it when video and forwards it to every sink.
  void deliver(const rtp::RtpPacket& packet, BytesView raw, TimePoint now);

  void addSink(OutgoingStream* sink);
  void removeSink(OutgoingStream* sink);
  [[nodiscard]] const std::vector<OutgoingStream*>& sinks() const { return sinks_; }

  // The cached packets from the latest keyframe start (plaintext RTP, publisher numbering).
  [[nodiscard]] const std::deque<SharedPacket>& gop() const { return gop_; }
  [[nodiscard]] bool hasKeyframe() const { return gopValid_ && !gop_.empty(); }
  // Media time the cached group spans, from its keyframe to the latest packet (RTP timestamps, so a relayed
  // copy of the group has the age of the original). Zero without a cached group.
  [[nodiscard]] Duration gopAge() const;
  // Whether a keyframe request can be answered: a WHIP publisher or another node's broadcast answers a PLI; an
  // RTSP camera cannot, so its viewers always start from the cached group, however old.
  [[nodiscard]] bool keyframesOnRequest() const { return keyframesOnRequest_; }

  void setSenderReport(const SenderReportInfo& sr) {
    sr_ = sr;
    if (listener_ != nullptr) listener_->sourceSenderReport(*this);
  }
  void setListener(SourceListener* listener) { listener_ = listener; }
  [[nodiscard]] const std::optional<SenderReportInfo>& senderReport() const { return sr_; }

  // Merges keyframe requests: returns true when a PLI should be sent now.
  bool shouldRequestKeyframe(TimePoint now, Duration minInterval);

  [[nodiscard]] std::uint64_t packetsIn() const { return packetsIn_; }
  // Timestamp of the latest packet of the current publisher, if it sent any.
  [[nodiscard]] std::optional<std::uint32_t> lastTimestamp() const { return lastTimestamp_; }
  [[nodiscard]] std::uint64_t keyframes() const { return keyframes_; }

 private:
  std::string kind_;
  std::size_t gopMaxPackets_;
  std::size_t gopMaxBytes_;
  bool live_ = false;
  std::uint32_t generation_ = 0;
  std::optional<sdp::Codec> codec_;
  rtp::VideoCodec videoCodec_ = rtp::VideoCodec::Unknown;
  std::vector<OutgoingStream*> sinks_;
  std::deque<SharedPacket> gop_;
  std::size_t gopBytes_ = 0;
  bool gopValid_ = false;
  std::uint32_t gopTimestamp_ = 0;
  std::int32_t gopSpanTicks_ = 0;  // latest timestamp of the group minus its keyframe's
  std::optional<std::uint32_t> lastTimestamp_;
  std::optional<SenderReportInfo> sr_;
  std::optional<TimePoint> lastKeyframeRequest_;
  std::uint64_t packetsIn_ = 0;
  std::uint64_t keyframes_ = 0;
  bool keyframesOnRequest_ = true;
  SourceListener* listener_ = nullptr;
};

rtp::VideoCodec videoCodecFromName(const std::string& name);

}  // namespace stagecast::sfu
