#include "stagecast/rtcp/report_block.hpp"

#include <algorithm>

namespace stagecast::rtcp {

// RFC 3550 §6.4.1: SSRC, fraction lost(8), cumulative lost(24, signed), extended highest sequence, jitter, LSR,
// DLSR.
bool ReportBlock::read(ByteReader& r) {
  ReportBlock b;
  std::uint32_t lost = 0;
  if (!r.readU32(b.ssrc) || !r.readU8(b.fractionLost) || !r.readU24(lost) || !r.readU32(b.highestSequence) ||
      !r.readU32(b.jitter) || !r.readU32(b.lastSr) || !r.readU32(b.delaySinceLastSr)) {
    return false;
  }
  // Sign-extend the 24-bit two's complement value.
  b.cumulativeLost =
      (lost & 0x800000) != 0 ? static_cast<std::int32_t>(lost) - 0x1000000 : static_cast<std::int32_t>(lost);
  *this = b;
  return true;
}

void ReportBlock::write(ByteWriter& w) const {
  w.writeU32(ssrc);
  w.writeU8(fractionLost);
  // Clamp to the 24-bit signed range (RFC 3550 §6.4.1) before truncating.
  const std::int32_t lost = std::clamp<std::int32_t>(cumulativeLost, -0x800000, 0x7FFFFF);
  w.writeU24(static_cast<std::uint32_t>(lost) & 0xFFFFFF);
  w.writeU32(highestSequence);
  w.writeU32(jitter);
  w.writeU32(lastSr);
  w.writeU32(delaySinceLastSr);
}

}  // namespace stagecast::rtcp
