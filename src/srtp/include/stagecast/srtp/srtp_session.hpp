#pragma once
// SRTP/SRTCP (RFC 3711, RFC 7714 AEAD_AES_128_GCM). Outbound protection runs on OpenSSL 3 EVP (AES-NI, no
// per-packet allocation); inbound unprotection runs through libsrtp2, with replay protection.
// One SrtpSession protects (outbound) or unprotects (inbound) every SSRC of one peer.
#include <cstdint>
#include <memory>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::srtp {

namespace detail {
struct SessionFactory;
}  // namespace detail

enum class Profile : std::uint16_t { Aes128CmSha1_80 = 0x0001, AeadAes128Gcm = 0x0007 };
enum class Direction { Inbound, Outbound };

// Bytes of master key + salt for a profile (30 for AES-CM-128, 28 for AEAD-AES-128-GCM).
std::size_t keySaltLength(Profile p);
// Largest expansion protect() adds (auth tag / GCM tag + SRTCP index).
constexpr std::size_t kMaxTrailer = 32;

// Initialises libsrtp once per process (thread-safe).
void ensureInitialized();

class SrtpSession {
 public:
  static Result<std::unique_ptr<SrtpSession>> create(Profile profile, BytesView keySalt, Direction direction);
  ~SrtpSession();
  SrtpSession(const SrtpSession&) = delete;
  SrtpSession& operator=(const SrtpSession&) = delete;

  // In place. `packet` must have capacity for kMaxTrailer more bytes; it is resized to the new length.
  // Errors: "SRTP_PROTECT_FAILED" / "SRTP_AUTH_FAILED" / "SRTP_REPLAY".
  Status protectRtp(Bytes& packet);
  Status unprotectRtp(Bytes& packet);
  Status protectRtcp(Bytes& packet);
  Status unprotectRtcp(Bytes& packet);

 private:
  friend struct detail::SessionFactory;
  SrtpSession() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stagecast::srtp
