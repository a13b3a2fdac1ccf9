#pragma once
// Sender report (RFC 3550 §6.4.1).
#include <vector>

#include "stagecast/rtcp/header.hpp"
#include "stagecast/rtcp/report_block.hpp"

namespace stagecast::rtcp {

struct SenderReport {
  std::uint32_t senderSsrc = 0;
  std::uint64_t ntpTimestamp = 0;
  std::uint32_t rtpTimestamp = 0;
  std::uint32_t packetCount = 0;
  std::uint32_t octetCount = 0;
  std::vector<ReportBlock> reports;

  static Result<SenderReport> parse(const CommonHeader& h);
  void write(ByteWriter& w) const;
  friend bool operator==(const SenderReport&, const SenderReport&) = default;
};

}  // namespace stagecast::rtcp
