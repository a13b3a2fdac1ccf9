#pragma once
// Self-signed ECDSA P-256 certificate made at start-up (RFC 8827 §6.5) and its SDP fingerprint.
#include <memory>
#include <string>

#include "stagecast/common/error.hpp"

struct x509_st;
struct evp_pkey_st;

namespace stagecast::dtls {

class Certificate {
 public:
  static Result<std::shared_ptr<Certificate>> generate(const std::string& commonName = "stagecast");
  ~Certificate();
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  [[nodiscard]] x509_st* x509() const { return x509_; }
  [[nodiscard]] evp_pkey_st* key() const { return key_; }
  // "sha-256" fingerprint, uppercase colon hex.
  [[nodiscard]] const std::string& fingerprintSha256() const { return fingerprint_; }

 private:
  Certificate(x509_st* x, evp_pkey_st* k);
  x509_st* x509_;
  evp_pkey_st* key_;
  std::string fingerprint_;
};

// Fingerprint of a DER certificate with the named hash ("sha-256", "sha-384", "sha-512", "sha-1").
Result<std::string> fingerprintOf(x509_st* cert, const std::string& algorithm);

}  // namespace stagecast::dtls
