#include "stagecast/rtcp/pli.hpp"

#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

// RFC 4585 §6.3.1: feedback header only, no FCI (extra bytes are ignored).
Result<Pli> Pli::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kPayloadFeedback, kFmt, "PLI"); !s) return s.error();
  ByteReader r(h.body);
  Pli pli;
  if (!r.readU32(pli.senderSsrc) || !r.readU32(pli.mediaSsrc)) {
    return malformed("PLI body of " + std::to_string(h.body.size()) + " bytes lacks the feedback header");
  }
  return pli;
}

void Pli::write(ByteWriter& w) const {
  const std::size_t start = beginPacket(w, kFmt, pt::kPayloadFeedback);
  w.writeU32(senderSsrc);
  w.writeU32(mediaSsrc);
  finishPacket(w, start);
}

}  // namespace stagecast::rtcp
