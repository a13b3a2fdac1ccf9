#include "stagecast/rtcp/header.hpp"

#include <gtest/gtest.h>

using namespace stagecast;
using namespace stagecast::rtcp;

namespace {
// RFC 3550 §6.4.1: RR with no report blocks (length 1), then a PLI (PSFB FMT 1, length 2).
const Bytes kCompound{0x80, 0xC9, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44,                           // RR
                      0x81, 0xCE, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};  // PLI
}  // namespace

TEST(RtcpHeader, SplitsCompoundByLength) {
  auto split = splitCompound(kCompound);
  ASSERT_TRUE(split.ok()) << split.error().message;
  ASSERT_EQ(split->size(), 2u);
  const auto& rr = (*split)[0];
  EXPECT_EQ(rr.packetType, pt::kReceiverReport);
  EXPECT_EQ(rr.count, 0);
  EXPECT_FALSE(rr.padding);
  EXPECT_EQ(rr.lengthBytes, 8u);
  EXPECT_EQ(rr.body.size(), 4u);
  EXPECT_EQ(rr.whole.data(), kCompound.data());
  EXPECT_EQ(rr.whole.size(), 8u);
  const auto& pli = (*split)[1];
  EXPECT_EQ(pli.packetType, pt::kPayloadFeedback);
  EXPECT_EQ(pli.count, 1);
  EXPECT_EQ(pli.lengthBytes, 12u);
  EXPECT_EQ(pli.body.data(), kCompound.data() + 12);
  EXPECT_EQ(pli.body.size(), 8u);
}

TEST(RtcpHeader, EveryTruncationFails) {
  for (std::size_t n = 0; n < kCompound.size(); ++n) {
    if (n == 8) continue;  // exactly the first packet: a valid compound of one
    auto split = splitCompound(BytesView(kCompound).first(n));
    ASSERT_FALSE(split.ok()) << "prefix " << n;
    EXPECT_EQ(split.error().code, "RTCP_MALFORMED");
  }
  EXPECT_TRUE(splitCompound(BytesView(kCompound).first(8)).ok());
}

TEST(RtcpHeader, RejectsBadVersion) {
  Bytes data = kCompound;
  data[8] = 0x41;
  auto split = splitCompound(data);
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.error().code, "RTCP_MALFORMED");
}

TEST(RtcpHeader, RejectsLengthPastEnd) {
  Bytes data = kCompound;
  data[11] = 0x03;
  EXPECT_FALSE(splitCompound(data).ok());
}

TEST(RtcpHeader, PaddingIsRemovedFromBody) {
  // RR with P=1: 4 body bytes of SSRC + 4 padding bytes (count 4).
  const Bytes data{0xA0, 0xC9, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x04};
  auto split = splitCompound(data);
  ASSERT_TRUE(split.ok()) << split.error().message;
  EXPECT_TRUE((*split)[0].padding);
  EXPECT_EQ((*split)[0].lengthBytes, 12u);
  EXPECT_EQ((*split)[0].body.size(), 4u);
}

TEST(RtcpHeader, InvalidPaddingFails) {
  const Bytes zero{0xA0, 0xC9, 0x00, 0x01, 0x11, 0x22, 0x33, 0x00};
  EXPECT_FALSE(splitCompound(zero).ok());
  const Bytes tooLong{0xA0, 0xC9, 0x00, 0x01, 0x11, 0x22, 0x33, 0x05};
  EXPECT_FALSE(splitCompound(tooLong).ok());
  const Bytes noBody{0xA0, 0xC9, 0x00, 0x00};
  EXPECT_FALSE(splitCompound(noBody).ok());
}

TEST(RtcpHeader, EmptyDatagramFails) { EXPECT_FALSE(splitCompound(Bytes{}).ok()); }

TEST(RtcpHeader, BeginFinishPadsAndWritesLength) {
  ByteWriter w;
  w.writeU8(0xEE);  // something before the packet
  const std::size_t start = beginPacket(w, 3, pt::kBye);
  EXPECT_EQ(start, 1u);
  w.writeU8(0x01);
  w.writeU8(0x02);
  w.writeU8(0x03);
  w.writeU8(0x04);
  w.writeU8(0x05);
  finishPacket(w, start);
  EXPECT_EQ(w.bytes(), (Bytes{0xEE, 0x83, 0xCB, 0x00, 0x02, 0x01, 0x02, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00}));
}

TEST(RtcpHeader, EmptyBodyHasLengthZero) {
  ByteWriter w;
  finishPacket(w, beginPacket(w, 0, pt::kReceiverReport));
  EXPECT_EQ(w.bytes(), (Bytes{0x80, 0xC9, 0x00, 0x00}));
  auto split = splitCompound(w.bytes());
  ASSERT_TRUE(split.ok());
  EXPECT_TRUE((*split)[0].body.empty());
}
