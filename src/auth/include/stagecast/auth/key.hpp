#pragma once
// ECDSA P-384 keys for participant tokens (ES384, RFC 7518 §3.4), their PEM forms and public JWK
// (RFC 7517, RFC 7518 §6.2) with an RFC 7638 thumbprint as key id. Both classes are cheap to copy: copies
// share one immutable OpenSSL key, which is safe to use from several threads at once.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "stagecast/common/error.hpp"

struct evp_pkey_st;

namespace stagecast::auth {

// Error codes of this header: KEY_INVALID (not a usable P-384 key), KEY_IO (file system), and
// AUTH_CRYPTO_FAILED (OpenSSL failed where it should not, e.g. out of memory).

// The public half: verifies signatures, publishes the JWK.
class VerifyingKey {
 public:
  // SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") of a P-384 key.
  static Result<VerifyingKey> fromPem(std::string_view pem);

  [[nodiscard]] std::string publicPem() const;
  // {"kty":"EC","crv":"P-384","x":...,"y":...,"use":"sig","alg":"ES384","kid":...}
  [[nodiscard]] nlohmann::json publicJwk() const;
  // RFC 7638 JWK SHA-256 thumbprint, base64url.
  [[nodiscard]] const std::string& keyId() const { return kid_; }
  [[nodiscard]] evp_pkey_st* native() const { return key_.get(); }

 private:
  friend class SigningKey;
  VerifyingKey(std::shared_ptr<evp_pkey_st> key, std::string x, std::string y, std::string kid);
  static Result<VerifyingKey> fromPkey(std::shared_ptr<evp_pkey_st> key);

  std::shared_ptr<evp_pkey_st> key_;  // public components only
  std::string x_;                     // base64url of the 48-byte affine coordinates
  std::string y_;
  std::string kid_;
};

// The private key that signs tokens.
class SigningKey {
 public:
  // A fresh random key.
  static Result<SigningKey> generate();
  // PKCS#8 ("BEGIN PRIVATE KEY") or SEC1 ("BEGIN EC PRIVATE KEY") PEM, unencrypted. Anything that is not a
  // consistent P-384 private key is KEY_INVALID.
  static Result<SigningKey> fromPem(std::string_view pem);
  // Loads the PEM at path; if there is no file, generates a key and stores it there as PKCS#8 with mode 0600
  // (parent directories are created). The file appears atomically; when several processes race, all of
  // them end up with the key that was stored first.
  static Result<SigningKey> loadOrCreate(const std::string& path);

  // PKCS#8 PEM. Secret: never log it.
  [[nodiscard]] std::string privatePem() const;
  [[nodiscard]] std::string publicPem() const { return public_.publicPem(); }
  [[nodiscard]] nlohmann::json publicJwk() const { return public_.publicJwk(); }
  [[nodiscard]] const std::string& keyId() const { return public_.keyId(); }
  [[nodiscard]] const VerifyingKey& verifyingKey() const { return public_; }
  [[nodiscard]] evp_pkey_st* native() const { return key_.get(); }

 private:
  SigningKey(std::shared_ptr<evp_pkey_st> key, VerifyingKey pub);
  static Result<SigningKey> fromPkey(std::shared_ptr<evp_pkey_st> key);

  std::shared_ptr<evp_pkey_st> key_;
  VerifyingKey public_;
};

}  // namespace stagecast::auth
