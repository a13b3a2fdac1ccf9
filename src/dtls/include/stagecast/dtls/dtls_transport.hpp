#pragma once
// DTLS 1.2 (RFC 6347) over memory BIOs: bytes and time in, bytes and events out. Owns no socket and no timer.
// After the handshake, the peer certificate is checked against the SDP fingerprint (RFC 8122 §5) and SRTP
// keys are exported (RFC 5764 §4.2).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/clock.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/dtls/certificate.hpp"

namespace stagecast::dtls {

enum class Role { Client, Server };

// RFC 5764 §4.1.2 / RFC 7714 §14.2 protection profiles.
enum class SrtpProfile : std::uint16_t { Aes128CmSha1_80 = 0x0001, AeadAes128Gcm = 0x0007 };

struct SrtpKeyMaterial {
  SrtpProfile profile = SrtpProfile::Aes128CmSha1_80;
  Bytes localKeySalt;   // master key || master salt for what we send
  Bytes remoteKeySalt;  // master key || master salt for what we receive
};

// Callbacks run synchronously inside DtlsTransport calls. A listener may call back into the transport (e.g. send()
// from onDtlsConnected, or feed a reply datagram from onDtlsSend) but must not destroy it from a callback.
class DtlsListener {
 public:
  virtual ~DtlsListener() = default;
  virtual void onDtlsSend(BytesView datagram) = 0;
  virtual void onDtlsConnected(const SrtpKeyMaterial& keys) = 0;
  virtual void onDtlsFailed(const Error& error) = 0;       // handshake or fingerprint failure, alert received
  virtual void onDtlsClosed() = 0;                         // close_notify received
  virtual void onDtlsApplicationData(BytesView data) = 0;  // SCTP for data channels
};

enum class DtlsState { New, Connecting, Connected, Failed, Closed };

class DtlsTransport {
 public:
  // `preferGcm`: offer/select AEAD_AES_128_GCM first. `offerGcm` = false offers only SRTP_AES128_CM_SHA1_80
  // (for peers or tests that must not use GCM); `preferGcm` is then irrelevant.
  //
  // Outgoing DTLS records are emitted through onDtlsSend as datagrams of whole records, several records packed
  // into one datagram up to kMaxDatagramSize bytes (RFC 6347 §4.1.1 allows multiple records per datagram).
  // Handshake messages are fragmented by OpenSSL to fit; only an application record larger than the MTU
  // (send() of more than ~1150 bytes) yields a larger datagram.
  DtlsTransport(std::shared_ptr<Certificate> certificate, Role role, DtlsListener& listener, bool preferGcm = true,
                bool offerGcm = true);

  // Path MTU assumed for DTLS datagrams (conservative value used by browsers).
  static constexpr std::size_t kMaxDatagramSize = 1200;

  ~DtlsTransport();
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;

  void setRemoteFingerprint(const std::string& algorithm, const std::string& value);
  // Client: sends the ClientHello. Server: waits for one. Call once ICE has a selected pair.
  void start(TimePoint now);
  // A datagram whose first byte is in [20, 63] (RFC 7983).
  void handleDatagram(BytesView datagram, TimePoint now);
  // When the retransmission timer next fires (nullopt: none armed), relative to the `now` of the last call.
  [[nodiscard]] std::optional<TimePoint> nextTimeout() const;
  // OpenSSL checks expiry on its own internal clock: called early (by that clock) it retransmits nothing and
  // re-arms nextTimeout() for the time still left.
  void handleTimeout(TimePoint now);
  // Sends application data (after Connected).
  Status send(BytesView data);
  // Sends close_notify.
  void close();

  [[nodiscard]] DtlsState state() const { return state_; }
  [[nodiscard]] Role role() const { return role_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DtlsState state_ = DtlsState::New;
  Role role_;
  friend struct Impl;
};

}  // namespace stagecast::dtls
