#include "stagecast/dtls/certificate.hpp"

#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>

#include <cctype>
#include <string>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/crypto.hpp"

namespace stagecast::dtls {
namespace {

std::shared_ptr<Certificate> makeCert(const std::string& cn = "stagecast") {
  auto r = Certificate::generate(cn);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : nullptr;
}

Bytes der(X509* x) {
  unsigned char* buf = nullptr;
  const int len = i2d_X509(x, &buf);
  Bytes out(buf, buf + (len > 0 ? len : 0));
  OPENSSL_free(buf);
  return out;
}

bool isUpperColonHex(const std::string& s, std::size_t bytes) {
  if (s.size() != bytes * 3 - 1) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i % 3 == 2) {
      if (s[i] != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i])) || std::islower(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

TEST(Certificate, GeneratesEcdsaP256Key) {
  auto cert = makeCert();
  ASSERT_NE(cert, nullptr);
  ASSERT_NE(cert->x509(), nullptr);
  ASSERT_NE(cert->key(), nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(cert->key()), EVP_PKEY_EC);
  char group[64] = {};
  std::size_t groupLen = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(cert->key(), group, sizeof group, &groupLen), 1);
  EXPECT_STREQ(group, "prime256v1");
}

TEST(Certificate, IsSelfSignedWithSha256) {
  auto cert = makeCert("my-cn");
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_get_signature_nid(cert->x509()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(X509_verify(cert->x509(), cert->key()), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert->x509()), X509_get_issuer_name(cert->x509())), 0);
  char cn[64] = {};
  ASSERT_GT(X509_NAME_get_text_by_NID(X509_get_subject_name(cert->x509()), NID_commonName, cn, sizeof cn), 0);
  EXPECT_STREQ(cn, "my-cn");
  EXPECT_EQ(X509_get_version(cert->x509()), X509_VERSION_3);
}

TEST(Certificate, ValidFromYesterdayForThirtyDays) {
  auto cert = makeCert();
  ASSERT_NE(cert, nullptr);
  int days = 0;
  int secs = 0;
  // notBefore relative to now: about -1 day.
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notBefore(cert->x509())), 1);
  const long before = days * 86400L + secs;
  EXPECT_LE(before, -86400L + 60);
  EXPECT_GE(before, -86400L - 60);
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert->x509())), 1);
  const long after = days * 86400L + secs;
  EXPECT_LE(after, 30 * 86400L + 60);
  EXPECT_GE(after, 30 * 86400L - 60);
}

TEST(Certificate, FingerprintIsUppercaseColonSha256OfDer) {
  auto cert = makeCert();
  ASSERT_NE(cert, nullptr);
  const std::string& fp = cert->fingerprintSha256();
  EXPECT_TRUE(isUpperColonHex(fp, 32)) << fp;
  const auto digest = crypto::sha256(der(cert->x509()));
  EXPECT_EQ(fp, toHexColon(digest));
  auto again = fingerprintOf(cert->x509(), "sha-256");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), fp);
}

TEST(Certificate, EachCertificateIsDistinct) {
  auto a = makeCert();
  auto b = makeCert();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->fingerprintSha256(), b->fingerprintSha256());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->x509()), X509_get0_serialNumber(b->x509())), 0);
  EXPECT_EQ(EVP_PKEY_eq(a->key(), b->key()), 0);
}

TEST(Fingerprint, SupportsRfc8122HashNames) {
  auto cert = makeCert();
  ASSERT_NE(cert, nullptr);
  struct Case {
    const char* name;
    std::size_t bytes;
  };
  for (const Case c : {Case{"sha-1", 20}, Case{"sha-224", 28}, Case{"sha-256", 32}, Case{"sha-384", 48},
                       Case{"sha-512", 64}, Case{"SHA-256", 32}}) {
    auto fp = fingerprintOf(cert->x509(), c.name);
    ASSERT_TRUE(fp.ok()) << c.name;
    EXPECT_TRUE(isUpperColonHex(fp.value(), c.bytes)) << c.name << " " << fp.value();
  }
}

TEST(Fingerprint, RejectsUnknownAlgorithmAndNullCertificate) {
  auto cert = makeCert();
  ASSERT_NE(cert, nullptr);
  auto bad = fingerprintOf(cert->x509(), "md5");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "DTLS_FINGERPRINT_ALGORITHM");
  EXPECT_FALSE(fingerprintOf(nullptr, "sha-256").ok());
}

}  // namespace
}  // namespace stagecast::dtls
