#include "stagecast/rtcp/sdes.hpp"

#include <algorithm>
#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

namespace {
constexpr std::uint8_t kEnd = 0;
constexpr std::uint8_t kCname = 1;
}  // namespace

// RFC 3550 §6.5: SC chunks of (SSRC, items..., null octet(s) padding to the next 32-bit boundary).
Result<Sdes> Sdes::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kSdes, -1, "SDES"); !s) return s.error();
  ByteReader r(h.body);
  Sdes sdes;
  for (std::size_t c = 0; c < h.count; ++c) {
    SdesChunk chunk;
    if (!r.readU32(chunk.ssrc)) return malformed("SDES chunk " + std::to_string(c) + " lacks its SSRC");
    for (;;) {
      std::uint8_t type = 0;
      if (!r.readU8(type)) return malformed("SDES chunk " + std::to_string(c) + " lacks its terminating null item");
      if (type == kEnd) break;
      std::uint8_t len = 0;
      BytesView text;
      if (!r.readU8(len) || !r.readBytes(len, text)) {
        return malformed("SDES item type " + std::to_string(type) + " runs past the packet");
      }
      if (type == kCname) chunk.cname.assign(asString(text));  // §6.5.1; other items are skipped
    }
    // RFC 3550 §6.5: the null item is followed by padding to a 32-bit boundary (the body starts aligned).
    const std::size_t pad = (4 - r.position() % 4) % 4;
    if (!r.skip(pad)) return malformed("SDES chunk " + std::to_string(c) + " lacks its 32-bit padding");
    sdes.chunks.push_back(std::move(chunk));
  }
  return sdes;
}

void Sdes::write(ByteWriter& w) const {
  const std::size_t n = std::min<std::size_t>(chunks.size(), 31);  // SC is 5 bits
  const std::size_t start = beginPacket(w, static_cast<std::uint8_t>(n), pt::kSdes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& chunk = chunks[i];
    w.writeU32(chunk.ssrc);
    if (!chunk.cname.empty()) {
      const std::size_t len = std::min<std::size_t>(chunk.cname.size(), 255);  // §6.5: 8-bit length
      w.writeU8(kCname);
      w.writeU8(static_cast<std::uint8_t>(len));
      w.writeBytes(asBytes(chunk.cname).first(len));
    }
    // RFC 3550 §6.5: at least one null octet, then pad to 32 bits.
    w.writeU8(kEnd);
    while ((w.size() - start) % 4 != 0) w.writeU8(0);
  }
  finishPacket(w, start);
}

}  // namespace stagecast::rtcp
