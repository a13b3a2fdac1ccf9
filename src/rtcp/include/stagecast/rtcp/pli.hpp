#pragma once
// Picture Loss Indication (RFC 4585 §6.3.1): PSFB, FMT=1, no FCI.
#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp {

struct Pli {
  static constexpr std::uint8_t kFmt = 1;
  std::uint32_t senderSsrc = 0;
  std::uint32_t mediaSsrc = 0;

  static Result<Pli> parse(const CommonHeader& h);
  void write(ByteWriter& w) const;
  friend bool operator==(const Pli&, const Pli&) = default;
};

}  // namespace stagecast::rtcp
