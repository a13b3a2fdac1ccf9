#include "stagecast/client/native_peer.hpp"

#include <boost/asio/post.hpp>

#include "stagecast/client/video_payload.hpp"
#include "stagecast/common/crypto.hpp"
#include "stagecast/rtcp/packet.hpp"
#include "stagecast/sdp/session_description.hpp"

namespace stagecast::client {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

constexpr std::size_t kSeenSlots = 4096;  // duplicate detection window (power of two)

Endpoint toEndpoint(const udp::endpoint& ep) {
  const auto a = ep.address();
  if (a.is_v4()) return Endpoint::v4(a.to_v4().to_uint(), ep.port());
  Endpoint e;
  e.v6 = true;
  const auto bytes = a.to_v6().to_bytes();
  std::copy(bytes.begin(), bytes.end(), e.addr.begin());
  e.port = ep.port();
  return e;
}

udp::endpoint toAsio(const Endpoint& e) {
  if (!e.v6) {
    const std::uint32_t ip = (std::uint32_t{e.addr[0]} << 24) | (std::uint32_t{e.addr[1]} << 16) |
                             (std::uint32_t{e.addr[2]} << 8) | e.addr[3];
    return {asio::ip::address_v4(ip), e.port};
  }
  asio::ip::address_v6::bytes_type b;
  std::copy(e.addr.begin(), e.addr.end(), b.begin());
  return {asio::ip::address_v6(b), e.port};
}

std::size_t powerOfTwo(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// "http://host:port/whep/s/id" → "/whep/s/id"; relative references are kept (RFC 9110 §10.2.2).
std::string pathOf(const std::string& location) {
  const auto scheme = location.find("://");
  if (scheme == std::string::npos) return location;
  const auto slash = location.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : location.substr(slash);
}

}  // namespace

NativePeer::NativePeer(Private, asio::io_context& io, NativePeerOptions options)
    : io_(io), options_(std::move(options)), socket_(io), timer_(io) {
  for (Track* t : {&audio_, &video_}) {
    const std::size_t n = powerOfTwo(std::max<std::size_t>(16, options_.historyPackets));
    t->nextSeq = static_cast<std::uint16_t>(crypto::randomU32());  // RFC 3550 §5.1: random initial value
    if (options_.role == Role::Publisher) {
      t->history.resize(n);
      t->historySeq.assign(n, -1);
    } else {
      t->seen.assign(kSeenSlots, -1);
    }
  }
  audio_.stats = &stats_.audio;
  video_.stats = &stats_.video;
  rtcpSsrc_ = crypto::randomU32();
  txBuf_.reserve(1500);
}

NativePeer::~NativePeer() = default;

Result<std::shared_ptr<NativePeer>> NativePeer::connect(asio::io_context& io, NativePeerOptions options) {
  if (!options.certificate) {
    auto cert = dtls::Certificate::generate("stagecast-client");
    if (!cert) return cert.error();
    options.certificate = std::move(cert).value();
  }
  auto self = std::make_shared<NativePeer>(Private{}, io, std::move(options));
  NativePeer& p = *self;
  const NativePeerOptions& o = p.options_;

  OfferOptions offer;
  offer.role = o.role;
  offer.audio = o.audio;
  offer.video = o.video;
  offer.videoCodec = o.videoCodec;
  offer.moreVideoCodecs = o.moreVideoCodecs;
  offer.h265LevelId = o.h265LevelId;
  p.videoCodec_ = o.videoCodec;
  offer.iceUfrag = crypto::randomIceString(8);
  offer.icePwd = crypto::randomIceString(24);
  offer.fingerprint = o.fingerprintOverride.value_or(o.certificate->fingerprintSha256());
  if (o.role == Role::Publisher) {
    p.audioSsrc_ = crypto::randomU32();
    p.videoSsrc_ = crypto::randomU32();
    offer.audioSsrc = p.audioSsrc_;
    offer.videoSsrc = p.videoSsrc_;
    offer.videoRtxSsrc = crypto::randomU32();
  }
  offer.cname = crypto::randomId(12);
  p.offerSdp_ = buildOfferSdp(offer);

  if (o.signal) {
    auto signalled = o.signal(p.offerSdp_);
    if (!signalled) return signalled.error();
    p.resource_ = signalled->resource;
    p.answerSdp_ = signalled->sdp;
  } else {
    // RFC 9725 §4.2 (WHIP) / WHEP: POST the offer, 201 Created with the answer and the resource's Location.
    HttpClient http(o.host, o.httpPort, o.httpTimeout);
    const std::string path = (o.role == Role::Publisher ? "/whip/" : "/whep/") + o.stage;
    std::vector<std::pair<std::string, std::string>> headers;
    if (!o.bearerToken.empty()) headers.emplace_back("Authorization", "Bearer " + o.bearerToken);
    auto resp = http.post(path, p.offerSdp_, "application/sdp", headers);
    if (!resp) return resp.error();
    if (resp->status != 201) {
      std::string code = resp->errorCode();
      if (code.empty()) code = "HTTP_" + std::to_string(resp->status);
      return Error(code, "POST " + path + " answered " + std::to_string(resp->status) + ": " + resp->body);
    }
    p.resource_ = pathOf(resp->header("Location").value_or(""));
    if (p.resource_.empty()) return Error("ANSWER_INVALID", "201 without Location");
    p.answerSdp_ = resp->body;
  }
  auto answer = sdp::parse(p.answerSdp_);
  if (!answer) return Error("ANSWER_INVALID", answer.error().message);
  if (answer->media.empty()) return Error("ANSWER_INVALID", "answer without media");

  // ICE and DTLS parameters of the bundle (the first section, RFC 8843 §7.3.1).
  const sdp::MediaSection& first = answer->media.front();
  auto ufrag = answer->iceUfragFor(first);
  auto pwd = answer->icePwdFor(first);
  auto fp = answer->fingerprintFor(first);
  if (!ufrag || !pwd || !fp) return Error("ANSWER_INVALID", "answer without ICE credentials or fingerprint");
  std::optional<Endpoint> candidate;
  for (const auto& m : answer->media) {
    for (const auto& c : m.candidates) {
      if (candidate || c.transport != "udp" || c.type != "host" || c.component != 1) continue;
      candidate = Endpoint::fromIp(c.address, c.port);
    }
    if (m.port == 0) continue;
    for (const auto& c : m.codecs) {
      if (c.isRtx()) continue;
      if (m.kind == "audio") p.audioPt_ = c.payloadType;
      if (m.kind == "video") {
        p.videoPt_ = c.payloadType;
        p.videoCodec_ = videoCodecKindFromName(c.name).value_or(o.videoCodec);
      }
      break;
    }
  }
  if (!candidate) return Error("ANSWER_INVALID", "answer without a UDP host candidate");
  p.serverEndpoint_ = *candidate;
  p.serverAsio_ = toAsio(*candidate);
  p.serverUfrag_ = *ufrag;

  boost::system::error_code ec;
  const bool v6 = candidate->v6;
  p.socket_.open(v6 ? udp::v6() : udp::v4(), ec);
  if (!ec) {
    // Bind to loopback when the server is local (tests); otherwise any address.
    asio::ip::address bindAddr =
        v6 ? asio::ip::address(asio::ip::address_v6::any()) : asio::ip::address(asio::ip::address_v4::any());
    if (candidate->isLoopback()) {
      bindAddr = v6 ? asio::ip::address(asio::ip::address_v6::loopback())
                    : asio::ip::address(asio::ip::address_v4::loopback());
    }
    p.socket_.bind(udp::endpoint(bindAddr, 0), ec);
  }
  if (ec) return Error("SOCKET_FAILED", ec.message());
  p.local_ = toEndpoint(p.socket_.local_endpoint(ec));

  webrtc::PeerConfig& pc = p.peerConfig_;
  pc.certificate = o.certificate;
  pc.localUfrag = offer.iceUfrag;
  pc.localPwd = offer.icePwd;
  pc.remoteUfrag = *ufrag;
  pc.remotePwd = *pwd;
  pc.remoteFingerprintAlgorithm = fp->algorithm;
  pc.remoteFingerprint = fp->value;
  // RFC 5763 §5: the answerer picks; active means it initiates the handshake, so we are the DTLS server.
  const auto setup = answer->setupFor(first).value_or(sdp::SetupRole::Passive);
  pc.dtlsRole = setup == sdp::SetupRole::Active ? dtls::Role::Server : dtls::Role::Client;
  pc.iceControlling = true;  // RFC 8445 §6.1.1: a full agent facing a lite one controls
  pc.remoteCandidate = *candidate;
  pc.iceClient = o.ice;
  pc.dtlsTimeout = o.dtlsTimeout;
  p.peer_ = std::make_unique<webrtc::PeerConnection>(pc, static_cast<webrtc::PeerListener&>(p), Clock::now());

  asio::post(io, [self] { self->start(); });
  return self;
}

void NativePeer::start() {
  if (stopped_) return;
  const TimePoint now = Clock::now();
  stats_.startedAt = now;
  receive();
  peer_->start(now);
  schedule();
}

void NativePeer::receive() {
  if (stopped_) return;
  socket_.async_receive_from(asio::buffer(rx_), rxFrom_,
                             [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                               if (self->stopped_ || ec == asio::error::operation_aborted) return;
                               if (!ec) self->onDatagram(n, toEndpoint(self->rxFrom_));
                               self->receive();
                             });
}

NativePeer::Track* NativePeer::trackFor(std::uint8_t payloadType) {
  if (options_.audio && payloadType == audioPt_) return &audio_;
  if (options_.video && payloadType == videoPt_) return &video_;
  return nullptr;
}

void NativePeer::onDatagram(std::size_t size, const Endpoint& from) {
  const BytesView d(rx_.data(), size);
  if (options_.dropFilter && d.size() >= 12 && rtp::looksLikeRtpOrRtcp(d) && !rtp::looksLikeRtcp(d)) {
    // RFC 3711 §3.1: the SRTP header is the clear RTP header, so loss can be injected before decryption (a
    // packet dropped after it would poison the replay list and its retransmission would be refused).
    const std::uint8_t ptype = d[1] & 0x7F;
    const auto seq = static_cast<std::uint16_t>((d[2] << 8) | d[3]);
    if (Track* t = trackFor(ptype); t != nullptr && options_.dropFilter(t->kind, seq)) {
      ++t->stats->droppedByFilter;
      return;
    }
  }
  if (options_.countOnly && peer_->connected() && d.size() >= 12 && rtp::looksLikeRtpOrRtcp(d) &&
      !rtp::looksLikeRtcp(d)) {
    auto header = rtp::parse(d);
    Track* t = header ? trackFor(header->payloadType) : nullptr;
    if (t != nullptr) {
      bool retransmission = false;
      bool duplicate = false;
      trackReceived(*t, *header, Clock::now(), retransmission, duplicate);
      duplicate ? ++t->stats->duplicates : ++t->stats->packets;
      if (!t->stats->firstPacketAt) t->stats->firstPacketAt = Clock::now();
    }
    return;
  }
  peer_->handleDatagram(d, from, Clock::now());
  schedule();
}

TimePoint NativePeer::nextDeadline() const {
  TimePoint t = peer_->nextTimeout();
  if (stats_.connectedAt && !stats_.closed) t = std::min(t, nextRtcp_);
  for (const Track* tr : {&audio_, &video_}) {
    for (const auto& [seq, m] : tr->missing) t = std::min(t, m.nextAt);
  }
  return t;
}

void NativePeer::schedule() {
  if (stopped_) return;
  const TimePoint now = Clock::now();
  const TimePoint next = std::min(nextDeadline(), now + seconds(60));
  if (timerArmed_ && next >= armedFor_) return;
  armedFor_ = next;
  timerArmed_ = true;
  timer_.expires_at(next);  // cancels an earlier wait, whose handler sees operation_aborted
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || self->stopped_) return;
    self->timerArmed_ = false;
    self->onTimer();
  });
}

void NativePeer::onTimer() {
  const TimePoint now = Clock::now();
  if (now >= peer_->nextTimeout()) peer_->handleTimeout(now);
  if (stopped_) return;
  if (connected()) {
    sendNacks(now);
    if (now >= nextRtcp_) {
      nextRtcp_ = now + options_.rtcpInterval;
      sendReceiverReport(now);
    }
  }
  schedule();
}

std::int64_t NativePeer::trackReceived(Track& t, const rtp::RtpPacket& p, TimePoint now, bool& retransmission,
                                       bool& duplicate) {
  // RFC 3550 Appendix A.1: extend the 16-bit sequence number with a cycle count.
  const std::uint16_t seq = p.sequenceNumber;
  std::int64_t ext = 0;
  if (!t.started) {
    t.started = true;
    t.highest = seq;
    t.cycles = 0;
    ext = seq;
  } else if (rtp::seqNewer(seq, t.highest)) {
    const std::int64_t previous = t.cycles + t.highest;
    if (seq < t.highest) t.cycles += 65536;
    ext = t.cycles + seq;
    const std::int64_t gap = ext - previous;
    if (options_.sendNacks && gap > 1 && gap < 512) {
      for (std::int64_t e = previous + 1; e < ext; ++e) t.missing.emplace(e, Track::Missing{0, now});
    }
    t.highest = seq;
  } else {
    ext = t.cycles + seq;
    if (seq > t.highest) ext -= 65536;  // from before the last wrap
    if (t.missing.erase(ext) != 0) {
      retransmission = true;
      ++t.stats->recovered;
    }
  }
  auto& slot = t.seen[static_cast<std::size_t>(ext) & (kSeenSlots - 1)];
  if (slot == ext) {
    duplicate = true;
    return ext;
  }
  slot = ext;
  t.stats->highestExtended = std::max(t.stats->highestExtended, ext);
  return ext;
}

void NativePeer::onPeerRtp(const rtp::RtpPacket& parsed, Bytes& /*packet*/, TimePoint now) {
  Track* t = trackFor(parsed.payloadType);
  if (t == nullptr || options_.role != Role::Viewer) return;
  ReceiveStats& st = *t->stats;
  bool retransmission = false;
  bool duplicate = false;
  const std::int64_t ext = trackReceived(*t, parsed, now, retransmission, duplicate);
  if (duplicate) {
    ++st.duplicates;
    return;
  }
  ++st.packets;
  st.bytes += parsed.payload.size();
  const bool key = t->kind == MediaKind::Video && isKeyframeStart(videoCodec_, parsed.payload);
  if (!st.firstPacketAt) {
    st.firstPacketAt = now;
    st.ssrc = parsed.ssrc;
    st.firstSequence = parsed.sequenceNumber;
    st.firstPacketWasKeyframe = key;
  }
  if (key && !st.firstKeyframeAt) st.firstKeyframeAt = now;
  if (options_.onRtp) {
    ReceivedPacket rp;
    rp.kind = t->kind;
    rp.ssrc = parsed.ssrc;
    rp.sequenceNumber = parsed.sequenceNumber;
    rp.extendedSequence = ext;
    rp.timestamp = parsed.timestamp;
    rp.payloadType = parsed.payloadType;
    rp.marker = parsed.marker;
    rp.retransmission = retransmission;
    rp.payload = parsed.payload;
    rp.at = now;
    options_.onRtp(rp);
  }
  if (!t->missing.empty()) sendNacks(now);
}

void NativePeer::sendNacks(TimePoint now) {
  if (!connected()) return;
  // RFC 4585 §6.2.1: one Generic NACK per media source listing every lost packet due for a (re)try; sent in a
  // compound packet behind a receiver report (RFC 4585 §3.1, RFC 3550 §6.1).
  ByteWriter w;
  rtcp::ReceiverReport rr;
  rr.senderSsrc = rtcpSsrc_;
  rr.write(w);
  const std::size_t header = w.size();
  for (Track* t : {&audio_, &video_}) {
    if (t->missing.empty() || t->stats->ssrc == 0) continue;
    rtcp::Nack nack;
    nack.senderSsrc = rtcpSsrc_;
    nack.mediaSsrc = t->stats->ssrc;
    for (auto it = t->missing.begin(); it != t->missing.end();) {
      if (it->second.nextAt > now) {
        ++it;
        continue;
      }
      if (it->second.attempts > options_.nackMaxRetries) {
        ++t->stats->lost;
        it = t->missing.erase(it);
        continue;
      }
      nack.lostSequences.push_back(static_cast<std::uint16_t>(it->first));
      ++it->second.attempts;
      it->second.nextAt = now + options_.nackRetryInterval;
      ++it;
    }
    if (nack.lostSequences.empty()) continue;
    t->stats->nackedSequences += nack.lostSequences.size();
    ++t->stats->nackPackets;
    nack.write(w);
  }
  if (w.size() == header) return;
  Bytes out = w.take();
  if (!peer_->sendRtcp(out)) ++stats_.sendErrors;
}

void NativePeer::sendReceiverReport(TimePoint /*now*/) {
  ByteWriter w;
  if (options_.role == Role::Publisher) {
    // RFC 3550 §6.4.1: a sender report per media source that has sent.
    for (Track* t : {&audio_, &video_}) {
      const std::uint32_t ssrc = t->kind == MediaKind::Audio ? audioSsrc_ : videoSsrc_;
      const auto last = static_cast<std::uint16_t>(t->nextSeq - 1);
      const std::size_t slot = last & (t->history.size() - 1);
      if (t->historySeq[slot] != last) continue;
      auto parsed = rtp::parse(t->history[slot]);
      if (!parsed) continue;
      rtcp::SenderReport sr;
      sr.senderSsrc = ssrc;
      sr.ntpTimestamp = ntpNow();
      sr.rtpTimestamp = parsed->timestamp;
      sr.packetCount = static_cast<std::uint32_t>(stats_.rtpSent);
      sr.write(w);
    }
  } else {
    // RFC 3550 §6.4.2: a receiver report with one block per received source.
    rtcp::ReceiverReport rr;
    rr.senderSsrc = rtcpSsrc_;
    for (const Track* t : {&audio_, &video_}) {
      if (!t->started) continue;
      rtcp::ReportBlock b;
      b.ssrc = t->stats->ssrc;
      b.highestSequence = static_cast<std::uint32_t>(t->cycles + t->highest);
      b.cumulativeLost = static_cast<std::int32_t>(std::min<std::uint64_t>(t->stats->lost, 0x7FFFFF));
      rr.reports.push_back(b);
    }
    rr.write(w);
  }
  if (w.size() == 0) return;
  Bytes out = w.take();
  if (!peer_->sendRtcp(out)) ++stats_.sendErrors;
}

void NativePeer::onPeerRtcp(BytesView packet, TimePoint /*now*/) {
  auto packets = rtcp::parseCompound(packet);
  if (!packets) return;
  for (const auto& p : *packets) {
    if (const auto* nack = std::get_if<rtcp::Nack>(&p)) {
      ++stats_.nacksReceived;
      answerNack(*nack);
    } else if (std::holds_alternative<rtcp::Pli>(p) || std::holds_alternative<rtcp::Fir>(p)) {
      // RFC 4585 §6.3.1 / RFC 5104 §4.3.1: the encoder should send a keyframe.
      ++stats_.keyframeRequests;
      if (options_.onKeyframeRequest) options_.onKeyframeRequest();
    }
  }
}

void NativePeer::answerNack(const rtcp::Nack& nack) {
  if (options_.role != Role::Publisher) return;
  Track* t = nack.mediaSsrc == audioSsrc_ ? &audio_ : nack.mediaSsrc == videoSsrc_ ? &video_ : nullptr;
  if (t == nullptr) return;
  // RFC 4585 §6.2.1: resend what is still in the history; without RTX (RFC 4588) on the media SSRC itself.
  for (std::uint16_t seq : nack.lostSequences) {
    const std::size_t slot = seq & (t->history.size() - 1);
    if (t->historySeq[slot] != seq) {
      ++stats_.retransmitMisses;
      continue;
    }
    txBuf_.assign(t->history[slot].begin(), t->history[slot].end());
    if (peer_->sendRtp(txBuf_)) {
      ++stats_.retransmitted;
    } else {
      ++stats_.sendErrors;
    }
  }
}

Status NativePeer::sendRtp(MediaKind kind, BytesView payload, bool marker, std::uint32_t timestamp) {
  if (!connected()) return Error("PEER_NOT_CONNECTED", "peer is not connected");
  Track& t = kind == MediaKind::Audio ? audio_ : video_;
  if (t.history.empty()) return Error("NOT_A_PUBLISHER", "only publishers send media");
  rtp::RtpHeaderFields f;
  f.marker = marker;
  f.payloadType = kind == MediaKind::Audio ? audioPt_ : videoPt_;
  f.sequenceNumber = t.nextSeq++;
  f.timestamp = timestamp;
  f.ssrc = kind == MediaKind::Audio ? audioSsrc_ : videoSsrc_;
  rtp::write(f, {}, payload, txBuf_);
  const std::size_t slot = f.sequenceNumber & (t.history.size() - 1);
  t.history[slot].assign(txBuf_.begin(), txBuf_.end());
  t.historySeq[slot] = f.sequenceNumber;
  auto s = peer_->sendRtp(txBuf_);
  if (s) {
    ++stats_.rtpSent;
  } else {
    ++stats_.sendErrors;
  }
  return s;
}

void NativePeer::requestKeyframe() {
  if (!connected() || stats_.video.ssrc == 0) return;
  ByteWriter w;
  rtcp::ReceiverReport rr;
  rr.senderSsrc = rtcpSsrc_;
  rr.write(w);
  rtcp::Pli pli;
  pli.senderSsrc = rtcpSsrc_;
  pli.mediaSsrc = stats_.video.ssrc;
  pli.write(w);
  Bytes out = w.take();
  if (!peer_->sendRtcp(out)) ++stats_.sendErrors;
}

void NativePeer::onPeerSend(BytesView datagram, const Endpoint& to) {
  if (stopped_) return;
  boost::system::error_code ec;
  const udp::endpoint dest = to == serverEndpoint_ ? serverAsio_ : toAsio(to);
  socket_.send_to(asio::buffer(datagram.data(), datagram.size()), dest, 0, ec);
  if (ec) ++stats_.sendErrors;
}

void NativePeer::onPeerAddressValidated(const Endpoint& /*remote*/) {}

void NativePeer::onPeerConnected(TimePoint now) {
  stats_.connectedAt = now;
  nextRtcp_ = now + options_.rtcpInterval;
  if (options_.onConnected) options_.onConnected(now);
}

void NativePeer::onPeerClosed(const Error& reason) {
  stats_.closed = true;
  stats_.closeReason = reason;
  if (options_.onClosed) options_.onClosed(reason);
  stop();  // the PeerConnection is dead; free the socket
}

void NativePeer::close() {
  if (stopped_) return;
  if (peer_) peer_->close();  // RFC 6347 §4.2.7 / RFC 5246 §7.2.1: close_notify
  stop();
}

void NativePeer::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  timer_.cancel();
  socket_.close(ec);
}

const NativePeerStats& NativePeer::stats() const {
  if (peer_) stats_.peer = peer_->stats();
  return stats_;
}

Result<HttpResponse> NativePeer::sendDelete() const {
  HttpClient http(options_.host, options_.httpPort, options_.httpTimeout);
  // The resource needs the same token as the request that created it.
  std::vector<std::pair<std::string, std::string>> headers;
  if (!options_.bearerToken.empty()) headers.emplace_back("Authorization", "Bearer " + options_.bearerToken);
  return http.del(resource_, std::move(headers));
}

}  // namespace stagecast::client
