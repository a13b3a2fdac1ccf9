#include "stagecast/common/clock.hpp"

#include <cstdint>

namespace stagecast {

std::uint64_t ntpNow() {
  // Seconds between 1900-01-01 (NTP epoch) and 1970-01-01 (Unix epoch).
  constexpr std::uint64_t kEpochDelta = 2208988800ULL;
  const auto since = std::chrono::system_clock::now().time_since_epoch();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(since).count();
  const std::uint64_t secs = static_cast<std::uint64_t>(us / 1000000) + kEpochDelta;
  const std::uint64_t frac = (static_cast<std::uint64_t>(us % 1000000) << 32) / 1000000;
  return (secs << 32) | frac;
}

}  // namespace stagecast
