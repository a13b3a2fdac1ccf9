#include "stagecast/rtcp/pli.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
// RFC 4585 §6.3.1: PSFB FMT=1, no FCI; length 2.
const Bytes kPli{0x81, 0xCE, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
}  // namespace

TEST(Pli, ParsesKnownBytes) {
  auto pli = Pli::parse(headerOf(kPli));
  ASSERT_TRUE(pli.ok()) << pli.error().message;
  EXPECT_EQ(pli->senderSsrc, 0x11223344u);
  EXPECT_EQ(pli->mediaSsrc, 0x55667788u);
}

TEST(Pli, WritesKnownBytes) {
  Pli pli;
  pli.senderSsrc = 0x11223344;
  pli.mediaSsrc = 0x55667788;
  EXPECT_EQ(written(pli), kPli);
}

TEST(Pli, EveryTruncationFails) {
  const CommonHeader h = headerOf(kPli);
  for (std::size_t n = 0; n < h.body.size(); ++n) {
    auto pli = Pli::parse(truncated(h, n));
    ASSERT_FALSE(pli.ok()) << n;
    EXPECT_EQ(pli.error().code, "RTCP_MALFORMED");
  }
}

TEST(Pli, RejectsWrongTypeOrFmt) {
  CommonHeader h = headerOf(kPli);
  h.count = 4;
  EXPECT_FALSE(Pli::parse(h).ok());
  h = headerOf(kPli);
  h.packetType = pt::kRtpFeedback;
  EXPECT_FALSE(Pli::parse(h).ok());
}
