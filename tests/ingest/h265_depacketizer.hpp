#pragma once
// Test helper for H.265 over RTP: a strict receiver side of RFC 7798 (one RTP stream, sprop-max-don-diff 0: no
// DONL/DOND fields) that turns payloads back into NAL units. Written for the tests, independently of the
// packetizer they check; only the header field helpers are shared.
#include <algorithm>
#include <string>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/ingest/h265_packetizer.hpp"

namespace stagecast::ingest::testing {

struct H265Depacketized {
  std::vector<Bytes> units;
  std::string error;  // empty when every payload was well formed
  std::size_t aggregationPackets = 0;
  std::size_t fragments = 0;
};

// The payloads of one or more access units, in sequence order.
inline H265Depacketized depacketizeH265(const std::vector<BytesView>& payloads) {
  using namespace stagecast::ingest::h265;
  H265Depacketized d;
  auto fail = [&d](const std::string& why) {
    d.error = why;
    return d;
  };
  bool inFragment = false;
  Bytes fragment;
  for (const BytesView b : payloads) {
    if (b.size() < 2) return fail("payload shorter than its header");
    if (temporalIdPlus1(b[1]) == 0) return fail("TID 0 in a payload header");
    const std::uint8_t type = nalType(b[0]);
    if (type == nal::kFu) {
      ++d.fragments;
      if (b.size() < 4) return fail("FU without data");
      const bool start = (b[2] & 0x80) != 0;
      const bool end = (b[2] & 0x40) != 0;
      const std::uint8_t fuType = b[2] & 0x3f;
      if (start && end) return fail("FU with both S and E");
      if (fuType >= nal::kAp) return fail("FU carrying a payload structure type");
      // §4.4.3: the unit's header is the payload header with Type replaced by FuType.
      const Bytes header{static_cast<std::uint8_t>((b[0] & 0x81) | (fuType << 1)), b[1]};
      if (start) {
        if (inFragment) return fail("FU start inside a fragmented unit");
        fragment = header;
        inFragment = true;
      } else if (!inFragment) {
        return fail("FU continuation without start");
      } else if (fragment[0] != header[0] || fragment[1] != header[1]) {
        return fail("FU header changed between fragments");
      }
      fragment.insert(fragment.end(), b.begin() + 3, b.end());
      if (end) {
        d.units.push_back(std::move(fragment));
        fragment.clear();
        inFragment = false;
      }
      continue;
    }
    if (inFragment) return fail("fragmented unit not finished");
    if (type == nal::kAp) {
      ++d.aggregationPackets;
      std::vector<Bytes> inner;
      std::size_t pos = 2;
      while (pos < b.size()) {
        if (pos + 2 > b.size()) return fail("AP size cut short");
        const std::size_t size = (std::size_t{b[pos]} << 8) | b[pos + 1];
        pos += 2;
        if (size < 2 || pos + size > b.size()) return fail("AP unit size out of range");
        inner.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(pos),
                           b.begin() + static_cast<std::ptrdiff_t>(pos + size));
        pos += size;
      }
      if (inner.size() < 2) return fail("AP with fewer than two units");
      // §4.4.2: F is the OR of the units' F bits, LayerId and TID the lowest of theirs.
      std::uint8_t f = 0;
      std::uint8_t layer = 0x3f;
      std::uint8_t tid = 7;
      for (const auto& u : inner) {
        f |= u[0] & 0x80;
        layer = std::min(layer, layerId(u[0], u[1]));
        tid = std::min(tid, temporalIdPlus1(u[1]));
      }
      if ((b[0] & 0x80) != f) return fail("AP F bit");
      if (layerId(b[0], b[1]) != layer) return fail("AP LayerId");
      if (temporalIdPlus1(b[1]) != tid) return fail("AP TID");
      for (auto& u : inner) d.units.push_back(std::move(u));
      continue;
    }
    if (type >= nal::kPaci) return fail("unexpected payload type " + std::to_string(type));
    d.units.emplace_back(b.begin(), b.end());
  }
  if (inFragment) d.error = "payloads end inside a fragmented unit";
  return d;
}

inline bool hasNalType(const std::vector<Bytes>& units, std::uint8_t type) {
  return std::any_of(units.begin(), units.end(),
                     [&](const Bytes& u) { return !u.empty() && h265::nalType(u[0]) == type; });
}

inline bool hasIrap(const std::vector<Bytes>& units) {
  return std::any_of(units.begin(), units.end(),
                     [](const Bytes& u) { return !u.empty() && h265::isIrap(h265::nalType(u[0])); });
}

inline Bytes annexBOf(const std::vector<Bytes>& units) {
  Bytes out;
  for (const auto& u : units) {
    out.insert(out.end(), {0, 0, 0, 1});
    out.insert(out.end(), u.begin(), u.end());
  }
  return out;
}

}  // namespace stagecast::ingest::testing
