#pragma once
// Generic NACK (RFC 4585 §6.2.1): RTPFB, FMT=1.
#include <vector>

#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp {

struct Nack {
  static constexpr std::uint8_t kFmt = 1;
  std::uint32_t senderSsrc = 0;
  std::uint32_t mediaSsrc = 0;
  std::vector<std::uint16_t> lostSequences;  // expanded from PID/BLP pairs, in packet order

  static Result<Nack> parse(const CommonHeader& h);
  // Packs the sequence numbers into as few PID/BLP pairs as possible.
  void write(ByteWriter& w) const;
  friend bool operator==(const Nack&, const Nack&) = default;
};

}  // namespace stagecast::rtcp
