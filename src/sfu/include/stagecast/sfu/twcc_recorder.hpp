#pragma once
// Receive side of transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01):
// records the arrival time of every transport-wide sequence number and turns them into feedback packets, so
// that a publisher's send-side bandwidth estimator can see our receive timing.
#include <cstdint>
#include <map>
#include <optional>

#include "stagecast/common/clock.hpp"
#include "stagecast/rtcp/transport_cc.hpp"

namespace stagecast::sfu {

class TwccRecorder {
 public:
  void record(std::uint16_t sequence, TimePoint arrival);
  // Feedback for everything recorded since the previous call (nullopt when nothing new). §3.1: packets not seen
  // between the base and the newest sequence are reported as not received.
  std::optional<rtcp::TransportCc> buildFeedback(std::uint32_t senderSsrc, std::uint32_t mediaSsrc);

  static constexpr std::size_t kMaxPacketsPerFeedback = 1000;

 private:
  std::int64_t unwrap(std::uint16_t sequence);

  std::map<std::int64_t, std::int64_t> arrivals_;  // extended sequence → arrival in µs
  std::optional<std::int64_t> nextBase_;
  std::optional<std::int64_t> lastExtended_;
  std::uint8_t feedbackCount_ = 0;
};

}  // namespace stagecast::sfu
