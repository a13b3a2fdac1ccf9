#include "stagecast/rtcp/report_block.hpp"

#include <gtest/gtest.h>

using namespace stagecast;
using namespace stagecast::rtcp;

namespace {
// RFC 3550 §6.4.1 report block.
const Bytes kBlock{0xAA, 0xBB, 0xCC, 0xDD,   // SSRC
                   0x40, 0xFF, 0xFF, 0xFE,   // fraction lost 64/256, cumulative lost -2
                   0x00, 0x01, 0x00, 0x05,   // extended highest sequence
                   0x00, 0x00, 0x00, 0x20,   // jitter
                   0x7E, 0x80, 0x00, 0x00,   // LSR
                   0x00, 0x01, 0x00, 0x00};  // DLSR
}  // namespace

TEST(ReportBlock, ReadsKnownBytes) {
  ByteReader r(kBlock);
  ReportBlock b;
  ASSERT_TRUE(b.read(r));
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(b.ssrc, 0xAABBCCDDu);
  EXPECT_EQ(b.fractionLost, 0x40);
  EXPECT_EQ(b.cumulativeLost, -2);
  EXPECT_EQ(b.highestSequence, 0x00010005u);
  EXPECT_EQ(b.jitter, 0x20u);
  EXPECT_EQ(b.lastSr, 0x7E800000u);
  EXPECT_EQ(b.delaySinceLastSr, 0x10000u);
}

TEST(ReportBlock, WritesKnownBytes) {
  ByteReader r(kBlock);
  ReportBlock b;
  ASSERT_TRUE(b.read(r));
  ByteWriter w;
  b.write(w);
  EXPECT_EQ(w.bytes(), kBlock);
}

TEST(ReportBlock, EveryTruncationFailsWithoutChangingOutput) {
  for (std::size_t n = 0; n < kBlock.size(); ++n) {
    ByteReader r(BytesView(kBlock).first(n));
    ReportBlock b;
    b.ssrc = 7;
    EXPECT_FALSE(b.read(r)) << n;
    EXPECT_EQ(b.ssrc, 7u);
  }
}

TEST(ReportBlock, CumulativeLostClampsTo24BitsSigned) {
  ReportBlock b;
  b.cumulativeLost = 0x7FFFFF;
  ByteWriter w;
  b.write(w);
  b.cumulativeLost = 10000000;  // clamps to 0x7FFFFF
  b.write(w);
  b.cumulativeLost = -10000000;  // clamps to -0x800000
  b.write(w);
  ByteReader r(w.bytes());
  ReportBlock out;
  ASSERT_TRUE(out.read(r));
  EXPECT_EQ(out.cumulativeLost, 0x7FFFFF);
  ASSERT_TRUE(out.read(r));
  EXPECT_EQ(out.cumulativeLost, 0x7FFFFF);
  ASSERT_TRUE(out.read(r));
  EXPECT_EQ(out.cumulativeLost, -0x800000);
}
