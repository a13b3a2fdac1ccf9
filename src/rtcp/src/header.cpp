#include "stagecast/rtcp/header.hpp"

#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

Result<std::vector<CommonHeader>> splitCompound(BytesView datagram) {
  if (datagram.empty()) return malformed("empty compound packet");
  std::vector<CommonHeader> out;
  ByteReader r(datagram);
  while (!r.empty()) {
    const std::size_t start = r.position();
    // RFC 3550 §6.4.1: V(2) P RC(5) | PT | length in 32-bit words minus one.
    std::uint8_t b0 = 0;
    CommonHeader h;
    std::uint16_t words = 0;
    if (!r.readU8(b0) || !r.readU8(h.packetType) || !r.readU16(words)) {
      return malformed("packet at offset " + std::to_string(start) + " is shorter than the 4-byte header");
    }
    if ((b0 >> 6) != 2) {
      return malformed("packet at offset " + std::to_string(start) + " has version " + std::to_string(b0 >> 6));
    }
    h.padding = (b0 & 0x20) != 0;
    h.count = b0 & 0x1F;
    h.lengthBytes = (std::size_t{words} + 1) * 4;
    BytesView body;
    if (!r.readBytes(h.lengthBytes - 4, body)) {
      return malformed("packet at offset " + std::to_string(start) + " length " + std::to_string(h.lengthBytes) +
                       " runs past the " + std::to_string(datagram.size()) + "-byte datagram");
    }
    // RFC 3550 §6.4.1: with P set, the last octet counts the padding octets, itself included.
    if (h.padding) {
      const std::uint8_t pad = body.empty() ? 0 : body.back();
      if (pad == 0 || pad > body.size()) {
        return malformed("packet at offset " + std::to_string(start) + " has invalid padding count " +
                         std::to_string(pad));
      }
      body = body.first(body.size() - pad);
    }
    h.body = body;
    h.whole = datagram.subspan(start, h.lengthBytes);
    out.push_back(h);
  }
  return out;
}

std::size_t beginPacket(ByteWriter& w, std::uint8_t count, std::uint8_t packetType) {
  const std::size_t start = w.size();
  // RFC 3550 §6.4.1: V=2, P=0, count; length patched by finishPacket().
  w.writeU8(static_cast<std::uint8_t>(0x80 | (count & 0x1F)));
  w.writeU8(packetType);
  w.writeU16(0);
  return start;
}

void finishPacket(ByteWriter& w, std::size_t start) {
  // RFC 3550 §6.4.1: packets are 32-bit aligned; length is in 32-bit words minus one.
  while ((w.size() - start) % 4 != 0) w.writeU8(0);
  w.patchU16(start + 2, static_cast<std::uint16_t>((w.size() - start) / 4 - 1));
}

}  // namespace stagecast::rtcp
