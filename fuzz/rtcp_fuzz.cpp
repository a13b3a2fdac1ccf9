// libFuzzer target for the RTCP layer: compound splitting and parsing, then write/re-parse of every packet.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <type_traits>
#include <variant>

#include "stagecast/rtcp/packet.hpp"

using namespace stagecast;
using namespace stagecast::rtcp;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const BytesView input(data, size);

  auto split = splitCompound(input);
  if (split.ok()) {
    std::size_t total = 0;
    for (const auto& h : *split) {
      check(h.whole.size() == h.lengthBytes && h.lengthBytes % 4 == 0);
      check(h.body.size() + 4 <= h.lengthBytes);
      total += h.lengthBytes;
    }
    check(total == size);
  } else {
    check(split.error().code == "RTCP_MALFORMED");
  }

  auto parsed = parseCompound(input);
  if (!parsed.ok()) {
    check(parsed.error().code == "RTCP_MALFORMED");
    return 0;
  }
  check(split.ok() && parsed->size() == split->size());

  for (const Packet& packet : *parsed) {
    if (std::holds_alternative<Unknown>(packet)) continue;
    ByteWriter w;
    writePacket(w, packet);
    auto again = parseCompound(w.bytes());
    check(again.ok());
    check(again->size() == 1);
    // Written values are normalised (REMB mantissa precision and saturation, counts capped at field widths),
    // so compare write(parse(write(p))) with write(p), and require exact equality where no rounding applies.
    ByteWriter w2;
    writePacket(w2, again->front());
    check(w2.bytes() == w.bytes());
    if (const auto* nack = std::get_if<Nack>(&packet)) {
      // NACK packing sorts and de-duplicates the sequence numbers.
      const auto& back = std::get<Nack>(again->front());
      check(std::set<std::uint16_t>(nack->lostSequences.begin(), nack->lostSequences.end()) ==
            std::set<std::uint16_t>(back.lostSequences.begin(), back.lostSequences.end()));
    } else if (!std::holds_alternative<Remb>(packet)) {
      check(again->front() == packet);
    }
  }
  return 0;
}
