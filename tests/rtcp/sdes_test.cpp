#include "stagecast/rtcp/sdes.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
// RFC 3550 §6.5: SC=1, CNAME "abcd", null item + 1 pad byte; length 3.
const Bytes kSdes{0x81, 0xCA, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0x01, 0x04, 'a', 'b', 'c', 'd', 0x00, 0x00};
}  // namespace

TEST(Sdes, ParsesKnownBytes) {
  auto sdes = Sdes::parse(headerOf(kSdes));
  ASSERT_TRUE(sdes.ok()) << sdes.error().message;
  ASSERT_EQ(sdes->chunks.size(), 1u);
  EXPECT_EQ(sdes->chunks[0].ssrc, 0x11223344u);
  EXPECT_EQ(sdes->chunks[0].cname, "abcd");
}

TEST(Sdes, WritesKnownBytes) {
  Sdes sdes;
  sdes.chunks.push_back({0x11223344, "abcd"});
  EXPECT_EQ(written(sdes), kSdes);
}

TEST(Sdes, AlignedTextNeedsAFullWordOfNulls) {
  // CNAME of 2 bytes: SSRC(4) 01 02 'x' 'y' then the null item needs a whole extra word.
  Sdes sdes;
  sdes.chunks.push_back({1, "xy"});
  EXPECT_EQ(written(sdes), (Bytes{0x81, 0xCA, 0x00, 0x03, 0, 0, 0, 1, 0x01, 0x02, 'x', 'y', 0, 0, 0, 0}));
}

TEST(Sdes, SkipsOtherItemsAndRoundTripsSeveralChunks) {
  // Chunk 1: NAME "n" then CNAME "c"; chunk 2: only TOOL "t".
  const Bytes data{0x82, 0xCA, 0x00, 0x05, 0, 0, 0, 1, 0x02, 0x01, 'n', 0x01,
                   0x01, 'c',  0x00, 0x00, 0, 0, 0, 2, 0x06, 0x01, 't', 0x00};
  auto sdes = Sdes::parse(headerOf(data));
  ASSERT_TRUE(sdes.ok()) << sdes.error().message;
  ASSERT_EQ(sdes->chunks.size(), 2u);
  EXPECT_EQ(sdes->chunks[0].cname, "c");
  EXPECT_EQ(sdes->chunks[1].ssrc, 2u);
  EXPECT_EQ(sdes->chunks[1].cname, "");
  auto back = Sdes::parse(headerOf(written(*sdes)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, *sdes);
}

TEST(Sdes, EveryTruncationFails) {
  const CommonHeader h = headerOf(kSdes);
  for (std::size_t n = 0; n < h.body.size(); ++n) {
    auto sdes = Sdes::parse(truncated(h, n));
    ASSERT_FALSE(sdes.ok()) << n;
    EXPECT_EQ(sdes.error().code, "RTCP_MALFORMED");
  }
}

TEST(Sdes, LongCnameIsTruncatedTo255) {
  Sdes sdes;
  sdes.chunks.push_back({9, std::string(300, 'z')});
  auto back = Sdes::parse(headerOf(written(sdes)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->chunks[0].cname, std::string(255, 'z'));
}
