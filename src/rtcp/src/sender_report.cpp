#include "stagecast/rtcp/sender_report.hpp"

#include <algorithm>
#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

// RFC 3550 §6.4.1: sender SSRC, sender info (NTP, RTP timestamp, packet and octet counts), RC report blocks.
// Bytes after the report blocks are profile-specific extensions and are ignored.
Result<SenderReport> SenderReport::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kSenderReport, -1, "SR"); !s) return s.error();
  ByteReader r(h.body);
  SenderReport sr;
  if (!r.readU32(sr.senderSsrc) || !r.readU64(sr.ntpTimestamp) || !r.readU32(sr.rtpTimestamp) ||
      !r.readU32(sr.packetCount) || !r.readU32(sr.octetCount)) {
    return malformed("SR body of " + std::to_string(h.body.size()) + " bytes is shorter than the sender info");
  }
  sr.reports.resize(h.count);
  for (auto& block : sr.reports) {
    if (!block.read(r)) return malformed("SR report count " + std::to_string(h.count) + " runs past the packet");
  }
  return sr;
}

void SenderReport::write(ByteWriter& w) const {
  const std::size_t n = std::min<std::size_t>(reports.size(), 31);  // RC is 5 bits
  const std::size_t start = beginPacket(w, static_cast<std::uint8_t>(n), pt::kSenderReport);
  w.writeU32(senderSsrc);
  w.writeU64(ntpTimestamp);
  w.writeU32(rtpTimestamp);
  w.writeU32(packetCount);
  w.writeU32(octetCount);
  for (std::size_t i = 0; i < n; ++i) reports[i].write(w);
  finishPacket(w, start);
}

}  // namespace stagecast::rtcp
