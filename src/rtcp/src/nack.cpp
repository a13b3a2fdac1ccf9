#include "stagecast/rtcp/nack.hpp"

#include <algorithm>
#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

// RFC 4585 §6.1 feedback header (sender SSRC, media SSRC), then §6.2.1 FCI entries of PID(16) BLP(16).
// An empty FCI list is tolerated and yields no sequences.
Result<Nack> Nack::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kRtpFeedback, kFmt, "NACK"); !s) return s.error();
  ByteReader r(h.body);
  Nack nack;
  if (!r.readU32(nack.senderSsrc) || !r.readU32(nack.mediaSsrc)) {
    return malformed("NACK body of " + std::to_string(h.body.size()) + " bytes lacks the feedback header");
  }
  if (r.remaining() % 4 != 0) {
    return malformed("NACK FCI of " + std::to_string(r.remaining()) + " bytes is not a multiple of 4");
  }
  while (!r.empty()) {
    std::uint16_t pid = 0;
    std::uint16_t blp = 0;
    r.readU16(pid);
    r.readU16(blp);
    // §6.2.1: bit i of BLP reports PID + i + 1 lost.
    nack.lostSequences.push_back(pid);
    for (unsigned i = 0; i < 16; ++i) {
      if ((blp >> i) & 1u) nack.lostSequences.push_back(static_cast<std::uint16_t>(pid + i + 1));
    }
  }
  return nack;
}

void Nack::write(ByteWriter& w) const {
  // Order the distinct sequence numbers along the 16-bit circle, starting just after the largest gap, so that a
  // window wrapping through 65535 -> 0 stays contiguous; then cover greedily from the oldest (optimal for
  // intervals of width 17).
  std::vector<std::uint16_t> seqs = lostSequences;
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  if (seqs.size() > 1) {
    std::size_t first = 0;
    std::uint32_t largestGap = 0;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      const std::uint16_t next = seqs[(i + 1) % seqs.size()];
      const std::uint32_t gap = static_cast<std::uint16_t>(next - seqs[i]);
      if (gap > largestGap) {
        largestGap = gap;
        first = (i + 1) % seqs.size();
      }
    }
    std::rotate(seqs.begin(), seqs.begin() + static_cast<std::ptrdiff_t>(first), seqs.end());
  }

  const std::size_t start = beginPacket(w, kFmt, pt::kRtpFeedback);
  w.writeU32(senderSsrc);
  w.writeU32(mediaSsrc);
  std::size_t i = 0;
  while (i < seqs.size()) {
    const std::uint16_t pid = seqs[i++];
    std::uint16_t blp = 0;
    while (i < seqs.size()) {
      const std::uint16_t offset = static_cast<std::uint16_t>(seqs[i] - pid);
      if (offset < 1 || offset > 16) break;
      blp = static_cast<std::uint16_t>(blp | (1u << (offset - 1)));
      ++i;
    }
    w.writeU16(pid);
    w.writeU16(blp);
  }
  finishPacket(w, start);
}

}  // namespace stagecast::rtcp
