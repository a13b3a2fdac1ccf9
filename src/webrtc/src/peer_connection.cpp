#include "stagecast/webrtc/peer_connection.hpp"

#include <algorithm>

#include "stagecast/common/log.hpp"
#include "stagecast/stun/message.hpp"

namespace stagecast::webrtc {

PeerConnection::PeerConnection(PeerConfig config, PeerListener& listener, TimePoint now)
    : config_(std::move(config)), listener_(listener), now_(now) {
  auto& iceListener = static_cast<ice::IceListener&>(*this);
  if (config_.iceControlling) {
    ice_ = std::make_unique<ice::IceClientAgent>(config_.localUfrag, config_.localPwd, config_.remoteUfrag,
                                                 config_.remotePwd, config_.remoteCandidate, iceListener,
                                                 config_.iceClient, now);
  } else {
    auto lite =
        std::make_unique<ice::IceLiteAgent>(config_.localUfrag, config_.localPwd, iceListener, config_.ice, now);
    lite->setRemoteCredentials(config_.remoteUfrag, config_.remotePwd);
    ice_ = std::move(lite);
  }
  dtls_ = std::make_unique<dtls::DtlsTransport>(config_.certificate, config_.dtlsRole,
                                                static_cast<dtls::DtlsListener&>(*this));
  dtls_->setRemoteFingerprint(config_.remoteFingerprintAlgorithm, config_.remoteFingerprint);
  scratch_.reserve(1500 + srtp::kMaxTrailer);
}

PeerConnection::~PeerConnection() = default;

void PeerConnection::start(TimePoint now) {
  now_ = now;
  ice_->start(now);
}

bool PeerConnection::isValidated(const Endpoint& from) const {
  const auto& v = ice_->validatedAddresses();
  return std::find(v.begin(), v.end(), from) != v.end();
}

void PeerConnection::handleDatagram(BytesView data, const Endpoint& from, TimePoint now) {
  if (closed_ || data.empty()) return;
  now_ = now;
  ++stats_.datagramsIn;
  stats_.bytesIn += data.size();
  const std::uint8_t first = data[0];
  // RFC 7983 §7: demultiplex by the first byte.
  if (first <= 3) {
    auto msg = stun::parse(data);
    if (!msg) {
      ++stats_.dropped;
      return;
    }
    ice_->handleStun(*msg, data, from, now);
    return;
  }
  // Everything else only from addresses that passed an ICE check (RFC 8445 §7.3: no media before checks).
  if (!isValidated(from)) {
    ++stats_.dropped;
    return;
  }
  if (first >= 20 && first <= 63) {
    dtls_->handleDatagram(data, now);
    return;
  }
  if (first >= 128 && first <= 191) {
    if (!srtpIn_ || data.size() < 12) {
      ++stats_.dropped;
      return;
    }
    scratch_.assign(data.begin(), data.end());
    if (rtp::looksLikeRtcp(data)) {
      // RFC 5761 §4: RTCP on the RTP port.
      if (!srtpIn_->unprotectRtcp(scratch_)) {
        ++stats_.srtpErrors;
        return;
      }
      ++stats_.rtcpIn;
      listener_.onPeerRtcp(scratch_, now);
      return;
    }
    if (!srtpIn_->unprotectRtp(scratch_)) {
      ++stats_.srtpErrors;
      return;
    }
    auto parsed = rtp::parse(scratch_);
    if (!parsed) {
      ++stats_.dropped;
      return;
    }
    ++stats_.rtpIn;
    listener_.onPeerRtp(*parsed, scratch_, now);
    return;
  }
  ++stats_.dropped;
}

TimePoint PeerConnection::nextTimeout() const {
  if (closed_) return TimePoint::max();
  TimePoint t = ice_->nextTimeout();
  if (auto d = dtls_->nextTimeout()) t = std::min(t, *d);
  if (dtlsDeadline_ && !connected()) t = std::min(t, *dtlsDeadline_);
  return t;
}

void PeerConnection::handleTimeout(TimePoint now) {
  if (closed_) return;
  now_ = now;
  ice_->handleTimeout(now);
  if (closed_) return;
  if (auto d = dtls_->nextTimeout(); d && now >= *d) dtls_->handleTimeout(now);
  if (closed_) return;
  if (dtlsDeadline_ && !connected() && now >= *dtlsDeadline_) {
    fail(Error("DTLS_TIMEOUT", "DTLS handshake did not complete"));
  }
}

Status PeerConnection::sendRtp(Bytes& packet) {
  if (!srtpOut_ || !ice_->selected()) return Error("PEER_NOT_CONNECTED", "peer is not connected");
  if (auto s = srtpOut_->protectRtp(packet); !s) return s;
  ++stats_.rtpOut;
  sendDatagram(packet);
  return {};
}

Status PeerConnection::sendRtcp(Bytes& packet) {
  if (!srtpOut_ || !ice_->selected()) return Error("PEER_NOT_CONNECTED", "peer is not connected");
  if (auto s = srtpOut_->protectRtcp(packet); !s) return s;
  ++stats_.rtcpOut;
  sendDatagram(packet);
  return {};
}

void PeerConnection::restartIce(std::string localUfrag, std::string localPwd, std::string remoteUfrag,
                                std::string remotePwd) {
  config_.localUfrag = localUfrag;
  config_.localPwd = localPwd;
  config_.remoteUfrag = remoteUfrag;
  config_.remotePwd = remotePwd;
  ice_->restart(std::move(localUfrag), std::move(localPwd), std::move(remoteUfrag), std::move(remotePwd));
}

void PeerConnection::close() {
  if (closed_) return;
  if (dtls_ && dtls_->state() == dtls::DtlsState::Connected && ice_->selected()) dtls_->close();
  closed_ = true;
}

void PeerConnection::sendDatagram(BytesView data) {
  if (ice_->selected()) onIceSend(data, *ice_->selected());
}

void PeerConnection::fail(const Error& e) {
  if (closed_) return;
  closed_ = true;
  listener_.onPeerClosed(e);
}

void PeerConnection::onIceSend(BytesView datagram, const Endpoint& to) {
  ++stats_.datagramsOut;
  stats_.bytesOut += datagram.size();
  listener_.onPeerSend(datagram, to);
}

void PeerConnection::onIceAddressValidated(const Endpoint& remote) { listener_.onPeerAddressValidated(remote); }

void PeerConnection::onIceSelected(const Endpoint& remote) {
  if (!dtlsStarted_) {
    dtlsStarted_ = true;
    dtlsDeadline_ = now_ + config_.dtlsTimeout;
    dtls_->start(now_);
  }
}

void PeerConnection::onIceStateChanged(ice::IceState state) {
  if (state == ice::IceState::Failed) {
    fail(Error(connected() ? "ICE_CONSENT_EXPIRED" : "ICE_FAILED",
               connected() ? "peer stopped answering consent checks" : "no ICE connectivity"));
  }
}

void PeerConnection::onDtlsSend(BytesView datagram) { sendDatagram(datagram); }

void PeerConnection::onDtlsConnected(const dtls::SrtpKeyMaterial& keys) {
  const auto profile = static_cast<srtp::Profile>(static_cast<std::uint16_t>(keys.profile));
  auto in = srtp::SrtpSession::create(profile, keys.remoteKeySalt, srtp::Direction::Inbound);
  auto out = srtp::SrtpSession::create(profile, keys.localKeySalt, srtp::Direction::Outbound);
  if (!in || !out) {
    fail(in ? out.error() : in.error());
    return;
  }
  srtpIn_ = std::move(in).value();
  srtpOut_ = std::move(out).value();
  profile_ = profile;
  listener_.onPeerConnected(now_);
}

void PeerConnection::onDtlsFailed(const Error& error) { fail(error); }

void PeerConnection::onDtlsClosed() { fail(Error("PEER_CLOSED", "remote closed the DTLS session")); }

void PeerConnection::onDtlsApplicationData(BytesView /*data*/) {
  // Data channels (SCTP over DTLS) are not negotiated by this server yet; ignore.
}

}  // namespace stagecast::webrtc
