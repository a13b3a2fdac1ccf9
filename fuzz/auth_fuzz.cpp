// libFuzzer entry point for participant tokens: the strict base64url decoder, claim parsing, the whole token
// verifier, and signing of whatever claims parse. None of them may crash, and they must agree with each other.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "stagecast/auth/base64url.hpp"
#include "stagecast/auth/token.hpp"

using namespace stagecast;

namespace {

const auth::SigningKey& key() {
  static const auth::SigningKey k = *auth::SigningKey::generate();
  return k;
}

bool knownVerifyError(const std::string& code) {
  return code == "TOKEN_MALFORMED" || code == "TOKEN_ALG_UNSUPPORTED" || code == "TOKEN_BAD_SIGNATURE";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Strict base64url: whatever decodes re-encodes to exactly the input.
  if (auto decoded = auth::base64UrlDecode(text)) {
    if (auth::base64UrlEncode(*decoded) != text) std::abort();
  }
  // And everything encodes to something that decodes back.
  const std::string encoded = auth::base64UrlEncode(BytesView(data, size));
  auto back = auth::base64UrlDecode(encoded);
  if (!back || Bytes(data, data + size) != *back) std::abort();

  // Arbitrary bytes as a token: no valid signature can be produced without the key.
  static const auth::TokenVerifier verifier(key());
  auto verified = verifier.verify(text, 1'700'000'000);
  if (verified.ok() || !knownVerifyError(verified.error().code)) std::abort();

  // The input as a JSON payload: what the claim reader accepts survives a round trip.
  const nlohmann::json payload = nlohmann::json::parse(text, nullptr, false);
  if (!payload.is_discarded()) {
    auto claims = auth::claimsFromJson(payload);
    if (claims.ok()) {
      auto again = auth::claimsFromJson(auth::claimsToJson(*claims));
      if (!again.ok() || !(*again == *claims)) std::abort();
      // Whatever the signer accepts verifies, unchanged, at its issue time.
      static const auth::TokenSigner signer(key());
      if (auto token = signer.sign(*claims); token.ok()) {
        auto checked = verifier.verify(*token, claims->iat, 0);
        if (!checked.ok() || !(*checked == *claims)) std::abort();
      }
    } else if (claims.error().code != "TOKEN_MALFORMED") {
      std::abort();
    }
  }
  return 0;
}
