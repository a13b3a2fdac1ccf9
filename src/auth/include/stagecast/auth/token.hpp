#pragma once
// Participant tokens: JWTs (RFC 7519) in JWS compact serialization (RFC 7515) signed with ES384
// (RFC 7518 §3.4: ECDSA P-384 with SHA-384, signature R || S of 48 bytes each). Verification never throws.
//
// Payload claims: exp, iat (NumericDate), jti, resource, topic, user_id, attributes (object),
// capabilities {allow_publish, allow_subscribe}, whip_url, version.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "stagecast/auth/key.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::auth {

inline constexpr std::size_t kMaxTokenSize = 8192;       // longer tokens are TOKEN_MALFORMED
inline constexpr std::size_t kMaxAttributesSize = 1024;  // serialized "attributes" object

struct Capabilities {
  bool allowPublish = false;
  bool allowSubscribe = false;

  bool operator==(const Capabilities&) const = default;
};

struct Claims {
  std::string jti;  // required, non-empty
  std::string resource;
  std::string topic;
  std::string userId;
  nlohmann::json attributes = nlohmann::json::object();
  Capabilities capabilities;
  std::string whipUrl;
  int version = 1;
  std::int64_t iat = 0;  // seconds since the epoch
  std::int64_t exp = 0;

  bool operator==(const Claims&) const = default;
};

// The JSON payload of a token. Strings must be valid UTF-8 for the result to serialize.
nlohmann::json claimsToJson(const Claims& claims);
// Reads a payload object: TOKEN_MALFORMED when it is not an object, exp or jti is missing, or a claim has the
// wrong type (null counts as absent for the optional claims). Unknown claims are ignored. No signature and no
// time checks: only TokenVerifier::verify says whether a token is to be trusted.
Result<Claims> claimsFromJson(const nlohmann::json& payload);

class TokenSigner {
 public:
  explicit TokenSigner(SigningKey key);

  // Header {"alg":"ES384","kid":<key id>,"typ":"JWT"}. Errors: CLAIMS_INVALID (exp <= iat, empty jti,
  // strings that are not UTF-8, token longer than kMaxTokenSize), ATTRIBUTES_TOO_LARGE (attributes not an
  // object or serialized longer than kMaxAttributesSize), AUTH_CRYPTO_FAILED.
  [[nodiscard]] Result<std::string> sign(const Claims& claims) const;
  [[nodiscard]] const SigningKey& key() const { return key_; }

 private:
  SigningKey key_;
  std::string encodedHeader_;
};

class TokenVerifier {
 public:
  explicit TokenVerifier(VerifyingKey key);
  explicit TokenVerifier(const SigningKey& key) : TokenVerifier(key.verifyingKey()) {}

  // Checks the header, then the signature, then the claims, then the times:
  //   TOKEN_MALFORMED        longer than kMaxTokenSize, not three base64url parts, header not a JSON object,
  //                          "typ" other than JWT, any "crit"; after the signature check: payload not a
  //                          JSON object or bad claims (see claimsFromJson)
  //   TOKEN_ALG_UNSUPPORTED  "alg" is not "ES384" ("none", HS256, RS256, ... are all refused)
  //   TOKEN_BAD_SIGNATURE    "kid" names another key, signature not exactly 96 bytes (so DER is refused), or
  //                          not valid for the key; the payload is not parsed before this check passes
  //   TOKEN_EXPIRED          now >= exp + leeway
  //   TOKEN_NOT_YET_VALID    iat (or nbf, when present) > now + leeway
  [[nodiscard]] Result<Claims> verify(std::string_view token, std::int64_t nowSeconds,
                                      std::int64_t leewaySeconds = 30) const;
  [[nodiscard]] const VerifyingKey& key() const { return key_; }

 private:
  VerifyingKey key_;
};

}  // namespace stagecast::auth
