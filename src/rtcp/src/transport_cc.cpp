#include "stagecast/rtcp/transport_cc.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "malformed.hpp"

namespace stagecast::rtcp {

using detail::malformed;

namespace {

// draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.1 packet status symbols.
constexpr std::uint8_t kNotReceived = 0;
constexpr std::uint8_t kSmallDelta = 1;
constexpr std::uint8_t kLargeDelta = 2;
constexpr std::uint8_t kReserved = 3;

constexpr std::size_t kMaxRunLength = 0x1FFF;  // 13 bits
constexpr std::size_t kTwoBitSymbols = 7;

std::uint8_t symbolFor(const std::optional<std::int32_t>& delta) {
  if (!delta) return kNotReceived;
  return (*delta >= 0 && *delta <= 255) ? kSmallDelta : kLargeDelta;
}

}  // namespace

// §3.1: feedback header, base sequence(16), packet status count(16), reference time(24), fb pkt count(8),
// packet status chunks, receive deltas, zero padding.
Result<TransportCc> TransportCc::parse(const CommonHeader& h) {
  if (auto s = detail::expectType(h, pt::kRtpFeedback, kFmt, "transport-cc"); !s) return s.error();
  ByteReader r(h.body);
  TransportCc fb;
  std::uint16_t statusCount = 0;
  if (!r.readU32(fb.senderSsrc) || !r.readU32(fb.mediaSsrc) || !r.readU16(fb.baseSequence) || !r.readU16(statusCount) ||
      !r.readU24(fb.referenceTime) || !r.readU8(fb.feedbackCount)) {
    return malformed("transport-cc body of " + std::to_string(h.body.size()) + " bytes lacks the fixed fields");
  }

  std::vector<std::uint8_t> symbols;
  symbols.reserve(statusCount);
  while (symbols.size() < statusCount) {
    std::uint16_t chunk = 0;
    if (!r.readU16(chunk)) {
      return malformed("transport-cc status chunks cover " + std::to_string(symbols.size()) + " of " +
                       std::to_string(statusCount) + " packets");
    }
    const std::size_t left = statusCount - symbols.size();
    if ((chunk & 0x8000) == 0) {
      // §3.1.3 run length chunk: T=0, S(2), run length(13).
      const std::uint8_t symbol = (chunk >> 13) & 0x3;
      if (symbol == kReserved) return malformed("transport-cc run length chunk uses the reserved symbol");
      const std::size_t run = std::min<std::size_t>(chunk & kMaxRunLength, left);
      symbols.insert(symbols.end(), run, symbol);
    } else if ((chunk & 0x4000) == 0) {
      // §3.1.4 status vector chunk, S=0: fourteen 1-bit symbols (received with small delta or not).
      for (int bit = 13; bit >= 0 && symbols.size() < statusCount; --bit) {
        symbols.push_back(static_cast<std::uint8_t>((chunk >> bit) & 0x1));
      }
    } else {
      // §3.1.4 status vector chunk, S=1: seven 2-bit symbols.
      for (int shift = 12; shift >= 0 && symbols.size() < statusCount; shift -= 2) {
        const std::uint8_t symbol = (chunk >> shift) & 0x3;
        if (symbol == kReserved) return malformed("transport-cc status vector uses the reserved symbol");
        symbols.push_back(symbol);
      }
    }
  }

  // §3.1.5 receive deltas: 8-bit unsigned for small, 16-bit signed for large, in 250 µs units.
  fb.deltas.reserve(symbols.size());
  for (std::size_t i = 0; i < symbols.size(); ++i) {
    if (symbols[i] == kSmallDelta) {
      std::uint8_t d = 0;
      if (!r.readU8(d)) return malformed("transport-cc small delta " + std::to_string(i) + " runs past the packet");
      fb.deltas.emplace_back(d);
    } else if (symbols[i] == kLargeDelta) {
      std::uint16_t d = 0;
      if (!r.readU16(d)) return malformed("transport-cc large delta " + std::to_string(i) + " runs past the packet");
      fb.deltas.emplace_back(static_cast<std::int16_t>(d));
    } else {
      fb.deltas.emplace_back(std::nullopt);
    }
  }
  return fb;
}

void TransportCc::write(ByteWriter& w) const {
  const std::size_t count = std::min<std::size_t>(deltas.size(), std::numeric_limits<std::uint16_t>::max());
  std::vector<std::uint8_t> symbols(count);
  for (std::size_t i = 0; i < count; ++i) symbols[i] = symbolFor(deltas[i]);

  const std::size_t start = beginPacket(w, kFmt, pt::kRtpFeedback);
  w.writeU32(senderSsrc);
  w.writeU32(mediaSsrc);
  w.writeU16(baseSequence);
  w.writeU16(static_cast<std::uint16_t>(count));
  w.writeU24(referenceTime & 0xFFFFFF);
  w.writeU8(feedbackCount);

  // Chunks: a run length chunk (§3.1.3) when the next symbols repeat at least 7 times or run to the end, else a
  // 2-bit status vector chunk (§3.1.4) of the next 7 symbols (unused trailing symbols are 0).
  std::size_t i = 0;
  while (i < count) {
    std::size_t run = 1;
    while (i + run < count && run < kMaxRunLength && symbols[i + run] == symbols[i]) ++run;
    if (run >= kTwoBitSymbols || i + run == count) {
      w.writeU16(static_cast<std::uint16_t>((symbols[i] << 13) | run));
      i += run;
    } else {
      std::uint16_t chunk = 0xC000;
      for (std::size_t k = 0; k < kTwoBitSymbols && i < count; ++k, ++i) {
        chunk = static_cast<std::uint16_t>(chunk | (symbols[i] << (12 - 2 * k)));
      }
      w.writeU16(chunk);
    }
  }

  // §3.1.5 receive deltas; values beyond 16 bits are clamped.
  for (std::size_t k = 0; k < count; ++k) {
    if (symbols[k] == kSmallDelta) {
      w.writeU8(static_cast<std::uint8_t>(*deltas[k]));
    } else if (symbols[k] == kLargeDelta) {
      const std::int32_t d = std::clamp<std::int32_t>(*deltas[k], std::numeric_limits<std::int16_t>::min(),
                                                      std::numeric_limits<std::int16_t>::max());
      w.writeU16(static_cast<std::uint16_t>(static_cast<std::int16_t>(d)));
    }
  }
  finishPacket(w, start);  // §3.1: zero padding to 32 bits
}

}  // namespace stagecast::rtcp
