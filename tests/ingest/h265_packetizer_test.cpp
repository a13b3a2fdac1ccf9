#include "stagecast/ingest/h265_packetizer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "h265_depacketizer.hpp"

using namespace stagecast;
using namespace stagecast::ingest::h265;

namespace {

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A NAL unit: the two-byte header (type, LayerId, TID = nuh_temporal_id_plus1) and `size - 2` payload bytes free
// of start-code emulation.
Bytes nalUnit(std::uint8_t type, std::size_t size, std::uint8_t seed = 0, std::uint8_t layer = 0,
              std::uint8_t tid = 1) {
  Bytes n{static_cast<std::uint8_t>((type << 1) | (layer >> 5)),
          static_cast<std::uint8_t>(((layer & 0x1f) << 3) | tid)};
  for (std::size_t i = 2; i < size; ++i) n.push_back(static_cast<std::uint8_t>(0x10 + (i * 7 + seed) % 0xe0));
  return n;
}

const Bytes kStart4{0, 0, 0, 1};
const Bytes kStart3{0, 0, 1};
const Bytes kVps = nalUnit(nal::kVps, 24, 1);
const Bytes kSps = nalUnit(nal::kSps, 40, 2);
const Bytes kPps = nalUnit(nal::kPps, 7, 3);
const Bytes kAud{0x46, 0x01, 0x50};  // AUD_NUT, pic_type 2 + rbsp stop bit

Bytes annexB(std::initializer_list<Bytes> units) {
  Bytes out;
  for (const auto& u : units) out = concat({out, kStart4, u});
  return out;
}

// The payloads through the tests' own RFC 7798 receiver.
stagecast::ingest::testing::H265Depacketized depacketize(const std::vector<RtpPayload>& payloads) {
  std::vector<BytesView> views;
  for (const auto& p : payloads) views.emplace_back(p.data);
  return stagecast::ingest::testing::depacketizeH265(views);
}

void expectOnlyLastMarked(const std::vector<RtpPayload>& payloads) {
  ASSERT_FALSE(payloads.empty());
  for (std::size_t i = 0; i + 1 < payloads.size(); ++i) EXPECT_FALSE(payloads[i].marker) << "payload " << i;
  EXPECT_TRUE(payloads.back().marker);
}

void expectWithinMtu(const std::vector<RtpPayload>& payloads, std::size_t mtu) {
  for (std::size_t i = 0; i < payloads.size(); ++i) EXPECT_LE(payloads[i].data.size(), mtu) << "payload " << i;
}

// Inserts emulation prevention bytes (H.265 §7.4.2): 0x03 after two zero bytes when a byte <= 3 follows.
Bytes escape(const Bytes& rbsp) {
  Bytes out;
  int zeros = 0;
  for (const std::uint8_t b : rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push_back(0x03);
      zeros = 0;
    }
    out.push_back(b);
    zeros = b == 0 ? zeros + 1 : 0;
  }
  return out;
}

}  // namespace

TEST(H265Header, FieldsOfTheTwoByteHeader) {
  const Bytes n = nalUnit(nal::kCra, 2, 0, 37, 5);
  EXPECT_EQ(nalType(n[0]), nal::kCra);
  EXPECT_EQ(layerId(n[0], n[1]), 37);
  EXPECT_EQ(temporalIdPlus1(n[1]), 5);
  EXPECT_EQ(n[0] & 0x80, 0);
  for (std::uint8_t t = 0; t < 64; ++t) EXPECT_EQ(isIrap(t), t >= 16 && t <= 21) << int{t};
}

TEST(H265AnnexB, SplitsAtThreeAndFourByteStartCodes) {
  const Bytes a = nalUnit(nal::kVps, 6);
  const Bytes b = nalUnit(nal::kSps, 9);
  const Bytes stream = concat({kStart3, a, {0, 0}, kStart4, b, {0}});
  const auto units = splitAnnexB(stream);
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(Bytes(units[0].begin(), units[0].end()), a);
  EXPECT_EQ(Bytes(units[1].begin(), units[1].end()), b);
}

TEST(H265Packetizer, IrapAccessUnitWithItsParameterSets) {
  Packetizer p;
  const Bytes idr = nalUnit(nal::kIdrWRadl, 600, 4);
  const Bytes sei = nalUnit(nal::kPrefixSei, 12, 5);
  const auto payloads = p.packetize(annexB({kVps, kSps, kPps, sei, idr}));
  expectOnlyLastMarked(payloads);
  // The three parameter sets travel in one aggregation packet, the SEI and the slice as they are.
  ASSERT_EQ(payloads.size(), 3u);
  EXPECT_EQ(nalType(payloads[0].data[0]), nal::kAp);
  EXPECT_EQ(payloads[1].data, sei);
  EXPECT_EQ(payloads[2].data, idr);
  const auto d = depacketize(payloads);
  ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_EQ(d.units, (std::vector<Bytes>{kVps, kSps, kPps, sei, idr}));
  EXPECT_EQ(p.cachedVps(), kVps);
  EXPECT_EQ(p.cachedSps(), kSps);
  EXPECT_EQ(p.cachedPps(), kPps);
}

TEST(H265Packetizer, CachedParameterSetsGoInFrontOfEveryIrapPicture) {
  Packetizer p;
  (void)p.packetize(annexB({kVps, kSps, kPps, nalUnit(nal::kIdrNLp, 300)}));
  // A P picture: nothing added.
  const Bytes trail = nalUnit(nal::kTrailR, 200, 6);
  auto d = depacketize(p.packetize(annexB({kAud, trail})));
  ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_EQ(d.units, (std::vector<Bytes>{kAud, trail}));

  // Each IRAP type without parameter sets gets them, after the access unit delimiter, in VPS, SPS, PPS order.
  for (std::uint8_t type = nal::kBlaWLp; type <= nal::kCra; ++type) {
    const Bytes irap = nalUnit(type, 2500, type);
    const auto payloads = p.packetize(annexB({kAud, irap}));
    expectOnlyLastMarked(payloads);
    expectWithinMtu(payloads, p.mtu());
    d = depacketize(payloads);
    ASSERT_TRUE(d.error.empty()) << d.error;
    EXPECT_EQ(d.units, (std::vector<Bytes>{kAud, kVps, kSps, kPps, irap})) << "type " << int{type};
    EXPECT_EQ(d.aggregationPackets, 1u);
    EXPECT_EQ(d.fragments, 3u);  // 2498 body bytes in pieces of at most 1197
  }
}

TEST(H265Packetizer, OnlyTheMissingSetsAreAddedAndInDecodingOrder) {
  Packetizer p;
  (void)p.packetize(annexB({kVps, kSps, kPps}));
  const Bytes newSps = nalUnit(nal::kSps, 41, 9);
  const Bytes irap = nalUnit(nal::kCra, 100);
  // The access unit brings its own SPS: the cached VPS goes before it, the cached PPS after it.
  auto d = depacketize(p.packetize(annexB({newSps, irap})));
  ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_EQ(d.units, (std::vector<Bytes>{kVps, newSps, kPps, irap}));
  EXPECT_EQ(p.cachedSps(), newSps);  // the newest one is kept
  // Its own PPS only.
  const Bytes newPps = nalUnit(nal::kPps, 8, 10);
  d = depacketize(p.packetize(annexB({newPps, irap})));
  ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_EQ(d.units, (std::vector<Bytes>{kVps, newSps, newPps, irap}));
}

TEST(H265Packetizer, RepeatedParameterSetsTravelOnlyWithIrapPictures) {
  Packetizer p;
  const Bytes idr = nalUnit(nal::kIdrWRadl, 300);
  (void)p.packetize(annexB({kVps, kSps, kPps, idr}));
  // An I picture that is not IRAP, with the same sets in front (as encoders send at a scene cut): the repeats go.
  const Bytes trail = nalUnit(nal::kTrailR, 400, 1);
  auto payloads = p.packetize(annexB({kAud, kVps, kSps, kPps, trail}));
  auto d = depacketize(payloads);
  ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_EQ(d.units, (std::vector<Bytes>{kAud, trail}));
  // A changed PPS is sent (and cached); the unchanged VPS and SPS are not.
  const Bytes newPps = nalUnit(nal::kPps, 9, 4);
  d = depacketize(p.packetize(annexB({kVps, kSps, newPps, trail})));
  EXPECT_EQ(d.units, (std::vector<Bytes>{newPps, trail}));
  EXPECT_EQ(p.cachedPps(), newPps);
  // With an IRAP picture they all stay.
  d = depacketize(p.packetize(annexB({kVps, kSps, newPps, idr})));
  EXPECT_EQ(d.units, (std::vector<Bytes>{kVps, kSps, newPps, idr}));

  Packetizer keep(
      {.mtu = 1200, .prependParameterSets = true, .aggregateParameterSets = true, .dropRepeatedParameterSets = false});
  (void)keep.packetize(annexB({kVps, kSps, kPps, idr}));
  d = depacketize(keep.packetize(annexB({kVps, kSps, kPps, trail})));
  EXPECT_EQ(d.units, (std::vector<Bytes>{kVps, kSps, kPps, trail}));
  // Without prepending, an IRAP picture may lack them: nothing is left out then.
  Packetizer plain({.mtu = 1200, .prependParameterSets = false});
  (void)plain.packetize(annexB({kVps, kSps, kPps, idr}));
  d = depacketize(plain.packetize(annexB({kVps, kSps, kPps, trail})));
  EXPECT_EQ(d.units, (std::vector<Bytes>{kVps, kSps, kPps, trail}));
}

TEST(H265Packetizer, NothingToPrependBeforeAnyParameterSetWasSeen) {
  Packetizer p;
  const Bytes irap = nalUnit(nal::kIdrWRadl, 50);
  const auto d = depacketize(p.packetize(annexB({irap})));
  EXPECT_EQ(d.units, (std::vector<Bytes>{irap}));
}

TEST(H265Packetizer, OutOfBandParameterSetsPrimeTheCache) {
  Packetizer p;
  p.remember(kVps);
  p.remember(kSps);
  p.remember(kPps);
  p.remember(nalUnit(nal::kTrailR, 20));  // ignored
  p.remember(Bytes{0x42});                // too short: ignored
  const Bytes irap = nalUnit(nal::kIdrNLp, 80);
  const auto d = depacketize(p.packetize(annexB({irap})));
  ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_EQ(d.units, (std::vector<Bytes>{kVps, kSps, kPps, irap}));
}

TEST(H265Packetizer, PrependingCanBeTurnedOff) {
  Packetizer p({.mtu = 1200, .prependParameterSets = false});
  (void)p.packetize(annexB({kVps, kSps, kPps}));
  const Bytes irap = nalUnit(nal::kIdrNLp, 80);
  const auto d = depacketize(p.packetize(annexB({irap})));
  EXPECT_EQ(d.units, (std::vector<Bytes>{irap}));
  EXPECT_EQ(p.cachedSps(), kSps);
}

TEST(H265Packetizer, AggregationCanBeTurnedOff) {
  Packetizer p({.mtu = 1200, .prependParameterSets = true, .aggregateParameterSets = false});
  const auto payloads = p.packetize(annexB({kVps, kSps, kPps, nalUnit(nal::kIdrNLp, 80)}));
  ASSERT_EQ(payloads.size(), 4u);
  EXPECT_EQ(payloads[0].data, kVps);
  EXPECT_EQ(payloads[1].data, kSps);
  EXPECT_EQ(payloads[2].data, kPps);
}

TEST(H265Packetizer, AggregationPacketsAreFilledUpToTheMtu) {
  // VPS (24) + SPS (40) fit in 2 + 26 + 42 = 70 bytes; with the PPS (7) it would be 79.
  Packetizer p({.mtu = 72});
  const Bytes irap = nalUnit(nal::kIdrNLp, 60);
  const auto payloads = p.packetize(annexB({kVps, kSps, kPps, irap}));
  expectWithinMtu(payloads, 72);
  ASSERT_EQ(payloads.size(), 3u);
  EXPECT_EQ(nalType(payloads[0].data[0]), nal::kAp);
  EXPECT_EQ(payloads[0].data.size(), 70u);
  EXPECT_EQ(payloads[1].data, kPps);  // alone: a single NAL unit packet
  const auto d = depacketize(payloads);
  ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_EQ(d.units, (std::vector<Bytes>{kVps, kSps, kPps, irap}));
}

TEST(H265Packetizer, AggregationPacketHeaderTakesTheLowestLayerAndTid) {
  Packetizer p;
  const Bytes vps = nalUnit(nal::kVps, 10, 1, 5, 3);
  const Bytes sps = nalUnit(nal::kSps, 12, 2, 2, 4);
  Bytes pps = nalUnit(nal::kPps, 6, 3, 9, 2);
  pps[0] |= 0x80;  // F set on one unit sets it on the packet
  const auto payloads = p.packetize(annexB({vps, sps, pps}));
  ASSERT_EQ(payloads.size(), 1u);
  const Bytes& ap = payloads[0].data;
  EXPECT_EQ(nalType(ap[0]), nal::kAp);
  EXPECT_EQ(ap[0] & 0x80, 0x80);
  EXPECT_EQ(layerId(ap[0], ap[1]), 2);
  EXPECT_EQ(temporalIdPlus1(ap[1]), 2);
  const auto d = depacketize(payloads);
  ASSERT_TRUE(d.error.empty()) << d.error;
  EXPECT_EQ(d.units, (std::vector<Bytes>{vps, sps, pps}));
}

TEST(H265Packetizer, FragmentationUnitsKeepTheHeaderFieldsAndRespectTheMtu) {
  for (const std::size_t mtu : {4u, 5u, 17u, 100u, 1200u}) {
    Packetizer p({.mtu = mtu});
    Bytes big = nalUnit(nal::kCra, 1000, 7, 33, 6);  // LayerId 33: its high bit is in the first byte
    big[0] |= 0x80;
    const auto payloads = p.packetize(annexB({big}));
    expectOnlyLastMarked(payloads);
    expectWithinMtu(payloads, mtu);
    const std::size_t perPacket = mtu - 3;
    ASSERT_EQ(payloads.size(), mtu >= 1000 ? 1 : (998 + perPacket - 1) / perPacket) << "mtu " << mtu;
    if (payloads.size() > 1) {
      for (std::size_t i = 0; i < payloads.size(); ++i) {
        const Bytes& b = payloads[i].data;
        EXPECT_EQ(nalType(b[0]), nal::kFu);
        EXPECT_EQ(b[0] & 0x80, 0x80);
        EXPECT_EQ(layerId(b[0], b[1]), 33);
        EXPECT_EQ(temporalIdPlus1(b[1]), 6);
        EXPECT_EQ((b[2] & 0x80) != 0, i == 0) << "S bit, mtu " << mtu << " fragment " << i;
        EXPECT_EQ((b[2] & 0x40) != 0, i + 1 == payloads.size()) << "E bit, mtu " << mtu << " fragment " << i;
        EXPECT_EQ(b[2] & 0x3f, nal::kCra);
      }
      // Near-equal pieces: no fragment is more than one byte shorter than another.
      std::size_t shortest = mtu;
      std::size_t longest = 0;
      for (const auto& pl : payloads) {
        shortest = std::min(shortest, pl.data.size());
        longest = std::max(longest, pl.data.size());
      }
      EXPECT_LE(longest - shortest, 1u);
    }
    const auto d = depacketize(payloads);
    ASSERT_TRUE(d.error.empty()) << d.error << " (mtu " << mtu << ")";
    ASSERT_EQ(d.units.size(), 1u);
    EXPECT_EQ(d.units[0], big);
  }
}

TEST(H265Packetizer, UnitsThatFitExactlyAreNotFragmented) {
  Packetizer p({.mtu = 300});
  const Bytes exact = nalUnit(nal::kTrailR, 300);
  auto payloads = p.packetize(annexB({exact}));
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].data, exact);
  const Bytes over = nalUnit(nal::kTrailR, 301);
  payloads = p.packetize(annexB({over}));
  ASSERT_EQ(payloads.size(), 2u);
  EXPECT_EQ(depacketize(payloads).units, (std::vector<Bytes>{over}));
}

TEST(H265Packetizer, TinyMtuIsRaisedToFour) {
  Packetizer p({.mtu = 1});
  EXPECT_EQ(p.mtu(), 4u);
  const Bytes unit = nalUnit(nal::kTrailR, 9);
  const auto payloads = p.packetize(annexB({unit}));
  expectWithinMtu(payloads, 4);
  EXPECT_EQ(payloads.size(), 7u);  // one body byte per fragment
  EXPECT_EQ(depacketize(payloads).units, (std::vector<Bytes>{unit}));
}

TEST(H265Packetizer, UnsendableUnitsAreDropped) {
  Packetizer p;
  const Bytes slice = nalUnit(nal::kTrailR, 30);
  Bytes tidZero = nalUnit(nal::kTrailR, 30);
  tidZero[1] &= 0xf8;
  const auto payloads =
      p.packetize(annexB({nalUnit(nal::kAp, 10), nalUnit(nal::kFu, 10), nalUnit(63, 10), {0x02}, tidZero, slice}));
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].data, slice);
  EXPECT_TRUE(payloads[0].marker);
  EXPECT_TRUE(p.packetize(annexB({nalUnit(nal::kPaci, 10), tidZero})).empty());
  EXPECT_TRUE(p.packetize({}).empty());
  EXPECT_TRUE(p.packetize(Bytes{1, 2, 3, 4, 5}).empty());  // no start code
}

TEST(H265ParameterSets, FromAnnexBExtradata) {
  const Bytes extradata = annexB({kVps, kSps, kPps, nalUnit(nal::kPrefixSei, 9)});
  EXPECT_EQ(parameterSetsOf(extradata), (std::vector<Bytes>{kVps, kSps, kPps}));
}

TEST(H265ParameterSets, FromAnHvccRecord) {
  // ISO/IEC 14496-15 §8.3.3.1.2: 22 bytes of configuration, numOfArrays, then the arrays.
  Bytes hvcc{0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f};
  ASSERT_EQ(hvcc.size(), 22u);
  auto array = [](std::uint8_t type, const std::vector<Bytes>& units) {
    Bytes a{static_cast<std::uint8_t>(0x80 | type), 0, static_cast<std::uint8_t>(units.size())};
    for (const auto& u : units) {
      a.push_back(static_cast<std::uint8_t>(u.size() >> 8));
      a.push_back(static_cast<std::uint8_t>(u.size() & 0xff));
      a.insert(a.end(), u.begin(), u.end());
    }
    return a;
  };
  const Bytes sei = nalUnit(nal::kPrefixSei, 9);
  const Bytes secondPps = nalUnit(nal::kPps, 5, 8);
  const Bytes full = concat({hvcc,
                             {4},
                             array(nal::kVps, {kVps}),
                             array(nal::kSps, {kSps}),
                             array(nal::kPps, {kPps, secondPps}),
                             array(nal::kPrefixSei, {sei})});
  EXPECT_EQ(parameterSetsOf(full), (std::vector<Bytes>{kVps, kSps, kPps, secondPps}));

  // Cut anywhere: what was complete before the cut, never a read past the end.
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    const auto sets = parameterSetsOf(BytesView(full.data(), cut));
    EXPECT_LE(sets.size(), 4u);
    for (const auto& s : sets) EXPECT_TRUE(s == kVps || s == kSps || s == kPps || s == secondPps);
  }
  EXPECT_TRUE(parameterSetsOf({}).empty());
}

TEST(H265ProfileTierLevel, ReadFromAnSpsWithEmulationPrevention) {
  // sps_video_parameter_set_id 0, max_sub_layers_minus1 0, nesting 1; Main profile (1), Main tier, compatibility
  // flags 0x60000000, progressive + frame-only constraint flags, level 3.1 (93); then the rest of the SPS.
  const Bytes rbsp{0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 93, 0xa0, 0x0a, 0x08};
  const Bytes sps = concat({{0x42, 0x01}, escape(rbsp)});
  ASSERT_GT(sps.size(), rbsp.size() + 2) << "the sample needs emulation prevention bytes";
  const auto ptl = profileTierLevelOfSps(sps);
  ASSERT_TRUE(ptl.has_value());
  EXPECT_EQ(*ptl, (ProfileTierLevel{0, 0, 1, 93}));

  // High tier, Main 10, level 5.1, profile space 0.
  const Bytes rbsp2{0x01, 0x22, 0x20, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 153, 0x80};
  const auto ptl2 = profileTierLevelOfSps(concat({{0x42, 0x01}, escape(rbsp2)}));
  ASSERT_TRUE(ptl2.has_value());
  EXPECT_EQ(*ptl2, (ProfileTierLevel{0, 1, 2, 153}));

  EXPECT_FALSE(profileTierLevelOfSps(Bytes(sps.begin(), sps.begin() + 10)).has_value());  // too short
  EXPECT_FALSE(profileTierLevelOfSps(kPps).has_value());                                  // not an SPS
  EXPECT_FALSE(profileTierLevelOfSps({}).has_value());
}
