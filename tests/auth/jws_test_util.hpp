#pragma once
// Test-side JWS tooling written straight against OpenSSL, independent of the code under test: it builds
// tokens with arbitrary headers and payloads (to reach the verifier's error paths) and derives expected
// values by a second route.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/crypto.hpp"

namespace stagecast::auth::testing {

// base64url without padding, from OpenSSL's standard base64 encoder.
inline std::string refBase64Url(BytesView data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}
inline std::string refBase64Url(std::string_view s) { return refBase64Url(asBytes(s)); }

// Standard base64 body of a PEM block (header and footer lines dropped) decoded to DER.
inline Bytes pemToDer(const std::string& pem) {
  std::string body;
  std::size_t pos = 0;
  while (pos < pem.size()) {
    std::size_t end = pem.find('\n', pos);
    if (end == std::string::npos) end = pem.size();
    const std::string line = pem.substr(pos, end - pos);
    if (line.rfind("-----", 0) != 0) body += line;
    pos = end + 1;
  }
  Bytes der(body.size());
  const int n =
      EVP_DecodeBlock(der.data(), reinterpret_cast<const unsigned char*>(body.data()), static_cast<int>(body.size()));
  if (n < 0) return {};
  // EVP_DecodeBlock counts the '=' padding as zero bytes.
  std::size_t len = static_cast<std::size_t>(n);
  if (!body.empty() && body.back() == '=') --len;
  if (body.size() > 1 && body[body.size() - 2] == '=') --len;
  der.resize(len);
  return der;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline Pkey loadPrivatePem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return key;
}

// DER ECDSA signature over data with SHA-384.
inline Bytes derSignature(EVP_PKEY* key, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  Bytes sig;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha384(), nullptr, key) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1) {
    sig.resize(len);
    if (EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1) {
      sig.resize(len);
    } else {
      sig.clear();
    }
  }
  EVP_MD_CTX_free(ctx);
  return sig;
}

// DER -> R || S, 48 bytes each.
inline Bytes derToRaw(const Bytes& der) {
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  Bytes raw(96);
  if (sig == nullptr) return {};
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 48);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 48, 48);
  ECDSA_SIG_free(sig);
  return raw;
}

// A compact JWS with any header and payload text, ES384-signed by the private key in pem.
inline std::string es384Token(const std::string& privatePem, std::string_view headerJson, std::string_view payloadJson,
                              bool derEncoded = false) {
  const Pkey key = loadPrivatePem(privatePem);
  const std::string input = refBase64Url(headerJson) + "." + refBase64Url(payloadJson);
  const Bytes der = derSignature(key.get(), input);
  return input + "." + refBase64Url(derEncoded ? der : derToRaw(der));
}

// A compact JWS with an HMAC-SHA256 signature (for alg confusion tests).
inline std::string hs256Token(std::string_view secret, std::string_view headerJson, std::string_view payloadJson) {
  const std::string input = refBase64Url(headerJson) + "." + refBase64Url(payloadJson);
  const auto mac = crypto::hmacSha256(asBytes(secret), asBytes(input));
  return input + "." + refBase64Url(mac);
}

// A fresh directory under the system temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("stagecast-auth-test-" + std::to_string(::getpid()) + "-" + crypto::randomId(10));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace stagecast::auth::testing
