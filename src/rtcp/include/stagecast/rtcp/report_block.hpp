#pragma once
// Reception report block (RFC 3550 §6.4.1), shared by SR and RR.
#include <cstdint>

#include "stagecast/common/byte_reader.hpp"
#include "stagecast/common/byte_writer.hpp"

namespace stagecast::rtcp {

struct ReportBlock {
  std::uint32_t ssrc = 0;
  std::uint8_t fractionLost = 0;
  std::int32_t cumulativeLost = 0;  // 24-bit signed
  std::uint32_t highestSequence = 0;
  std::uint32_t jitter = 0;
  std::uint32_t lastSr = 0;
  std::uint32_t delaySinceLastSr = 0;

  bool read(ByteReader& r);
  void write(ByteWriter& w) const;
  friend bool operator==(const ReportBlock&, const ReportBlock&) = default;
};

}  // namespace stagecast::rtcp
