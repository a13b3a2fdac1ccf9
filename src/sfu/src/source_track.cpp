#include "stagecast/sfu/source_track.hpp"

#include <algorithm>
#include <cctype>

#include "stagecast/common/byte_reader.hpp"
#include "stagecast/common/text.hpp"
#include "stagecast/sfu/outgoing_stream.hpp"

namespace stagecast::sfu {

rtp::VideoCodec videoCodecFromName(const std::string& name) {
  const std::string n = toUpper(name);
  if (n == "VP8") return rtp::VideoCodec::VP8;
  if (n == "VP9") return rtp::VideoCodec::VP9;
  if (n == "H264") return rtp::VideoCodec::H264;
  if (n == "AV1") return rtp::VideoCodec::AV1;
  return rtp::VideoCodec::Unknown;
}

namespace {

// H.265 Table 7-1: IRAP pictures (16..21), VPS (32), SPS (33).
bool isH265KeyNal(std::uint8_t type) { return (type >= 16 && type <= 21) || type == 32 || type == 33; }

}  // namespace

bool h265KeyframeStart(BytesView payload) {
  ByteReader r(payload);
  // RFC 7798 §1.1.4 payload header: F(1) Type(6) LayerId(6) TID(3).
  std::uint16_t header = 0;
  if (!r.readU16(header)) return false;
  const auto type = static_cast<std::uint8_t>((header >> 9) & 0x3f);
  if (type < 48) return isH265KeyNal(type);  // §4.4.1 single NAL unit packet
  if (type == 48) {
    // §4.4.2 aggregation packet, without DONL/DOND (sprop-max-don-diff 0): repeated (16-bit size, NAL unit).
    while (!r.empty()) {
      std::uint16_t size = 0;
      BytesView unit;
      if (!r.readU16(size) || !r.readBytes(size, unit)) return false;
      if (!unit.empty() && isH265KeyNal((unit[0] >> 1) & 0x3f)) return true;
    }
    return false;
  }
  if (type == 49) {
    // §4.4.3 fragmentation unit: FU header S(1) E(1) FuType(6).
    std::uint8_t fu = 0;
    if (!r.readU8(fu)) return false;
    return (fu & 0x80) != 0 && isH265KeyNal(fu & 0x3f);
  }
  return false;  // §4.4.4 PACI and the unspecified types
}

SourceTrack::SourceTrack(std::string kind, std::size_t gopMaxPackets, std::size_t gopMaxBytes)
    : kind_(std::move(kind)), gopMaxPackets_(gopMaxPackets), gopMaxBytes_(gopMaxBytes) {}

void SourceTrack::attachPublisher(const sdp::Codec& codec) {
  ++generation_;
  live_ = true;
  codec_ = codec;
  videoCodec_ = isVideo() ? videoCodecFromName(codec.name) : rtp::VideoCodec::Unknown;
  h265_ = isVideo() && iequals(codec.name, "H265");
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
      gop_.clear();
      gopBytes_ = 0;
      gopValid_ = true;
    }
    if (gopValid_) {
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

bool SourceTrack::isKeyframeStart(BytesView payload) const {
  return h265_ ? h265KeyframeStart(payload) : rtp::isKeyframeStart(videoCodec_, payload);
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
