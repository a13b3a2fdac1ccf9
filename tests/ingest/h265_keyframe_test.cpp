// The SFU's view of what the H.265 packetizer sends: the payload that begins an IRAP access unit is a keyframe
// start (so the keyframe group cache opens there, with the parameter sets in front), nothing of another access
// unit is, and a viewer that joins without a cached group starts at the next IRAP access unit.
#include <gtest/gtest.h>

#include "stagecast/ingest/h265_packetizer.hpp"
#include "stagecast/rtp/codec_info.hpp"
#include "stagecast/rtp/rtp_packet.hpp"
#include "stagecast/sfu/outgoing_stream.hpp"
#include "stagecast/sfu/source_track.hpp"

using namespace stagecast;
using namespace stagecast::ingest;

namespace {

bool h265Key(BytesView payload) { return rtp::isKeyframeStart(rtp::VideoCodec::H265, payload); }

Bytes nalUnit(std::uint8_t type, std::size_t size, std::uint8_t seed = 0) {
  Bytes n{static_cast<std::uint8_t>(type << 1), 0x01};
  for (std::size_t i = 2; i < size; ++i) n.push_back(static_cast<std::uint8_t>(0x10 + (i * 11 + seed) % 0xe0));
  return n;
}

Bytes annexB(std::initializer_list<Bytes> units) {
  Bytes out;
  for (const auto& u : units) {
    out.insert(out.end(), {0, 0, 0, 1});
    out.insert(out.end(), u.begin(), u.end());
  }
  return out;
}

const Bytes kVps = nalUnit(h265::nal::kVps, 24, 1);
const Bytes kSps = nalUnit(h265::nal::kSps, 40, 2);
const Bytes kPps = nalUnit(h265::nal::kPps, 7, 3);

const sdp::Codec kH265{
    .payloadType = 49, .name = "H265", .clockRate = 90000, .fmtp = "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"};

// RTP packets of one access unit, numbered from `seq`.
std::vector<Bytes> packets(const std::vector<h265::RtpPayload>& payloads, std::uint16_t& seq, std::uint32_t ts) {
  std::vector<Bytes> out;
  for (const auto& p : payloads) {
    Bytes raw;
    rtp::write({.marker = p.marker, .payloadType = 49, .sequenceNumber = seq++, .timestamp = ts, .ssrc = 7}, {}, p.data,
               raw);
    out.push_back(std::move(raw));
  }
  return out;
}

}  // namespace

TEST(H265Keyframes, PayloadInspection) {
  for (std::uint8_t t = 0; t < 48; ++t) {
    const bool key = h265::isIrap(t) || t == h265::nal::kVps || t == h265::nal::kSps;
    EXPECT_EQ(h265Key(nalUnit(t, 6)), key) << "type " << int{t};
  }
  EXPECT_FALSE(h265Key(Bytes{}));
  EXPECT_FALSE(h265Key(Bytes{0x26}));
  // Payload header first bytes: AP (48) 0x60, FU (49) 0x62, PACI (50) 0x64.
  EXPECT_FALSE(h265Key(Bytes{0x62, 0x01}));              // FU without its FU header
  EXPECT_FALSE(h265Key(Bytes{0x62, 0x01, 0x13}));        // FU continuation of an IDR
  EXPECT_TRUE(h265Key(Bytes{0x62, 0x01, 0x93}));         // FU start of an IDR
  EXPECT_FALSE(h265Key(Bytes{0x62, 0x01, 0x81}));        // FU start of a TRAIL_R
  EXPECT_FALSE(h265Key(Bytes{0x60, 0x01, 0x00, 0x09}));  // AP whose unit overruns
  EXPECT_FALSE(h265Key(Bytes{0x64, 0x01, 0x93}));        // PACI
}

TEST(H265Keyframes, WhatThePacketizerSendsIsRecognised) {
  h265::Packetizer packetizer({.mtu = 300});
  // An IRAP access unit with its parameter sets (an AP), a fragmented IDR; then a P picture, also fragmented.
  const auto irap = packetizer.packetize(annexB({kVps, kSps, kPps, nalUnit(h265::nal::kIdrWRadl, 1000, 4)}));
  ASSERT_GE(irap.size(), 3u);
  EXPECT_EQ(h265::nalType(irap[0].data[0]), h265::nal::kAp);
  EXPECT_TRUE(h265Key(irap[0].data));
  const auto trail = packetizer.packetize(annexB({nalUnit(h265::nal::kTrailR, 700, 5)}));
  ASSERT_GE(trail.size(), 2u);
  for (const auto& p : trail) EXPECT_FALSE(h265Key(p.data));
  // A CRA picture without its parameter sets: they are put in front from the cache, and that AP is the start.
  const auto cra = packetizer.packetize(annexB({nalUnit(h265::nal::kCra, 900, 6)}));
  EXPECT_TRUE(h265Key(cra[0].data));
  // Without anything cached, the IRAP slice's first fragment is the start.
  h265::Packetizer fresh({.mtu = 300});
  const auto bare = fresh.packetize(annexB({nalUnit(h265::nal::kBlaWLp, 900, 7)}));
  EXPECT_EQ(h265::nalType(bare[0].data[0]), h265::nal::kFu);
  EXPECT_TRUE(h265Key(bare[0].data));
  for (std::size_t i = 1; i < bare.size(); ++i) EXPECT_FALSE(h265Key(bare[i].data));
}

TEST(H265Keyframes, SourceCachesTheGroupFromTheParameterSets) {
  sfu::SourceTrack source("video", 1000, 1 << 20);
  source.attachPublisher(kH265);
  h265::Packetizer packetizer({.mtu = 300});
  std::uint16_t seq = 100;
  TimePoint now{};
  auto deliver = [&](const std::vector<h265::RtpPayload>& payloads, std::uint32_t ts) {
    for (const Bytes& raw : packets(payloads, seq, ts)) source.deliver(*rtp::parse(raw), raw, now);
  };
  deliver(packetizer.packetize(annexB({nalUnit(h265::nal::kTrailR, 500)})), 1000);  // before any keyframe
  EXPECT_FALSE(source.hasKeyframe());
  const auto first = packetizer.packetize(annexB({kVps, kSps, kPps, nalUnit(h265::nal::kIdrNLp, 1000, 1)}));
  const std::uint16_t firstSeq = seq;
  deliver(first, 4000);
  ASSERT_TRUE(source.hasKeyframe());
  EXPECT_EQ(source.gop().size(), first.size()) << "the IDR's later fragments do not restart the group";
  EXPECT_EQ(rtp::parse(*source.gop().front())->sequenceNumber, firstSeq);
  const auto p = packetizer.packetize(annexB({nalUnit(h265::nal::kTrailR, 800, 2)}));
  deliver(p, 7000);
  EXPECT_EQ(source.gop().size(), first.size() + p.size());
  EXPECT_EQ(source.keyframes(), 1u);
  // The next IRAP picture (parameter sets from the cache) opens a new group.
  const auto second = packetizer.packetize(annexB({nalUnit(h265::nal::kCra, 600, 3)}));
  const std::uint16_t secondSeq = seq;
  deliver(second, 10000);
  EXPECT_EQ(source.keyframes(), 2u);
  ASSERT_EQ(source.gop().size(), second.size());
  EXPECT_EQ(rtp::parse(*source.gop().front())->sequenceNumber, secondSeq);
  EXPECT_TRUE(source.isKeyframeStart(rtp::parse(*source.gop().front())->payload));
}

TEST(H265Keyframes, ViewerWithoutACachedGroupStartsAtTheNextIrapPicture) {
  sfu::SourceTrack source("video", 1000, 1 << 20);
  source.attachPublisher(kH265);
  std::vector<Bytes> sent;
  int requests = 0;
  sfu::OutgoingStream stream(
      sfu::OutgoingParams{.ssrc = 99, .payloadType = 49, .codecName = "H265", .clockRate = 90000, .video = true},
      [&](Bytes& p) { sent.push_back(p); }, [&](TimePoint) { ++requests; });
  source.addSink(&stream);
  TimePoint now{};
  stream.start(source, now);
  EXPECT_EQ(requests, 1) << "nothing cached: a keyframe is asked for";

  h265::Packetizer packetizer({.mtu = 300});
  std::uint16_t seq = 1;
  auto deliver = [&](const std::vector<h265::RtpPayload>& payloads, std::uint32_t ts) {
    for (const Bytes& raw : packets(payloads, seq, ts)) source.deliver(*rtp::parse(raw), raw, now);
  };
  packetizer.remember(kVps);
  packetizer.remember(kSps);
  packetizer.remember(kPps);
  deliver(packetizer.packetize(annexB({nalUnit(h265::nal::kTrailR, 900)})), 3000);
  EXPECT_TRUE(sent.empty()) << "a P picture is not forwarded before the first keyframe";
  const auto irap = packetizer.packetize(annexB({nalUnit(h265::nal::kIdrWRadl, 900, 1)}));
  deliver(irap, 6000);
  ASSERT_EQ(sent.size(), irap.size());
  const auto firstSent = rtp::parse(sent.front());
  ASSERT_TRUE(firstSent.ok());
  EXPECT_EQ(h265::nalType(firstSent->payload[0]), h265::nal::kAp) << "starts with the parameter sets";
  EXPECT_EQ(stream.codecMismatchDrops(), 0u);
}
