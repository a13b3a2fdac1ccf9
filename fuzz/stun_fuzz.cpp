// libFuzzer entry point for the STUN codec: demultiplexing check, parser, integrity verification and
// re-serialization of whatever parses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "stagecast/stun/message.hpp"

using namespace stagecast;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const BytesView input(data, size);
  const bool looks = stun::looksLikeStun(input);
  auto parsed = stun::parse(input);
  if (!parsed.ok()) {
    if (parsed.error().code != "STUN_MALFORMED") std::abort();
    return 0;
  }
  // Anything parse() accepts has a valid header, so the quick check must agree.
  if (!looks) std::abort();

  static const Bytes kKey = {'V', 'O', 'k', 'J', 'x', 'b', 'R', 'l', '1', 'R', 'm'};
  (void)stun::verifyMessageIntegrity(input, *parsed, kKey);
  (void)stun::verifyMessageIntegritySha256(input, *parsed, kKey);

  // Re-serialized output must parse again and carry valid integrity and fingerprint.
  const Bytes out = stun::serialize(*parsed, stun::SerializeOptions{kKey, true});
  auto again = stun::parse(out);
  if (!again.ok() || !stun::looksLikeStun(out)) std::abort();
  if (!stun::verifyMessageIntegrity(out, *again, kKey) || !again->hasFingerprint) std::abort();
  if (again->cls != parsed->cls || again->method != parsed->method || again->transactionId != parsed->transactionId ||
      again->xorMappedAddress != parsed->xorMappedAddress || again->mappedAddress != parsed->mappedAddress ||
      again->username != parsed->username) {
    std::abort();
  }
  return 0;
}
