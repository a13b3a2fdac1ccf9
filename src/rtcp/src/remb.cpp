#include "stagecast/rtcp/remb.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

namespace {
constexpr std::uint32_t kRembId = 0x52454D42;  // "REMB"
constexpr std::uint64_t kMantissaLimit = 1u << 18;
}  // namespace

// draft-alvestrand-rmcat-remb-03 §2.2: feedback header (media SSRC 0), "REMB", Num SSRC(8), BR Exp(6),
// BR Mantissa(18), then Num SSRC SSRCs.
Result<Remb> Remb::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kPayloadFeedback, kFmt, "REMB"); !s) return s.error();
  ByteReader r(h.body);
  Remb remb;
  std::uint32_t mediaSsrc = 0;
  std::uint32_t id = 0;
  if (!r.readU32(remb.senderSsrc) || !r.readU32(mediaSsrc) || !r.readU32(id)) {
    return malformed("REMB body of " + std::to_string(h.body.size()) + " bytes lacks the feedback header");
  }
  if (id != kRembId) return malformed("application-layer feedback is not REMB");
  std::uint8_t numSsrc = 0;
  std::uint32_t brField = 0;
  if (!r.readU8(numSsrc) || !r.readU24(brField)) return malformed("REMB lacks the bitrate field");
  const unsigned exp = brField >> 18;
  const std::uint64_t mantissa = brField & (kMantissaLimit - 1);
  // Saturate rather than wrap when mantissa << exp does not fit 64 bits.
  remb.bitrateBps = mantissa > (std::numeric_limits<std::uint64_t>::max() >> exp)
                        ? std::numeric_limits<std::uint64_t>::max()
                        : mantissa << exp;
  remb.ssrcs.resize(numSsrc);
  for (auto& ssrc : remb.ssrcs) {
    if (!r.readU32(ssrc)) return malformed("REMB SSRC count " + std::to_string(numSsrc) + " runs past the packet");
  }
  return remb;
}

void Remb::write(ByteWriter& w) const {
  // §2.2: the smallest exponent whose mantissa fits in 18 bits (keeps the most precision).
  unsigned exp = 0;
  while ((bitrateBps >> exp) >= kMantissaLimit) ++exp;
  const std::size_t n = std::min<std::size_t>(ssrcs.size(), 255);
  const std::size_t start = beginPacket(w, kFmt, pt::kPayloadFeedback);
  w.writeU32(senderSsrc);
  w.writeU32(0);
  w.writeU32(kRembId);
  w.writeU8(static_cast<std::uint8_t>(n));
  w.writeU24(static_cast<std::uint32_t>((exp << 18) | (bitrateBps >> exp)));
  for (std::size_t i = 0; i < n; ++i) w.writeU32(ssrcs[i]);
  finishPacket(w, start);
}

}  // namespace stagecast::rtcp
