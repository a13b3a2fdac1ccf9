#include "stagecast/ingest/h265_packetizer.hpp"

#include <algorithm>
#include <array>

#include "stagecast/common/byte_reader.hpp"
#include "stagecast/ingest/h264_packetizer.hpp"

namespace stagecast::ingest::h265 {

namespace {

constexpr std::size_t kHeaderSize = 2;  // NAL unit header, and RTP payload header (RFC 7798 §1.1.4)
constexpr std::size_t kMinMtu = 4;      // payload header + FU header + one byte
constexpr std::uint8_t kForbiddenBit = 0x80;
constexpr std::uint8_t kLayerIdHighBit = 0x01;  // the sixth LayerId bit lives in the first header byte
constexpr std::uint8_t kFuStart = 0x80;
constexpr std::uint8_t kFuEnd = 0x40;
constexpr std::size_t kHvccHeaderSize = 22;  // ISO/IEC 14496-15 §8.3.3.1.2, up to numOfArrays

// Types 48..63 are unspecified by H.265 and taken by RFC 7798 for its payload structures (§4.4): sent as a single
// NAL unit packet such a unit would be misread as an AP, FU or PACI. nuh_temporal_id_plus1 = 0 is forbidden.
bool carriable(BytesView unit) {
  return unit.size() >= kHeaderSize && nalType(unit[0]) < nal::kAp && temporalIdPlus1(unit[1]) != 0;
}

// Where a unit goes relative to the parameter sets put in front of an IRAP picture (H.265 §7.4.2.4.4: an access
// unit delimiter comes first, parameter sets precede the first VCL unit; a PPS refers to an SPS, an SPS to a VPS).
int rank(std::uint8_t type) {
  switch (type) {
    case nal::kAud:
      return 0;
    case nal::kVps:
      return 1;
    case nal::kSps:
      return 2;
    case nal::kPps:
      return 3;
    default:
      return 4;
  }
}

}  // namespace

std::vector<BytesView> splitAnnexB(BytesView stream) { return h264::splitAnnexB(stream); }

std::vector<Bytes> parameterSetsOf(BytesView extradata) {
  std::vector<Bytes> sets;
  if (extradata.empty()) return sets;
  if (extradata[0] == 0) {
    for (const BytesView unit : splitAnnexB(extradata)) {
      if (unit.size() >= kHeaderSize && isParameterSet(nalType(unit[0]))) sets.emplace_back(unit.begin(), unit.end());
    }
    return sets;
  }
  // HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1.2): a fixed header, then numOfArrays arrays of
  // (array_completeness, reserved, NAL_unit_type; numNalus; numNalus × (nalUnitLength, nalUnit)).
  ByteReader r(extradata);
  std::uint8_t arrays = 0;
  if (!r.skip(kHvccHeaderSize) || !r.readU8(arrays)) return sets;
  for (std::uint8_t a = 0; a < arrays; ++a) {
    std::uint8_t arrayType = 0;
    std::uint16_t count = 0;
    if (!r.readU8(arrayType) || !r.readU16(count)) return sets;
    for (std::uint16_t i = 0; i < count; ++i) {
      std::uint16_t length = 0;
      BytesView unit;
      if (!r.readU16(length) || !r.readBytes(length, unit)) return sets;
      if (unit.size() >= kHeaderSize && isParameterSet(nalType(unit[0]))) sets.emplace_back(unit.begin(), unit.end());
    }
  }
  return sets;
}

std::optional<ProfileTierLevel> profileTierLevelOfSps(BytesView sps) {
  if (sps.size() < kHeaderSize || nalType(sps[0]) != nal::kSps) return std::nullopt;
  // The first 13 bytes of the RBSP: sps_video_parameter_set_id(4) sps_max_sub_layers_minus1(3)
  // sps_temporal_id_nesting_flag(1), then profile_tier_level(1, ...): general_profile_space(2)
  // general_tier_flag(1) general_profile_idc(5), 32 compatibility flags, 48 bits of constraint flags,
  // general_level_idc(8). Emulation prevention bytes (0x03 after two zero bytes, §7.4.2) are not RBSP.
  std::array<std::uint8_t, 13> rbsp{};
  std::size_t have = 0;
  int zeros = 0;
  for (std::size_t i = kHeaderSize; i < sps.size() && have < rbsp.size(); ++i) {
    const std::uint8_t b = sps[i];
    if (zeros >= 2 && b == 0x03) {
      zeros = 0;
      continue;
    }
    zeros = b == 0 ? zeros + 1 : 0;
    rbsp[have++] = b;
  }
  if (have < rbsp.size()) return std::nullopt;
  ProfileTierLevel ptl;
  ptl.profileSpace = static_cast<std::uint8_t>(rbsp[1] >> 6);
  ptl.tierFlag = static_cast<std::uint8_t>((rbsp[1] >> 5) & 0x01);
  ptl.profileId = static_cast<std::uint8_t>(rbsp[1] & 0x1f);
  ptl.levelId = rbsp[12];
  return ptl;
}

Packetizer::Packetizer(PacketizerOptions options) : options_(options) {
  options_.mtu = std::max(options_.mtu, kMinMtu);
}

Bytes* Packetizer::cacheFor(std::uint8_t type) {
  switch (type) {
    case nal::kVps:
      return &vps_;
    case nal::kSps:
      return &sps_;
    case nal::kPps:
      return &pps_;
    default:
      return nullptr;
  }
}

void Packetizer::remember(BytesView unit) {
  if (!carriable(unit)) return;
  if (Bytes* cache = cacheFor(nalType(unit[0]))) cache->assign(unit.begin(), unit.end());
}

std::vector<RtpPayload> Packetizer::packetize(BytesView accessUnit) {
  std::vector<BytesView> units;
  std::vector<bool> repeated;  // by unit: a parameter set equal to the cached one
  bool irap = false;
  std::array<bool, 3> present{};  // VPS, SPS, PPS carried by this access unit
  for (const BytesView unit : splitAnnexB(accessUnit)) {
    if (!carriable(unit)) continue;
    const std::uint8_t type = nalType(unit[0]);
    irap = irap || isIrap(type);
    bool repeat = false;
    if (isParameterSet(type)) {
      present[type - nal::kVps] = true;
      Bytes& cached = *cacheFor(type);
      repeat = std::equal(unit.begin(), unit.end(), cached.begin(), cached.end());
      if (!repeat) cached.assign(unit.begin(), unit.end());
    }
    units.push_back(unit);
    repeated.push_back(repeat);
  }
  if (!irap && options_.prependParameterSets && options_.dropRepeatedParameterSets) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < units.size(); ++i) {
      if (!repeated[i]) units[kept++] = units[i];
    }
    units.resize(kept);
  }

  // The cached sets this IRAP access unit lacks, in VPS, SPS, PPS order (views into the cache, which does not
  // change below).
  std::vector<BytesView> missing;
  if (options_.prependParameterSets && irap) {
    for (const std::uint8_t type : {nal::kVps, nal::kSps, nal::kPps}) {
      const Bytes& cached = *cacheFor(type);
      if (!present[type - nal::kVps] && !cached.empty()) missing.emplace_back(cached);
    }
  }
  std::vector<BytesView> ordered;
  ordered.reserve(units.size() + missing.size());
  std::size_t next = 0;
  for (const BytesView unit : units) {
    const int r = rank(nalType(unit[0]));
    while (next < missing.size() && rank(nalType(missing[next][0])) < r) ordered.push_back(missing[next++]);
    ordered.push_back(unit);
  }
  while (next < missing.size()) ordered.push_back(missing[next++]);

  std::vector<RtpPayload> out;
  std::vector<BytesView> run;  // consecutive parameter sets, sent together when they fit
  for (const BytesView unit : ordered) {
    if (isParameterSet(nalType(unit[0]))) {
      run.push_back(unit);
      continue;
    }
    emitParameterSets(run, out);
    run.clear();
    emitNal(unit, out);
  }
  emitParameterSets(run, out);
  if (!out.empty()) out.back().marker = true;
  return out;
}

void Packetizer::emitNal(BytesView unit, std::vector<RtpPayload>& out) const {
  const std::size_t mtu = options_.mtu;
  if (unit.size() <= mtu) {
    out.push_back({Bytes(unit.begin(), unit.end()), false});  // §4.4.1 single NAL unit packet
    return;
  }
  // §4.4.3 fragmentation unit: a payload header with Type 49 and the unit's F, LayerId and TID; an FU header
  // S E FuType(6); then a piece of the unit without its own two-byte header (no DONL: sprop-max-don-diff is 0).
  // The pieces are of near-equal size; a unit is only fragmented when it does not fit, so S and E are never
  // both set.
  const std::uint8_t first = static_cast<std::uint8_t>((unit[0] & (kForbiddenBit | kLayerIdHighBit)) | (nal::kFu << 1));
  const std::uint8_t second = unit[1];
  const std::uint8_t type = nalType(unit[0]);
  const BytesView body = unit.subspan(kHeaderSize);
  const std::size_t maxFragment = mtu - 3;
  const std::size_t count = (body.size() + maxFragment - 1) / maxFragment;
  const std::size_t base = body.size() / count;
  const std::size_t longer = body.size() % count;  // the first `longer` fragments carry one byte more
  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t length = base + (i < longer ? 1 : 0);
    std::uint8_t fuHeader = type;
    if (i == 0) fuHeader |= kFuStart;
    if (i + 1 == count) fuHeader |= kFuEnd;
    Bytes payload;
    payload.reserve(3 + length);
    payload.push_back(first);
    payload.push_back(second);
    payload.push_back(fuHeader);
    payload.insert(payload.end(), body.begin() + static_cast<std::ptrdiff_t>(offset),
                   body.begin() + static_cast<std::ptrdiff_t>(offset + length));
    offset += length;
    out.push_back({std::move(payload), false});
  }
}

void Packetizer::emitParameterSets(const std::vector<BytesView>& sets, std::vector<RtpPayload>& out) const {
  // §4.4.2 aggregation packet: a payload header with Type 48, F set if any unit has it, the lowest LayerId and
  // the lowest TID of the units; then each unit behind a 16-bit size (no DONL/DOND). At least two units; groups
  // of consecutive sets are filled up to the MTU, a set left alone goes as a single NAL unit packet.
  std::size_t begin = 0;
  while (begin < sets.size()) {
    std::size_t end = begin;
    std::size_t size = kHeaderSize;
    if (options_.aggregateParameterSets) {
      while (end < sets.size() && sets[end].size() <= 0xffff && size + 2 + sets[end].size() <= options_.mtu) {
        size += 2 + sets[end].size();
        ++end;
      }
    }
    if (end - begin < 2) {
      emitNal(sets[begin], out);
      begin += 1;
      continue;
    }
    std::uint8_t forbidden = 0;
    std::uint8_t layer = 0x3f;
    std::uint8_t tid = 0x07;
    for (std::size_t i = begin; i < end; ++i) {
      forbidden |= sets[i][0] & kForbiddenBit;
      layer = std::min(layer, layerId(sets[i][0], sets[i][1]));
      tid = std::min(tid, temporalIdPlus1(sets[i][1]));
    }
    Bytes payload;
    payload.reserve(size);
    payload.push_back(static_cast<std::uint8_t>(forbidden | (nal::kAp << 1) | (layer >> 5)));
    payload.push_back(static_cast<std::uint8_t>(((layer & 0x1f) << 3) | tid));
    for (std::size_t i = begin; i < end; ++i) {
      payload.push_back(static_cast<std::uint8_t>(sets[i].size() >> 8));
      payload.push_back(static_cast<std::uint8_t>(sets[i].size() & 0xff));
      payload.insert(payload.end(), sets[i].begin(), sets[i].end());
    }
    out.push_back({std::move(payload), false});
    begin = end;
  }
}

}  // namespace stagecast::ingest::h265
