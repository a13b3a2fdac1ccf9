#pragma once
// Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1):
// RTPFB, FMT=15. Packet status chunks and receive deltas are decoded.
#include <optional>
#include <vector>

#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp {

struct TransportCc {
  static constexpr std::uint8_t kFmt = 15;
  std::uint32_t senderSsrc = 0;
  std::uint32_t mediaSsrc = 0;
  std::uint16_t baseSequence = 0;
  std::uint32_t referenceTime = 0;  // 24 bits, multiples of 64 ms
  std::uint8_t feedbackCount = 0;
  // One entry per packet from baseSequence: nullopt when not received, else the receive delta in 250 µs units.
  std::vector<std::optional<std::int32_t>> deltas;

  static Result<TransportCc> parse(const CommonHeader& h);
  void write(ByteWriter& w) const;
  friend bool operator==(const TransportCc&, const TransportCc&) = default;
};

}  // namespace stagecast::rtcp
