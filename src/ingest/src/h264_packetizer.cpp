#include "stagecast/ingest/h264_packetizer.hpp"

#include <algorithm>

namespace stagecast::ingest::h264 {

namespace {

constexpr std::size_t kMinMtu = 3;  // FU indicator + FU header + one byte
constexpr std::uint8_t kForbiddenBit = 0x80;
constexpr std::uint8_t kNriBits = 0x60;
constexpr std::uint8_t kFuStart = 0x80;
constexpr std::uint8_t kFuEnd = 0x40;

// Position of the next 0x000001 at or after `from`, or stream.size().
std::size_t findStartCode(BytesView stream, std::size_t from) {
  const std::size_t n = stream.size();
  for (std::size_t i = from; i + 2 < n; ++i) {
    if (stream[i + 2] > 1) {
      i += 2;  // none of i, i+1, i+2 can begin a start code
    } else if (stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1) {
      return i;
    }
  }
  return n;
}

// Types 0 and 24..31 are unspecified by H.264 and taken by RFC 6184 for its payload structures (§5.2): sent as
// a single NAL unit packet, such a unit would be misread as a STAP/MTAP/FU, so it is not sent at all.
bool carriable(std::uint8_t header) {
  const std::uint8_t type = nalType(header);
  return type != 0 && type < nal::kStapA;
}

}  // namespace

std::vector<BytesView> splitAnnexB(BytesView stream) {
  std::vector<BytesView> units;
  std::size_t start = findStartCode(stream, 0);
  while (start < stream.size()) {
    const std::size_t begin = start + 3;
    const std::size_t next = findStartCode(stream, begin);
    std::size_t end = next;
    // Zero bytes before a start code are trailing_zero_8bits (or the first byte of a 4-byte start code).
    while (end > begin && stream[end - 1] == 0) --end;
    if (end > begin) units.push_back(stream.subspan(begin, end - begin));
    start = next;
  }
  return units;
}

Packetizer::Packetizer(PacketizerOptions options) : options_(options) {
  options_.mtu = std::max(options_.mtu, kMinMtu);
}

std::vector<RtpPayload> Packetizer::packetize(BytesView accessUnit) {
  const std::vector<BytesView> units = splitAnnexB(accessUnit);
  bool hasIdr = false;
  bool hasSps = false;
  bool hasPps = false;
  for (const BytesView unit : units) {
    switch (nalType(unit[0])) {
      case nal::kIdr:
        hasIdr = true;
        break;
      case nal::kSps:
        hasSps = true;
        sps_.assign(unit.begin(), unit.end());
        break;
      case nal::kPps:
        hasPps = true;
        pps_.assign(unit.begin(), unit.end());
        break;
      default:
        break;
    }
  }

  std::vector<BytesView> missing;
  if (options_.prependParameterSets && hasIdr) {
    if (!hasSps && !sps_.empty()) missing.emplace_back(sps_);
    if (!hasPps && !pps_.empty()) missing.emplace_back(pps_);
  }

  std::vector<RtpPayload> out;
  bool inserted = missing.empty();
  for (const BytesView unit : units) {
    if (!carriable(unit[0])) continue;
    // Parameter sets go first in the access unit, after an access unit delimiter (H.264 §7.4.1.2.3); a missing
    // PPS goes after the access unit's own SPS, which it may refer to.
    if (!inserted && nalType(unit[0]) != nal::kAud && nalType(unit[0]) != nal::kSps) {
      emitParameterSets(missing, out);
      inserted = true;
    }
    emitNal(unit, out);
  }
  if (!out.empty()) out.back().marker = true;
  return out;
}

void Packetizer::emitNal(BytesView unit, std::vector<RtpPayload>& out) const {
  const std::size_t mtu = options_.mtu;
  if (unit.size() <= mtu) {
    out.push_back({Bytes(unit.begin(), unit.end()), false});
    return;
  }
  // FU-A (§5.8): the NAL header is spread over the FU indicator (F, NRI) and the FU header (type); the rest is
  // cut into fragments of near-equal size.
  const std::uint8_t header = unit[0];
  const std::uint8_t indicator = static_cast<std::uint8_t>((header & (kForbiddenBit | kNriBits)) | nal::kFuA);
  const BytesView body = unit.subspan(1);
  const std::size_t maxFragment = mtu - 2;
  const std::size_t count = (body.size() + maxFragment - 1) / maxFragment;
  const std::size_t base = body.size() / count;
  const std::size_t longer = body.size() % count;  // the first `longer` fragments carry one byte more
  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t length = base + (i < longer ? 1 : 0);
    std::uint8_t fuHeader = nalType(header);
    if (i == 0) fuHeader |= kFuStart;
    if (i + 1 == count) fuHeader |= kFuEnd;
    Bytes payload;
    payload.reserve(2 + length);
    payload.push_back(indicator);
    payload.push_back(fuHeader);
    payload.insert(payload.end(), body.begin() + static_cast<std::ptrdiff_t>(offset),
                   body.begin() + static_cast<std::ptrdiff_t>(offset + length));
    offset += length;
    out.push_back({std::move(payload), false});
  }
}

void Packetizer::emitParameterSets(const std::vector<BytesView>& sets, std::vector<RtpPayload>& out) const {
  // STAP-A (§5.7.1): one header byte, then a 16-bit size before each NAL unit. F is set if any unit has it,
  // NRI is the largest of the units'.
  std::size_t size = 1;
  std::uint8_t forbidden = 0;
  std::uint8_t nri = 0;
  bool fits16 = true;
  for (const BytesView unit : sets) {
    size += 2 + unit.size();
    forbidden |= unit[0] & kForbiddenBit;
    nri = std::max<std::uint8_t>(nri, unit[0] & kNriBits);
    fits16 = fits16 && unit.size() <= 0xffff;
  }
  if (sets.size() < 2 || size > options_.mtu || !fits16) {
    for (const BytesView unit : sets) emitNal(unit, out);
    return;
  }
  Bytes payload;
  payload.reserve(size);
  payload.push_back(static_cast<std::uint8_t>(forbidden | nri | nal::kStapA));
  for (const BytesView unit : sets) {
    payload.push_back(static_cast<std::uint8_t>(unit.size() >> 8));
    payload.push_back(static_cast<std::uint8_t>(unit.size() & 0xff));
    payload.insert(payload.end(), unit.begin(), unit.end());
  }
  out.push_back({std::move(payload), false});
}

}  // namespace stagecast::ingest::h264
