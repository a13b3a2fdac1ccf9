#include "stagecast/rtcp/receiver_report.hpp"

#include <algorithm>
#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

// RFC 3550 §6.4.2: sender SSRC then RC report blocks; trailing profile extensions are ignored.
Result<ReceiverReport> ReceiverReport::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kReceiverReport, -1, "RR"); !s) return s.error();
  ByteReader r(h.body);
  ReceiverReport rr;
  if (!r.readU32(rr.senderSsrc)) return malformed("RR body lacks the sender SSRC");
  rr.reports.resize(h.count);
  for (auto& block : rr.reports) {
    if (!block.read(r)) return malformed("RR report count " + std::to_string(h.count) + " runs past the packet");
  }
  return rr;
}

void ReceiverReport::write(ByteWriter& w) const {
  const std::size_t n = std::min<std::size_t>(reports.size(), 31);  // RC is 5 bits
  const std::size_t start = beginPacket(w, static_cast<std::uint8_t>(n), pt::kReceiverReport);
  w.writeU32(senderSsrc);
  for (std::size_t i = 0; i < n; ++i) reports[i].write(w);
  finishPacket(w, start);
}

}  // namespace stagecast::rtcp
