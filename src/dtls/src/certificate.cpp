#include "stagecast/dtls/certificate.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/text.hpp"

namespace stagecast::dtls {

namespace {

struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

constexpr long kOneDaySeconds = 24L * 60 * 60;
constexpr long kValidityDays = 30;

Error certError(const std::string& what) { return Error{"DTLS_CERTIFICATE_FAILED", what}; }

// Hash function textual names from the IANA registry referenced by RFC 8122 §5 (RFC 3279 names).
const EVP_MD* digestFor(const std::string& algorithm) {
  const std::string a = toLower(algorithm);
  if (a == "sha-256") return EVP_sha256();
  if (a == "sha-384") return EVP_sha384();
  if (a == "sha-512") return EVP_sha512();
  if (a == "sha-224") return EVP_sha224();
  if (a == "sha-1") return EVP_sha1();
  return nullptr;
}

}  // namespace

Certificate::Certificate(x509_st* x, evp_pkey_st* k) : x509_(x), key_(k) {}

Certificate::~Certificate() {
  X509_free(x509_);
  EVP_PKEY_free(key_);
}

Result<std::shared_ptr<Certificate>> Certificate::generate(const std::string& commonName) {
  // RFC 8827 §6.5: a fresh self-signed certificate; ECDSA P-256 is what browsers generate too.
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return certError("EC P-256 key generation failed");

  X509Ptr cert(X509_new());
  if (!cert) return certError("X509_new failed");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return certError("X509_set_version failed");

  // Random positive 64-bit serial (RFC 5280 §4.1.2.2 allows up to 20 octets).
  BnPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return certError("serial number generation failed");
  }

  // Valid from yesterday (tolerates peers with a slow clock) for 30 days.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kOneDaySeconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidityDays * kOneDaySeconds) == nullptr) {
    return certError("setting validity failed");
  }

  X509_NAME* name = X509_get_subject_name(cert.get());
  if (name == nullptr ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(commonName.c_str()),
                                 -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1) {
    return certError("setting subject/issuer failed");
  }
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return certError("X509_set_pubkey failed");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return certError("X509_sign failed");

  auto fingerprint = fingerprintOf(cert.get(), "sha-256");
  if (!fingerprint) return fingerprint.error();

  std::shared_ptr<Certificate> out(new Certificate(cert.release(), key.release()));
  out->fingerprint_ = std::move(fingerprint.value());
  return out;
}

Result<std::string> fingerprintOf(x509_st* cert, const std::string& algorithm) {
  if (cert == nullptr) return Error{"DTLS_NO_CERTIFICATE", "no certificate to fingerprint"};
  const EVP_MD* md = digestFor(algorithm);
  if (md == nullptr) return Error{"DTLS_FINGERPRINT_ALGORITHM", "unsupported fingerprint hash '" + algorithm + "'"};
  // RFC 8122 §5: the hash is computed over the DER form of the certificate; X509_digest does exactly that.
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (X509_digest(cert, md, digest.data(), &len) != 1) return Error{"DTLS_FINGERPRINT_FAILED", "X509_digest failed"};
  return toHexColon(BytesView(digest.data(), len));
}

}  // namespace stagecast::dtls
