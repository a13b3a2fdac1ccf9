#pragma once
// Time is injected: protocol machines take `TimePoint now` as an argument and never read a clock.
#include <chrono>

namespace stagecast {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Source of the current time for objects that own a loop; tests substitute ManualClock.
class TimeSource {
 public:
  virtual ~TimeSource() = default;
  [[nodiscard]] virtual TimePoint now() const = 0;
};

class SteadyTimeSource final : public TimeSource {
 public:
  [[nodiscard]] TimePoint now() const override { return Clock::now(); }
};

class ManualTimeSource final : public TimeSource {
 public:
  [[nodiscard]] TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_{std::chrono::seconds(1000)};
};

// NTP timestamp (RFC 3550 §4) of the wall clock, for RTCP sender reports.
std::uint64_t ntpNow();

}  // namespace stagecast
