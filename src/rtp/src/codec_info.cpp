#include "stagecast/rtp/codec_info.hpp"

#include <cstdint>

#include "stagecast/common/byte_reader.hpp"

namespace stagecast::rtp {

namespace {

bool isH264KeyNal(std::uint8_t nalType) { return nalType == 5 || nalType == 7; }  // IDR slice, SPS

bool vp8KeyframeStart(BytesView payload) {
  ByteReader r(payload);
  // RFC 7741 §4.2: X R N S R PID(3).
  std::uint8_t b = 0;
  if (!r.readU8(b)) return false;
  const bool x = (b & 0x80) != 0;
  const bool s = (b & 0x10) != 0;
  const std::uint8_t pid = b & 0x07;
  if (!s || pid != 0) return false;
  if (x) {
    // RFC 7741 §4.2: I L T K RSV(4).
    std::uint8_t ext = 0;
    if (!r.readU8(ext)) return false;
    const bool i = (ext & 0x80) != 0;
    const bool l = (ext & 0x40) != 0;
    const bool t = (ext & 0x20) != 0;
    const bool k = (ext & 0x10) != 0;
    if (i) {
      std::uint8_t pic = 0;  // M bit selects a 15-bit PictureID
      if (!r.readU8(pic)) return false;
      if ((pic & 0x80) != 0 && !r.skip(1)) return false;
    }
    if (l && !r.skip(1)) return false;         // TL0PICIDX
    if ((t || k) && !r.skip(1)) return false;  // TID|Y|KEYIDX
  }
  // RFC 7741 §4.3: Size0(3) H VER(3) P; P is the inverse key frame flag.
  std::uint8_t header = 0;
  if (!r.readU8(header)) return false;
  return (header & 0x01) == 0;
}

bool h264KeyframeStart(BytesView payload) {
  ByteReader r(payload);
  // RFC 6184 §5.3: F NRI(2) Type(5).
  std::uint8_t nal = 0;
  if (!r.readU8(nal)) return false;
  const std::uint8_t type = nal & 0x1F;
  if (type >= 1 && type <= 23) return isH264KeyNal(type);  // §5.6 single NAL unit
  if (type == 24) {
    // RFC 6184 §5.7.1 STAP-A: repeated (16-bit size, NAL unit).
    while (!r.empty()) {
      std::uint16_t size = 0;
      BytesView unit;
      if (!r.readU16(size) || !r.readBytes(size, unit)) return false;
      if (!unit.empty() && isH264KeyNal(unit[0] & 0x1F)) return true;
    }
    return false;
  }
  if (type == 28) {
    // RFC 6184 §5.8 FU-A: FU header S E R Type(5).
    std::uint8_t fu = 0;
    if (!r.readU8(fu)) return false;
    return (fu & 0x80) != 0 && isH264KeyNal(fu & 0x1F);
  }
  return false;
}

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

bool vp9KeyframeStart(BytesView payload) {
  // draft-ietf-payload-vp9 §4.2: I P L F B E V Z. Keyframe start: B=1 (start of frame), P=0 (not inter-predicted).
  if (payload.empty()) return false;
  const std::uint8_t b = payload[0];
  return (b & 0x08) != 0 && (b & 0x40) == 0;
}

bool av1KeyframeStart(BytesView payload) {
  // AV1 RTP payload format §4.4 aggregation header: Z Y W(2) N -(3); N=1 starts a new coded video sequence.
  if (payload.empty()) return false;
  return (payload[0] & 0x08) != 0;
}

}  // namespace

bool isKeyframeStart(VideoCodec codec, BytesView payload) {
  switch (codec) {
    case VideoCodec::VP8:
      return vp8KeyframeStart(payload);
    case VideoCodec::VP9:
      return vp9KeyframeStart(payload);
    case VideoCodec::H264:
      return h264KeyframeStart(payload);
    case VideoCodec::H265:
      return h265KeyframeStart(payload);
    case VideoCodec::AV1:
      return av1KeyframeStart(payload);
    case VideoCodec::Unknown:
      break;
  }
  return false;
}

}  // namespace stagecast::rtp
