#include "stagecast/dtls/dtls_transport.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <utility>
#include <vector>
#include "stagecast/common/text.hpp"

namespace stagecast::dtls {

namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslDeleter {
  void operator()(SSL* p) const { SSL_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// RFC 6347 §4.1: type(1) version(2) epoch(2) sequence_number(6) length(2).
constexpr std::size_t kRecordHeaderSize = 13;
// Largest DTLS plaintext record (RFC 6347 §4.1 / RFC 5246 §6.2.1: 2^14); the read buffer for SSL_read.
constexpr std::size_t kMaxPlaintext = 16384;
// Anything bigger than a UDP datagram cannot be a DTLS datagram.
constexpr std::size_t kMaxInboundDatagram = 65535;

// RFC 5764 §4.2 exporter label.
constexpr char kExporterLabel[] = "EXTRACTOR-dtls_srtp";

// RFC 5764 §4.1.2 and RFC 7714 §14.2 profile names as OpenSSL spells them.
constexpr char kProfilesGcmFirst[] = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
constexpr char kProfilesCmFirst[] = "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM";
constexpr char kProfilesCmOnly[] = "SRTP_AES128_CM_SHA1_80";

// WebRTC certificates are self-signed, so chain validation is meaningless. The peer is authenticated by the
// fingerprint signalled in SDP (RFC 8122 §5, RFC 8827 §6.5): checked here, during the handshake, when it is
// already known — a mismatch then aborts with a bad_certificate alert so the peer learns why — and otherwise
// once the fingerprint arrives. SSL_VERIFY_FAIL_IF_NO_PEER_CERT forces the peer to present a certificate.

// Drains OpenSSL's thread-local error queue into one readable line.
std::string opensslErrors() {
  std::string out;
  std::array<char, 256> buf{};
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf.data(), buf.size());
    if (!out.empty()) out += "; ";
    out += buf.data();
  }
  return out;
}

// Splits the concatenated output of the memory BIO at record boundaries and packs whole records into datagrams
// of at most `mtu` bytes (RFC 6347 §4.1.1: several records may share a datagram, a record never spans two).
std::vector<Bytes> packRecords(BytesView data, std::size_t mtu) {
  std::vector<Bytes> datagrams;
  Bytes current;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t recordSize = data.size() - pos;  // malformed tail (never expected): ship it as is
    if (data.size() - pos >= kRecordHeaderSize) {
      const std::size_t bodyLen = (std::size_t{data[pos + 11]} << 8) | data[pos + 12];
      if (kRecordHeaderSize + bodyLen <= data.size() - pos) recordSize = kRecordHeaderSize + bodyLen;
    }
    if (!current.empty() && current.size() + recordSize > mtu) {
      datagrams.push_back(std::move(current));
      current.clear();
    }
    current.insert(current.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
                   data.begin() + static_cast<std::ptrdiff_t>(pos + recordSize));
    pos += recordSize;
  }
  if (!current.empty()) datagrams.push_back(std::move(current));
  return datagrams;
}

}  // namespace

struct DtlsTransport::Impl {
  DtlsTransport& owner;
  std::shared_ptr<Certificate> certificate;
  DtlsListener& listener;
  SslCtxPtr ctx;
  SslPtr ssl;
  BIO* readBio = nullptr;   // owned by ssl
  BIO* writeBio = nullptr;  // owned by ssl
  std::string setupError;   // non-empty when construction failed; reported by start()
  std::string remoteAlgorithm;
  std::string remoteFingerprint;
  bool fingerprintRejected = false;  // set by the verify callback
  bool handshakeDone = false;        // OpenSSL finished; the fingerprint may still be pending
  std::optional<TimePoint> deadline;
  Bytes readBuffer = Bytes(kMaxPlaintext);

  Impl(DtlsTransport& o, std::shared_ptr<Certificate> cert, DtlsListener& l)
      : owner(o), certificate(std::move(cert)), listener(l) {}

  bool setup(Role role, bool preferGcm, bool offerGcm) {
    if (!certificate || certificate->x509() == nullptr || certificate->key() == nullptr) {
      setupError = "no certificate";
      return false;
    }
    ERR_clear_error();
    ctx.reset(SSL_CTX_new(DTLS_method()));
    if (!ctx) return setupFailed("SSL_CTX_new");
    // WebRTC mandates DTLS 1.2 (RFC 8827 §6.5); DTLS 1.0 is obsolete (RFC 8996).
    if (SSL_CTX_set_min_proto_version(ctx.get(), DTLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx.get(), DTLS1_2_VERSION) != 1) {
      return setupFailed("setting DTLS 1.2");
    }
    if (SSL_CTX_use_certificate(ctx.get(), certificate->x509()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), certificate->key()) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
      return setupFailed("loading certificate");
    }
    // RFC 8827 §6.5: both sides present certificates; mutual authentication is by fingerprint.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &Impl::verifyPeerCertificate);
    // RFC 5764 §4.1.1 use_srtp extension. The server picks by its own preference order (OpenSSL), so the order
    // here decides the profile when we answer. Note: this call returns 0 on success.
    const char* profiles = !offerGcm ? kProfilesCmOnly : (preferGcm ? kProfilesGcmFirst : kProfilesCmFirst);
    if (SSL_CTX_set_tlsext_use_srtp(ctx.get(), profiles) != 0) return setupFailed("setting use_srtp profiles");
    // No path MTU discovery through a memory BIO; no renegotiation; no session resumption (fresh certificate
    // per process, and a resumed session would skip the certificate exchange the fingerprint check relies on).
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);

    ssl.reset(SSL_new(ctx.get()));
    if (!ssl) return setupFailed("SSL_new");
    SSL_set_app_data(ssl.get(), this);
    readBio = BIO_new(BIO_s_mem());
    writeBio = BIO_new(BIO_s_mem());
    if (readBio == nullptr || writeBio == nullptr) {
      BIO_free(readBio);
      BIO_free(writeBio);
      readBio = writeBio = nullptr;
      return setupFailed("BIO_new");
    }
    // An empty memory BIO must read as "retry later", not EOF.
    BIO_set_mem_eof_return(readBio, -1);
    SSL_set_bio(ssl.get(), readBio, writeBio);  // ssl owns both from here
    // With SSL_OP_NO_QUERY_MTU, OpenSSL fragments handshake messages so that each datagram it intends to send
    // (record headers included) fits in this many bytes.
    // Returns the MTU on success, 0 when it is below the DTLS minimum.
    if (SSL_set_mtu(ssl.get(), static_cast<long>(kMaxDatagramSize)) <= 0) return setupFailed("SSL_set_mtu");
    if (role == Role::Client) {
      SSL_set_connect_state(ssl.get());
    } else {
      SSL_set_accept_state(ssl.get());
    }
    return true;
  }

  bool setupFailed(const std::string& what) {
    setupError = what + " failed: " + opensslErrors();
    ssl.reset();
    ctx.reset();
    return false;
  }

  void fail(const std::string& code, const std::string& message) {
    if (owner.state_ == DtlsState::Failed || owner.state_ == DtlsState::Closed) return;
    owner.state_ = DtlsState::Failed;
    deadline.reset();
    listener.onDtlsFailed(Error{code, message});
  }

  // Moves everything OpenSSL wrote to the memory BIO out as datagrams. All datagrams are collected before the
  // first callback so that a listener which synchronously feeds a reply back into this transport sees a clean
  // BIO.
  void flushOutput() {
    if (!ssl) return;
    Bytes pending;
    std::array<std::uint8_t, 4096> chunk{};
    while (BIO_ctrl_pending(writeBio) > 0) {
      const int n = BIO_read(writeBio, chunk.data(), static_cast<int>(chunk.size()));
      if (n <= 0) break;
      pending.insert(pending.end(), chunk.begin(), chunk.begin() + n);
    }
    if (pending.empty()) return;
    for (const Bytes& datagram : packRecords(pending, kMaxDatagramSize)) listener.onDtlsSend(datagram);
  }

  void updateTimer(TimePoint now) {
    deadline.reset();
    if (!ssl || owner.state_ == DtlsState::Failed || owner.state_ == DtlsState::Closed) return;
    // DTLSv1_get_timeout reports the time left on OpenSSL's retransmission timer (RFC 6347 §4.2.4), measured on
    // OpenSSL's own clock; we map it onto the caller's clock relative to `now`.
    timeval tv{};
    if (DTLSv1_get_timeout(ssl.get(), &tv) == 1) {
      deadline = now + std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
    }
  }

  void doHandshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl.get());
    const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl.get(), r);
    const std::string reason = err == SSL_ERROR_NONE ? std::string() : opensslErrors();
    flushOutput();
    if (owner.state_ != DtlsState::Connecting || handshakeDone) return;  // changed by a re-entrant call
    if (r == 1) {
      handshakeDone = true;
      if (!remoteFingerprint.empty()) verifyAndConnect();
      return;
    }
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    // A fatal alert from the peer, a malformed handshake, a failed negotiation (e.g. no common SRTP profile or
    // cipher suite), or a certificate whose fingerprint we rejected all end here.
    if (fingerprintRejected) {
      fail("DTLS_FINGERPRINT_MISMATCH",
           "peer certificate " + remoteAlgorithm + " fingerprint does not match the signalled fingerprint");
      return;
    }
    fail("DTLS_HANDSHAKE_FAILED", reason.empty() ? "SSL_do_handshake error " + std::to_string(err) : reason);
  }

  static int verifyPeerCertificate(int /*preverifyOk*/, X509_STORE_CTX* store) {
    auto* s = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* self = s != nullptr ? static_cast<Impl*>(SSL_get_app_data(s)) : nullptr;
    if (self == nullptr || self->remoteFingerprint.empty()) return 1;  // checked once the fingerprint is known
    if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;          // only the peer's own certificate counts
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    auto actual = cert != nullptr ? fingerprintOf(cert, self->remoteAlgorithm) : Result<std::string>(Error("", ""));
    if (actual && iequals(actual.value(), self->remoteFingerprint)) return 1;
    self->fingerprintRejected = true;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);  // → bad_certificate alert (RFC 5246 §7.2.2)
    return 0;
  }

  // RFC 8122 §5: the certificate presented must match the a=fingerprint from the peer's SDP.
  void verifyAndConnect() {
    X509* peer = SSL_get0_peer_certificate(ssl.get());
    if (peer == nullptr) {
      fail("DTLS_FINGERPRINT_MISMATCH", "peer presented no certificate");
      return;
    }
    auto actual = fingerprintOf(peer, remoteAlgorithm);
    if (!actual) {
      fail(actual.error().code, actual.error().message);
      return;
    }
    if (!iequals(actual.value(), remoteFingerprint)) {
      // Tell the peer we are going away, then report.
      ERR_clear_error();
      SSL_shutdown(ssl.get());
      ERR_clear_error();
      flushOutput();
      fail("DTLS_FINGERPRINT_MISMATCH",
           "peer certificate " + remoteAlgorithm + " fingerprint does not match the signalled fingerprint");
      return;
    }
    auto keys = exportKeys();
    if (!keys) {
      fail(keys.error().code, keys.error().message);
      return;
    }
    owner.state_ = DtlsState::Connected;
    deadline.reset();
    listener.onDtlsConnected(keys.value());
    // Records that arrived with the final flight (application data) are still buffered inside OpenSSL.
    if (owner.state_ == DtlsState::Connected) readRecords();
  }

  Result<SrtpKeyMaterial> exportKeys() {
    const SRTP_PROTECTION_PROFILE* selected = SSL_get_selected_srtp_profile(ssl.get());
    if (selected == nullptr) return Error{"DTLS_NO_SRTP_PROFILE", "peer negotiated no SRTP protection profile"};
    SrtpKeyMaterial keys;
    std::size_t keyLen = 16;
    std::size_t saltLen = 0;
    switch (selected->id) {
      case SRTP_AES128_CM_SHA1_80:  // RFC 5764 §4.1.2: 128-bit key, 112-bit salt
        keys.profile = SrtpProfile::Aes128CmSha1_80;
        saltLen = 14;
        break;
      case SRTP_AEAD_AES_128_GCM:  // RFC 7714 §12: 128-bit key, 96-bit salt
        keys.profile = SrtpProfile::AeadAes128Gcm;
        saltLen = 12;
        break;
      default:
        return Error{"DTLS_NO_SRTP_PROFILE", std::string("unsupported SRTP profile ") + selected->name};
    }
    // RFC 5764 §4.2: client_write_SRTP_master_key | server_write_SRTP_master_key | client_write_SRTP_master_salt |
    // server_write_SRTP_master_salt, from the TLS exporter (RFC 5705) with label "EXTRACTOR-dtls_srtp", no context.
    Bytes material(2 * (keyLen + saltLen));
    ERR_clear_error();
    if (SSL_export_keying_material(ssl.get(), material.data(), material.size(), kExporterLabel,
                                   sizeof(kExporterLabel) - 1, nullptr, 0, 0) != 1) {
      return Error{"DTLS_KEY_EXPORT_FAILED", opensslErrors()};
    }
    const auto* clientKey = material.data();
    const auto* serverKey = clientKey + keyLen;
    const auto* clientSalt = serverKey + keyLen;
    const auto* serverSalt = clientSalt + saltLen;
    Bytes client(clientKey, clientKey + keyLen);
    client.insert(client.end(), clientSalt, clientSalt + saltLen);
    Bytes server(serverKey, serverKey + keyLen);
    server.insert(server.end(), serverSalt, serverSalt + saltLen);
    OPENSSL_cleanse(material.data(), material.size());
    // The client's keys protect what the client sends (RFC 5764 §4.2).
    if (owner.role_ == Role::Client) {
      keys.localKeySalt = std::move(client);
      keys.remoteKeySalt = std::move(server);
    } else {
      keys.localKeySalt = std::move(server);
      keys.remoteKeySalt = std::move(client);
    }
    return keys;
  }

  // Reads every decrypted record after the handshake. Also how OpenSSL reacts to a retransmitted final flight
  // from the peer (it resends its own last flight, RFC 6347 §4.2.4), so it runs even before the fingerprint is
  // known; application data is only delivered once Connected (SCTP recovers anything dropped).
  void readRecords() {
    while (owner.state_ == DtlsState::Connected || owner.state_ == DtlsState::Connecting) {
      ERR_clear_error();
      const int n = SSL_read(ssl.get(), readBuffer.data(), static_cast<int>(readBuffer.size()));
      const int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl.get(), n);
      const std::string reason = (err == SSL_ERROR_NONE || err == SSL_ERROR_WANT_READ) ? "" : opensslErrors();
      if (n > 0) {
        Bytes data(readBuffer.begin(), readBuffer.begin() + n);
        flushOutput();
        if (owner.state_ == DtlsState::Connected) listener.onDtlsApplicationData(data);
        continue;
      }
      flushOutput();
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
      if (err == SSL_ERROR_ZERO_RETURN) {
        // close_notify (RFC 5246 §7.2.1): answer with our own close_notify and report.
        ERR_clear_error();
        SSL_shutdown(ssl.get());
        ERR_clear_error();
        flushOutput();
        if (owner.state_ == DtlsState::Failed || owner.state_ == DtlsState::Closed) return;
        owner.state_ = DtlsState::Closed;
        deadline.reset();
        listener.onDtlsClosed();
        return;
      }
      fail("DTLS_HANDSHAKE_FAILED", reason.empty() ? "SSL_read error " + std::to_string(err) : reason);
      return;
    }
  }
};

DtlsTransport::DtlsTransport(std::shared_ptr<Certificate> certificate, Role role, DtlsListener& listener,
                             bool preferGcm, bool offerGcm)
    : impl_(std::make_unique<Impl>(*this, std::move(certificate), listener)), role_(role) {
  impl_->setup(role, preferGcm, offerGcm);
}

DtlsTransport::~DtlsTransport() = default;

void DtlsTransport::setRemoteFingerprint(const std::string& algorithm, const std::string& value) {
  impl_->remoteAlgorithm = algorithm;
  impl_->remoteFingerprint = value;
  // The handshake may have finished before the answer carrying the fingerprint was applied.
  if (state_ == DtlsState::Connecting && impl_->handshakeDone && !value.empty()) impl_->verifyAndConnect();
}

void DtlsTransport::start(TimePoint now) {
  if (state_ != DtlsState::New) return;
  if (!impl_->ssl) {
    state_ = DtlsState::Connecting;
    impl_->fail("DTLS_HANDSHAKE_FAILED", "DTLS setup failed: " + impl_->setupError);
    return;
  }
  state_ = DtlsState::Connecting;
  // RFC 5763 §5: the active side (client) sends the ClientHello; the passive side waits for it.
  if (role_ == Role::Client) impl_->doHandshake();
  impl_->updateTimer(now);
}

void DtlsTransport::handleDatagram(BytesView datagram, TimePoint now) {
  if (state_ == DtlsState::New && role_ == Role::Server) start(now);  // a ClientHello that beat our start()
  if (state_ != DtlsState::Connecting && state_ != DtlsState::Connected) return;
  if (datagram.empty() || datagram.size() > kMaxInboundDatagram) return;
  // One datagram per write: OpenSSL reads the whole memory BIO content as one datagram and discards records it
  // cannot parse or authenticate (RFC 6347 §4.1.2.7), so garbage never reaches us as an error.
  if (BIO_write(impl_->readBio, datagram.data(), static_cast<int>(datagram.size())) <= 0) return;
  if (!impl_->handshakeDone) {
    impl_->doHandshake();
  } else {
    impl_->readRecords();
  }
  impl_->updateTimer(now);
}

std::optional<TimePoint> DtlsTransport::nextTimeout() const { return impl_->deadline; }

void DtlsTransport::handleTimeout(TimePoint now) {
  if (state_ != DtlsState::Connecting && state_ != DtlsState::Connected) return;
  // DTLSv1_handle_timeout checks expiry against OpenSSL's internal clock (gettimeofday), not `now`: if the caller
  // runs ahead of real time nothing is retransmitted yet, and updateTimer re-arms for the time still left. This is
  // the one place where injected time is not authoritative.
  ERR_clear_error();
  const int r = DTLSv1_handle_timeout(impl_->ssl.get());
  const std::string reason = r < 0 ? opensslErrors() : "";
  impl_->flushOutput();
  if (r < 0) {
    // Too many retransmissions (RFC 6347 §4.2.4) or a write error.
    impl_->fail("DTLS_HANDSHAKE_FAILED", reason.empty() ? "retransmission limit reached" : reason);
  }
  impl_->updateTimer(now);
}

Status DtlsTransport::send(BytesView data) {
  if (state_ != DtlsState::Connected) return Error{"DTLS_NOT_CONNECTED", "DTLS transport is not connected"};
  if (data.empty()) return {};
  if (data.size() > kMaxPlaintext) return Error{"DTLS_SEND_FAILED", "application data larger than a DTLS record"};
  ERR_clear_error();
  const int n = SSL_write(impl_->ssl.get(), data.data(), static_cast<int>(data.size()));
  const std::string reason = n <= 0 ? opensslErrors() : "";
  impl_->flushOutput();
  if (n <= 0) return Error{"DTLS_SEND_FAILED", reason.empty() ? "SSL_write failed" : reason};
  return {};
}

void DtlsTransport::close() {
  if (state_ == DtlsState::Closed || state_ == DtlsState::Failed) return;
  if (impl_->ssl && impl_->handshakeDone) {
    ERR_clear_error();
    SSL_shutdown(impl_->ssl.get());  // close_notify (RFC 5246 §7.2.1); we do not wait for the reply
    ERR_clear_error();
  }
  state_ = DtlsState::Closed;
  impl_->deadline.reset();
  impl_->flushOutput();
}

}  // namespace stagecast::dtls
