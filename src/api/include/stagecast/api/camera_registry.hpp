#pragma once
// The camera registry: cameras saved under a name, so that pages and WHEP players refer to a camera by its id
// instead of carrying its address and credentials around.
//
// The registry lives in one JSON file (<dataDir>/cameras.json, mode 0600), rewritten as a whole on every change
// through a temporary file and rename(2), so a crash leaves either the old or the new file, never half of one.
// Credentials are sealed at rest with AES-256-GCM (NIST SP 800-38D): a fresh random 96-bit nonce every time a
// camera's credentials are sealed, the camera id as additional authenticated data (a sealed blob moved to another
// camera does not open), a 128-bit tag. The 32-byte key is kept in a file of its own (mode 0600), created from the
// system's random generator on first start. In memory the credentials stay sealed too; they are opened only for
// the moment a probe or a preview needs them (address()).
//
// Every method is thread-safe. Changes write the file before they return, so call them off the event loops.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

namespace stagecast::api {

inline constexpr std::size_t kCameraKeyBytes = 32;  // AES-256
inline constexpr std::size_t kMaxCameraNameChars = 100;
inline constexpr std::size_t kMaxCameras = 1000;

// Error codes of the registry (Error::code).
namespace camera_error {
constexpr const char* kNotFound = "CAMERA_NOT_FOUND";          // no camera with that id
constexpr const char* kLimitReached = "CAMERA_LIMIT_REACHED";  // the registry holds maxCameras already
constexpr const char* kStoreFailed = "CAMERA_STORE_FAILED";    // the file could not be written (nothing changed)
constexpr const char* kStoreCorrupt = "CAMERA_STORE_CORRUPT";  // malformed file, or credentials failing authentication
constexpr const char* kKeyInvalid = "CAMERA_KEY_INVALID";      // the key file is unreadable or not a 32-byte key
constexpr const char* kKeyMismatch = "CAMERA_KEY_MISMATCH";    // the file was written under another key
}  // namespace camera_error

// What the API shows of a camera: never its credentials.
struct CameraInfo {
  std::string id;
  std::string name;
  std::string ip;
  std::uint16_t port = 554;
  std::string path = "/";
  std::string transport = "tcp";
  bool hasCredentials = false;
  bool warm = false;             // keep the camera pulled while nobody watches: previews start from its cache
  std::int64_t createdAtMs = 0;  // UTC, ms since the epoch
};

// A new camera. The address is validated like a probe's (ingest::buildRtspUrl); the transport is stored in lower
// case.
struct CameraSpec {
  std::string name;
  ingest::CameraAddress address;
  bool warm = false;
};

// A partial update: every field that is set replaces the stored one. An empty username removes the credentials
// (username and password); an empty password removes the password only.
struct CameraChange {
  std::optional<std::string> name;
  std::optional<std::string> ip;
  std::optional<std::uint16_t> port;
  std::optional<std::string> path;
  std::optional<std::string> transport;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<bool> warm;

  // Whether the change touches the credentials.
  [[nodiscard]] bool credentials() const { return username.has_value() || password.has_value(); }
};

struct CameraRegistryOptions {
  std::string file;     // the registry file, e.g. <dataDir>/cameras.json (parent directories are created)
  std::string keyFile;  // the key: 32 raw bytes, or 64 hex digits; created with 32 random bytes when missing
  std::size_t maxCameras = kMaxCameras;
  std::function<std::int64_t()> nowMs;  // wall clock for createdAt; empty: the system clock
};

class CameraRegistry {
 public:
  // Loads (or creates) the key, then reads the registry file when there is one and opens every camera's sealed
  // credentials once to check them: a file that does not decrypt is an error, never dropped. Errors (the message
  // names the file): CAMERA_KEY_INVALID, CAMERA_KEY_MISMATCH, CAMERA_STORE_CORRUPT, CAMERA_STORE_FAILED (I/O).
  static Result<std::unique_ptr<CameraRegistry>> open(CameraRegistryOptions options);
  ~CameraRegistry();
  CameraRegistry(const CameraRegistry&) = delete;
  CameraRegistry& operator=(const CameraRegistry&) = delete;

  // Errors: INVALID_REQUEST ("field: reason"), CAMERA_LIMIT_REACHED, CAMERA_STORE_FAILED.
  Result<CameraInfo> add(const CameraSpec& spec);
  // Errors: CAMERA_NOT_FOUND, INVALID_REQUEST, CAMERA_STORE_FAILED, CAMERA_STORE_CORRUPT.
  Result<CameraInfo> update(const std::string& id, const CameraChange& change);
  // Returns the camera as it was. Errors: CAMERA_NOT_FOUND, CAMERA_STORE_FAILED.
  Result<CameraInfo> remove(const std::string& id);

  // Errors: CAMERA_NOT_FOUND.
  [[nodiscard]] Result<CameraInfo> get(const std::string& id) const;
  // Oldest first.
  [[nodiscard]] std::vector<CameraInfo> list() const;
  [[nodiscard]] std::size_t size() const;

  // The camera's address with its credentials opened, for a probe or a preview. Secret: never log or return it.
  // Errors: CAMERA_NOT_FOUND, CAMERA_STORE_CORRUPT.
  [[nodiscard]] Result<ingest::CameraAddress> address(const std::string& id) const;

 private:
  struct Sealed {
    std::array<std::uint8_t, 12> nonce{};
    Bytes ciphertext;  // encrypted credentials followed by the 16-byte tag
  };
  struct Record {
    CameraInfo info;
    std::optional<Sealed> credentials;
  };
  using Key = std::array<std::uint8_t, kCameraKeyBytes>;

  CameraRegistry(CameraRegistryOptions options, const Key& key);
  Status load();
  // Writes `records` as the new file. Called with mutex_ held.
  Status save(const std::vector<Record>& records) const;
  [[nodiscard]] Result<Sealed> seal(const std::string& id, const std::string& username,
                                    const std::string& password) const;
  // Opens a record's credentials into `address` (which keeps them when the record has none).
  [[nodiscard]] Status unseal(const Record& record, ingest::CameraAddress& address) const;
  [[nodiscard]] std::string keyId() const;
  [[nodiscard]] std::int64_t now() const;

  CameraRegistryOptions options_;
  Key key_{};
  mutable std::mutex mutex_;
  std::vector<Record> records_;  // oldest first
};

// A camera as logs and operators see it: host:port/path, never credentials.
std::string cameraInfoLabel(const CameraInfo& camera);

}  // namespace stagecast::api
