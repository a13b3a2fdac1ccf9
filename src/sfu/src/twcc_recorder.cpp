#include "stagecast/sfu/twcc_recorder.hpp"

namespace stagecast::sfu {

std::int64_t TwccRecorder::unwrap(std::uint16_t sequence) {
  if (!lastExtended_) {
    lastExtended_ = sequence;
    return sequence;
  }
  // Choose the extended value closest to the last one (RFC 3550 Appendix A.1 style unwrapping).
  const auto diff =
      static_cast<std::int16_t>(static_cast<std::uint16_t>(sequence - static_cast<std::uint16_t>(*lastExtended_)));
  const std::int64_t ext = *lastExtended_ + diff;
  if (ext > *lastExtended_) lastExtended_ = ext;
  return ext;
}

void TwccRecorder::record(std::uint16_t sequence, TimePoint arrival) {
  const std::int64_t ext = unwrap(sequence);
  if (nextBase_ && ext < *nextBase_) return;  // already reported (as lost): too late to matter
  const auto us = std::chrono::duration_cast<microseconds>(arrival.time_since_epoch()).count();
  arrivals_.emplace(ext, us);
  // Bound memory if feedback is not being drained.
  while (arrivals_.size() > 4 * kMaxPacketsPerFeedback) arrivals_.erase(arrivals_.begin());
}

std::optional<rtcp::TransportCc> TwccRecorder::buildFeedback(std::uint32_t senderSsrc, std::uint32_t mediaSsrc) {
  if (arrivals_.empty()) return std::nullopt;
  std::int64_t base = nextBase_ ? std::max(*nextBase_, arrivals_.begin()->first) : arrivals_.begin()->first;
  if (nextBase_ && base - *nextBase_ < 64) base = *nextBase_;  // report a short run of leading losses too
  const std::int64_t last =
      std::min(arrivals_.rbegin()->first, base + static_cast<std::int64_t>(kMaxPacketsPerFeedback) - 1);

  rtcp::TransportCc fb;
  fb.senderSsrc = senderSsrc;
  fb.mediaSsrc = mediaSsrc;
  fb.baseSequence = static_cast<std::uint16_t>(base);
  fb.feedbackCount = feedbackCount_++;
  // §3.1: the reference time is in multiples of 64 ms; the first delta is relative to it.
  auto first = arrivals_.lower_bound(base);
  const std::int64_t refUnits = first->second / 64000;
  fb.referenceTime = static_cast<std::uint32_t>(refUnits & 0xFFFFFF);
  std::int64_t previousUs = refUnits * 64000;
  for (std::int64_t seq = base; seq <= last; ++seq) {
    auto it = arrivals_.find(seq);
    if (it == arrivals_.end()) {
      fb.deltas.emplace_back(std::nullopt);
      continue;
    }
    // §3.1.5: deltas in 250 µs units; accumulate the rounded value so errors do not add up.
    const std::int64_t delta = (it->second - previousUs) / 250;
    fb.deltas.emplace_back(static_cast<std::int32_t>(delta));
    previousUs += delta * 250;
  }
  arrivals_.erase(arrivals_.begin(), arrivals_.upper_bound(last));
  nextBase_ = last + 1;
  return fb;
}

}  // namespace stagecast::sfu
