#include "stagecast/auth/key.hpp"

#include <gtest/gtest.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jws_test_util.hpp"
#include "stagecast/auth/token.hpp"
#include "stagecast/common/crypto.hpp"

using namespace stagecast;
using namespace stagecast::auth;
namespace t = stagecast::auth::testing;
namespace fs = std::filesystem;

namespace {

std::string pemOf(EVP_PKEY* key, const char* structure, int selection = EVP_PKEY_KEYPAIR) {
  OSSL_ENCODER_CTX* ctx = OSSL_ENCODER_CTX_new_for_pkey(key, selection, "PEM", structure, nullptr);
  unsigned char* data = nullptr;
  std::size_t len = 0;
  std::string out;
  if (ctx != nullptr && OSSL_ENCODER_to_data(ctx, &data, &len) == 1) {
    out.assign(reinterpret_cast<char*>(data), len);
    OPENSSL_free(data);
  }
  OSSL_ENCODER_CTX_free(ctx);
  return out;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

bool startsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST(SigningKey, GenerateAndPemForms) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key.ok()) << key.error().message;
  const std::string priv = key->privatePem();
  const std::string pub = key->publicPem();
  EXPECT_TRUE(startsWith(priv, "-----BEGIN PRIVATE KEY-----\n")) << "PKCS#8 expected";
  EXPECT_TRUE(startsWith(pub, "-----BEGIN PUBLIC KEY-----\n"));
  EXPECT_EQ(pub.find("PRIVATE"), std::string::npos);

  auto again = SigningKey::fromPem(priv);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->keyId(), key->keyId());
  EXPECT_EQ(again->publicPem(), pub);
  EXPECT_NE(SigningKey::generate()->keyId(), key->keyId());
}

TEST(SigningKey, AcceptsSec1Pem) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key.ok());
  const std::string sec1 = pemOf(key->native(), "type-specific");
  ASSERT_TRUE(startsWith(sec1, "-----BEGIN EC PRIVATE KEY-----")) << sec1;
  auto loaded = SigningKey::fromPem(sec1);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->keyId(), key->keyId());
  // Re-exported as PKCS#8.
  EXPECT_TRUE(startsWith(loaded->privatePem(), "-----BEGIN PRIVATE KEY-----"));
}

TEST(SigningKey, RejectsOtherKeysAndGarbage) {
  t::Pkey p256(EVP_EC_gen("P-256"));
  t::Pkey p521(EVP_EC_gen("P-521"));
  t::Pkey ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  t::Pkey rsa(EVP_RSA_gen(1024));
  ASSERT_TRUE(p256 && p521 && ed25519 && rsa);
  for (EVP_PKEY* k : {p256.get(), p521.get(), ed25519.get(), rsa.get()}) {
    for (const char* structure : {"PrivateKeyInfo", "type-specific"}) {
      const std::string pem = pemOf(k, structure);
      if (pem.empty()) continue;  // no such form for this key type
      auto r = SigningKey::fromPem(pem);
      ASSERT_FALSE(r.ok()) << pem;
      EXPECT_EQ(r.error().code, "KEY_INVALID");
    }
  }
  auto key = SigningKey::generate();
  for (const std::string& text : {std::string(), std::string("garbage"), key->publicPem(),
                                  std::string("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
                                  key->privatePem().substr(0, 100), std::string(100000, 'A')}) {
    auto r = SigningKey::fromPem(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, "KEY_INVALID");
  }
}

TEST(SigningKey, RejectsEncryptedPemWithoutPrompting) {
  auto key = SigningKey::generate();
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, key->native(), EVP_aes_256_cbc(), "secret", 6, nullptr, nullptr), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  ASSERT_TRUE(startsWith(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
  auto r = SigningKey::fromPem(pem);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "KEY_INVALID");
}

TEST(SigningKey, CopiesShareTheKey) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key.ok());
  const SigningKey copy = *key;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy.native(), key->native());
  Claims c;
  c.jti = "j";
  c.iat = 10;
  c.exp = 20;
  auto token = TokenSigner(copy).sign(c);
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(TokenVerifier(*key).verify(*token, 15).ok());
}

TEST(VerifyingKey, FromPublicPem) {
  auto key = SigningKey::generate();
  auto pub = VerifyingKey::fromPem(key->publicPem());
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_EQ(pub->keyId(), key->keyId());
  EXPECT_EQ(pub->publicJwk(), key->publicJwk());
  EXPECT_EQ(pub->publicPem(), key->publicPem());

  t::Pkey p256(EVP_EC_gen("P-256"));
  for (const std::string& text : {pemOf(p256.get(), "SubjectPublicKeyInfo", EVP_PKEY_PUBLIC_KEY), key->privatePem(),
                                  std::string("nope"), std::string()}) {
    auto r = VerifyingKey::fromPem(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, "KEY_INVALID");
  }
}

TEST(SigningKey, PublicJwkAndThumbprint) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key.ok());
  const nlohmann::json jwk = key->publicJwk();
  EXPECT_EQ(jwk.size(), 7U);
  EXPECT_EQ(jwk.at("kty"), "EC");
  EXPECT_EQ(jwk.at("crv"), "P-384");
  EXPECT_EQ(jwk.at("use"), "sig");
  EXPECT_EQ(jwk.at("alg"), "ES384");
  EXPECT_EQ(jwk.at("kid"), key->keyId());
  EXPECT_FALSE(jwk.contains("d"));

  // The coordinates, taken from the SubjectPublicKeyInfo DER by hand: its BIT STRING ends the structure and
  // holds the uncompressed point 04 || X || Y.
  const Bytes der = t::pemToDer(key->publicPem());
  ASSERT_GT(der.size(), 97U);
  const BytesView point = BytesView(der).last(97);
  ASSERT_EQ(point[0], 0x04);
  const std::string x = t::refBase64Url(point.subspan(1, 48));
  const std::string y = t::refBase64Url(point.subspan(49, 48));
  EXPECT_EQ(jwk.at("x"), x);
  EXPECT_EQ(jwk.at("y"), y);
  EXPECT_EQ(x.size(), 64U);
  EXPECT_EQ(y.size(), 64U);

  // RFC 7638 §3: SHA-256 over the required members in lexicographic order without whitespace.
  const std::string canonical = "{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"" + x + "\",\"y\":\"" + y + "\"}";
  EXPECT_EQ(key->keyId(), t::refBase64Url(crypto::sha256(asBytes(canonical))));
  EXPECT_EQ(key->keyId().size(), 43U);
}

TEST(SigningKey, LoadOrCreateWritesPrivateFileOnceAndReloads) {
  t::TempDir dir;
  const fs::path path = dir.path() / "nested" / "keys" / "token-key.pem";
  auto created = SigningKey::loadOrCreate(path.string());
  ASSERT_TRUE(created.ok()) << created.error().code << " " << created.error().message;

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  const std::string content = readFile(path);
  EXPECT_TRUE(startsWith(content, "-----BEGIN PRIVATE KEY-----\n"));
  EXPECT_EQ(content, created->privatePem());

  // Nothing but the key is left in the directory (the temporary file was renamed or removed).
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path.parent_path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"token-key.pem"});

  auto loaded = SigningKey::loadOrCreate(path.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->keyId(), created->keyId());
  EXPECT_EQ(readFile(path), content);

  // Tokens signed before a restart verify with the reloaded key.
  Claims c;
  c.jti = "j";
  c.iat = 100;
  c.exp = 200;
  auto token = TokenSigner(*created).sign(c);
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(TokenVerifier(*loaded).verify(*token, 150).ok());
}

TEST(SigningKey, LoadOrCreateInCurrentDirectoryName) {
  t::TempDir dir;
  const fs::path previous = fs::current_path();
  fs::current_path(dir.path());
  auto created = SigningKey::loadOrCreate("plain.pem");
  auto loaded = SigningKey::loadOrCreate("plain.pem");
  fs::current_path(previous);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(created->keyId(), loaded->keyId());
}

TEST(SigningKey, ConcurrentLoadOrCreateAgreesOnOneKey) {
  t::TempDir dir;
  const std::string path = (dir.path() / "race" / "key.pem").string();
  constexpr int kThreads = 6;
  std::vector<std::string> kids(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto k = SigningKey::loadOrCreate(path);
      kids[i] = k.ok() ? k->keyId() : "error: " + k.error().message;
    });
  }
  for (auto& th : threads) th.join();
  auto final = SigningKey::loadOrCreate(path);
  ASSERT_TRUE(final.ok());
  for (const auto& kid : kids) EXPECT_EQ(kid, final->keyId());
}

TEST(SigningKey, LoadOrCreateLoadsExistingSec1File) {
  t::TempDir dir;
  auto key = SigningKey::generate();
  const fs::path path = dir.path() / "sec1.pem";
  writeFile(path, pemOf(key->native(), "type-specific"));
  auto loaded = SigningKey::loadOrCreate(path.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->keyId(), key->keyId());
}

TEST(SigningKey, LoadOrCreateCorruptFileIsKeyInvalid) {
  t::TempDir dir;
  const fs::path path = dir.path() / "key.pem";
  t::Pkey p256(EVP_EC_gen("P-256"));
  auto key = SigningKey::generate();
  std::string truncated = key->privatePem();
  truncated.resize(truncated.size() / 2);
  for (const std::string& content :
       {std::string(), std::string("not a key\n"), truncated, pemOf(p256.get(), "PrivateKeyInfo"), key->publicPem(),
        std::string(200 * 1024, 'A')}) {
    writeFile(path, content);
    auto r = SigningKey::loadOrCreate(path.string());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "KEY_INVALID") << r.error().message;
    // The bad file is left alone for a human to look at.
    EXPECT_EQ(readFile(path), content);
  }
}

TEST(SigningKey, LoadOrCreateIoErrors) {
  t::TempDir dir;
  // The path is a directory.
  fs::create_directories(dir.path() / "adir");
  auto r = SigningKey::loadOrCreate((dir.path() / "adir").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "KEY_IO") << r.error().message;
  // A parent is a regular file.
  writeFile(dir.path() / "afile", "x");
  r = SigningKey::loadOrCreate((dir.path() / "afile" / "key.pem").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "KEY_IO") << r.error().message;
  r = SigningKey::loadOrCreate("");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "KEY_IO");
}
