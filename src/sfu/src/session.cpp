#include "stagecast/sfu/session.hpp"

#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/rtcp/packet.hpp"
#include "stagecast/sfu/stage.hpp"

namespace stagecast::sfu {

const char* toString(SessionKind k) { return k == SessionKind::Publisher ? "publisher" : "subscriber"; }

Session::Session(std::string id, SessionKind kind, Stage& stage)
    : id_(std::move(id)), kind_(kind), stage_(stage), rtcpSsrc_(crypto::randomU32()) {}

Session::~Session() = default;

void Session::createPeer(webrtc::PeerConfig config, TimePoint now) {
  createdAt_ = now;
  ufrags_.push_back(config.localUfrag);
  stage_.routes().addUfrag(config.localUfrag, *this);
  peer_ = std::make_unique<webrtc::PeerConnection>(std::move(config), *this, now);
}

void Session::onPeerSend(BytesView datagram, const Endpoint& to) { stage_.sender().sendDatagram(datagram, to); }

void Session::onPeerAddressValidated(const Endpoint& remote) { stage_.routes().addRoute(remote, *this); }

void Session::onPeerClosed(const Error& reason) { stage_.sessionFailed(*this, reason); }

void Session::sendRtcp(Bytes& packet) {
  if (peer_ && peer_->connected()) (void)peer_->sendRtcp(packet);
}

// ---------------------------------------------------------------------------------------------------------
// Publisher

PublisherSession::PublisherSession(std::string id, Stage& stage, const sdp::Answer& answer)
    : Session(std::move(id), SessionKind::Publisher, stage) {
  for (const auto& m : answer.media) {
    if (!m.accepted || !m.codec || m.localDirection != sdp::Direction::RecvOnly) continue;
    Incoming in;
    in.source = &stage.source(m.kind);
    in.codec = *m.codec;
    in.payloadType = m.codec->payloadType;
    in.rtxPayloadType = m.rtxPayloadType;
    in.nack = m.nack;
    if (!m.remoteSsrcs.empty()) in.mediaSsrc = m.remoteSsrcs.front();
    if (m.remoteRtxSsrc) in.rtxSsrc = *m.remoteRtxSsrc;
    incoming_.push_back(std::move(in));
    for (const auto& e : m.extmaps) {
      if (e.uri == rtp::ext::kTransportCc) twccExtensionId_ = e.id;
    }
  }
  unwrap_.reserve(1500);
}

std::optional<sdp::Codec> PublisherSession::codecFor(const std::string& kind) const {
  for (const auto& in : incoming_) {
    if (in.source->kind() == kind) return in.codec;
  }
  return std::nullopt;
}

void PublisherSession::onPeerConnected(TimePoint now) {
  // This publisher now feeds the stage (a previous one, if any, is retired by the stage).
  stage_.publisherConnected(*this, now);
  for (auto& in : incoming_) in.source->attachPublisher(in.codec);
  attached_ = true;
  spdlog::info("stage {}: publisher {} connected", stage_.id(), id_);
}

PublisherSession::Incoming* PublisherSession::findIncoming(const rtp::RtpPacket& p) {
  for (auto& in : incoming_) {
    if (p.payloadType == in.payloadType || (in.rtxPayloadType && p.payloadType == *in.rtxPayloadType)) return &in;
  }
  return nullptr;
}

void PublisherSession::onPeerRtp(const rtp::RtpPacket& parsed, Bytes& packet, TimePoint now) {
  if (!attached_) return;
  if (twccExtensionId_) {
    // Every packet counts for congestion control, padding probes and retransmissions included.
    if (auto ext = parsed.extension(*twccExtensionId_)) {
      if (auto seq = rtp::decodeTransportSequence(*ext)) twcc_.record(*seq, now);
    }
  }
  Incoming* in = findIncoming(parsed);
  if (in == nullptr) return;
  if (in->rtxPayloadType && parsed.payloadType == *in->rtxPayloadType) {
    // RFC 4588 §4: the RTX payload starts with the original sequence number. Padding-only RTX packets are
    // bandwidth probes and carry nothing to forward.
    if (parsed.payload.size() <= 2) return;
    in->rtxSsrc = parsed.ssrc;
    const std::uint16_t osn = static_cast<std::uint16_t>((parsed.payload[0] << 8) | parsed.payload[1]);
    rtp::RtpHeaderFields f{.marker = parsed.marker,
                           .payloadType = in->payloadType,
                           .sequenceNumber = osn,
                           .timestamp = parsed.timestamp,
                           .ssrc = in->mediaSsrc != 0 ? in->mediaSsrc : parsed.ssrc};
    rtp::write(f, {}, parsed.payload.subspan(2), unwrap_);
    auto original = rtp::parse(unwrap_);
    if (!original) return;
    track(*in, *original, now);
    in->source->deliver(*original, unwrap_, now);
    return;
  }
  if (parsed.payload.empty()) return;  // padding-only probe
  if (in->mediaSsrc == 0) in->mediaSsrc = parsed.ssrc;
  if (parsed.ssrc != in->mediaSsrc) {
    // A new SSRC on this section (the sender restarted its encoder): follow it.
    in->mediaSsrc = parsed.ssrc;
    in->started = false;
    in->missing.clear();
  }
  track(*in, parsed, now);
  in->source->deliver(parsed, packet, now);
}

void PublisherSession::track(Incoming& in, const rtp::RtpPacket& p, TimePoint now) {
  const std::uint16_t seq = p.sequenceNumber;
  if (!in.started) {
    in.started = true;
    in.maxSeq = seq;
    in.baseSeq = seq;
    in.cycles = 0;
    in.received = 1;
    return;
  }
  ++in.received;
  // RFC 3550 Appendix A.8: interarrival jitter in timestamp units.
  const auto arrivalUs = std::chrono::duration_cast<microseconds>(now.time_since_epoch()).count();
  const std::int64_t arrival = arrivalUs * static_cast<std::int64_t>(in.codec.clockRate) / 1000000;
  const std::int64_t transit = arrival - static_cast<std::int64_t>(p.timestamp);
  if (in.haveTransit) {
    const double d = std::abs(static_cast<double>(transit - in.lastTransit));
    in.jitter += (d - in.jitter) / 16.0;
  }
  in.lastTransit = transit;
  in.haveTransit = true;

  if (rtp::seqNewer(seq, in.maxSeq)) {
    const std::uint16_t gap = static_cast<std::uint16_t>(seq - in.maxSeq);
    if (seq < in.maxSeq) in.cycles += 65536;  // wrapped (RFC 3550 Appendix A.1)
    if (in.nack && gap > 1 && gap < 200) {
      for (std::uint16_t s = static_cast<std::uint16_t>(in.maxSeq + 1); s != seq; ++s) in.missing.emplace(s, 0);
      while (in.missing.size() > 500) in.missing.erase(in.missing.begin());
    }
    in.maxSeq = seq;
    if (!in.missing.empty()) sendNacks(now);
  } else {
    in.missing.erase(seq);  // a late or retransmitted packet filled a gap
  }
}

void PublisherSession::sendNacks(TimePoint /*now*/) {
  // RFC 4585 §6.2.1: one Generic NACK per media SSRC with every sequence number still missing; each is asked
  // for at most three times.
  ByteWriter w;
  for (auto& in : incoming_) {
    if (in.missing.empty() || in.mediaSsrc == 0) continue;
    rtcp::Nack nack;
    nack.senderSsrc = rtcpSsrc_;
    nack.mediaSsrc = in.mediaSsrc;
    for (auto it = in.missing.begin(); it != in.missing.end();) {
      nack.lostSequences.push_back(it->first);
      if (++it->second >= 3) {
        it = in.missing.erase(it);
      } else {
        ++it;
      }
    }
    nack.write(w);
    ++nacksSent_;
  }
  if (w.size() == 0) return;
  Bytes out = w.take();
  sendRtcp(out);
}

void PublisherSession::onPeerRtcp(BytesView packet, TimePoint now) {
  auto packets = rtcp::parseCompound(packet);
  if (!packets) return;
  for (const auto& p : *packets) {
    if (const auto* sr = std::get_if<rtcp::SenderReport>(&p)) {
      for (auto& in : incoming_) {
        if (in.mediaSsrc != sr->senderSsrc || !attached_) continue;
        in.source->setSenderReport({sr->ntpTimestamp, sr->rtpTimestamp, in.source->generation()});
        in.lastSrMiddle = static_cast<std::uint32_t>(sr->ntpTimestamp >> 16);
        in.lastSrAt = now;
      }
    }
  }
}

void PublisherSession::onRtcpTimer(TimePoint now) {
  if (!peer_ || !peer_->connected() || !attached_) return;
  // RFC 3550 §6.4.2 receiver report, then REMB (draft-alvestrand-rmcat-remb) telling the publisher how much it
  // may send, and any NACKs still outstanding.
  rtcp::ReceiverReport rr;
  rr.senderSsrc = rtcpSsrc_;
  rtcp::Remb remb;
  remb.senderSsrc = rtcpSsrc_;
  remb.bitrateBps = stage_.publisherBitrateLimit(now);
  for (auto& in : incoming_) {
    if (!in.started) continue;
    rtcp::ReportBlock b;
    b.ssrc = in.mediaSsrc;
    const std::uint32_t extMax = in.cycles + in.maxSeq;
    const std::uint32_t expected = extMax - in.baseSeq + 1;
    const std::int64_t lost = static_cast<std::int64_t>(expected) - in.received;
    b.cumulativeLost = static_cast<std::int32_t>(std::clamp<std::int64_t>(lost, -0x800000, 0x7FFFFF));
    const std::uint32_t expectedInterval = expected - in.expectedPrior;
    const std::uint32_t receivedInterval = in.received - in.receivedPrior;
    in.expectedPrior = expected;
    in.receivedPrior = in.received;
    const std::int64_t lostInterval = static_cast<std::int64_t>(expectedInterval) - receivedInterval;
    b.fractionLost =
        (expectedInterval == 0 || lostInterval <= 0)
            ? 0
            : static_cast<std::uint8_t>(std::min<std::int64_t>(255, (lostInterval << 8) / expectedInterval));
    b.highestSequence = extMax;
    b.jitter = static_cast<std::uint32_t>(in.jitter);
    if (in.lastSrAt) {
      b.lastSr = in.lastSrMiddle;
      const auto delay = std::chrono::duration_cast<microseconds>(now - *in.lastSrAt).count();
      b.delaySinceLastSr = static_cast<std::uint32_t>(delay * 65536 / 1000000);
    }
    rr.reports.push_back(b);
    remb.ssrcs.push_back(in.mediaSsrc);
  }
  ByteWriter w;
  rr.write(w);
  if (!remb.ssrcs.empty()) remb.write(w);
  Bytes out = w.take();
  sendRtcp(out);
  sendNacks(now);
}

void PublisherSession::onTick(TimePoint now) {
  if (!twccExtensionId_ || !attached_ || now < nextTwcc_) return;
  nextTwcc_ = now + milliseconds(100);
  std::uint32_t mediaSsrc = 0;
  for (const auto& in : incoming_) {
    if (in.mediaSsrc != 0) mediaSsrc = in.mediaSsrc;
  }
  auto fb = twcc_.buildFeedback(rtcpSsrc_, mediaSsrc);
  if (!fb) return;
  ByteWriter w;
  fb->write(w);
  Bytes out = w.take();
  sendRtcp(out);
}

void PublisherSession::sendPli() {
  for (const auto& in : incoming_) {
    if (!in.source->isVideo() || in.mediaSsrc == 0) continue;
    rtcp::Pli pli;
    pli.senderSsrc = rtcpSsrc_;
    pli.mediaSsrc = in.mediaSsrc;
    ByteWriter w;
    pli.write(w);
    Bytes out = w.take();
    sendRtcp(out);
  }
}

void PublisherSession::shutdown() {
  if (attached_) {
    for (auto& in : incoming_) in.source->detachPublisher();
    attached_ = false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Subscriber

SubscriberSession::SubscriberSession(std::string id, Stage& stage, const sdp::Answer& answer,
                                     std::size_t retransmitBufferPackets)
    : Session(std::move(id), SessionKind::Subscriber, stage) {
  for (const auto& m : answer.media) {
    if (!m.accepted || !m.codec || !m.outgoing) continue;
    OutgoingParams p;
    p.ssrc = m.outgoing->ssrc;
    p.payloadType = m.codec->payloadType;
    p.mid = m.mid;
    for (const auto& e : m.extmaps) {
      if (e.uri == rtp::ext::kMid) p.midExtensionId = e.id;
      if (e.uri == rtp::ext::kAbsSendTime) p.absSendTimeExtensionId = e.id;
    }
    p.clockRate = m.codec->clockRate;
    p.codecName = m.codec->name;
    p.video = m.kind == "video";
    p.retransmitBufferPackets = retransmitBufferPackets;
    p.replayMaxAge = stage.config().gopReplayMaxAge;
    p.keyframeWait = stage.config().keyframeWait;
    streams_.push_back(std::make_unique<OutgoingStream>(
        p,
        [this](Bytes& pkt) {
          if (peer_ && peer_->connected()) (void)peer_->sendRtp(pkt);
        },
        [this](TimePoint now) { stage_.requestKeyframe(now); }));
    sources_.push_back(&stage.source(m.kind));
  }
}

void SubscriberSession::onPeerConnected(TimePoint now) {
  attached_ = true;
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    sources_[i]->addSink(streams_[i].get());
    streams_[i]->start(*sources_[i], now);
  }
  spdlog::debug("stage {}: viewer {} connected", stage_.id(), id_);
}

void SubscriberSession::onPeerRtp(const rtp::RtpPacket&, Bytes&, TimePoint) {
  // Viewers send no media (their sections are recvonly); ignore anything that arrives.
}

OutgoingStream* SubscriberSession::streamBySsrc(std::uint32_t ssrc) {
  for (auto& s : streams_) {
    if (s->params().ssrc == ssrc) return s.get();
  }
  return nullptr;
}

void SubscriberSession::onPeerRtcp(BytesView packet, TimePoint now) {
  auto packets = rtcp::parseCompound(packet);
  if (!packets) return;
  for (const auto& p : *packets) {
    if (const auto* nack = std::get_if<rtcp::Nack>(&p)) {
      // RFC 4585 §6.2.1: answered from our retransmission buffer, never forwarded to the publisher.
      if (auto* s = streamBySsrc(nack->mediaSsrc)) s->retransmit(nack->lostSequences, now);
    } else if (const auto* remb = std::get_if<rtcp::Remb>(&p)) {
      remb_ = remb->bitrateBps;
      rembAt_ = now;
    } else if (std::holds_alternative<rtcp::Pli>(p) || std::holds_alternative<rtcp::Fir>(p)) {
      // RFC 4585 §6.3.1 / RFC 5104 §4.3.1: merged per source by the stage.
      stage_.requestKeyframe(now);
    }
  }
}

std::optional<std::uint64_t> SubscriberSession::estimatedBitrate(TimePoint now) const {
  if (!remb_ || now - rembAt_ > seconds(5)) return std::nullopt;
  return remb_;
}

void SubscriberSession::onRtcpTimer(TimePoint /*now*/) {
  if (!peer_ || !peer_->connected() || !attached_) return;
  ByteWriter w;
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    auto f = streams_[i]->senderReport(*sources_[i]);
    if (!f) continue;
    rtcp::SenderReport sr;
    sr.senderSsrc = streams_[i]->params().ssrc;
    sr.ntpTimestamp = f->ntp;
    sr.rtpTimestamp = f->rtpTimestamp;
    sr.packetCount = f->packetCount;
    sr.octetCount = f->octetCount;
    sr.write(w);
  }
  if (w.size() == 0) return;
  Bytes out = w.take();
  sendRtcp(out);
}

void SubscriberSession::shutdown() {
  if (!attached_) return;
  for (std::size_t i = 0; i < streams_.size(); ++i) sources_[i]->removeSink(streams_[i].get());
  attached_ = false;
}

}  // namespace stagecast::sfu
