#include "stagecast/client/video_payload.hpp"

#include "stagecast/common/byte_reader.hpp"
#include "stagecast/common/text.hpp"
#include "stagecast/rtp/codec_info.hpp"

namespace stagecast::client {

namespace {

// H.265 Table 7-1: IRAP pictures (16..21), VPS (32), SPS (33).
bool isH265KeyNal(std::uint8_t type) { return (type >= 16 && type <= 21) || type == 32 || type == 33; }

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

}  // namespace

std::optional<VideoCodecKind> videoCodecKindFromName(std::string_view name) {
  if (iequals(name, "H264")) return VideoCodecKind::H264;
  if (iequals(name, "VP8")) return VideoCodecKind::VP8;
  if (iequals(name, "H265")) return VideoCodecKind::H265;
  return std::nullopt;
}

bool isKeyframeStart(VideoCodecKind codec, BytesView payload) {
  switch (codec) {
    case VideoCodecKind::H264:
      return rtp::isKeyframeStart(rtp::VideoCodec::H264, payload);
    case VideoCodecKind::VP8:
      return rtp::isKeyframeStart(rtp::VideoCodec::VP8, payload);
    case VideoCodecKind::H265:
      return h265KeyframeStart(payload);
  }
  return false;
}

}  // namespace stagecast::client
