// libFuzzer target for the ingest layer: arbitrary bytes as an H.264 access unit. The first byte picks the MTU
// and whether cached parameter sets are prepended. Every payload must respect the MTU, only the last one is
// marked, and reassembling the payloads must give back the access unit's NAL units (plus any prepended SPS/PPS;
// minus units of unspecified types).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "stagecast/ingest/h264_packetizer.hpp"

using namespace stagecast;
using namespace stagecast::ingest;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

// RFC 6184 reassembly of what the packetizer may produce: single NAL units, STAP-A, FU-A.
std::vector<Bytes> reassemble(const std::vector<h264::RtpPayload>& payloads) {
  std::vector<Bytes> units;
  Bytes fragment;
  bool inFragment = false;
  for (const auto& p : payloads) {
    const Bytes& b = p.data;
    check(!b.empty());
    const std::uint8_t type = h264::nalType(b[0]);
    if (type == h264::nal::kFuA) {
      check(b.size() >= 3);
      const bool start = (b[1] & 0x80) != 0;
      const bool end = (b[1] & 0x40) != 0;
      check(start != inFragment);
      check(!(start && end));
      if (start) fragment.assign(1, static_cast<std::uint8_t>((b[0] & 0xe0) | (b[1] & 0x1f)));
      fragment.insert(fragment.end(), b.begin() + 2, b.end());
      inFragment = !end;
      if (end) units.push_back(fragment);
    } else if (type == h264::nal::kStapA) {
      check(!inFragment);
      std::size_t pos = 1;
      while (pos < b.size()) {
        check(pos + 2 <= b.size());
        const std::size_t size = (static_cast<std::size_t>(b[pos]) << 8) | b[pos + 1];
        pos += 2;
        check(size > 0 && pos + size <= b.size());
        units.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(pos),
                           b.begin() + static_cast<std::ptrdiff_t>(pos + size));
        pos += size;
      }
    } else {
      check(!inFragment);
      units.push_back(b);
    }
  }
  check(!inFragment);
  return units;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t mtu = 1 + (data[0] & 0x7f) * 4;  // 1..509: exercises the raise to 3 and small MTUs
  const bool prepend = (data[0] & 0x80) != 0;
  const BytesView input(data + 1, size - 1);

  // What the packetizer carries: all units but those of the types H.264 leaves unspecified (0, 24..31).
  std::vector<BytesView> units;
  for (const BytesView u : h264::splitAnnexB(input)) {
    check(!u.empty() && u.data() >= input.data() && u.data() + u.size() <= input.data() + input.size());
    check(u.back() != 0);
    const std::uint8_t type = h264::nalType(u[0]);
    if (type != 0 && type < h264::nal::kStapA) units.push_back(u);
  }

  h264::Packetizer packetizer({.mtu = mtu, .prependParameterSets = prepend});
  // Packetize twice: the second pass may prepend the parameter sets cached by the first.
  for (int pass = 0; pass < 2; ++pass) {
    const Bytes sps = packetizer.cachedSps();
    const Bytes pps = packetizer.cachedPps();
    const auto payloads = packetizer.packetize(input);
    check(payloads.empty() == units.empty());
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      check(payloads[i].data.size() <= packetizer.mtu());
      check(payloads[i].marker == (i + 1 == payloads.size()));
    }
    const auto out = reassemble(payloads);
    check(out.size() >= units.size() && out.size() <= units.size() + 2);
    // The access unit's own units come out in order; anything extra is a cached parameter set.
    std::size_t next = 0;
    for (const auto& u : out) {
      if (next < units.size() && u.size() == units[next].size() &&
          std::equal(u.begin(), u.end(), units[next].begin())) {
        ++next;
      } else {
        check(prepend && (u == sps || u == pps));
      }
    }
    check(next == units.size());
    if (!prepend) check(out.size() == units.size());
  }
  return 0;
}
