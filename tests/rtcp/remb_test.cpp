#include "stagecast/rtcp/remb.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
// draft-alvestrand-rmcat-remb-03 §2.2: 1,000,000 bps = 250000 << 2 -> exp 2, mantissa 0x3D090; one SSRC.
const Bytes kRemb{0x8F, 0xCE, 0x00, 0x05, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00,
                  'R',  'E',  'M',  'B',  0x01, 0x0B, 0xD0, 0x90, 0xAA, 0xBB, 0xCC, 0xDD};

std::pair<unsigned, std::uint32_t> expMantissa(std::uint64_t bps) {
  Remb remb;
  remb.bitrateBps = bps;
  const Bytes b = written(remb);
  const std::uint32_t field = (std::uint32_t{b[17]} << 16) | (std::uint32_t{b[18]} << 8) | b[19];
  return {field >> 18, field & 0x3FFFF};
}
}  // namespace

TEST(Remb, ParsesKnownBytes) {
  auto remb = Remb::parse(headerOf(kRemb));
  ASSERT_TRUE(remb.ok()) << remb.error().message;
  EXPECT_EQ(remb->senderSsrc, 0x11223344u);
  EXPECT_EQ(remb->bitrateBps, 1000000u);
  EXPECT_EQ(remb->ssrcs, (std::vector<std::uint32_t>{0xAABBCCDD}));
}

TEST(Remb, WritesKnownBytes) {
  Remb remb;
  remb.senderSsrc = 0x11223344;
  remb.bitrateBps = 1000000;
  remb.ssrcs = {0xAABBCCDD};
  EXPECT_EQ(written(remb), kRemb);
}

TEST(Remb, PicksSmallestExponent) {
  EXPECT_EQ(expMantissa(0), (std::pair<unsigned, std::uint32_t>{0, 0}));
  EXPECT_EQ(expMantissa(262143), (std::pair<unsigned, std::uint32_t>{0, 262143}));
  EXPECT_EQ(expMantissa(262144), (std::pair<unsigned, std::uint32_t>{1, 131072}));
  EXPECT_EQ(expMantissa(1000001), (std::pair<unsigned, std::uint32_t>{2, 250000}));  // rounds down
  EXPECT_EQ(expMantissa(5000000000ULL), (std::pair<unsigned, std::uint32_t>{15, 152587}));
  EXPECT_EQ(expMantissa(~0ULL), (std::pair<unsigned, std::uint32_t>{46, 0x3FFFF}));
}

TEST(Remb, LargeExponentSaturates) {
  Bytes data = kRemb;
  data[17] = 0xFF;  // exp 63, mantissa 0x3FFFF: does not fit 64 bits
  data[18] = 0xFF;
  data[19] = 0xFF;
  auto remb = Remb::parse(headerOf(data));
  ASSERT_TRUE(remb.ok());
  EXPECT_EQ(remb->bitrateBps, ~0ULL);
}

TEST(Remb, RoundTripSeveralSsrcs) {
  Remb remb;
  remb.senderSsrc = 7;
  remb.bitrateBps = 4800000;  // 150000 << 5: exact
  remb.ssrcs = {1, 2, 3};
  auto back = Remb::parse(headerOf(written(remb)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, remb);
}

TEST(Remb, NotRembIdentifierFails) {
  Bytes data = kRemb;
  data[15] = 'X';
  auto remb = Remb::parse(headerOf(data));
  ASSERT_FALSE(remb.ok());
  EXPECT_EQ(remb.error().code, "RTCP_MALFORMED");
}

TEST(Remb, EveryTruncationFails) {
  const CommonHeader h = headerOf(kRemb);
  for (std::size_t n = 0; n < h.body.size(); ++n) {
    auto remb = Remb::parse(truncated(h, n));
    ASSERT_FALSE(remb.ok()) << n;
    EXPECT_EQ(remb.error().code, "RTCP_MALFORMED");
  }
}
