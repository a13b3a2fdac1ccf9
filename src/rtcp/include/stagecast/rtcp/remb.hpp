#pragma once
// Receiver Estimated Maximum Bitrate (draft-alvestrand-rmcat-remb-03 §2.2): PSFB, FMT=15, "REMB".
#include <vector>

#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp {

struct Remb {
  static constexpr std::uint8_t kFmt = 15;
  std::uint32_t senderSsrc = 0;
  std::uint64_t bitrateBps = 0;  // mantissa << exponent
  std::vector<std::uint32_t> ssrcs;

  static Result<Remb> parse(const CommonHeader& h);  // fails when the FCI is not REMB
  void write(ByteWriter& w) const;
  friend bool operator==(const Remb&, const Remb&) = default;
};

}  // namespace stagecast::rtcp
