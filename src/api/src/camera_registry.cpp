#include "stagecast/api/camera_registry.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "stagecast/auth/base64url.hpp"
#include "stagecast/common/byte_reader.hpp"
#include "stagecast/common/byte_writer.hpp"
#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/common/text.hpp"

namespace stagecast::api {

using nlohmann::json;

namespace {

constexpr int kFileVersion = 1;
constexpr std::size_t kNonceBytes = 12;  // NIST SP 800-38D §8.2: 96-bit IVs, random construction (§8.2.2)
constexpr std::size_t kTagBytes = 16;    // full 128-bit tag (SP 800-38D §5.2.1.2)
constexpr std::uint8_t kPlaintextVersion = 1;
constexpr std::size_t kIdLength = 10;           // [a-z0-9]: about 51 random bits
constexpr std::size_t kMaxIdLength = 64;        // ids read from the file
constexpr std::size_t kMaxKeyFileBytes = 4096;  // a key file is 32 bytes (or 64 hex digits)
constexpr std::size_t kMaxStoreBytes = 64 * 1024 * 1024;

std::string errnoText(int err) { return std::generic_category().message(err); }

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  int close() {
    if (fd_ < 0) return 0;
    const int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Wipes a secret string or buffer when it goes out of scope.
template <class T>
struct Wipe {
  T& secret;
  ~Wipe() {
    if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  }
};

Status writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(camera_error::kStoreFailed, errnoText(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

void syncDirectory(const std::filesystem::path& dir) {
  Fd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.valid()) ::fsync(d.get());
}

// Reads a whole regular file of at most `limit` bytes. nullopt with errno ENOENT when it does not exist.
Result<std::optional<std::string>> readSmallFile(const std::string& path, std::size_t limit, const char* code) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Error(code, path + ": cannot open: " + errnoText(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error(code, path + ": cannot stat: " + errnoText(errno));
  if (!S_ISREG(st.st_mode)) return Error(code, path + ": not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > limit) {
    return Error(code, path + ": larger than " + std::to_string(limit) + " bytes");
  }
  if ((st.st_mode & 077) != 0) {
    spdlog::warn("{} can be read by other users (mode {:o}); it should be mode 0600", path, st.st_mode & 0777);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(code, path + ": cannot read: " + errnoText(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > limit) return Error(code, path + ": larger than " + std::to_string(limit) + " bytes");
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return std::optional<std::string>(std::move(out));
}

// Writes `data` to `path` through a temporary file in the same directory (mode 0600), fsync and rename(2): the
// path names either the old or the new content at every moment, also across a crash.
Status writeFileAtomically(const std::string& path, std::string_view data) {
  const std::filesystem::path target(path);
  const std::string tmp = path + ".tmp-" + crypto::randomId(8);
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.valid()) return Error(camera_error::kStoreFailed, tmp + ": cannot create: " + errnoText(errno));
  Status st = ::fchmod(out.get(), 0600) == 0 ? writeAll(out.get(), data)
                                             : Error(camera_error::kStoreFailed, "fchmod: " + errnoText(errno));
  if (st && ::fsync(out.get()) != 0) st = Error(camera_error::kStoreFailed, "fsync: " + errnoText(errno));
  if (out.close() != 0 && st) st = Error(camera_error::kStoreFailed, "close: " + errnoText(errno));
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Error(camera_error::kStoreFailed, "rename: " + errnoText(errno));
  }
  if (!st) {
    ::unlink(tmp.c_str());
    return st.error().withContext(path);
  }
  syncDirectory(target.parent_path());
  return {};
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The key file: exactly 32 bytes, or 64 hex digits (what `openssl rand -hex 32` prints), optionally followed by
// white space.
template <class Key>
Status parseKey(std::string& text, const std::string& path, Key& key) {
  if (text.size() == key.size()) {
    std::copy(text.begin(), text.end(), key.begin());
    return {};
  }
  std::string_view t(text);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ' || t.back() == '\t')) {
    t.remove_suffix(1);
  }
  if (t.size() == 2 * key.size()) {
    bool ok = true;
    for (std::size_t i = 0; i < key.size() && ok; ++i) {
      const int hi = hexValue(t[2 * i]);
      const int lo = hexValue(t[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      key[i] = static_cast<std::uint8_t>((hi << 4) | (lo & 0x0f));
    }
    if (ok) return {};
  }
  OPENSSL_cleanse(key.data(), key.size());
  return Error(camera_error::kKeyInvalid, path + ": must hold a 32-byte key (32 raw bytes or 64 hex digits), found " +
                                              std::to_string(text.size()) + " bytes");
}

// Loads the key, or creates it (32 bytes from RAND_bytes, mode 0600). The file appears in one step (link(2) of a
// complete temporary file), and when two processes race both end up with the key stored first.
template <class Key>
Status loadOrCreateKey(const std::string& path, Key& key) {
  if (path.empty()) return Error(camera_error::kKeyInvalid, "no key file path");
  auto existing = readSmallFile(path, kMaxKeyFileBytes, camera_error::kKeyInvalid);
  if (!existing) return existing.error();
  if (existing->has_value()) {
    std::string& text = **existing;
    Wipe<std::string> wipe{text};
    return parseKey(text, path, key);
  }
  const std::filesystem::path target(path);
  if (!target.parent_path().empty()) {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return Error(camera_error::kKeyInvalid, target.parent_path().string() + ": cannot create: " + ec.message());
  }
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    return Error(camera_error::kKeyInvalid, "the random generator failed");
  }
  const std::string tmp = path + ".tmp-" + crypto::randomId(8);
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.valid()) return Error(camera_error::kKeyInvalid, tmp + ": cannot create: " + errnoText(errno));
  Status st = ::fchmod(out.get(), 0600) == 0
                  ? writeAll(out.get(), std::string_view(reinterpret_cast<const char*>(key.data()), key.size()))
                  : Error(camera_error::kKeyInvalid, "fchmod: " + errnoText(errno));
  if (st && ::fsync(out.get()) != 0) st = Error(camera_error::kKeyInvalid, "fsync: " + errnoText(errno));
  if (out.close() != 0 && st) st = Error(camera_error::kKeyInvalid, "close: " + errnoText(errno));
  if (!st) {
    ::unlink(tmp.c_str());
    return Error(camera_error::kKeyInvalid, tmp + ": cannot write: " + st.error().message);
  }
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err != EEXIST) return Error(camera_error::kKeyInvalid, path + ": cannot store: " + errnoText(err));
    // Another process stored a key first: use that one.
    return loadOrCreateKey(path, key);
  }
  ::unlink(tmp.c_str());
  syncDirectory(target.parent_path());
  spdlog::info("generated the camera credentials key into {}", path);
  return {};
}

// UTF-8 (RFC 3629 §4) without control characters; counts code points.
std::optional<std::size_t> textChars(std::string_view s) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++chars) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + len > s.size()) return std::nullopt;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;  // overlong, surrogate
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return std::nullopt;                             // C0, DEL, C1
    i += len;
  }
  return chars;
}

Status checkName(const std::string& name) {
  if (name.empty()) return Error("INVALID_REQUEST", "name: is required");
  auto chars = textChars(name);
  if (!chars) return Error("INVALID_REQUEST", "name: must be UTF-8 text without control characters");
  if (*chars > kMaxCameraNameChars) {
    return Error("INVALID_REQUEST", "name: longer than " + std::to_string(kMaxCameraNameChars) + " characters");
  }
  const auto blank = name.find_first_not_of(' ') == std::string::npos;
  if (blank) return Error("INVALID_REQUEST", "name: must not be blank");
  return {};
}

bool validId(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// Checks an address like a probe would and normalizes the transport.
Status checkAddress(ingest::CameraAddress& a) {
  a.transport = toLower(a.transport);
  if (a.path.empty()) a.path = "/";
  auto url = ingest::buildRtspUrl(a);
  if (!url) return url.error();
  OPENSSL_cleanse(url->data(), url->size());  // it holds the password
  return {};
}

ingest::CameraAddress addressOf(const CameraInfo& c) {
  ingest::CameraAddress a;
  a.ip = c.ip;
  a.port = c.port;
  a.path = c.path;
  a.transport = c.transport;
  return a;
}

std::string b64(BytesView b) { return auth::base64UrlEncode(b); }

Error corrupt(const std::string& file, const std::string& why) {
  return Error(camera_error::kStoreCorrupt, file + ": " + why);
}

// Typed field access on untrusted JSON (never throws).
const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}
std::optional<std::string> stringField(const json& obj, const char* name) {
  const json* f = field(obj, name);
  if (f == nullptr || !f->is_string()) return std::nullopt;
  return f->get<std::string>();
}
std::optional<std::int64_t> intField(const json& obj, const char* name) {
  const json* f = field(obj, name);
  if (f == nullptr || !f->is_number_integer()) return std::nullopt;
  return f->get<std::int64_t>();
}

}  // namespace

std::string cameraInfoLabel(const CameraInfo& c) { return c.ip + ":" + std::to_string(c.port) + c.path; }

CameraRegistry::CameraRegistry(CameraRegistryOptions options, const Key& key)
    : options_(std::move(options)), key_(key) {}

CameraRegistry::~CameraRegistry() { OPENSSL_cleanse(key_.data(), key_.size()); }

Result<std::unique_ptr<CameraRegistry>> CameraRegistry::open(CameraRegistryOptions options) {
  if (options.file.empty()) return Error(camera_error::kStoreFailed, "no registry file path");
  Key key{};
  if (auto st = loadOrCreateKey(options.keyFile, key); !st) return st.error();
  std::unique_ptr<CameraRegistry> r(new CameraRegistry(std::move(options), key));
  OPENSSL_cleanse(key.data(), key.size());
  if (auto st = r->load(); !st) return st.error();
  return r;
}

std::int64_t CameraRegistry::now() const {
  if (options_.nowMs) return options_.nowMs();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A key identifier stored in the file, so that a registry opened with another key says so plainly: the first 8
// bytes of HMAC-SHA-256(key, label), which reveal nothing about the key.
std::string CameraRegistry::keyId() const {
  const auto mac = crypto::hmacSha256(BytesView(key_.data(), key_.size()), asBytes("stagecast camera registry key"));
  return toHex(BytesView(mac.data(), 8));
}

Result<CameraRegistry::Sealed> CameraRegistry::seal(const std::string& id, const std::string& username,
                                                    const std::string& password) const {
  // Plaintext: version (1 byte), username and password each as a 16-bit length and the bytes.
  if (username.size() > 0xFFFF || password.size() > 0xFFFF) return Error("INVALID_REQUEST", "credentials: too long");
  ByteWriter w(5 + username.size() + password.size());
  w.writeU8(kPlaintextVersion);
  w.writeU16(static_cast<std::uint16_t>(username.size()));
  w.writeBytes(asBytes(username));
  w.writeU16(static_cast<std::uint16_t>(password.size()));
  w.writeBytes(asBytes(password));
  Bytes plain = w.take();
  Wipe<Bytes> wipe{plain};

  Sealed s;
  if (RAND_bytes(s.nonce.data(), static_cast<int>(s.nonce.size())) != 1) {
    return Error(camera_error::kStoreFailed, "the random generator failed");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const Error failed(camera_error::kStoreFailed, "AES-256-GCM encryption failed");
  if (!ctx) return failed;
  // SP 800-38D: the default IV length of EVP's GCM is 96 bits, the one we use.
  if (EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key_.data(), s.nonce.data(), nullptr) != 1) return failed;
  int len = 0;
  // Additional authenticated data: the camera id, so sealed credentials only open for their own camera.
  if (EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(id.data()),
                        static_cast<int>(id.size())) != 1) {
    return failed;
  }
  s.ciphertext.resize(plain.size() + kTagBytes);
  if (EVP_EncryptUpdate(ctx.get(), s.ciphertext.data(), &len, plain.data(), static_cast<int>(plain.size())) != 1) {
    return failed;
  }
  std::size_t total = static_cast<std::size_t>(len);
  if (EVP_EncryptFinal_ex(ctx.get(), s.ciphertext.data() + total, &len) != 1) return failed;
  total += static_cast<std::size_t>(len);
  if (total != plain.size()) return failed;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagBytes), s.ciphertext.data() + total) !=
      1) {
    return failed;
  }
  return s;
}

Status CameraRegistry::unseal(const Record& record, ingest::CameraAddress& address) const {
  if (!record.credentials) return {};
  const Sealed& s = *record.credentials;
  const Error bad(
      camera_error::kStoreCorrupt,
      "camera " + record.info.id + ": the credentials do not decrypt (altered, or sealed under another key)");
  if (s.ciphertext.size() < kTagBytes + 1) return bad;
  const std::size_t n = s.ciphertext.size() - kTagBytes;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return bad;
  if (EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key_.data(), s.nonce.data(), nullptr) != 1) return bad;
  int len = 0;
  const std::string& id = record.info.id;
  if (EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(id.data()),
                        static_cast<int>(id.size())) != 1) {
    return bad;
  }
  Bytes plain(n);
  Wipe<Bytes> wipe{plain};
  if (EVP_DecryptUpdate(ctx.get(), plain.data(), &len, s.ciphertext.data(), static_cast<int>(n)) != 1) return bad;
  std::size_t total = static_cast<std::size_t>(len);
  // The tag is checked in DecryptFinal (SP 800-38D §7.2 step 8): nothing is used before it passes.
  Bytes tag(s.ciphertext.end() - static_cast<std::ptrdiff_t>(kTagBytes), s.ciphertext.end());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagBytes), tag.data()) != 1) return bad;
  if (EVP_DecryptFinal_ex(ctx.get(), plain.data() + total, &len) != 1) return bad;
  total += static_cast<std::size_t>(len);
  if (total != n) return bad;

  ByteReader r(BytesView(plain.data(), plain.size()));
  std::uint8_t version = 0;
  std::uint16_t userLen = 0;
  std::uint16_t passLen = 0;
  BytesView user;
  BytesView pass;
  if (!r.readU8(version) || version != kPlaintextVersion || !r.readU16(userLen) || !r.readBytes(userLen, user) ||
      !r.readU16(passLen) || !r.readBytes(passLen, pass) || !r.empty()) {
    return Error(camera_error::kStoreCorrupt, "camera " + id + ": the credentials have an unknown layout");
  }
  address.username.assign(asString(user));
  address.password.assign(asString(pass));
  return {};
}

Status CameraRegistry::load() {
  const std::string& file = options_.file;
  auto text = readSmallFile(file, kMaxStoreBytes, camera_error::kStoreFailed);
  if (!text) return text.error();
  if (!text->has_value()) return {};  // first start: no cameras yet
  const json doc = json::parse(**text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return corrupt(file, "not a JSON object");
  if (intField(doc, "version") != kFileVersion) return corrupt(file, "unknown version");
  auto kid = stringField(doc, "keyId");
  if (!kid) return corrupt(file, "keyId: missing");
  if (*kid != keyId()) {
    return Error(camera_error::kKeyMismatch,
                 file + ": written with another key than " + options_.keyFile +
                     " (restore that key, or point cameraKeyFile at it); refusing to start without the credentials");
  }
  const json* cams = field(doc, "cameras");
  if (cams == nullptr || !cams->is_array()) return corrupt(file, "cameras: missing");
  std::vector<Record> records;
  for (std::size_t i = 0; i < cams->size(); ++i) {
    const json& c = (*cams)[i];
    const std::string where = "camera #" + std::to_string(i + 1);
    if (!c.is_object()) return corrupt(file, where + ": not an object");
    Record rec;
    auto id = stringField(c, "id");
    auto name = stringField(c, "name");
    auto ip = stringField(c, "ip");
    auto port = intField(c, "port");
    auto path = stringField(c, "path");
    auto transport = stringField(c, "transport");
    auto created = intField(c, "createdAt");
    if (!id || !validId(*id)) return corrupt(file, where + ": id: missing or malformed");
    if (!name || !ip || !port || !path || !transport || !created) {
      return corrupt(file, where + " (" + *id + "): a field is missing or mistyped");
    }
    if (*port < 1 || *port > 65535) return corrupt(file, where + " (" + *id + "): port out of range");
    for (const auto& other : records) {
      if (other.info.id == *id) return corrupt(file, where + ": id " + *id + " appears twice");
    }
    rec.info.id = *id;
    rec.info.name = *name;
    rec.info.ip = *ip;
    rec.info.port = static_cast<std::uint16_t>(*port);
    rec.info.path = *path;
    rec.info.transport = *transport;
    rec.info.createdAtMs = *created;
    if (const json* warm = field(c, "warm"); warm != nullptr) {
      if (!warm->is_boolean()) return corrupt(file, where + " (" + *id + "): warm: not a boolean");
      rec.info.warm = warm->get<bool>();
    }
    if (const json* cred = field(c, "credentials"); cred != nullptr && !cred->is_null()) {
      auto nonce = cred->is_object() ? stringField(*cred, "nonce") : std::nullopt;
      auto sealed = cred->is_object() ? stringField(*cred, "ciphertext") : std::nullopt;
      auto alg = cred->is_object() ? stringField(*cred, "alg") : std::nullopt;
      if (!nonce || !sealed || alg != "A256GCM") return corrupt(file, where + " (" + *id + "): credentials: malformed");
      auto n = auth::base64UrlDecode(*nonce);
      auto ct = auth::base64UrlDecode(*sealed);
      if (!n || n->size() != kNonceBytes || !ct) return corrupt(file, where + " (" + *id + "): credentials: malformed");
      Sealed s;
      std::copy(n->begin(), n->end(), s.nonce.begin());
      s.ciphertext = std::move(*ct);
      rec.credentials = std::move(s);
    }
    // Open the credentials once now: a file that does not decrypt must stop the start, not a later preview.
    ingest::CameraAddress a = addressOf(rec.info);
    if (auto st = unseal(rec, a); !st) return st.error().withContext(file);
    rec.info.hasCredentials = rec.credentials.has_value() && !a.username.empty();
    if (auto st = checkName(rec.info.name); !st) return corrupt(file, where + " (" + *id + "): " + st.error().message);
    auto url = ingest::buildRtspUrl(a);
    OPENSSL_cleanse(a.password.data(), a.password.size());
    if (!url) return corrupt(file, where + " (" + *id + "): " + url.error().message);
    OPENSSL_cleanse(url->data(), url->size());
    records.push_back(std::move(rec));
  }
  if (records.size() > options_.maxCameras) {
    spdlog::warn("{} holds {} cameras, more than the limit of {}: no more can be added", file, records.size(),
                 options_.maxCameras);
  }
  std::lock_guard lock(mutex_);
  records_ = std::move(records);
  spdlog::info("camera registry {}: {} cameras", file, records_.size());
  return {};
}

Status CameraRegistry::save(const std::vector<Record>& records) const {
  json cams = json::array();
  for (const auto& r : records) {
    json c{{"id", r.info.id},
           {"name", r.info.name},
           {"ip", r.info.ip},
           {"port", r.info.port},
           {"path", r.info.path},
           {"transport", r.info.transport},
           {"warm", r.info.warm},
           {"createdAt", r.info.createdAtMs}};
    if (r.credentials) {
      c["credentials"] = {{"alg", "A256GCM"},
                          {"nonce", b64(BytesView(r.credentials->nonce.data(), r.credentials->nonce.size()))},
                          {"ciphertext", b64(r.credentials->ciphertext)}};
    }
    cams.push_back(std::move(c));
  }
  const json doc{{"version", kFileVersion}, {"keyId", keyId()}, {"cameras", std::move(cams)}};
  // Every string was checked to be UTF-8 on the way in; replace (never throw) should one slip through.
  const std::string text = doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  const std::filesystem::path target(options_.file);
  if (!target.parent_path().empty()) {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return Error(camera_error::kStoreFailed, target.parent_path().string() + ": " + ec.message());
  }
  return writeFileAtomically(options_.file, text);
}

Result<CameraInfo> CameraRegistry::add(const CameraSpec& spec) {
  if (auto st = checkName(spec.name); !st) return st.error();
  ingest::CameraAddress a = spec.address;
  Wipe<std::string> wipe{a.password};
  if (auto st = checkAddress(a); !st) return st.error();

  std::lock_guard lock(mutex_);
  if (records_.size() >= options_.maxCameras) {
    return Error(camera_error::kLimitReached,
                 "the registry holds " + std::to_string(options_.maxCameras) + " cameras, its limit");
  }
  Record rec;
  do {
    rec.info.id = crypto::randomId(kIdLength);
  } while (std::any_of(records_.begin(), records_.end(), [&](const Record& r) { return r.info.id == rec.info.id; }));
  rec.info.name = spec.name;
  rec.info.ip = a.ip;
  rec.info.port = a.port;
  rec.info.path = a.path;
  rec.info.transport = a.transport;
  rec.info.warm = spec.warm;
  rec.info.createdAtMs = now();
  if (!a.username.empty()) {
    auto sealed = seal(rec.info.id, a.username, a.password);
    if (!sealed) return sealed.error();
    rec.credentials = std::move(sealed).value();
    rec.info.hasCredentials = true;
  }
  std::vector<Record> next = records_;
  next.push_back(rec);
  if (auto st = save(next); !st) return st.error();
  records_ = std::move(next);
  return rec.info;
}

Result<CameraInfo> CameraRegistry::update(const std::string& id, const CameraChange& change) {
  if (change.name) {
    if (auto st = checkName(*change.name); !st) return st.error();
  }
  std::lock_guard lock(mutex_);
  auto it = std::find_if(records_.begin(), records_.end(), [&](const Record& r) { return r.info.id == id; });
  if (it == records_.end()) return Error(camera_error::kNotFound, "no camera " + id);
  Record rec = *it;
  ingest::CameraAddress a = addressOf(rec.info);
  Wipe<std::string> wipe{a.password};
  if (change.credentials()) {
    if (auto st = unseal(rec, a); !st) return st.error();
  }
  if (change.name) rec.info.name = *change.name;
  if (change.warm) rec.info.warm = *change.warm;
  if (change.ip) a.ip = *change.ip;
  if (change.port) a.port = *change.port;
  if (change.path) a.path = *change.path;
  if (change.transport) a.transport = *change.transport;
  if (change.username) {
    a.username = *change.username;
    if (a.username.empty()) a.password.clear();  // no user: no credentials at all
  }
  if (change.password) a.password = *change.password;
  if (auto st = checkAddress(a); !st) return st.error();
  rec.info.ip = a.ip;
  rec.info.port = a.port;
  rec.info.path = a.path;
  rec.info.transport = a.transport;
  if (change.credentials()) {
    // Sealed again under a fresh nonce: a nonce is never used twice with the key.
    rec.credentials.reset();
    if (!a.username.empty()) {
      auto sealed = seal(rec.info.id, a.username, a.password);
      if (!sealed) return sealed.error();
      rec.credentials = std::move(sealed).value();
    }
    rec.info.hasCredentials = rec.credentials.has_value();
  }
  std::vector<Record> next = records_;
  next[static_cast<std::size_t>(it - records_.begin())] = rec;
  if (auto st = save(next); !st) return st.error();
  records_ = std::move(next);
  return rec.info;
}

Result<CameraInfo> CameraRegistry::remove(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(records_.begin(), records_.end(), [&](const Record& r) { return r.info.id == id; });
  if (it == records_.end()) return Error(camera_error::kNotFound, "no camera " + id);
  CameraInfo removed = it->info;
  std::vector<Record> next;
  next.reserve(records_.size());
  for (const auto& r : records_) {
    if (r.info.id != id) next.push_back(r);
  }
  if (auto st = save(next); !st) return st.error();
  records_ = std::move(next);
  return removed;
}

Result<CameraInfo> CameraRegistry::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& r : records_) {
    if (r.info.id == id) return r.info;
  }
  return Error(camera_error::kNotFound, "no camera " + id);
}

std::vector<CameraInfo> CameraRegistry::list() const {
  std::lock_guard lock(mutex_);
  std::vector<CameraInfo> out;
  out.reserve(records_.size());
  for (const auto& r : records_) out.push_back(r.info);
  return out;
}

std::size_t CameraRegistry::size() const {
  std::lock_guard lock(mutex_);
  return records_.size();
}

Result<ingest::CameraAddress> CameraRegistry::address(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& r : records_) {
    if (r.info.id != id) continue;
    ingest::CameraAddress a = addressOf(r.info);
    if (auto st = unseal(r, a); !st) return st.error();
    return a;
  }
  return Error(camera_error::kNotFound, "no camera " + id);
}

}  // namespace stagecast::api
