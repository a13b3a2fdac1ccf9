#include "stagecast/sfu/source_track.hpp"

#include <algorithm>
#include <cctype>

#include "stagecast/common/text.hpp"
#include "stagecast/sfu/outgoing_stream.hpp"

namespace stagecast::sfu {

rtp::VideoCodec videoCodecFromName(const std::string& name) {
  const std::string n = toUpper(name);
  if (n == "VP8") return rtp::VideoCodec::VP8;
  if (n == "VP9") return rtp::VideoCodec::VP9;
  if (n == "H264") return rtp::VideoCodec::H264;
  if (n == "H265") return rtp::VideoCodec::H265;
  if (n == "AV1") return rtp::VideoCodec::AV1;
  return rtp::VideoCodec::Unknown;
}

SourceTrack::SourceTrack(std::string kind, std::size_t gopMaxPackets, std::size_t gopMaxBytes)
    : kind_(std::move(kind)), gopMaxPackets_(gopMaxPackets), gopMaxBytes_(gopMaxBytes) {}

void SourceTrack::attachPublisher(const sdp::Codec& codec, bool keyframesOnRequest) {
  ++generation_;
  live_ = true;
  keyframesOnRequest_ = keyframesOnRequest;
  codec_ = codec;
  videoCodec_ = isVideo() ? videoCodecFromName(codec.name) : rtp::VideoCodec::Unknown;
  gop_.clear();
  gopBytes_ = 0;
  gopValid_ = false;
  sr_.reset();
  lastKeyframeRequest_.reset();
  lastTimestamp_.reset();
  if (listener_ != nullptr) listener_->sourceAttached(*this);
}

void SourceTrack::detachPublisher() {
  live_ = false;
  gop_.clear();
  gopBytes_ = 0;
  gopValid_ = false;
  if (listener_ != nullptr) listener_->sourceDetached(*this);
}

void SourceTrack::deliver(const rtp::RtpPacket& packet, BytesView raw, TimePoint now) {
  ++packetsIn_;
  lastTimestamp_ = packet.timestamp;
  auto shared = std::make_shared<const Bytes>(raw.begin(), raw.end());
  if (isVideo()) {
    // A keyframe starts a new group: a new viewer can start decoding here. A keyframe may span several packets
    // that each look like a start (H.264: STAP-A with SPS/PPS, then IDR slices); only the first packet of the
    // frame (a new timestamp) opens the group.
    if (isKeyframeStart(packet.payload) && !(gopValid_ && !gop_.empty() && packet.timestamp == gopTimestamp_)) {
      ++keyframes_;
      gopTimestamp_ = packet.timestamp;
      gopSpanTicks_ = 0;
      gop_.clear();
      gopBytes_ = 0;
      gopValid_ = true;
    }
    if (gopValid_) {
      // RFC 3550 §5.1: timestamps wrap, so the span is the difference modulo 2^32; a frame shown before the
      // keyframe (a B-frame) does not shorten it.
      const auto ahead = static_cast<std::int32_t>(packet.timestamp - gopTimestamp_);
      gopSpanTicks_ = std::max(gopSpanTicks_, ahead);
      if (gop_.size() >= gopMaxPackets_ || gopBytes_ + raw.size() > gopMaxBytes_) {
        gop_.clear();
        gopBytes_ = 0;
        gopValid_ = false;
      } else {
        gop_.push_back(shared);
        gopBytes_ += raw.size();
      }
    }
  }
  // Iterate over a copy: a sink may remove itself (peer failure while sending is reported later, but be safe).
  for (std::size_t i = 0; i < sinks_.size(); ++i) sinks_[i]->forward(packet, shared, generation_, now);
  if (listener_ != nullptr) listener_->sourcePacket(*this, shared);
}

Duration SourceTrack::gopAge() const {
  if (!hasKeyframe()) return Duration::zero();
  const std::uint32_t rate = clockRate() != 0 ? clockRate() : 90000;
  return std::chrono::duration_cast<Duration>(
      microseconds(static_cast<std::int64_t>(gopSpanTicks_) * 1'000'000 / rate));
}

bool SourceTrack::isKeyframeStart(BytesView payload) const {
  return rtp::isKeyframeStart(videoCodec_, payload);
}

void SourceTrack::addSink(OutgoingStream* sink) {
  if (std::find(sinks_.begin(), sinks_.end(), sink) == sinks_.end()) sinks_.push_back(sink);
}

void SourceTrack::removeSink(OutgoingStream* sink) { std::erase(sinks_, sink); }

bool SourceTrack::shouldRequestKeyframe(TimePoint now, Duration minInterval) {
  if (lastKeyframeRequest_ && now - *lastKeyframeRequest_ < minInterval) return false;
  lastKeyframeRequest_ = now;
  return true;
}

}  // namespace stagecast::sfu
