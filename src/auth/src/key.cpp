#include "stagecast/auth/key.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>

#include "stagecast/auth/base64url.hpp"
#include "stagecast/common/crypto.hpp"

namespace stagecast::auth {

namespace {

constexpr std::size_t kCoordinateSize = 48;     // P-384 field elements
constexpr std::size_t kMaxPemSize = 64 * 1024;  // far above any EC key; bounds what a bad path can make us read

struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

// Closes a file descriptor on scope exit unless released.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int close() {
    const int rc = ::close(fd);
    fd = -1;
    return rc;
  }
};

// Failures leave entries on OpenSSL's per-thread error queue; drop them so that they cannot be mistaken for
// errors of a later, unrelated call on this thread (TLS code reads that queue).
Error fail(const char* code, std::string message) {
  ERR_clear_error();
  return Error{code, std::move(message)};
}

Error ioError(const std::string& what, int err) {
  return fail("KEY_IO", what + ": " + std::generic_category().message(err));
}

std::shared_ptr<EVP_PKEY> share(EVP_PKEY* key) {
  if (key == nullptr) return nullptr;
  return {key, EVP_PKEY_free};
}

BioPtr readOnlyBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string drain(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return {};
  return {data, static_cast<std::size_t>(len)};
}

// Never prompt on a terminal for the pass phrase of an encrypted PEM: such keys are refused.
int refusePassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

bool isP384(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC") != 1) return false;
  std::array<char, 64> name{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name.data(), name.size(), &len) != 1) {
    return false;  // includes keys with explicit curve parameters
  }
  const std::string_view group(name.data(), len);
  return group == "secp384r1" || group == "P-384";
}

bool checkKey(EVP_PKEY* key, bool withPrivate) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx) return false;
  // EVP_PKEY_check validates both halves and that they belong together.
  return (withPrivate ? EVP_PKEY_check(ctx.get()) : EVP_PKEY_public_check(ctx.get())) == 1;
}

std::optional<std::string> coordinate(EVP_PKEY* key, const char* param) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) return std::nullopt;
  const BnPtr bn(raw);
  std::array<std::uint8_t, kCoordinateSize> buf{};
  if (BN_bn2binpad(bn.get(), buf.data(), static_cast<int>(buf.size())) != static_cast<int>(buf.size())) {
    return std::nullopt;
  }
  return base64UrlEncode(buf);
}

// A key object holding only the public components of key.
std::shared_ptr<EVP_PKEY> publicPart(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return nullptr;
  const unsigned char* p = der;
  EVP_PKEY* pub = d2i_PUBKEY(nullptr, &p, len);
  OPENSSL_free(der);
  return share(pub);
}

Status writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{"KEY_IO", std::generic_category().message(errno)};
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Makes a new directory entry durable. Best effort: some file systems refuse fsync on directories.
void syncDirectory(const std::filesystem::path& dir) {
  const std::string name = dir.empty() ? std::string(".") : dir.string();
  Fd fd(::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.fd >= 0) (void)::fsync(fd.fd);
}

// Reads and parses the key file open on fd (takes ownership of fd).
Result<SigningKey> loadFile(int rawFd, const std::string& path) {
  Fd fd(rawFd);
  std::string pem;
  std::array<char, 4096> buf{};
  Status status;
  for (;;) {
    const ssize_t n = ::read(fd.fd, buf.data(), buf.size());
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      status = ioError(path + ": cannot read", err);
      break;
    }
    if (n == 0) break;
    pem.append(buf.data(), static_cast<std::size_t>(n));
    if (pem.size() > kMaxPemSize) {
      status = fail("KEY_INVALID", path + ": file is too large to be a PEM key");
      break;
    }
  }
  OPENSSL_cleanse(buf.data(), buf.size());
  if (!status.ok()) {
    OPENSSL_cleanse(pem.data(), pem.size());
    return status.error();
  }
  auto key = SigningKey::fromPem(pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) return key.error().withContext(path);
  return key;
}

}  // namespace

// ---- VerifyingKey ----

VerifyingKey::VerifyingKey(std::shared_ptr<evp_pkey_st> key, std::string x, std::string y, std::string kid)
    : key_(std::move(key)), x_(std::move(x)), y_(std::move(y)), kid_(std::move(kid)) {}

Result<VerifyingKey> VerifyingKey::fromPkey(std::shared_ptr<evp_pkey_st> key) {
  if (!isP384(key.get())) return fail("KEY_INVALID", "not an EC P-384 key");
  auto x = coordinate(key.get(), OSSL_PKEY_PARAM_EC_PUB_X);
  auto y = coordinate(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  if (!x || !y) return fail("KEY_INVALID", "cannot read the public point");
  // RFC 7638 §3.2: the required members of an EC JWK, in lexicographic order, without whitespace.
  const std::string canonical = R"({"crv":"P-384","kty":"EC","x":")" + *x + R"(","y":")" + *y + R"("})";
  std::string kid = base64UrlEncode(crypto::sha256(asBytes(canonical)));
  return VerifyingKey(std::move(key), std::move(*x), std::move(*y), std::move(kid));
}

Result<VerifyingKey> VerifyingKey::fromPem(std::string_view pem) {
  if (pem.size() > kMaxPemSize) return fail("KEY_INVALID", "PEM text is too large");
  const BioPtr bio = readOnlyBio(pem);
  if (!bio) return fail("AUTH_CRYPTO_FAILED", "BIO_new_mem_buf failed");
  auto key = share(PEM_read_bio_PUBKEY_ex(bio.get(), nullptr, refusePassphrase, nullptr, nullptr, nullptr));
  if (!key) return fail("KEY_INVALID", "no public key PEM (expected BEGIN PUBLIC KEY)");
  if (!isP384(key.get())) return fail("KEY_INVALID", "not an EC P-384 key");
  if (!checkKey(key.get(), false)) return fail("KEY_INVALID", "public point is not valid on P-384");
  return fromPkey(std::move(key));
}

std::string VerifyingKey::publicPem() const {
  const BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    ERR_clear_error();
    return {};
  }
  return drain(bio.get());
}

nlohmann::json VerifyingKey::publicJwk() const {
  return {{"kty", "EC"}, {"crv", "P-384"}, {"x", x_}, {"y", y_}, {"use", "sig"}, {"alg", "ES384"}, {"kid", kid_}};
}

// ---- SigningKey ----

SigningKey::SigningKey(std::shared_ptr<evp_pkey_st> key, VerifyingKey pub)
    : key_(std::move(key)), public_(std::move(pub)) {}

Result<SigningKey> SigningKey::fromPkey(std::shared_ptr<evp_pkey_st> key) {
  if (!isP384(key.get())) return fail("KEY_INVALID", "not an EC P-384 key");
  auto pub = publicPart(key.get());
  if (!pub) return fail("KEY_INVALID", "cannot extract the public key");
  auto verifying = VerifyingKey::fromPkey(std::move(pub));
  if (!verifying) return verifying.error();
  return SigningKey(std::move(key), std::move(*verifying));
}

Result<SigningKey> SigningKey::generate() {
  auto key = share(EVP_EC_gen("P-384"));
  if (!key) return fail("AUTH_CRYPTO_FAILED", "P-384 key generation failed");
  return fromPkey(std::move(key));
}

Result<SigningKey> SigningKey::fromPem(std::string_view pem) {
  if (pem.size() > kMaxPemSize) return fail("KEY_INVALID", "PEM text is too large");
  const BioPtr bio = readOnlyBio(pem);
  if (!bio) return fail("AUTH_CRYPTO_FAILED", "BIO_new_mem_buf failed");
  // Reads both "PRIVATE KEY" (PKCS#8) and "EC PRIVATE KEY" (SEC1).
  auto key = share(PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, refusePassphrase, nullptr, nullptr, nullptr));
  if (!key) return fail("KEY_INVALID", "no unencrypted private key PEM");
  if (!isP384(key.get())) return fail("KEY_INVALID", "not an EC P-384 key");
  if (!checkKey(key.get(), true)) return fail("KEY_INVALID", "inconsistent or invalid P-384 key pair");
  return fromPkey(std::move(key));
}

Result<SigningKey> SigningKey::loadOrCreate(const std::string& path) {
  if (path.empty()) return fail("KEY_IO", "empty key file path");
  const int existing = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (existing >= 0) return loadFile(existing, path);
  const int openErr = errno;
  if (openErr != ENOENT) return ioError(path + ": cannot open", openErr);

  auto key = generate();
  if (!key) return key;

  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail("KEY_IO", dir.string() + ": cannot create directory: " + ec.message());
  }

  std::string pem = key->privatePem();
  if (pem.empty()) return fail("AUTH_CRYPTO_FAILED", "cannot encode the private key");

  // Write a temporary file next to the target, then publish it under the final name in one step.
  const std::string tmp = path + ".tmp-" + crypto::randomId(12);
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (out.fd < 0) {
    const int createErr = errno;
    OPENSSL_cleanse(pem.data(), pem.size());
    return ioError(tmp + ": cannot create", createErr);
  }
  Status written = ::fchmod(out.fd, 0600) == 0 ? writeAll(out.fd, pem) : Error{"KEY_IO", "fchmod failed"};
  OPENSSL_cleanse(pem.data(), pem.size());
  if (written.ok() && ::fsync(out.fd) != 0) written = Error{"KEY_IO", std::generic_category().message(errno)};
  if (out.close() != 0 && written.ok()) written = Error{"KEY_IO", std::generic_category().message(errno)};
  if (!written.ok()) {
    ::unlink(tmp.c_str());
    return fail("KEY_IO", tmp + ": cannot write: " + written.error().message);
  }

  // link() refuses to replace an existing file: if another process stored a key meanwhile, use that one
  // so that every process signs with the same key.
  if (::link(tmp.c_str(), path.c_str()) == 0) {
    ::unlink(tmp.c_str());
    syncDirectory(dir);
    return key;
  }
  const int linkErr = errno;
  if (linkErr == EEXIST) {
    ::unlink(tmp.c_str());
    const int theirs = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (theirs < 0) {
      const int err = errno;
      return ioError(path + ": cannot open", err);
    }
    return loadFile(theirs, path);
  }
  // File systems without hard links: rename (atomic too, but the last of racing writers wins).
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int renameErr = errno;
    ::unlink(tmp.c_str());
    return ioError(path + ": cannot store key", renameErr);
  }
  syncDirectory(dir);
  return key;
}

std::string SigningKey::privatePem() const {
  // Secure-heap memory when OpenSSL has one, and cleansed on free.
  const BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return drain(bio.get());
}

}  // namespace stagecast::auth
