#include "stagecast/rtcp/fir.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
// RFC 5104 §4.3.1: PSFB FMT=4, media SSRC 0, one FCI (SSRC, seq 7, reserved); length 4.
const Bytes kFir{0x84, 0xCE, 0x00, 0x04, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00,
                 0x00, 0x00, 0xAA, 0xBB, 0xCC, 0xDD, 0x07, 0x00, 0x00, 0x00};
}  // namespace

TEST(Fir, ParsesKnownBytes) {
  auto fir = Fir::parse(headerOf(kFir));
  ASSERT_TRUE(fir.ok()) << fir.error().message;
  EXPECT_EQ(fir->senderSsrc, 0x11223344u);
  ASSERT_EQ(fir->entries.size(), 1u);
  EXPECT_EQ(fir->entries[0].ssrc, 0xAABBCCDDu);
  EXPECT_EQ(fir->entries[0].sequenceNumber, 7);
}

TEST(Fir, WritesKnownBytes) {
  Fir fir;
  fir.senderSsrc = 0x11223344;
  fir.entries.push_back({0xAABBCCDD, 7});
  EXPECT_EQ(written(fir), kFir);
}

TEST(Fir, RoundTripSeveralEntries) {
  Fir fir;
  fir.senderSsrc = 1;
  fir.entries = {{2, 255}, {3, 0}, {4, 9}};
  auto back = Fir::parse(headerOf(written(fir)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, fir);
}

TEST(Fir, TruncationsFailUnlessWholeEntries) {
  const CommonHeader h = headerOf(kFir);
  for (std::size_t n = 0; n < h.body.size(); ++n) {
    auto fir = Fir::parse(truncated(h, n));
    if (n == 8) {
      ASSERT_TRUE(fir.ok());  // no FCI entries left
      EXPECT_TRUE(fir->entries.empty());
      continue;
    }
    ASSERT_FALSE(fir.ok()) << n;
    EXPECT_EQ(fir.error().code, "RTCP_MALFORMED");
  }
}
