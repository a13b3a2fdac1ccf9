#include "stagecast/rtp/rtp_packet.hpp"

#include <string>

#include "stagecast/common/byte_reader.hpp"
#include "stagecast/common/byte_writer.hpp"

namespace stagecast::rtp {

namespace {

constexpr std::uint16_t kOneByteProfile = 0xBEDE;  // RFC 8285 §4.2
constexpr std::uint16_t kTwoByteProfile = 0x1000;  // RFC 8285 §4.3 (low 4 bits are "appbits")
constexpr std::uint16_t kTwoByteProfileMask = 0xFFF0;

Error malformed(std::string message) { return Error{"RTP_MALFORMED", std::move(message)}; }

void keep(RtpPacket& p, std::uint8_t id, BytesView data) {
  if (p.extensionCount < p.extensions.size()) {
    p.extensions[p.extensionCount++] = HeaderExtension{id, data};
  }
}

// RFC 8285 §4.2: one-byte header elements. ID 0 is a padding byte, ID 15 stops parsing.
Status parseOneByte(BytesView block, RtpPacket& p) {
  ByteReader r(block);
  while (!r.empty()) {
    std::uint8_t b = 0;
    r.readU8(b);
    const std::uint8_t id = b >> 4;
    if (id == 0) continue;  // padding
    if (id == 15) break;    // reserved: stop processing the block
    const std::size_t len = (b & 0x0F) + 1u;
    BytesView data;
    if (!r.readBytes(len, data)) {
      return malformed("one-byte extension id " + std::to_string(id) + " length " + std::to_string(len) +
                       " runs past the extension block");
    }
    keep(p, id, data);
  }
  return {};
}

// RFC 8285 §4.3: two-byte header elements. ID 0 is a padding byte; length may be 0.
Status parseTwoByte(BytesView block, RtpPacket& p) {
  ByteReader r(block);
  while (!r.empty()) {
    std::uint8_t id = 0;
    r.readU8(id);
    if (id == 0) continue;  // padding
    std::uint8_t len = 0;
    if (!r.readU8(len)) return malformed("two-byte extension id " + std::to_string(id) + " lacks its length");
    BytesView data;
    if (!r.readBytes(len, data)) {
      return malformed("two-byte extension id " + std::to_string(id) + " length " + std::to_string(len) +
                       " runs past the extension block");
    }
    keep(p, id, data);
  }
  return {};
}

}  // namespace

std::optional<BytesView> RtpPacket::extension(std::uint8_t id) const {
  for (std::size_t i = 0; i < extensionCount && i < extensions.size(); ++i) {
    if (extensions[i].id == id) return extensions[i].data;
  }
  return std::nullopt;
}

// RFC 7983 §7.
bool looksLikeRtpOrRtcp(BytesView datagram) { return !datagram.empty() && datagram[0] >= 128 && datagram[0] <= 191; }

// RFC 5761 §4.
bool looksLikeRtcp(BytesView datagram) {
  return datagram.size() >= 2 && looksLikeRtpOrRtcp(datagram) && datagram[1] >= 192 && datagram[1] <= 223;
}

Result<RtpPacket> parse(BytesView datagram) {
  ByteReader r(datagram);
  RtpPacket p;
  // RFC 3550 §5.1 fixed header.
  std::uint8_t b0 = 0;
  std::uint8_t b1 = 0;
  if (!r.readU8(b0) || !r.readU8(b1) || !r.readU16(p.sequenceNumber) || !r.readU32(p.timestamp) || !r.readU32(p.ssrc)) {
    return malformed("packet of " + std::to_string(datagram.size()) + " bytes is shorter than the 12-byte header");
  }
  const unsigned version = b0 >> 6;
  if (version != 2) return malformed("version " + std::to_string(version) + " is not 2");
  const bool hasPadding = (b0 & 0x20) != 0;
  const bool hasExtension = (b0 & 0x10) != 0;
  p.csrcCount = b0 & 0x0F;
  p.marker = (b1 & 0x80) != 0;
  p.payloadType = b1 & 0x7F;

  for (std::size_t i = 0; i < p.csrcCount; ++i) {
    if (!r.readU32(p.csrcs[i])) {
      return malformed("CSRC count " + std::to_string(p.csrcCount) + " runs past the packet");
    }
  }

  // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words, then the extension data.
  if (hasExtension) {
    std::uint16_t profile = 0;
    std::uint16_t words = 0;
    if (!r.readU16(profile) || !r.readU16(words)) return malformed("extension header runs past the packet");
    BytesView block;
    if (!r.readBytes(std::size_t{words} * 4, block)) {
      return malformed("extension length of " + std::to_string(words) + " words runs past the packet");
    }
    p.extensionProfile = profile;
    if (profile == kOneByteProfile) {
      if (auto s = parseOneByte(block, p); !s) return s.error();
    } else if ((profile & kTwoByteProfileMask) == kTwoByteProfile) {
      if (auto s = parseTwoByte(block, p); !s) return s.error();
    }
  }
  p.headerSize = r.position();

  BytesView body = r.rest();
  // RFC 3550 §5.1: with P set, the last octet counts the padding octets, itself included.
  if (hasPadding) {
    if (body.empty()) return malformed("padding bit set but no payload bytes follow the header");
    const std::uint8_t pad = body.back();
    if (pad == 0) return malformed("padding count is 0");
    if (pad > body.size()) {
      return malformed("padding count " + std::to_string(pad) + " exceeds the " + std::to_string(body.size()) +
                       " bytes after the header");
    }
    p.paddingSize = pad;
    body = body.first(body.size() - pad);
  }
  p.payload = body;
  return p;
}

std::size_t write(const RtpHeaderFields& fields, std::span<const HeaderExtension> extensions, BytesView payload,
                  Bytes& out) {
  out.clear();
  ByteWriter w(12 + payload.size() + 64);
  // RFC 3550 §5.1 fixed header: V=2, P=0, X, CC=0.
  w.writeU8(static_cast<std::uint8_t>(0x80 | (extensions.empty() ? 0 : 0x10)));
  w.writeU8(static_cast<std::uint8_t>((fields.marker ? 0x80 : 0) | (fields.payloadType & 0x7F)));
  w.writeU16(fields.sequenceNumber);
  w.writeU32(fields.timestamp);
  w.writeU32(fields.ssrc);

  if (!extensions.empty()) {
    // RFC 8285 §4.2: the one-byte form carries ids 1..14 with 1..16 data bytes; otherwise use §4.3.
    bool oneByte = true;
    for (const auto& e : extensions) {
      if (e.id < 1 || e.id > 14 || e.data.empty() || e.data.size() > 16) oneByte = false;
    }
    w.writeU16(oneByte ? kOneByteProfile : kTwoByteProfile);
    const std::size_t lengthPos = w.size();
    w.writeU16(0);
    const std::size_t blockStart = w.size();
    for (const auto& e : extensions) {
      if (oneByte) {
        w.writeU8(static_cast<std::uint8_t>((e.id << 4) | (e.data.size() - 1)));
      } else {
        if (e.id == 0 || e.data.size() > 255) continue;  // not representable (id 0 is padding)
        w.writeU8(e.id);
        w.writeU8(static_cast<std::uint8_t>(e.data.size()));
      }
      w.writeBytes(e.data);
    }
    // RFC 3550 §5.3.1: the block is a whole number of 32-bit words; pad with zero (RFC 8285 padding) bytes.
    while ((w.size() - blockStart) % 4 != 0) w.writeU8(0);
    w.patchU16(lengthPos, static_cast<std::uint16_t>((w.size() - blockStart) / 4));
  }
  w.writeBytes(payload);
  out = w.take();
  return out.size();
}

// abs-send-time: 6.18 fixed-point seconds, wrapping every 64 s.
std::array<std::uint8_t, 3> encodeAbsSendTime(std::uint64_t microsecondsSinceAnyEpoch) {
  const std::uint64_t seconds = microsecondsSinceAnyEpoch / 1000000;
  const std::uint64_t micros = microsecondsSinceAnyEpoch % 1000000;
  const std::uint32_t v = static_cast<std::uint32_t>(((seconds & 0x3F) << 18) | ((micros << 18) / 1000000)) & 0xFFFFFF;
  return {static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

std::optional<std::uint32_t> decodeAbsSendTime(BytesView data) {
  if (data.size() != 3) return std::nullopt;
  ByteReader r(data);
  std::uint32_t v = 0;
  r.readU24(v);
  return v;
}

std::optional<std::uint16_t> decodeTransportSequence(BytesView data) {
  ByteReader r(data);
  std::uint16_t v = 0;
  if (!r.readU16(v)) return std::nullopt;
  return v;
}

}  // namespace stagecast::rtp
