#include "stagecast/ingest/h264_packetizer.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "stagecast/rtp/codec_info.hpp"

using namespace stagecast;
using namespace stagecast::ingest::h264;

namespace {

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A NAL unit: header byte (NRI, type) and `size - 1` payload bytes free of start-code emulation.
Bytes nalUnit(std::uint8_t nri, std::uint8_t type, std::size_t size, std::uint8_t seed = 0) {
  Bytes n{static_cast<std::uint8_t>((nri << 5) | type)};
  for (std::size_t i = 1; i < size; ++i) n.push_back(static_cast<std::uint8_t>(0x10 + (i * 7 + seed) % 0xe0));
  return n;
}

const Bytes kStart4{0, 0, 0, 1};
const Bytes kStart3{0, 0, 1};
const Bytes kSps = nalUnit(3, nal::kSps, 12, 1);
const Bytes kPps = nalUnit(3, nal::kPps, 5, 2);
const Bytes kAud{0x09, 0xf0};

Bytes annexB(std::initializer_list<Bytes> units) {
  Bytes out;
  for (const auto& u : units) out = concat({out, kStart4, u});
  return out;
}

// Receiver side of RFC 6184 (non-interleaved mode), strict about the structure it is given.
struct Depacketized {
  std::vector<Bytes> units;
  std::string error;  // empty when every payload was well formed
};

Depacketized depacketize(const std::vector<RtpPayload>& payloads) {
  Depacketized d;
  std::optional<Bytes> fragment;
  for (const auto& p : payloads) {
    const Bytes& b = p.data;
    if (b.empty()) return d.error = "empty payload", d;
    const std::uint8_t type = nalType(b[0]);
    if (type == nal::kFuA) {
      if (b.size() < 3) return d.error = "FU-A without data", d;
      const bool start = (b[1] & 0x80) != 0;
      const bool end = (b[1] & 0x40) != 0;
      if ((b[1] & 0x20) != 0) return d.error = "FU-A R bit set", d;
      if (start && end) return d.error = "FU-A with both S and E", d;
      if (start) {
        if (fragment) return d.error = "FU-A start inside a fragmented unit", d;
        fragment = Bytes{static_cast<std::uint8_t>((b[0] & 0xe0) | (b[1] & 0x1f))};
      } else if (!fragment) {
        return d.error = "FU-A continuation without start", d;
      } else if (((*fragment)[0] & 0x1f) != (b[1] & 0x1f) || ((*fragment)[0] & 0xe0) != (b[0] & 0xe0)) {
        return d.error = "FU-A header changed between fragments", d;
      }
      fragment->insert(fragment->end(), b.begin() + 2, b.end());
      if (end) {
        d.units.push_back(std::move(*fragment));
        fragment.reset();
      }
      continue;
    }
    if (fragment) return d.error = "fragmented unit not finished", d;
    if (type == nal::kStapA) {
      std::size_t pos = 1;
      if (pos == b.size()) return d.error = "empty STAP-A", d;
      while (pos < b.size()) {
        if (pos + 2 > b.size()) return d.error = "STAP-A size cut short", d;
        const std::size_t size = (b[pos] << 8) | b[pos + 1];
        pos += 2;
        if (size == 0 || pos + size > b.size()) return d.error = "STAP-A unit size out of range", d;
        d.units.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(pos),
                             b.begin() + static_cast<std::ptrdiff_t>(pos + size));
        pos += size;
      }
      continue;
    }
    if (type == 0 || type > 23) return d.error = "unexpected payload type " + std::to_string(type), d;
    d.units.push_back(b);
  }
  if (fragment) d.error = "access unit ends inside a fragmented unit";
  return d;
}

std::vector<Bytes> copies(const std::vector<BytesView>& views) {
  std::vector<Bytes> out;
  for (auto v : views) out.emplace_back(v.begin(), v.end());
  return out;
}

void expectOnlyLastMarked(const std::vector<RtpPayload>& payloads) {
  ASSERT_FALSE(payloads.empty());
  for (std::size_t i = 0; i + 1 < payloads.size(); ++i) EXPECT_FALSE(payloads[i].marker) << "payload " << i;
  EXPECT_TRUE(payloads.back().marker);
}

}  // namespace

TEST(H264AnnexB, SplitsAtThreeAndFourByteStartCodes) {
  const Bytes a = nalUnit(3, nal::kSps, 6);
  const Bytes b = nalUnit(3, nal::kPps, 3);
  const Bytes c = nalUnit(2, nal::kIdr, 9);
  const Bytes stream = concat({kStart4, a, kStart3, b, {0, 0}, kStart4, c, {0, 0, 0}});
  const auto units = copies(splitAnnexB(stream));
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[0], a);
  EXPECT_EQ(units[1], b);  // trailing_zero_8bits dropped
  EXPECT_EQ(units[2], c);
}

TEST(H264AnnexB, EdgeCases) {
  EXPECT_TRUE(splitAnnexB({}).empty());
  EXPECT_TRUE(splitAnnexB(Bytes{0x65, 0x88, 0x84}).empty());  // no start code: nothing
  EXPECT_TRUE(splitAnnexB(Bytes{0, 0, 1}).empty());
  EXPECT_TRUE(splitAnnexB(Bytes{0, 0, 1, 0, 0, 1, 0, 0, 0, 1}).empty());  // empty units dropped
  const auto units = copies(splitAnnexB(Bytes{0xaa, 0xbb, 0, 0, 1, 0x41, 0x9a, 0, 0, 3, 0, 1, 0x07}));
  ASSERT_EQ(units.size(), 1u);  // leading garbage ignored; 00 00 03 is emulation prevention, not a start code
  EXPECT_EQ(units[0], (Bytes{0x41, 0x9a, 0, 0, 3, 0, 1, 0x07}));
  const auto two = copies(splitAnnexB(Bytes{0, 0, 1, 0x41, 0, 0, 1, 0x41}));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0], (Bytes{0x41}));
}

TEST(H264Packetizer, SmallUnitsAreSingleNalPackets) {
  Packetizer p({.mtu = 1200, .prependParameterSets = false});
  const Bytes slice = nalUnit(2, nal::kSlice, 800);
  const auto payloads = p.packetize(annexB({kAud, slice}));
  ASSERT_EQ(payloads.size(), 2u);
  EXPECT_EQ(payloads[0].data, kAud);
  EXPECT_EQ(payloads[1].data, slice);
  expectOnlyLastMarked(payloads);
}

TEST(H264Packetizer, UnitOfExactlyMtuIsNotFragmented) {
  Packetizer p({.mtu = 100, .prependParameterSets = false});
  const Bytes slice = nalUnit(2, nal::kSlice, 100);
  const auto payloads = p.packetize(annexB({slice}));
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].data, slice);
  EXPECT_TRUE(payloads[0].marker);
}

TEST(H264Packetizer, LargeUnitsAreFuAFragments) {
  Packetizer p({.mtu = 1200, .prependParameterSets = false});
  const Bytes idr = nalUnit(3, nal::kIdr, 5000);
  const auto payloads = p.packetize(annexB({kSps, kPps, idr}));
  // SPS, PPS, then ceil(4999 / 1198) = 5 fragments.
  ASSERT_EQ(payloads.size(), 7u);
  EXPECT_EQ(payloads[0].data, kSps);
  EXPECT_EQ(payloads[1].data, kPps);
  std::size_t carried = 0;
  for (std::size_t i = 2; i < payloads.size(); ++i) {
    const Bytes& f = payloads[i].data;
    ASSERT_LE(f.size(), 1200u);
    EXPECT_EQ(f[0], 0x60 | nal::kFuA) << "FU indicator: F=0, NRI of the unit (3), type 28";
    EXPECT_EQ(f[1] & 0x1f, nal::kIdr) << "FU header carries the unit's type";
    EXPECT_EQ((f[1] & 0x80) != 0, i == 2) << "S only on the first fragment";
    EXPECT_EQ((f[1] & 0x40) != 0, i == payloads.size() - 1) << "E only on the last fragment";
    EXPECT_EQ(f[1] & 0x20, 0) << "R is zero";
    carried += f.size() - 2;
  }
  EXPECT_EQ(carried, idr.size() - 1);
  // Fragments are of near-equal size.
  EXPECT_LE(payloads[2].data.size() - payloads.back().data.size(), 1u);
  expectOnlyLastMarked(payloads);

  const auto d = depacketize(payloads);
  ASSERT_EQ(d.error, "");
  EXPECT_EQ(d.units, (std::vector<Bytes>{kSps, kPps, idr}));
  // The rtp layer sees the first fragment of the IDR as a keyframe start.
  EXPECT_TRUE(rtp::isKeyframeStart(rtp::VideoCodec::H264, payloads[2].data));
  EXPECT_FALSE(rtp::isKeyframeStart(rtp::VideoCodec::H264, payloads[3].data));
}

TEST(H264Packetizer, FuAKeepsForbiddenBitAndNri) {
  Packetizer p({.mtu = 10, .prependParameterSets = false});
  Bytes slice = nalUnit(1, nal::kSlice, 30);
  slice[0] |= 0x80;  // F=1: a unit known to be damaged is passed on as is
  const auto payloads = p.packetize(annexB({slice}));
  ASSERT_EQ(payloads.size(), 4u);  // 29 bytes in fragments of at most 8
  for (const auto& f : payloads) {
    EXPECT_EQ(f.data[0], 0x80 | 0x20 | nal::kFuA);
    EXPECT_LE(f.data.size(), 10u);
  }
  const auto d = depacketize(payloads);
  ASSERT_EQ(d.error, "");
  ASSERT_EQ(d.units.size(), 1u);
  EXPECT_EQ(d.units[0], slice);
}

TEST(H264Packetizer, TinyMtuIsRaisedToThree) {
  Packetizer p({.mtu = 0, .prependParameterSets = false});
  EXPECT_EQ(p.mtu(), 3u);
  const Bytes slice = nalUnit(2, nal::kSlice, 5);
  const auto payloads = p.packetize(annexB({slice}));
  ASSERT_EQ(payloads.size(), 4u);  // one byte per fragment
  const auto d = depacketize(payloads);
  ASSERT_EQ(d.error, "");
  EXPECT_EQ(d.units[0], slice);
}

TEST(H264Packetizer, MarkerOnlyOnLastPacketOfEachAccessUnit) {
  Packetizer p({.mtu = 300, .prependParameterSets = false});
  const auto first = p.packetize(annexB({nalUnit(2, nal::kSlice, 1000), nalUnit(2, nal::kSlice, 1000, 9)}));
  expectOnlyLastMarked(first);
  EXPECT_EQ(first.back().data[1] & 0x40, 0x40) << "last payload is the last fragment";
  const auto second = p.packetize(annexB({nalUnit(2, nal::kSlice, 50)}));
  expectOnlyLastMarked(second);
  EXPECT_TRUE(p.packetize({}).empty());
}

TEST(H264Packetizer, CachedParameterSetsGoBeforeAnIdrThatLacksThem) {
  Packetizer p({.mtu = 1200, .prependParameterSets = true});
  const Bytes sei = nalUnit(0, nal::kSei, 20);
  const Bytes idr1 = nalUnit(3, nal::kIdr, 400);
  // First keyframe carries its parameter sets: nothing added.
  const auto withSets = p.packetize(annexB({kAud, kSps, kPps, idr1}));
  ASSERT_EQ(withSets.size(), 4u);
  EXPECT_EQ(p.cachedSps(), kSps);
  EXPECT_EQ(p.cachedPps(), kPps);

  // A delta frame: nothing added.
  const auto delta = p.packetize(annexB({kAud, nalUnit(2, nal::kSlice, 300)}));
  ASSERT_EQ(delta.size(), 2u);

  // A keyframe without them: STAP-A after the AUD, before the SEI and the slice.
  const Bytes idr2 = nalUnit(3, nal::kIdr, 3000, 5);
  const auto payloads = p.packetize(annexB({kAud, sei, idr2}));
  ASSERT_GE(payloads.size(), 4u);
  EXPECT_EQ(payloads[0].data, kAud);
  const Bytes& stap = payloads[1].data;
  EXPECT_EQ(stap, concat({{0x78},
                          {0x00, static_cast<std::uint8_t>(kSps.size())},
                          kSps,
                          {0x00, static_cast<std::uint8_t>(kPps.size())},
                          kPps}))
      << "STAP-A: F=0, NRI=3 (max of the units), type 24; then 16-bit size + unit for each";
  EXPECT_TRUE(rtp::isKeyframeStart(rtp::VideoCodec::H264, stap));
  EXPECT_EQ(payloads[2].data, sei);
  expectOnlyLastMarked(payloads);
  const auto d = depacketize(payloads);
  ASSERT_EQ(d.error, "");
  EXPECT_EQ(d.units, (std::vector<Bytes>{kAud, kSps, kPps, sei, idr2}));
}

TEST(H264Packetizer, OnlyTheMissingParameterSetIsAdded) {
  Packetizer p;
  p.packetize(annexB({kSps, kPps, nalUnit(3, nal::kIdr, 100)}));
  const Bytes newSps = nalUnit(3, nal::kSps, 14, 4);
  const Bytes idr = nalUnit(3, nal::kIdr, 100, 6);
  const auto payloads = p.packetize(annexB({newSps, idr}));
  const auto d = depacketize(payloads);
  ASSERT_EQ(d.error, "");
  // The cached PPS follows the new SPS, alone, as a single NAL unit packet (a STAP-A of one unit gains nothing).
  EXPECT_EQ(d.units, (std::vector<Bytes>{newSps, kPps, idr}));
  EXPECT_EQ(payloads[1].data, kPps);
  EXPECT_EQ(p.cachedSps(), newSps);

  // A keyframe with its PPS but no SPS: the cached SPS goes first.
  const Bytes newPps = nalUnit(3, nal::kPps, 6, 8);
  const auto second = depacketize(p.packetize(annexB({kAud, newPps, idr})));
  ASSERT_EQ(second.error, "");
  EXPECT_EQ(second.units, (std::vector<Bytes>{kAud, newSps, newPps, idr}));
}

TEST(H264Packetizer, NothingToPrependBeforeAnyParameterSetWasSeen) {
  Packetizer p;
  const Bytes idr = nalUnit(3, nal::kIdr, 100);
  const auto payloads = p.packetize(annexB({idr}));
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].data, idr);
}

TEST(H264Packetizer, PrependingCanBeTurnedOff) {
  Packetizer p({.mtu = 1200, .prependParameterSets = false});
  p.packetize(annexB({kSps, kPps, nalUnit(3, nal::kIdr, 100)}));
  const Bytes idr = nalUnit(3, nal::kIdr, 100, 3);
  const auto payloads = p.packetize(annexB({idr}));
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].data, idr);
}

TEST(H264Packetizer, ParameterSetsTooLargeForOneStapAAreSentSeparately) {
  Packetizer p({.mtu = 40, .prependParameterSets = true});
  const Bytes bigSps = nalUnit(3, nal::kSps, 30);
  const Bytes bigPps = nalUnit(3, nal::kPps, 20);
  p.packetize(annexB({bigSps, bigPps, nalUnit(3, nal::kIdr, 10)}));
  const Bytes idr = nalUnit(3, nal::kIdr, 10, 1);
  const auto payloads = p.packetize(annexB({idr}));
  ASSERT_EQ(payloads.size(), 3u);  // 1 + 2 + 30 + 2 + 20 = 55 > 40
  EXPECT_EQ(payloads[0].data, bigSps);
  EXPECT_EQ(payloads[1].data, bigPps);
  EXPECT_EQ(payloads[2].data, idr);
  expectOnlyLastMarked(payloads);
}

TEST(H264Packetizer, RoundTripOfAMixedAccessUnit) {
  for (std::size_t mtu : {3u, 7u, 64u, 500u, 1200u, 1500u}) {
    Packetizer p({.mtu = mtu, .prependParameterSets = false});
    const std::vector<Bytes> units{kAud,
                                   kSps,
                                   kPps,
                                   nalUnit(0, nal::kSei, 33),
                                   nalUnit(3, nal::kIdr, 4321, 1),
                                   nalUnit(3, nal::kIdr, 1, 2),
                                   nalUnit(3, nal::kIdr, 1201, 3)};
    Bytes au;
    for (const auto& u : units) au = concat({au, kStart3, u});
    const auto payloads = p.packetize(au);
    for (const auto& pl : payloads) EXPECT_LE(pl.data.size(), mtu);
    expectOnlyLastMarked(payloads);
    const auto d = depacketize(payloads);
    ASSERT_EQ(d.error, "") << "mtu " << mtu;
    EXPECT_EQ(d.units, units) << "mtu " << mtu;
  }
}

TEST(H264Packetizer, UnspecifiedNalTypesAreDropped) {
  Packetizer p({.mtu = 1200, .prependParameterSets = false});
  const Bytes slice = nalUnit(2, nal::kSlice, 40);
  // Type 0, and 24 and 28 (which a receiver would take for a STAP-A and an FU-A), around a real slice.
  const auto payloads = p.packetize(annexB({{0x00, 0x11}, {0x78, 0x00, 0x01, 0x41}, slice, {0xdc, 0x07}}));
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].data, slice);
  EXPECT_TRUE(payloads[0].marker);
  EXPECT_TRUE(p.packetize(annexB({{0x7f, 0x01}})).empty());
}
