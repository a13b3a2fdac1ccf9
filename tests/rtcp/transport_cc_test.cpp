#include "stagecast/rtcp/transport_cc.hpp"

#include <gtest/gtest.h>

#include "rtcp_test_util.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;
using namespace stagecast::rtcp::test;

namespace {
using Deltas = std::vector<std::optional<std::int32_t>>;

// draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1: base 10, 10 packets, reference time 1, fb count 5.
// Chunks: run length (S=01 small, 8 packets) = 0x2008; 2-bit vector [not received, large] = 0xC800.
// Deltas: 1..8 (1 byte each), -4 (2 bytes); 2 bytes of zero padding; length 8.
const Bytes kTcc{0x8F, 0xCD, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,  // header, SSRCs
                 0x00, 0x0A, 0x00, 0x0A, 0x00, 0x00, 0x01, 0x05,                          // base, count, ref, fb
                 0x20, 0x08, 0xC8, 0x00,                                                  // chunks
                 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xFF, 0xFC,              // deltas
                 0x00, 0x00};                                                             // padding

TransportCc expected() {
  TransportCc fb;
  fb.senderSsrc = 1;
  fb.mediaSsrc = 2;
  fb.baseSequence = 10;
  fb.referenceTime = 1;
  fb.feedbackCount = 5;
  fb.deltas = {1, 2, 3, 4, 5, 6, 7, 8, std::nullopt, -4};
  return fb;
}

Bytes packetWith(std::uint16_t count, const Bytes& chunksAndDeltas) {
  ByteWriter w;
  const std::size_t start = beginPacket(w, TransportCc::kFmt, pt::kRtpFeedback);
  w.writeU32(1);
  w.writeU32(2);
  w.writeU16(0);
  w.writeU16(count);
  w.writeU24(0);
  w.writeU8(0);
  w.writeBytes(chunksAndDeltas);
  finishPacket(w, start);
  return w.take();
}
}  // namespace

TEST(TransportCc, ParsesKnownBytes) {
  auto fb = TransportCc::parse(headerOf(kTcc));
  ASSERT_TRUE(fb.ok()) << fb.error().message;
  EXPECT_EQ(*fb, expected());
}

TEST(TransportCc, WritesKnownBytes) { EXPECT_EQ(written(expected()), kTcc); }

TEST(TransportCc, OneBitStatusVector) {
  // §3.1.4 S=0: 14 symbols 1 0 1 1 0 0 0 0 0 0 0 0 0 1 -> 0x8000 | 0b10110000000001.
  auto fb = TransportCc::parse(headerOf(packetWith(14, {0xAC, 0x01, 0x10, 0x20, 0x30, 0x40})));
  ASSERT_TRUE(fb.ok()) << fb.error().message;
  Deltas want(14);
  want[0] = 0x10;
  want[2] = 0x20;
  want[3] = 0x30;
  want[13] = 0x40;
  EXPECT_EQ(fb->deltas, want);
}

TEST(TransportCc, VectorSymbolsBeyondCountAreIgnored) {
  // 3 packets, 1-bit vector with all 14 bits set: only 3 deltas follow.
  auto fb = TransportCc::parse(headerOf(packetWith(3, {0xBF, 0xFF, 0x01, 0x02, 0x03})));
  ASSERT_TRUE(fb.ok()) << fb.error().message;
  EXPECT_EQ(fb->deltas, (Deltas{1, 2, 3}));
}

TEST(TransportCc, RunLengthLongerThanCountIsClamped) {
  // Run of 100 "not received" for a count of 5.
  auto fb = TransportCc::parse(headerOf(packetWith(5, {0x00, 0x64})));
  ASSERT_TRUE(fb.ok()) << fb.error().message;
  EXPECT_EQ(fb->deltas, Deltas(5));
}

TEST(TransportCc, LargeDeltasAreSigned16Bit) {
  // Run length S=10 (large), 3 packets: 0x4003; deltas 0x7FFF, 0x8000, 0x0100.
  auto fb = TransportCc::parse(headerOf(packetWith(3, {0x40, 0x03, 0x7F, 0xFF, 0x80, 0x00, 0x01, 0x00})));
  ASSERT_TRUE(fb.ok()) << fb.error().message;
  EXPECT_EQ(fb->deltas, (Deltas{32767, -32768, 256}));
}

TEST(TransportCc, ReservedSymbolFails) {
  EXPECT_FALSE(TransportCc::parse(headerOf(packetWith(2, {0x60, 0x02}))).ok());        // run length S=11
  EXPECT_FALSE(TransportCc::parse(headerOf(packetWith(2, {0xF0, 0x00, 0x00}))).ok());  // vector 11 ...
}

TEST(TransportCc, MissingChunksOrDeltasFail) {
  EXPECT_FALSE(TransportCc::parse(headerOf(packetWith(20, {0x20, 0x08}))).ok());  // chunks cover only 8
  auto fb = TransportCc::parse(headerOf(packetWith(4, {0x20, 0x04, 0x01, 0x02})));
  ASSERT_FALSE(fb.ok());  // 4 small deltas announced, 2 present (padding bytes are not deltas here)
  EXPECT_EQ(fb.error().code, "RTCP_MALFORMED");
}

TEST(TransportCc, EveryTruncationFails) {
  const CommonHeader h = headerOf(kTcc);
  const std::size_t needed = h.body.size() - 2;  // the last two bytes are padding
  for (std::size_t n = 0; n < needed; ++n) {
    auto fb = TransportCc::parse(truncated(h, n));
    ASSERT_FALSE(fb.ok()) << n;
    EXPECT_EQ(fb.error().code, "RTCP_MALFORMED");
  }
  EXPECT_TRUE(TransportCc::parse(truncated(h, needed)).ok());
}

TEST(TransportCc, WriteUsesRunLengthForLongRuns) {
  TransportCc fb;
  fb.deltas.assign(9000, std::optional<std::int32_t>(std::nullopt));  // longer than one run (8191)
  fb.deltas.push_back(1000);                                          // large
  const Bytes bytes = written(fb);
  // Chunks: run 8191 of 0, run 809 of 0, run 1 of large; then a 2-byte delta, padded.
  const Bytes tail(bytes.begin() + 20, bytes.end());
  EXPECT_EQ(tail, (Bytes{0x1F, 0xFF, 0x03, 0x29, 0x40, 0x01, 0x03, 0xE8}));
  auto back = TransportCc::parse(headerOf(bytes));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, fb);
}

TEST(TransportCc, RoundTripMixedPattern) {
  TransportCc fb;
  fb.senderSsrc = 0xDEADBEEF;
  fb.mediaSsrc = 0xFEEDFACE;
  fb.baseSequence = 65530;
  fb.referenceTime = 0xABCDEF;
  fb.feedbackCount = 255;
  for (int i = 0; i < 200; ++i) {
    if (i % 5 == 0) {
      fb.deltas.emplace_back(std::nullopt);
    } else if (i % 7 == 0) {
      fb.deltas.emplace_back(-i);
    } else if (i > 100 && i < 130) {
      fb.deltas.emplace_back(300 + i);
    } else {
      fb.deltas.emplace_back(i % 256);
    }
  }
  auto back = TransportCc::parse(headerOf(written(fb)));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, fb);
}

TEST(TransportCc, OutOfRangeDeltasClamp) {
  TransportCc fb;
  fb.deltas = {100000, -100000};
  auto back = TransportCc::parse(headerOf(written(fb)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->deltas, (Deltas{32767, -32768}));
}

TEST(TransportCc, EmptyFeedback) {
  TransportCc fb;
  fb.baseSequence = 3;
  auto back = TransportCc::parse(headerOf(written(fb)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, fb);
}
