#include "stagecast/rtcp/sender_report.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
// RFC 3550 §6.4.1: RC=1, length 12 (52 bytes).
const Bytes kSr{0x81, 0xC8, 0x00, 0x0C,                          // header
                0x11, 0x22, 0x33, 0x44,                          // sender SSRC
                0x83, 0xAA, 0x7E, 0x80, 0x80, 0x00, 0x00, 0x00,  // NTP
                0x00, 0x00, 0x10, 0x00,                          // RTP timestamp
                0x00, 0x00, 0x00, 0x0A,                          // packet count
                0x00, 0x00, 0x03, 0xE8,                          // octet count
                0xAA, 0xBB, 0xCC, 0xDD, 0x40, 0xFF, 0xFF, 0xFE,  // report block
                0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x20,  // (cont.)
                0x7E, 0x80, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};

SenderReport expected() {
  SenderReport sr;
  sr.senderSsrc = 0x11223344;
  sr.ntpTimestamp = 0x83AA7E8080000000ULL;
  sr.rtpTimestamp = 0x1000;
  sr.packetCount = 10;
  sr.octetCount = 1000;
  sr.reports.push_back(ReportBlock{0xAABBCCDD, 0x40, -2, 0x00010005, 0x20, 0x7E800000, 0x10000});
  return sr;
}
}  // namespace

TEST(SenderReport, ParsesKnownBytes) {
  auto sr = SenderReport::parse(headerOf(kSr));
  ASSERT_TRUE(sr.ok()) << sr.error().message;
  EXPECT_EQ(*sr, expected());
}

TEST(SenderReport, WritesKnownBytes) { EXPECT_EQ(written(expected()), kSr); }

TEST(SenderReport, RoundTripWithoutBlocks) {
  SenderReport sr = expected();
  sr.reports.clear();
  const Bytes bytes = written(sr);
  EXPECT_EQ(bytes.size(), 28u);
  EXPECT_EQ(bytes[0], 0x80);
  auto back = SenderReport::parse(headerOf(bytes));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, sr);
}

TEST(SenderReport, EveryTruncationFails) {
  const CommonHeader h = headerOf(kSr);
  for (std::size_t n = 0; n < h.body.size(); ++n) {
    auto sr = SenderReport::parse(truncated(h, n));
    ASSERT_FALSE(sr.ok()) << n;
    EXPECT_EQ(sr.error().code, "RTCP_MALFORMED");
  }
}

TEST(SenderReport, IgnoresProfileExtension) {
  Bytes data = kSr;
  data[3] = 0x0D;
  data.insert(data.end(), {0xDE, 0xAD, 0xBE, 0xEF});
  auto sr = SenderReport::parse(headerOf(data));
  ASSERT_TRUE(sr.ok());
  EXPECT_EQ(*sr, expected());
}

TEST(SenderReport, RejectsWrongType) {
  CommonHeader h = headerOf(kSr);
  h.packetType = pt::kReceiverReport;
  EXPECT_FALSE(SenderReport::parse(h).ok());
}

TEST(SenderReport, WritesAtMost31Blocks) {
  SenderReport sr;
  sr.reports.resize(40);
  auto back = SenderReport::parse(headerOf(written(sr)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->reports.size(), 31u);
}
