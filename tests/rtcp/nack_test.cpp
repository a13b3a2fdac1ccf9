#include "stagecast/rtcp/nack.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
// RFC 4585 §6.2.1: {100, 101, 116, 117, 200} -> (100, BLP bit0|bit15), (117, 0), (200, 0); length 5.
const Bytes kNack{0x81, 0xCD, 0x00, 0x05, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                  0x00, 0x64, 0x80, 0x01, 0x00, 0x75, 0x00, 0x00, 0x00, 0xC8, 0x00, 0x00};
}  // namespace

TEST(Nack, PacksKnownSequences) {
  Nack nack;
  nack.senderSsrc = 0x11223344;
  nack.mediaSsrc = 0x55667788;
  nack.lostSequences = {100, 101, 116, 117, 200};
  EXPECT_EQ(written(nack), kNack);
}

TEST(Nack, ParsesKnownBytes) {
  auto nack = Nack::parse(headerOf(kNack));
  ASSERT_TRUE(nack.ok()) << nack.error().message;
  EXPECT_EQ(nack->senderSsrc, 0x11223344u);
  EXPECT_EQ(nack->mediaSsrc, 0x55667788u);
  EXPECT_EQ(nack->lostSequences, (std::vector<std::uint16_t>{100, 101, 116, 117, 200}));
}

TEST(Nack, PackingIsOrderIndependentAndDeduplicated) {
  Nack nack;
  nack.senderSsrc = 0x11223344;
  nack.mediaSsrc = 0x55667788;
  nack.lostSequences = {200, 117, 101, 100, 116, 101};
  EXPECT_EQ(written(nack), kNack);
}

TEST(Nack, FullBitmask) {
  Nack nack;
  for (std::uint16_t s = 10; s <= 26; ++s) nack.lostSequences.push_back(s);  // 17 sequences: one pair
  const Bytes bytes = written(nack);
  ASSERT_EQ(bytes.size(), 16u);
  EXPECT_EQ(Bytes(bytes.end() - 4, bytes.end()), (Bytes{0x00, 0x0A, 0xFF, 0xFF}));
  auto back = Nack::parse(headerOf(bytes));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->lostSequences, nack.lostSequences);
}

TEST(Nack, WrapsAroundSequenceSpace) {
  Nack nack;
  nack.lostSequences = {1, 65535, 0, 65534};
  const Bytes bytes = written(nack);
  ASSERT_EQ(bytes.size(), 16u);  // one pair: PID 65534, bits for 65535, 0, 1
  EXPECT_EQ(Bytes(bytes.end() - 4, bytes.end()), (Bytes{0xFF, 0xFE, 0x00, 0x07}));
  auto back = Nack::parse(headerOf(bytes));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->lostSequences, (std::vector<std::uint16_t>{65534, 65535, 0, 1}));
}

TEST(Nack, TruncationsFailUnlessWholeEntries) {
  const CommonHeader h = headerOf(kNack);
  for (std::size_t n = 0; n < h.body.size(); ++n) {
    auto nack = Nack::parse(truncated(h, n));
    if (n >= 8 && n % 4 == 0) {
      EXPECT_TRUE(nack.ok()) << n;  // fewer whole FCI entries is still a valid NACK
      continue;
    }
    ASSERT_FALSE(nack.ok()) << n;
    EXPECT_EQ(nack.error().code, "RTCP_MALFORMED");
  }
}

TEST(Nack, RejectsWrongFmt) {
  CommonHeader h = headerOf(kNack);
  h.count = 15;
  EXPECT_FALSE(Nack::parse(h).ok());
}
