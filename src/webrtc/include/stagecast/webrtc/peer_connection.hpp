#pragma once
// One WebRTC peer as a pure protocol machine: ICE-lite + DTLS + SRTP + RTP/RTCP demultiplexing (RFC 7983) on
// one bundled transport. Datagrams and time in; datagrams and events out through PeerListener. No sockets,
// no timers, no clock reads.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/clock.hpp"
#include "stagecast/common/endpoint.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/dtls/certificate.hpp"
#include "stagecast/dtls/dtls_transport.hpp"
#include "stagecast/ice/ice_client_agent.hpp"
#include "stagecast/ice/ice_lite_agent.hpp"
#include "stagecast/rtp/rtp_packet.hpp"
#include "stagecast/srtp/srtp_session.hpp"

namespace stagecast::webrtc {

struct PeerConfig {
  std::shared_ptr<dtls::Certificate> certificate;
  std::string localUfrag;
  std::string localPwd;
  std::string remoteUfrag;
  std::string remotePwd;
  std::string remoteFingerprintAlgorithm = "sha-256";
  std::string remoteFingerprint;
  dtls::Role dtlsRole = dtls::Role::Server;
  // Servers are ICE-lite (controlled). Clients of an ICE-lite server are controlling and check `remoteCandidate`.
  bool iceControlling = false;
  Endpoint remoteCandidate;
  ice::IceConfig ice;
  ice::IceClientConfig iceClient;
  // DTLS handshake must finish within this time after ICE selects a pair.
  Duration dtlsTimeout = seconds(15);
};

class PeerListener {
 public:
  virtual ~PeerListener() = default;
  virtual void onPeerSend(BytesView datagram, const Endpoint& to) = 0;
  // Route datagrams from this address to this peer from now on.
  virtual void onPeerAddressValidated(const Endpoint& remote) = 0;
  // DTLS done and SRTP keys installed: media can flow.
  virtual void onPeerConnected(TimePoint now) = 0;
  // A decrypted RTP packet. `packet` is scratch space of the peer: copy what must outlive the call.
  virtual void onPeerRtp(const rtp::RtpPacket& parsed, Bytes& packet, TimePoint now) = 0;
  // A decrypted compound RTCP packet.
  virtual void onPeerRtcp(BytesView packet, TimePoint now) = 0;
  // ICE failed or consent expired, DTLS failed, or the remote closed DTLS. The peer is dead afterwards.
  virtual void onPeerClosed(const Error& reason) = 0;
};

struct PeerStats {
  std::uint64_t datagramsIn = 0;
  std::uint64_t datagramsOut = 0;
  std::uint64_t bytesIn = 0;
  std::uint64_t bytesOut = 0;
  std::uint64_t rtpIn = 0;
  std::uint64_t rtcpIn = 0;
  std::uint64_t rtpOut = 0;
  std::uint64_t rtcpOut = 0;
  std::uint64_t srtpErrors = 0;
  std::uint64_t dropped = 0;  // datagrams that fit no protocol or came from unvalidated addresses
};

class PeerConnection final : private ice::IceListener, private dtls::DtlsListener {
 public:
  PeerConnection(PeerConfig config, PeerListener& listener, TimePoint now);
  ~PeerConnection() override;
  PeerConnection(const PeerConnection&) = delete;
  PeerConnection& operator=(const PeerConnection&) = delete;

  // Clients: starts ICE checks. Servers wait for the client's checks.
  void start(TimePoint now);
  void handleDatagram(BytesView datagram, const Endpoint& from, TimePoint now);
  [[nodiscard]] TimePoint nextTimeout() const;
  void handleTimeout(TimePoint now);

  // Encrypts in place (the buffer grows by the auth tag) and sends to the selected address.
  Status sendRtp(Bytes& packet);
  Status sendRtcp(Bytes& packet);

  // ICE restart (WHIP/WHEP PATCH, RFC 9725 §4.3.2).
  void restartIce(std::string localUfrag, std::string localPwd, std::string remoteUfrag, std::string remotePwd);
  // Sends DTLS close_notify; no more events after this.
  void close();

  [[nodiscard]] bool connected() const { return srtpIn_ != nullptr; }
  [[nodiscard]] const std::string& remoteUfrag() const { return config_.remoteUfrag; }
  [[nodiscard]] const std::string& remotePwd() const { return config_.remotePwd; }
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] const ice::IceAgent& ice() const { return *ice_; }
  [[nodiscard]] const PeerStats& stats() const { return stats_; }
  [[nodiscard]] std::optional<srtp::Profile> srtpProfile() const { return profile_; }

 private:
  // ice::IceListener
  void onIceSend(BytesView datagram, const Endpoint& to) override;
  void onIceAddressValidated(const Endpoint& remote) override;
  void onIceSelected(const Endpoint& remote) override;
  void onIceStateChanged(ice::IceState state) override;
  // dtls::DtlsListener
  void onDtlsSend(BytesView datagram) override;
  void onDtlsConnected(const dtls::SrtpKeyMaterial& keys) override;
  void onDtlsFailed(const Error& error) override;
  void onDtlsClosed() override;
  void onDtlsApplicationData(BytesView data) override;

  void fail(const Error& e);
  // To the selected pair (media, DTLS); ICE answers go to where the check came from (onIceSend).
  void sendDatagram(BytesView data);
  [[nodiscard]] bool isValidated(const Endpoint& from) const;

  PeerConfig config_;
  PeerListener& listener_;
  std::unique_ptr<ice::IceAgent> ice_;
  std::unique_ptr<dtls::DtlsTransport> dtls_;
  std::unique_ptr<srtp::SrtpSession> srtpIn_;
  std::unique_ptr<srtp::SrtpSession> srtpOut_;
  std::optional<srtp::Profile> profile_;
  std::optional<TimePoint> dtlsDeadline_;
  bool dtlsStarted_ = false;
  bool closed_ = false;
  Bytes scratch_;
  PeerStats stats_;
  TimePoint now_;
};

}  // namespace stagecast::webrtc
