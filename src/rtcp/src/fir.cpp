#include "stagecast/rtcp/fir.hpp"

#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

// RFC 5104 §4.3.1: feedback header (media SSRC unused, 0), then FCI entries of SSRC(32) Seq nr(8) reserved(24).
Result<Fir> Fir::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kPayloadFeedback, kFmt, "FIR"); !s) return s.error();
  ByteReader r(h.body);
  Fir fir;
  std::uint32_t mediaSsrc = 0;
  if (!r.readU32(fir.senderSsrc) || !r.readU32(mediaSsrc)) {
    return malformed("FIR body of " + std::to_string(h.body.size()) + " bytes lacks the feedback header");
  }
  if (r.remaining() % 8 != 0) {
    return malformed("FIR FCI of " + std::to_string(r.remaining()) + " bytes is not a multiple of 8");
  }
  while (!r.empty()) {
    FirEntry e;
    r.readU32(e.ssrc);
    r.readU8(e.sequenceNumber);
    r.skip(3);  // reserved
    fir.entries.push_back(e);
  }
  return fir;
}

void Fir::write(ByteWriter& w) const {
  const std::size_t start = beginPacket(w, kFmt, pt::kPayloadFeedback);
  w.writeU32(senderSsrc);
  w.writeU32(0);  // §4.3.1.2: media source SSRC is not used and set to 0
  for (const auto& e : entries) {
    w.writeU32(e.ssrc);
    w.writeU8(e.sequenceNumber);
    w.writeU24(0);
  }
  finishPacket(w, start);
}

}  // namespace stagecast::rtcp
