#include "stagecast/rtcp/bye.hpp"

#include <algorithm>
#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

// RFC 3550 §6.6: SC SSRC/CSRCs, then an optional length-prefixed reason.
Result<Bye> Bye::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kBye, -1, "BYE"); !s) return s.error();
  ByteReader r(h.body);
  Bye bye;
  bye.ssrcs.resize(h.count);
  for (auto& ssrc : bye.ssrcs) {
    if (!r.readU32(ssrc)) return malformed("BYE source count " + std::to_string(h.count) + " runs past the packet");
  }
  if (!r.empty()) {
    std::uint8_t len = 0;
    BytesView text;
    r.readU8(len);
    if (!r.readBytes(len, text)) {
      return malformed("BYE reason length " + std::to_string(len) + " runs past the packet");
    }
    bye.reason.assign(asString(text));
  }
  return bye;
}

void Bye::write(ByteWriter& w) const {
  const std::size_t n = std::min<std::size_t>(ssrcs.size(), 31);  // SC is 5 bits
  const std::size_t start = beginPacket(w, static_cast<std::uint8_t>(n), pt::kBye);
  for (std::size_t i = 0; i < n; ++i) w.writeU32(ssrcs[i]);
  if (!reason.empty()) {
    const std::size_t len = std::min<std::size_t>(reason.size(), 255);
    w.writeU8(static_cast<std::uint8_t>(len));
    w.writeBytes(asBytes(reason).first(len));
  }
  finishPacket(w, start);  // zero padding to 32 bits (§6.6)
}

}  // namespace stagecast::rtcp
