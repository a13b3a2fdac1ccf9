#pragma once
// Full Intra Request (RFC 5104 §4.3.1): PSFB, FMT=4.
#include <vector>

#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp {

struct FirEntry {
  std::uint32_t ssrc = 0;
  std::uint8_t sequenceNumber = 0;
  friend bool operator==(const FirEntry&, const FirEntry&) = default;
};

struct Fir {
  static constexpr std::uint8_t kFmt = 4;
  std::uint32_t senderSsrc = 0;
  std::vector<FirEntry> entries;

  static Result<Fir> parse(const CommonHeader& h);
  void write(ByteWriter& w) const;
  friend bool operator==(const Fir&, const Fir&) = default;
};

}  // namespace stagecast::rtcp
