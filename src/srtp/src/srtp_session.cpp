#include "stagecast/srtp/srtp_session.hpp"

#include "srtp_outbound.hpp"
#include "stagecast/srtp/libsrtp_session.hpp"

#include <srtp2/srtp.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <mutex>
#include <string>

namespace stagecast::srtp {

namespace {

struct SrtpDeleter {
  void operator()(srtp_ctx_t* s) const { srtp_dealloc(s); }
};
using SrtpPtr = std::unique_ptr<srtp_ctx_t, SrtpDeleter>;

// RFC 3550 §5.1: fixed RTP header. RFC 3550 §6.4.1: SR/RR header up to and including the sender SSRC.
constexpr std::size_t kMinRtpSize = 12;
constexpr std::size_t kMinRtcpSize = 8;

srtp_err_status_t initStatus = srtp_err_status_ok;
std::once_flag initOnce;

std::string statusText(srtp_err_status_t s) { return "libsrtp status " + std::to_string(static_cast<int>(s)); }

Error mapError(srtp_err_status_t s, bool protect) {
  switch (s) {
    case srtp_err_status_auth_fail:
      return {"SRTP_AUTH_FAILED", "authentication tag mismatch"};
    case srtp_err_status_replay_fail:
      return {"SRTP_REPLAY", "packet index already seen (RFC 3711 §3.3.2)"};
    case srtp_err_status_replay_old:
      return {"SRTP_REPLAY", "packet index older than the replay window (RFC 3711 §3.3.2)"};
    default:
      return {protect ? "SRTP_PROTECT_FAILED" : "SRTP_UNPROTECT_FAILED", statusText(s)};
  }
}

}  // namespace

std::size_t keySaltLength(Profile p) {
  switch (p) {
    case Profile::AeadAes128Gcm:
      return 16 + 12;  // RFC 7714 §12: 128-bit key, 96-bit salt
    case Profile::Aes128CmSha1_80:
    default:
      return 16 + 14;  // RFC 3711 §8.2 / RFC 5764 §4.1.2: 128-bit key, 112-bit salt
  }
}

void ensureInitialized() {
  std::call_once(initOnce, [] { initStatus = srtp_init(); });
}

struct SrtpSession::Impl {
  SrtpPtr session;                                      // libsrtp2: inbound, or outbound for the reference path
  std::unique_ptr<detail::OutboundProtector> outbound;  // OpenSSL EVP outbound protection
};

namespace detail {

struct SessionFactory {
  static std::unique_ptr<SrtpSession> make(SrtpPtr session, std::unique_ptr<OutboundProtector> outbound) {
    std::unique_ptr<SrtpSession> out(new SrtpSession());
    out->impl_ = std::make_unique<SrtpSession::Impl>();
    out->impl_->session = std::move(session);
    out->impl_->outbound = std::move(outbound);
    return out;
  }
};

}  // namespace detail

namespace {

Status validate(Profile profile, BytesView keySalt) {
  ensureInitialized();
  if (initStatus != srtp_err_status_ok) return Error{"SRTP_INIT_FAILED", statusText(initStatus)};
  if (profile != Profile::Aes128CmSha1_80 && profile != Profile::AeadAes128Gcm) {
    return Error{"SRTP_BAD_PROFILE", "unsupported SRTP profile"};
  }
  if (keySalt.size() != keySaltLength(profile)) {
    return Error{"SRTP_BAD_KEY", "master key||salt must be " + std::to_string(keySaltLength(profile)) + " bytes"};
  }
  return {};
}

Result<SrtpPtr> createLibsrtp(Profile profile, BytesView keySalt, Direction direction) {
  srtp_policy_t policy{};
  if (profile == Profile::AeadAes128Gcm) {
    // RFC 7714 §14.2: AEAD_AES_128_GCM, 16-octet tag, for both SRTP and SRTCP.
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    // RFC 3711 §5 mandatory transform: AES-128 counter mode, HMAC-SHA1 truncated to 80 bits.
    srtp_crypto_policy_set_rtp_default(&policy.rtp);
    srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  }
  // One policy for every SSRC of the peer: streams are instantiated from it on first use.
  policy.ssrc.type = direction == Direction::Inbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy.ssrc.value = 0;
  // libsrtp copies the key during srtp_create; the buffer only has to outlive the call.
  Bytes key(keySalt.begin(), keySalt.end());
  policy.key = key.data();
  // RFC 3711 §3.3.2 replay list; 1024 tolerates video bursts reordered by the network.
  policy.window_size = 1024;
  // A NACK-driven retransmission resends an identical packet (same index); allow it on the sending side.
  policy.allow_repeat_tx = 1;
  policy.next = nullptr;

  srtp_t raw = nullptr;
  const srtp_err_status_t s = srtp_create(&raw, &policy);
  std::fill(key.begin(), key.end(), std::uint8_t{0});
  if (s != srtp_err_status_ok) {
    if (raw != nullptr) srtp_dealloc(raw);
    return Error{"SRTP_CREATE_FAILED", statusText(s)};
  }
  return SrtpPtr(raw);
}

}  // namespace

Result<std::unique_ptr<SrtpSession>> SrtpSession::create(Profile profile, BytesView keySalt, Direction direction) {
  if (Status v = validate(profile, keySalt); !v.ok()) return v.error();
  if (direction == Direction::Outbound) {
    // Outbound protection is ours (OpenSSL EVP); no libsrtp context is needed on the sending side.
    auto out = detail::OutboundProtector::create(profile, keySalt);
    if (!out.ok()) return out.error();
    return detail::SessionFactory::make(nullptr, std::move(out.value()));
  }
  auto in = createLibsrtp(profile, keySalt, direction);
  if (!in.ok()) return in.error();
  return detail::SessionFactory::make(std::move(in.value()), nullptr);
}

Result<std::unique_ptr<SrtpSession>> createLibsrtpSession(Profile profile, BytesView keySalt, Direction direction) {
  if (Status v = validate(profile, keySalt); !v.ok()) return v.error();
  auto session = createLibsrtp(profile, keySalt, direction);
  if (!session.ok()) return session.error();
  return detail::SessionFactory::make(std::move(session.value()), nullptr);
}

SrtpSession::~SrtpSession() = default;

namespace {

// libsrtp 2 works in place and may append up to its trailer (tag, SRTCP index) behind the packet; the caller's
// buffer is grown by kMaxTrailer first (larger than any trailer these profiles produce: 10 / 14 / 16 / 20 bytes).
template <class Fn>
Status protectWith(Bytes& packet, std::size_t minSize, Fn fn) {
  if (packet.size() < minSize) return Error{"SRTP_PROTECT_FAILED", "packet too short"};
  if (packet.size() > static_cast<std::size_t>(INT_MAX) - kMaxTrailer) {
    return Error{"SRTP_PROTECT_FAILED", "packet too long"};
  }
  int len = static_cast<int>(packet.size());
  packet.resize(packet.size() + kMaxTrailer);
  const srtp_err_status_t s = fn(packet.data(), &len);
  if (s != srtp_err_status_ok) {
    packet.resize(packet.size() - kMaxTrailer);
    return mapError(s, true);
  }
  packet.resize(static_cast<std::size_t>(len));
  return {};
}

template <class Fn>
Status unprotectWith(Bytes& packet, std::size_t minSize, Fn fn) {
  if (packet.size() < minSize) return Error{"SRTP_UNPROTECT_FAILED", "packet too short"};
  if (packet.size() > static_cast<std::size_t>(INT_MAX)) return Error{"SRTP_UNPROTECT_FAILED", "packet too long"};
  int len = static_cast<int>(packet.size());
  const srtp_err_status_t s = fn(packet.data(), &len);
  if (s != srtp_err_status_ok) return mapError(s, false);
  packet.resize(static_cast<std::size_t>(len));
  return {};
}

}  // namespace

// RFC 3711 §3.3: encrypt the payload, append the authentication tag (AES-CM) or GCM tag (RFC 7714 §7).
Status SrtpSession::protectRtp(Bytes& packet) {
  if (impl_->outbound) return impl_->outbound->protectRtp(packet);
  return protectWith(packet, kMinRtpSize,
                     [this](std::uint8_t* p, int* len) { return srtp_protect(impl_->session.get(), p, len); });
}

// RFC 3711 §3.3: check replay, authenticate, decrypt. On failure the content is unspecified (GCM decrypts in
// place before the tag check) and the packet must be dropped.
Status SrtpSession::unprotectRtp(Bytes& packet) {
  if (!impl_->session) return Error{"SRTP_UNPROTECT_FAILED", "outbound session cannot unprotect"};
  return unprotectWith(packet, kMinRtpSize,
                       [this](std::uint8_t* p, int* len) { return srtp_unprotect(impl_->session.get(), p, len); });
}

// RFC 3711 §3.4: SRTCP appends E-flag || SRTCP index and the tag (RFC 7714 §9 for GCM).
Status SrtpSession::protectRtcp(Bytes& packet) {
  if (impl_->outbound) return impl_->outbound->protectRtcp(packet);
  return protectWith(packet, kMinRtcpSize,
                     [this](std::uint8_t* p, int* len) { return srtp_protect_rtcp(impl_->session.get(), p, len); });
}

Status SrtpSession::unprotectRtcp(Bytes& packet) {
  if (!impl_->session) return Error{"SRTP_UNPROTECT_FAILED", "outbound session cannot unprotect"};
  return unprotectWith(packet, kMinRtcpSize,
                       [this](std::uint8_t* p, int* len) { return srtp_unprotect_rtcp(impl_->session.get(), p, len); });
}

}  // namespace stagecast::srtp
