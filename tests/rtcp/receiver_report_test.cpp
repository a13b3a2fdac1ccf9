#include "stagecast/rtcp/receiver_report.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
// RFC 3550 §6.4.2: RC=1, length 7 (32 bytes).
const Bytes kRr{0x81, 0xC9, 0x00, 0x07, 0x11, 0x22, 0x33, 0x44,   // header, sender SSRC
                0xAA, 0xBB, 0xCC, 0xDD, 0x00, 0x00, 0x00, 0x07,   // block: SSRC, fraction 0, lost 7
                0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01,   // highest seq, jitter
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};  // LSR, DLSR

ReceiverReport expected() {
  ReceiverReport rr;
  rr.senderSsrc = 0x11223344;
  rr.reports.push_back(ReportBlock{0xAABBCCDD, 0, 7, 0xFFFF, 1, 0, 0});
  return rr;
}
}  // namespace

TEST(ReceiverReport, ParsesKnownBytes) {
  auto rr = ReceiverReport::parse(headerOf(kRr));
  ASSERT_TRUE(rr.ok()) << rr.error().message;
  EXPECT_EQ(*rr, expected());
}

TEST(ReceiverReport, WritesKnownBytes) { EXPECT_EQ(written(expected()), kRr); }

TEST(ReceiverReport, EmptyReportRoundTrip) {
  ReceiverReport rr;
  rr.senderSsrc = 5;
  const Bytes bytes = written(rr);
  EXPECT_EQ(bytes, (Bytes{0x80, 0xC9, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05}));
  auto back = ReceiverReport::parse(headerOf(bytes));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, rr);
}

TEST(ReceiverReport, MultipleBlocksRoundTrip) {
  ReceiverReport rr;
  rr.senderSsrc = 1;
  for (std::uint32_t i = 0; i < 3; ++i) rr.reports.push_back(ReportBlock{i, 1, -int(i), i, i, i, i});
  auto back = ReceiverReport::parse(headerOf(written(rr)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, rr);
}

TEST(ReceiverReport, EveryTruncationFails) {
  const CommonHeader h = headerOf(kRr);
  for (std::size_t n = 0; n < h.body.size(); ++n) {
    auto rr = ReceiverReport::parse(truncated(h, n));
    ASSERT_FALSE(rr.ok()) << n;
    EXPECT_EQ(rr.error().code, "RTCP_MALFORMED");
  }
}
