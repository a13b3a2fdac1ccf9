#pragma once
// Receiver report (RFC 3550 §6.4.2).
#include <vector>

#include "stagecast/rtcp/header.hpp"
#include "stagecast/rtcp/report_block.hpp"

namespace stagecast::rtcp {

struct ReceiverReport {
  std::uint32_t senderSsrc = 0;
  std::vector<ReportBlock> reports;

  static Result<ReceiverReport> parse(const CommonHeader& h);
  void write(ByteWriter& w) const;
  friend bool operator==(const ReceiverReport&, const ReceiverReport&) = default;
};

}  // namespace stagecast::rtcp
