#include "stagecast/auth/token.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "stagecast/auth/base64url.hpp"
#include "stagecast/common/bytes.hpp"
#include "stagecast/common/text.hpp"

namespace stagecast::auth {

namespace {

using nlohmann::json;

constexpr std::size_t kScalarSize = 48;                  // P-384 (RFC 7518 §3.4)
constexpr std::size_t kSignatureSize = 2 * kScalarSize;  // R || S
constexpr std::size_t kEncodedSignatureSize = 128;       // base64url of 96 bytes
constexpr std::string_view kAlg = "ES384";

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct OpensslDeleter {
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter>;
using OpensslBytes = std::unique_ptr<unsigned char, OpensslDeleter>;

Error malformed(std::string message) { return Error{"TOKEN_MALFORMED", std::move(message)}; }
Error badSignature(std::string message) { return Error{"TOKEN_BAD_SIGNATURE", std::move(message)}; }

// ---- ES384 over OpenSSL: EVP produces and consumes DER ECDSA-Sig-Value; JWS wants fixed-size R || S ----

std::optional<std::array<std::uint8_t, kSignatureSize>> signEs384(EVP_PKEY* key, std::string_view input) {
  std::array<std::uint8_t, 160> der{};  // DER of a P-384 signature is at most 104 bytes
  std::size_t derLen = der.size();
  const MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_PKEY_get_size(key) > static_cast<int>(der.size()) ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), der.data(), &derLen, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return std::nullopt;
  }
  const unsigned char* p = der.data();
  const EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(derLen)));
  if (!sig) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::array<std::uint8_t, kSignatureSize> out{};
  if (BN_bn2binpad(r, out.data(), kScalarSize) != static_cast<int>(kScalarSize) ||
      BN_bn2binpad(s, out.data() + kScalarSize, kScalarSize) != static_cast<int>(kScalarSize)) {
    return std::nullopt;
  }
  return out;
}

bool verifyEs384(EVP_PKEY* key, std::string_view input, BytesView signature) {
  if (signature.size() != kSignatureSize) return false;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), kScalarSize, nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + kScalarSize, kScalarSize, nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* rawDer = nullptr;
  const int derLen = i2d_ECDSA_SIG(sig.get(), &rawDer);
  const OpensslBytes der(rawDer);
  if (derLen <= 0) return false;
  const MdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), der.get(), static_cast<std::size_t>(derLen),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

// ---- claim readers ----

// A member that is present and not null, else nullptr.
const json* member(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// RFC 7519 §2 NumericDate: seconds since the epoch; fractions are allowed and rounded down.
std::optional<std::int64_t> numericDate(const json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = std::floor(v.get<double>());
    // 2^63 is exactly representable; everything in [-2^63, 2^63) converts without overflow.
    if (!std::isfinite(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

Status readString(const json& payload, const char* name, std::string& out) {
  const json* v = member(payload, name);
  if (v == nullptr) return {};
  if (!v->is_string()) return malformed(std::string(name) + " is not a string");
  out = v->get<std::string>();
  return {};
}

Status readBool(const json& object, const char* name, bool& out) {
  const json* v = member(object, name);
  if (v == nullptr) return {};
  if (!v->is_boolean()) return malformed(std::string("capabilities.") + name + " is not a boolean");
  out = v->get<bool>();
  return {};
}

Status readDate(const json& payload, const char* name, std::optional<std::int64_t>& out) {
  const json* v = member(payload, name);
  if (v == nullptr) return {};
  out = numericDate(*v);
  if (!out) return malformed(std::string(name) + " is not a NumericDate");
  return {};
}

std::int64_t addSaturating(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
  }
  return r;
}

// Untrusted header text, quoted in an error message only when short and plain.
std::string shown(std::string_view s) {
  if (s.size() > 16) return "(long value)";
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return "(unprintable value)";
  }
  return "\"" + std::string(s) + "\"";
}

}  // namespace

// ---- claims ----

json claimsToJson(const Claims& c) {
  return json{{"exp", c.exp},
              {"iat", c.iat},
              {"jti", c.jti},
              {"resource", c.resource},
              {"topic", c.topic},
              {"user_id", c.userId},
              {"attributes", c.attributes},
              {"capabilities",
               {{"allow_publish", c.capabilities.allowPublish}, {"allow_subscribe", c.capabilities.allowSubscribe}}},
              {"whip_url", c.whipUrl},
              {"version", c.version}};
}

Result<Claims> claimsFromJson(const json& payload) {
  if (!payload.is_object()) return malformed("payload is not a JSON object");
  Claims c;

  std::optional<std::int64_t> exp;
  std::optional<std::int64_t> iat;
  if (auto s = readDate(payload, "exp", exp); !s) return s.error();
  if (!exp) return malformed("exp is missing");
  c.exp = *exp;
  if (auto s = readDate(payload, "iat", iat); !s) return s.error();
  c.iat = iat.value_or(0);

  const json* jti = member(payload, "jti");
  if (jti == nullptr) return malformed("jti is missing");
  if (!jti->is_string() || jti->get_ref<const std::string&>().empty()) {
    return malformed("jti is not a non-empty string");
  }
  c.jti = jti->get<std::string>();

  if (auto s = readString(payload, "resource", c.resource); !s) return s.error();
  if (auto s = readString(payload, "topic", c.topic); !s) return s.error();
  if (auto s = readString(payload, "user_id", c.userId); !s) return s.error();
  if (auto s = readString(payload, "whip_url", c.whipUrl); !s) return s.error();

  if (const json* attributes = member(payload, "attributes")) {
    if (!attributes->is_object()) return malformed("attributes is not an object");
    c.attributes = *attributes;
  }
  if (const json* caps = member(payload, "capabilities")) {
    if (!caps->is_object()) return malformed("capabilities is not an object");
    if (auto s = readBool(*caps, "allow_publish", c.capabilities.allowPublish); !s) return s.error();
    if (auto s = readBool(*caps, "allow_subscribe", c.capabilities.allowSubscribe); !s) return s.error();
  }
  if (const json* version = member(payload, "version")) {
    const bool fits = version->is_number_unsigned()
                          ? version->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())
                          : version->is_number_integer() &&
                                version->get<std::int64_t>() >= std::numeric_limits<int>::min() &&
                                version->get<std::int64_t>() <= std::numeric_limits<int>::max();
    if (!fits) return malformed("version is not an integer");
    c.version = static_cast<int>(version->get<std::int64_t>());
  }
  return c;
}

// ---- signing ----

TokenSigner::TokenSigner(SigningKey key)
    : key_(std::move(key)),
      encodedHeader_(
          base64UrlEncode(asBytes(json{{"alg", std::string(kAlg)}, {"typ", "JWT"}, {"kid", key_.keyId()}}.dump()))) {}

Result<std::string> TokenSigner::sign(const Claims& claims) const {
  if (claims.jti.empty()) return Error{"CLAIMS_INVALID", "jti is empty"};
  if (claims.exp <= claims.iat) return Error{"CLAIMS_INVALID", "exp is not after iat"};
  if (!claims.attributes.is_object()) return Error{"ATTRIBUTES_TOO_LARGE", "attributes is not a JSON object"};

  std::string attributes;
  std::string payload;
  try {
    attributes = claims.attributes.dump();
    payload = claimsToJson(claims).dump();
  } catch (const json::exception&) {
    return Error{"CLAIMS_INVALID", "a claim is not valid UTF-8"};
  }
  if (attributes.size() > kMaxAttributesSize) {
    return Error{"ATTRIBUTES_TOO_LARGE", "attributes take " + std::to_string(attributes.size()) + " bytes, at most " +
                                             std::to_string(kMaxAttributesSize) + " are allowed"};
  }

  std::string token = encodedHeader_;
  token += '.';
  token += base64UrlEncode(asBytes(payload));
  if (token.size() + 1 + kEncodedSignatureSize > kMaxTokenSize) {
    return Error{"CLAIMS_INVALID", "the token would exceed " + std::to_string(kMaxTokenSize) + " bytes"};
  }
  const auto signature = signEs384(key_.native(), token);
  if (!signature) {
    ERR_clear_error();
    return Error{"AUTH_CRYPTO_FAILED", "ES384 signing failed"};
  }
  token += '.';
  token += base64UrlEncode(*signature);
  return token;
}

// ---- verification ----

TokenVerifier::TokenVerifier(VerifyingKey key) : key_(std::move(key)) {}

Result<Claims> TokenVerifier::verify(std::string_view token, std::int64_t nowSeconds,
                                     std::int64_t leewaySeconds) const {
  if (token.size() > kMaxTokenSize) {
    return malformed("token is longer than " + std::to_string(kMaxTokenSize) + " bytes");
  }

  // RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return malformed("not three dot-separated parts");
  }
  const std::string_view headerPart = token.substr(0, dot1);
  const std::string_view payloadPart = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signaturePart = token.substr(dot2 + 1);
  if (headerPart.empty() || payloadPart.empty()) return malformed("empty header or payload");

  const auto headerBytes = base64UrlDecode(headerPart);
  if (!headerBytes) return malformed("header is not base64url");
  const json header = json::parse(asString(*headerBytes), nullptr, false);
  if (header.is_discarded() || !header.is_object()) return malformed("header is not a JSON object");

  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return malformed("header has no alg");
  if (alg->get_ref<const std::string&>() != kAlg) {
    return Error{"TOKEN_ALG_UNSUPPORTED",
                 "alg " + shown(alg->get_ref<const std::string&>()) + " is not accepted, only " + std::string(kAlg)};
  }
  if (const auto typ = header.find("typ"); typ != header.end()) {
    if (!typ->is_string() || !(iequals(typ->get_ref<const std::string&>(), "JWT") ||
                               iequals(typ->get_ref<const std::string&>(), "application/jwt"))) {
      return malformed("typ is not JWT");
    }
  }
  // RFC 7515 §4.1.11: no extension is understood here, so a token that requires one is refused.
  if (header.contains("crit")) return malformed("crit header extensions are not supported");
  if (const auto kid = header.find("kid"); kid != header.end()) {
    if (!kid->is_string()) return malformed("kid is not a string");
    if (kid->get_ref<const std::string&>() != key_.keyId()) return badSignature("signed with another key (kid)");
  }

  const auto payloadBytes = base64UrlDecode(payloadPart);
  if (!payloadBytes) return malformed("payload is not base64url");
  const auto signature = base64UrlDecode(signaturePart);
  if (!signature) return malformed("signature is not base64url");
  if (signature->size() != kSignatureSize) {
    return badSignature("signature is " + std::to_string(signature->size()) + " bytes, ES384 needs R || S of 96");
  }
  if (!verifyEs384(key_.native(), token.substr(0, dot2), *signature)) {
    ERR_clear_error();
    return badSignature("signature does not verify");
  }

  // Authenticated from here on.
  const json payload = json::parse(asString(*payloadBytes), nullptr, false);
  if (payload.is_discarded()) return malformed("payload is not JSON");
  auto claims = claimsFromJson(payload);
  if (!claims) return claims;
  std::optional<std::int64_t> nbf;
  if (auto s = readDate(payload, "nbf", nbf); !s) return s.error();

  const std::int64_t leeway = std::max<std::int64_t>(leewaySeconds, 0);
  if (nowSeconds >= addSaturating(claims->exp, leeway)) return Error{"TOKEN_EXPIRED", "token has expired"};
  if (claims->iat > addSaturating(nowSeconds, leeway) || (nbf && *nbf > addSaturating(nowSeconds, leeway))) {
    return Error{"TOKEN_NOT_YET_VALID", "token is not valid yet"};
  }
  return claims;
}

}  // namespace stagecast::auth
