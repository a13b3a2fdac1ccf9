#include "stagecast/rtcp/bye.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
// RFC 3550 §6.6: SC=1, reason "done" padded to 32 bits; length 3.
const Bytes kBye{0x81, 0xCB, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0x04, 'd', 'o', 'n', 'e', 0x00, 0x00, 0x00};
}  // namespace

TEST(Bye, ParsesKnownBytes) {
  auto bye = Bye::parse(headerOf(kBye));
  ASSERT_TRUE(bye.ok()) << bye.error().message;
  EXPECT_EQ(bye->ssrcs, (std::vector<std::uint32_t>{0x11223344}));
  EXPECT_EQ(bye->reason, "done");
}

TEST(Bye, WritesKnownBytes) {
  Bye bye;
  bye.ssrcs = {0x11223344};
  bye.reason = "done";
  EXPECT_EQ(written(bye), kBye);
}

TEST(Bye, WithoutReason) {
  Bye bye;
  bye.ssrcs = {1, 2};
  const Bytes bytes = written(bye);
  EXPECT_EQ(bytes, (Bytes{0x82, 0xCB, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2}));
  auto back = Bye::parse(headerOf(bytes));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, bye);
}

TEST(Bye, TruncationsFail) {
  const CommonHeader h = headerOf(kBye);
  for (std::size_t n = 0; n < h.body.size(); ++n) {
    auto bye = Bye::parse(truncated(h, n));
    if (n == 4) {
      // Exactly the SSRC list: a valid BYE without a reason.
      ASSERT_TRUE(bye.ok());
      EXPECT_TRUE(bye->reason.empty());
      continue;
    }
    if (n >= 9) {
      // Reason complete; only zero padding was cut.
      ASSERT_TRUE(bye.ok()) << n;
      continue;
    }
    ASSERT_FALSE(bye.ok()) << n;
    EXPECT_EQ(bye.error().code, "RTCP_MALFORMED");
  }
}
