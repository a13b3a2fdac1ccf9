// libFuzzer target for the ingest layer's H.265 side: arbitrary bytes as an H.265 access unit, as extradata and
// as an SPS. The first byte picks the MTU and whether cached parameter sets are prepended, repeats dropped and
// sets aggregated. Every payload must respect the MTU, only the last one is marked, every payload must be well
// formed RFC 7798, and reassembling the payloads must give back the access unit's sendable NAL units in order
// (plus any prepended VPS/SPS/PPS from the cache, minus parameter sets repeated without an IRAP picture).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "stagecast/ingest/h265_packetizer.hpp"

using namespace stagecast;
using namespace stagecast::ingest;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

// RFC 7798 reassembly (no DONL/DOND) of what the packetizer may produce: single NAL units, APs, FUs.
std::vector<Bytes> reassemble(const std::vector<h265::RtpPayload>& payloads) {
  std::vector<Bytes> units;
  Bytes fragment;
  bool inFragment = false;
  for (const auto& p : payloads) {
    const Bytes& b = p.data;
    check(b.size() >= 2);
    check(h265::temporalIdPlus1(b[1]) != 0);
    const std::uint8_t type = h265::nalType(b[0]);
    if (type == h265::nal::kFu) {
      check(b.size() >= 4);
      const bool start = (b[2] & 0x80) != 0;
      const bool end = (b[2] & 0x40) != 0;
      const std::uint8_t fuType = b[2] & 0x3f;
      check(start != inFragment);
      check(!(start && end));
      check(fuType < h265::nal::kAp);
      if (start) fragment = {static_cast<std::uint8_t>((b[0] & 0x81) | (fuType << 1)), b[1]};
      check(fragment[1] == b[1] && (fragment[0] & 0x81) == (b[0] & 0x81));
      fragment.insert(fragment.end(), b.begin() + 3, b.end());
      inFragment = !end;
      if (end) units.push_back(fragment);
    } else if (type == h265::nal::kAp) {
      check(!inFragment);
      std::size_t pos = 2;
      std::size_t count = 0;
      while (pos < b.size()) {
        check(pos + 2 <= b.size());
        const std::size_t size = (static_cast<std::size_t>(b[pos]) << 8) | b[pos + 1];
        pos += 2;
        check(size >= 2 && pos + size <= b.size());
        const Bytes unit(b.begin() + static_cast<std::ptrdiff_t>(pos),
                         b.begin() + static_cast<std::ptrdiff_t>(pos + size));
        check(h265::layerId(b[0], b[1]) <= h265::layerId(unit[0], unit[1]));
        check(h265::temporalIdPlus1(b[1]) <= h265::temporalIdPlus1(unit[1]));
        units.push_back(unit);
        pos += size;
        ++count;
      }
      check(count >= 2);
    } else {
      check(!inFragment);
      check(type < h265::nal::kAp);
      units.push_back(b);
    }
  }
  check(!inFragment);
  return units;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t mtu = 1 + (data[0] & 0x1f) * 16;  // 1..497: exercises the raise to 4 and small MTUs
  const bool prepend = (data[0] & 0x80) != 0;
  const bool aggregate = (data[0] & 0x40) != 0;
  const bool dropRepeats = (data[0] & 0x20) != 0;
  const BytesView input(data + 1, size - 1);

  // Out-of-band parsers: must not read past the input, whatever it holds.
  for (const Bytes& set : h265::parameterSetsOf(input)) {
    check(set.size() >= 2 && set.size() <= input.size() && h265::isParameterSet(h265::nalType(set[0])));
  }
  (void)h265::profileTierLevelOfSps(input);

  // What the packetizer carries: units with a whole header, a non-zero TID and a type below 48.
  std::vector<BytesView> units;
  for (const BytesView u : h265::splitAnnexB(input)) {
    check(!u.empty() && u.data() >= input.data() && u.data() + u.size() <= input.data() + input.size());
    if (u.size() >= 2 && h265::temporalIdPlus1(u[1]) != 0 && h265::nalType(u[0]) < h265::nal::kAp) units.push_back(u);
  }

  bool irap = false;
  for (const BytesView u : units) irap = irap || h265::isIrap(h265::nalType(u[0]));

  h265::Packetizer packetizer({.mtu = mtu,
                               .prependParameterSets = prepend,
                               .aggregateParameterSets = aggregate,
                               .dropRepeatedParameterSets = dropRepeats});
  // Packetize twice: the second pass may prepend the parameter sets cached by the first, or drop repeats of them.
  for (int pass = 0; pass < 2; ++pass) {
    const Bytes vps = packetizer.cachedVps();
    const Bytes sps = packetizer.cachedSps();
    const Bytes pps = packetizer.cachedPps();
    // What must come out of the access unit itself: a parameter set equal to the last one of its type (cached or
    // earlier in this unit) is a repeat, left out when the unit has no IRAP picture and repeats are dropped.
    std::vector<BytesView> expected;
    Bytes model[3] = {vps, sps, pps};
    for (const BytesView u : units) {
      const std::uint8_t type = h265::nalType(u[0]);
      if (h265::isParameterSet(type)) {
        Bytes& last = model[type - h265::nal::kVps];
        const bool repeat = std::equal(u.begin(), u.end(), last.begin(), last.end());
        last.assign(u.begin(), u.end());
        if (repeat && !irap && prepend && dropRepeats) continue;
      }
      expected.push_back(u);
    }
    const auto payloads = packetizer.packetize(input);
    check(payloads.empty() == expected.empty());
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      check(payloads[i].data.size() <= packetizer.mtu());
      check(payloads[i].marker == (i + 1 == payloads.size()));
      if (!aggregate) check(h265::nalType(payloads[i].data[0]) != h265::nal::kAp);
    }
    const auto out = reassemble(payloads);
    check(out.size() >= expected.size() && out.size() <= expected.size() + 3);
    // The access unit's own units come out in order; anything extra is a cached parameter set put in front of an
    // IRAP picture.
    std::size_t next = 0;
    for (const auto& u : out) {
      if (next < expected.size() && u.size() == expected[next].size() &&
          std::equal(u.begin(), u.end(), expected[next].begin())) {
        ++next;
      } else {
        check(prepend && irap && (u == vps || u == sps || u == pps));
      }
    }
    check(next == expected.size());
    if (!prepend) check(out.size() == expected.size());
  }
  return 0;
}
