#include "stagecast/sfu/twcc_recorder.hpp"

#include <gtest/gtest.h>

using namespace stagecast;
using namespace stagecast::sfu;

namespace {
// Round-trips feedback through the wire format, as the publisher will read it.
rtcp::TransportCc onWire(const rtcp::TransportCc& fb) {
  ByteWriter w;
  fb.write(w);
  auto parts = rtcp::splitCompound(w.bytes());
  EXPECT_TRUE(parts.ok());
  auto parsed = rtcp::TransportCc::parse(parts->at(0));
  EXPECT_TRUE(parsed.ok());
  return *parsed;
}
}  // namespace

TEST(TwccRecorder, ReportsArrivalDeltasAndLosses) {
  TwccRecorder r;
  const TimePoint t0{milliseconds(64 * 1000 + 10)};
  r.record(100, t0);
  r.record(101, t0 + microseconds(2000));
  // 102 lost
  r.record(103, t0 + microseconds(5000));
  auto fb = r.buildFeedback(1, 2);
  ASSERT_TRUE(fb);
  const auto wire = onWire(*fb);
  EXPECT_EQ(wire.baseSequence, 100);
  EXPECT_EQ(wire.referenceTime, 1000U);  // 64 ms units
  ASSERT_EQ(wire.deltas.size(), 4U);
  EXPECT_EQ(wire.deltas[0], 40);  // 10 ms after the reference time, in 250 µs units
  EXPECT_EQ(wire.deltas[1], 8);   // +2 ms
  EXPECT_FALSE(wire.deltas[2].has_value());
  EXPECT_EQ(wire.deltas[3], 12);  // +3 ms
  EXPECT_FALSE(r.buildFeedback(1, 2)) << "nothing new";
}

TEST(TwccRecorder, ContinuesAfterThePreviousFeedbackAcrossWrap) {
  TwccRecorder r;
  TimePoint t{seconds(10)};
  r.record(65534, t);
  r.record(65535, t + milliseconds(1));
  auto first = r.buildFeedback(1, 2);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->deltas.size(), 2U);
  r.record(1, t + milliseconds(3));  // 0 lost, sequence wrapped
  auto second = r.buildFeedback(1, 2);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->baseSequence, 0);
  ASSERT_EQ(second->deltas.size(), 2U);
  EXPECT_FALSE(second->deltas[0].has_value());
  EXPECT_TRUE(second->deltas[1].has_value());
  EXPECT_EQ(static_cast<std::uint8_t>(second->feedbackCount - first->feedbackCount), 1);
}

TEST(TwccRecorder, IgnoresPacketsAlreadyReported) {
  TwccRecorder r;
  TimePoint t{seconds(10)};
  r.record(10, t);
  r.record(11, t);
  ASSERT_TRUE(r.buildFeedback(1, 2));
  r.record(10, t + milliseconds(5));  // a late duplicate
  EXPECT_FALSE(r.buildFeedback(1, 2));
}
