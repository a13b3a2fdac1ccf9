#include "stagecast/rtp/rtp_packet.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace stagecast;
using namespace stagecast::rtp;

namespace {

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes toBytes(BytesView v) { return Bytes(v.begin(), v.end()); }

// RFC 3550 §5.1 fixed header: V=2, PT=96, seq 0x1234, ts 0x00005678, SSRC 0x11223344.
const Bytes kFixed{0x80, 0x60, 0x12, 0x34, 0x00, 0x00, 0x56, 0x78, 0x11, 0x22, 0x33, 0x44};

// One-byte form (RFC 8285 §4.2): id 1 len 1 (AA), id 2 len 2 (BB CC), padded to 2 words.
const Bytes kOneByteBlock{0xBE, 0xDE, 0x00, 0x02, 0x10, 0xAA, 0x21, 0xBB, 0xCC, 0x00, 0x00, 0x00};
// Two-byte form (RFC 8285 §4.3): id 1 len 0, id 16 len 3 (01 02 03), padded to 2 words.
const Bytes kTwoByteBlock{0x10, 0x00, 0x00, 0x02, 0x01, 0x00, 0x10, 0x03, 0x01, 0x02, 0x03, 0x00};

}  // namespace

TEST(RtpPacket, ParsesFixedHeader) {
  const Bytes data = concat({kFixed, {0xDE, 0xAD}});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_FALSE(p->marker);
  EXPECT_EQ(p->payloadType, 96);
  EXPECT_EQ(p->sequenceNumber, 0x1234);
  EXPECT_EQ(p->timestamp, 0x5678u);
  EXPECT_EQ(p->ssrc, 0x11223344u);
  EXPECT_EQ(p->csrcCount, 0);
  EXPECT_FALSE(p->extensionProfile.has_value());
  EXPECT_EQ(p->headerSize, 12u);
  EXPECT_EQ(toBytes(p->payload), (Bytes{0xDE, 0xAD}));
  EXPECT_EQ(p->payload.data(), data.data() + 12);  // a view, not a copy
  EXPECT_EQ(p->paddingSize, 0);
}

TEST(RtpPacket, ParsesMarkerAndCsrcs) {
  Bytes data = kFixed;
  data[0] = 0x82;  // CC=2
  data[1] = 0xE0;  // M=1, PT=96
  data = concat({data, {0x01, 0x02, 0x03, 0x04, 0xA0, 0xB0, 0xC0, 0xD0, 0x55}});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->marker);
  EXPECT_EQ(p->payloadType, 96);
  ASSERT_EQ(p->csrcCount, 2);
  EXPECT_EQ(p->csrcs[0], 0x01020304u);
  EXPECT_EQ(p->csrcs[1], 0xA0B0C0D0u);
  EXPECT_EQ(p->headerSize, 20u);
  EXPECT_EQ(toBytes(p->payload), (Bytes{0x55}));
}

TEST(RtpPacket, RejectsWrongVersion) {
  Bytes data = kFixed;
  data[0] = 0x40;
  auto p = parse(data);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, "RTP_MALFORMED");
}

TEST(RtpPacket, RejectsCsrcsPastEnd) {
  Bytes data = kFixed;
  data[0] = 0x83;
  data = concat({data, {0, 0, 0, 1, 0, 0, 0, 2}});  // only 2 of 3 CSRCs
  auto p = parse(data);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, "RTP_MALFORMED");
}

TEST(RtpPacket, ParsesOneByteExtensions) {
  Bytes data = kFixed;
  data[0] = 0x90;
  data = concat({data, kOneByteBlock, {0x77}});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->extensionProfile, std::optional<std::uint16_t>(0xBEDE));
  ASSERT_EQ(p->extensionCount, 2);
  EXPECT_EQ(p->headerSize, 24u);
  EXPECT_EQ(toBytes(*p->extension(1)), (Bytes{0xAA}));
  EXPECT_EQ(toBytes(*p->extension(2)), (Bytes{0xBB, 0xCC}));
  EXPECT_FALSE(p->extension(3).has_value());
  EXPECT_EQ(toBytes(p->payload), (Bytes{0x77}));
}

TEST(RtpPacket, OneBytePaddingAndStopId) {
  // Padding bytes (id 0) before and between elements; id 15 stops parsing, so id 3 after it is not seen.
  Bytes data = kFixed;
  data[0] = 0x90;
  data = concat({data, {0xBE, 0xDE, 0x00, 0x02, 0x00, 0x10, 0xAA, 0x00, 0xF0, 0x30, 0x01, 0x00}});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->extensionCount, 1);
  EXPECT_EQ(toBytes(*p->extension(1)), (Bytes{0xAA}));
  EXPECT_FALSE(p->extension(3).has_value());
}

TEST(RtpPacket, OneByteElementPastBlockFails) {
  Bytes data = kFixed;
  data[0] = 0x90;
  // id 1 claims 4 bytes but only 3 remain in the 1-word block (payload bytes follow, which must not count).
  data = concat({data, {0xBE, 0xDE, 0x00, 0x01, 0x13, 0x01, 0x02, 0x03, 0x04, 0x05}});
  auto p = parse(data);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, "RTP_MALFORMED");
}

TEST(RtpPacket, ParsesTwoByteExtensions) {
  Bytes data = kFixed;
  data[0] = 0x90;
  data = concat({data, kTwoByteBlock});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->extensionProfile, std::optional<std::uint16_t>(0x1000));
  ASSERT_EQ(p->extensionCount, 2);
  ASSERT_TRUE(p->extension(1).has_value());
  EXPECT_TRUE(p->extension(1)->empty());
  EXPECT_EQ(toBytes(*p->extension(16)), (Bytes{0x01, 0x02, 0x03}));
  EXPECT_TRUE(p->payload.empty());
}

TEST(RtpPacket, TwoByteAppBitsAccepted) {
  Bytes data = kFixed;
  data[0] = 0x90;
  data = concat({data, {0x10, 0x0F, 0x00, 0x01, 0x00, 0x05, 0x01, 0x42}});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->extensionCount, 1);
  EXPECT_EQ(toBytes(*p->extension(5)), (Bytes{0x42}));
}

TEST(RtpPacket, TwoByteElementPastBlockFails) {
  Bytes data = kFixed;
  data[0] = 0x90;
  data = concat({data, {0x10, 0x00, 0x00, 0x01, 0x01, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05}});
  EXPECT_FALSE(parse(data).ok());
  // Length byte itself missing: block "00 00 00 07".
  Bytes data2 = kFixed;
  data2[0] = 0x90;
  data2 = concat({data2, {0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07}});
  EXPECT_FALSE(parse(data2).ok());
}

TEST(RtpPacket, OpaqueProfileKeptWithoutElements) {
  Bytes data = kFixed;
  data[0] = 0x90;
  data = concat({data, {0x12, 0x34, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x99}});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->extensionProfile, std::optional<std::uint16_t>(0x1234));
  EXPECT_EQ(p->extensionCount, 0);
  EXPECT_EQ(p->headerSize, 20u);
  EXPECT_EQ(toBytes(p->payload), (Bytes{0x99}));
}

TEST(RtpPacket, KeepsAtMostSixteenExtensions) {
  Bytes block{0x10, 0x00, 0x00, 0x09};  // two-byte form, 36 bytes: 18 elements "id 00"
  for (int id = 1; id <= 18; ++id) {
    block.push_back(static_cast<std::uint8_t>(id));
    block.push_back(0);
  }
  Bytes data = kFixed;
  data[0] = 0x90;
  data = concat({data, block});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->extensionCount, 16);
  EXPECT_TRUE(p->extension(16).has_value());
  EXPECT_FALSE(p->extension(17).has_value());
}

TEST(RtpPacket, ExtensionLengthPastEndFails) {
  Bytes data = kFixed;
  data[0] = 0x90;
  data = concat({data, {0xBE, 0xDE, 0x00, 0x03, 0x10, 0xAA, 0x00, 0x00}});
  EXPECT_FALSE(parse(data).ok());
}

TEST(RtpPacket, EveryHeaderTruncationFails) {
  Bytes data = kFixed;
  data[0] = 0x91;  // X=1, CC=1
  data = concat({data, {0xCA, 0xFE, 0xBA, 0xBE}, kOneByteBlock, {0x01, 0x02}});
  auto full = parse(data);
  ASSERT_TRUE(full.ok()) << full.error().message;
  ASSERT_EQ(full->headerSize, 28u);
  for (std::size_t n = 0; n < full->headerSize; ++n) {
    auto p = parse(BytesView(data).first(n));
    ASSERT_FALSE(p.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(p.error().code, "RTP_MALFORMED");
  }
}

TEST(RtpPacket, Padding) {
  Bytes data = kFixed;
  data[0] = 0xA0;  // P=1
  data = concat({data, {0x01, 0x02, 0x03, 0x00, 0x00, 0x03}});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->paddingSize, 3);
  EXPECT_EQ(toBytes(p->payload), (Bytes{0x01, 0x02, 0x03}));
}

TEST(RtpPacket, PaddingOnlyPacket) {
  Bytes data = kFixed;
  data[0] = 0xA0;
  data = concat({data, {0x00, 0x00, 0x00, 0x04}});
  auto p = parse(data);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->paddingSize, 4);
  EXPECT_TRUE(p->payload.empty());
}

TEST(RtpPacket, InvalidPaddingFails) {
  Bytes base = kFixed;
  base[0] = 0xA0;
  EXPECT_FALSE(parse(base).ok());                                // no byte to hold the count
  EXPECT_FALSE(parse(concat({base, {0x01, 0x00}})).ok());        // count 0
  EXPECT_FALSE(parse(concat({base, {0x01, 0x02, 0x04}})).ok());  // count exceeds the bytes after the header
  auto p = parse(concat({base, {0x01, 0x02, 0x03}}));            // count == all bytes after the header
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->payload.empty());
}

TEST(RtpPacket, PaddingCannotEatExtension) {
  Bytes data = kFixed;
  data[0] = 0xB0;                                      // P=1, X=1
  data = concat({data, kOneByteBlock, {0x00, 0x05}});  // pad count 5 > 2 bytes after header
  EXPECT_FALSE(parse(data).ok());
}

TEST(RtpWrite, WritesFixedHeaderExactly) {
  RtpHeaderFields f{
      .marker = false, .payloadType = 96, .sequenceNumber = 0x1234, .timestamp = 0x5678, .ssrc = 0x11223344};
  const Bytes payload{0xDE, 0xAD};
  Bytes out{0xFF};  // cleared first
  EXPECT_EQ(write(f, {}, payload, out), 14u);
  EXPECT_EQ(out, concat({kFixed, payload}));
}

TEST(RtpWrite, WritesOneByteFormExactly) {
  const Bytes a{0xAA};
  const Bytes b{0xBB, 0xCC};
  const std::vector<HeaderExtension> exts{{1, a}, {2, b}};
  RtpHeaderFields f{
      .marker = true, .payloadType = 96, .sequenceNumber = 0x1234, .timestamp = 0x5678, .ssrc = 0x11223344};
  Bytes out;
  write(f, exts, Bytes{0x77}, out);
  Bytes expected = kFixed;
  expected[0] = 0x90;
  expected[1] = 0xE0;
  EXPECT_EQ(out, concat({expected, kOneByteBlock, {0x77}}));
}

TEST(RtpWrite, WritesTwoByteFormExactly) {
  const Bytes a{};
  const Bytes b{0x01, 0x02, 0x03};
  const std::vector<HeaderExtension> exts{{1, a}, {16, b}};  // empty data and id 16 need the two-byte form
  RtpHeaderFields f{.payloadType = 96, .sequenceNumber = 0x1234, .timestamp = 0x5678, .ssrc = 0x11223344};
  Bytes out;
  write(f, exts, {}, out);
  Bytes expected = kFixed;
  expected[0] = 0x90;
  EXPECT_EQ(out, concat({expected, kTwoByteBlock}));
}

TEST(RtpWrite, LongDataUsesTwoByteForm) {
  const Bytes big(17, 0x5A);
  const std::vector<HeaderExtension> exts{{3, big}};
  Bytes out;
  write({}, exts, {}, out);
  auto p = parse(out);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->extensionProfile, std::optional<std::uint16_t>(0x1000));
  EXPECT_EQ(toBytes(*p->extension(3)), big);
  EXPECT_EQ(p->headerSize % 4, 0u);
}

TEST(RtpWrite, RoundTrip) {
  const Bytes mid{'a', '0'};
  const Bytes seq{0x01, 0x02};
  const Bytes level(16, 0x7F);
  const std::vector<HeaderExtension> exts{{4, mid}, {14, seq}, {1, level}};
  const Bytes payload{1, 2, 3, 4, 5, 6, 7};
  RtpHeaderFields f{
      .marker = true, .payloadType = 111, .sequenceNumber = 65535, .timestamp = 0xFFFFFFFF, .ssrc = 0xCAFEBABE};
  Bytes out;
  write(f, exts, payload, out);
  auto p = parse(out);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->marker);
  EXPECT_EQ(p->payloadType, 111);
  EXPECT_EQ(p->sequenceNumber, 65535);
  EXPECT_EQ(p->timestamp, 0xFFFFFFFFu);
  EXPECT_EQ(p->ssrc, 0xCAFEBABEu);
  EXPECT_EQ(p->extensionProfile, std::optional<std::uint16_t>(0xBEDE));
  ASSERT_EQ(p->extensionCount, 3);
  for (const auto& e : exts) EXPECT_EQ(toBytes(*p->extension(e.id)), toBytes(e.data));
  EXPECT_EQ(toBytes(p->payload), payload);
}

TEST(RtpDemux, LooksLikeRtpOrRtcp) {
  EXPECT_TRUE(looksLikeRtpOrRtcp(Bytes{0x80}));
  EXPECT_TRUE(looksLikeRtpOrRtcp(Bytes{0xBF}));
  EXPECT_FALSE(looksLikeRtpOrRtcp(Bytes{0x7F}));
  EXPECT_FALSE(looksLikeRtpOrRtcp(Bytes{0xC0}));
  EXPECT_FALSE(looksLikeRtpOrRtcp(Bytes{}));
  EXPECT_TRUE(looksLikeRtcp(Bytes{0x80, 200}));
  EXPECT_TRUE(looksLikeRtcp(Bytes{0x81, 223}));
  EXPECT_FALSE(looksLikeRtcp(Bytes{0x80, 96}));
  EXPECT_FALSE(looksLikeRtcp(Bytes{0x80, 0xE0}));  // marker + PT 96
  EXPECT_FALSE(looksLikeRtcp(Bytes{0x80}));
}

TEST(RtpSeq, SeqNewerWraps) {
  EXPECT_TRUE(seqNewer(1, 0));
  EXPECT_TRUE(seqNewer(0, 65535));
  EXPECT_FALSE(seqNewer(65535, 0));
  EXPECT_FALSE(seqNewer(5, 5));
}

TEST(RtpExt, AbsSendTime) {
  // 1.5 s -> 1 << 18 | 0.5 * 2^18.
  auto enc = encodeAbsSendTime(1500000);
  EXPECT_EQ(enc, (std::array<std::uint8_t, 3>{0x06, 0x00, 0x00}));
  EXPECT_EQ(decodeAbsSendTime(enc), std::optional<std::uint32_t>(0x060000));
  // Wraps every 64 s.
  EXPECT_EQ(encodeAbsSendTime(64000000), (std::array<std::uint8_t, 3>{0, 0, 0}));
  EXPECT_FALSE(decodeAbsSendTime(Bytes{0x01, 0x02}).has_value());
}

TEST(RtpExt, TransportSequence) {
  EXPECT_EQ(decodeTransportSequence(Bytes{0x12, 0x34}), std::optional<std::uint16_t>(0x1234));
  EXPECT_FALSE(decodeTransportSequence(Bytes{0x12}).has_value());
}
