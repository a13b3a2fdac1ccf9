#include "stagecast/sfu/stage.hpp"

#include <algorithm>
#include <cctype>

#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/common/text.hpp"
#include "stagecast/rtp/rtp_packet.hpp"

namespace stagecast::sfu {

namespace {

// The viewer must get exactly the codec the publisher sends (no transcoding): restrict the capability to it.
sdp::CodecCapability capabilityFor(const sdp::Codec& c) {
  sdp::CodecCapability cap;
  cap.name = c.name;
  cap.clockRate = c.clockRate;
  cap.channels = c.channels;
  if (iequals(c.name, "h264")) {
    auto params = c.fmtpParams();
    auto pli = params.count("profile-level-id") ? params["profile-level-id"] : std::string("42000a");
    std::string profile = toLower(pli.substr(0, 4));
    // RFC 6184 §8.1: constraint_set1 on a Baseline stream makes it Constrained Baseline, whatever the other
    // constraint bits say (e.g. a camera's 42c01f); "42e0" matches every Constrained Baseline offer.
    if (profile.size() == 4 && profile.starts_with("42")) {
      const unsigned iop = static_cast<unsigned>(std::strtoul(profile.substr(2, 2).c_str(), nullptr, 16));
      if ((iop & 0x40) != 0) profile = "42e0";
    }
    cap.h264Profiles = {profile};
    cap.h264PacketizationMode =
        params.count("packetization-mode") ? std::atoi(params["packetization-mode"].c_str()) : 0;
  } else if (iequals(c.name, "h265")) {
    // RFC 7798 §7.2.2: the viewer must be able to receive the stream's profile, tier and level as they are.
    if (auto params = sdp::parseH265Params(c)) cap.h265 = *params;
  }
  return cap;
}

}  // namespace

StageStats& StageStats::operator+=(const StageStats& o) {
  publishers += o.publishers;
  subscribers += o.subscribers;
  packetsIn += o.packetsIn;
  packetsOut += o.packetsOut;
  bytesIn += o.bytesIn;
  bytesOut += o.bytesOut;
  retransmitted += o.retransmitted;
  keyframeRequests += o.keyframeRequests;
  cachedGroupReplays += o.cachedGroupReplays;
  return *this;
}

Stage::Stage(std::string id, const SfuConfig& config, DatagramSender& sender, RouteTable& routes,
             ShardObserver* relay)
    : id_(std::move(id)), config_(config), sender_(sender), routes_(routes), relay_(relay) {}

Stage::~Stage() { closeAll(); }

SourceTrack& Stage::source(const std::string& kind) {
  auto& s = sources_[kind];
  if (!s) {
    s = std::make_unique<SourceTrack>(kind, config_.gopCacheMaxPackets, config_.gopCacheMaxBytes);
    s->setListener(this);
  }
  return *s;
}

Result<CreatedSession> Stage::publish(const sdp::SessionDescription& offer, TimePoint now) {
  return create(offer, SessionKind::Publisher, now);
}

Result<CreatedSession> Stage::subscribe(const sdp::SessionDescription& offer, TimePoint now) {
  return create(offer, SessionKind::Subscriber, now);
}

Result<CreatedSession> Stage::create(const sdp::SessionDescription& offer, SessionKind kind, TimePoint now) {
  if (sessions_.size() >= config_.maxSessionsPerStage) {
    return Error("STAGE_FULL", "stage " + id_ + " has reached its session limit");
  }
  sdp::AnswerOptions opt;
  opt.iceUfrag = crypto::randomIceString(8);
  opt.icePwd = crypto::randomIceString(24);
  opt.fingerprint = {"sha-256", config_.certificate->fingerprintSha256()};
  opt.iceLite = true;
  opt.candidates = config_.candidates;
  opt.sessionId = crypto::randomU64() >> 2;
  opt.singleCodec = true;
  if (kind == SessionKind::Publisher) {
    opt.acceptIncoming = true;
    opt.acceptOutgoing = false;
    opt.audioCodecs = config_.audioCodecs;
    opt.videoCodecs = config_.videoCodecs;
    opt.headerExtensions = {rtp::ext::kMid, rtp::ext::kAbsSendTime, rtp::ext::kAudioLevel, rtp::ext::kTransportCc};
  } else {
    opt.acceptIncoming = false;
    opt.acceptOutgoing = true;
    // Offer the viewer exactly what the publisher sends: the live source's codec, else the codec negotiated with a
    // publisher that is still connecting; with no publisher at all, anything we support.
    auto restrict = [this](const std::string& kind, const std::vector<sdp::CodecCapability>& all) {
      auto it = sources_.find(kind);
      if (it != sources_.end() && it->second->live() && it->second->codec()) {
        return std::vector<sdp::CodecCapability>{capabilityFor(*it->second->codec())};
      }
      for (auto s = sessions_.rbegin(); s != sessions_.rend(); ++s) {
        if (s->second->kind() != SessionKind::Publisher || s->second->ended()) continue;
        if (auto c = static_cast<const PublisherSession&>(*s->second).codecFor(kind)) {
          return std::vector<sdp::CodecCapability>{capabilityFor(*c)};
        }
      }
      return all;
    };
    opt.audioCodecs = restrict("audio", config_.audioCodecs);
    opt.videoCodecs = restrict("video", config_.videoCodecs);
    opt.headerExtensions = {rtp::ext::kMid, rtp::ext::kAbsSendTime};
    const std::string cname = crypto::randomId(12);
    opt.outgoing.push_back({"audio", crypto::randomU32(), 0, cname, "stagecast-" + id_, "audio"});
    opt.outgoing.push_back({"video", crypto::randomU32(), 0, cname, "stagecast-" + id_, "video"});
  }
  auto answer = sdp::answerOffer(offer, opt);
  if (!answer) return answer.error();
  bool anyAccepted = false;
  for (const auto& m : answer->media) anyAccepted = anyAccepted || m.accepted;
  if (!anyAccepted) return Error("NO_COMMON_CODEC", "no media section could be accepted");

  std::string sid;
  do {
    sid = crypto::randomId(16);
  } while (sessions_.count(sid) != 0);

  std::unique_ptr<Session> session;
  if (kind == SessionKind::Publisher) {
    session = std::make_unique<PublisherSession>(sid, *this, *answer);
  } else {
    session = std::make_unique<SubscriberSession>(sid, *this, *answer, config_.retransmitBufferPackets);
  }
  session->setEtag("\"" + crypto::randomId(12) + "\"");
  webrtc::PeerConfig pc;
  pc.certificate = config_.certificate;
  pc.localUfrag = opt.iceUfrag;
  pc.localPwd = opt.icePwd;
  pc.remoteUfrag = answer->remoteIceUfrag;
  pc.remotePwd = answer->remoteIcePwd;
  pc.remoteFingerprintAlgorithm = answer->remoteFingerprint.algorithm;
  pc.remoteFingerprint = answer->remoteFingerprint.value;
  pc.dtlsRole = answer->localSetup == sdp::SetupRole::Active ? dtls::Role::Client : dtls::Role::Server;
  pc.ice = config_.ice;
  session->createPeer(std::move(pc), now);

  CreatedSession created{sid, session->etag(), sdp::serialize(answer->sdp), opt.iceUfrag};
  sessions_.emplace(sid, std::move(session));
  spdlog::debug("stage {}: {} {} created", id_, toString(kind), sid);
  return created;
}

Session* Stage::find(const std::string& sessionId) {
  auto it = sessions_.find(sessionId);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Stage::publisherConnected(PublisherSession& publisher, TimePoint now) {
  if (!publisherId_.empty() && publisherId_ != publisher.id()) {
    if (Session* old = find(publisherId_)) {
      sessionFailed(*old, Error("PUBLISHER_REPLACED", "a new publisher took over the stage"));
    }
  }
  publisherId_ = publisher.id();
}

void Stage::requestKeyframe(TimePoint now) {
  auto& video = source("video");
  if (!ownPublisher()) {
    // Fed by a relay: the keyframe has to come from the origin's publisher.
    if (relay_ == nullptr || relayCodecs_.count("video") == 0) return;
    if (!video.live() || !video.shouldRequestKeyframe(now, config_.keyframeRequestInterval)) return;
    relay_->onKeyframeWanted(id_);
    ++keyframeRequests_;
    return;
  }
  if (!video.live() || !video.shouldRequestKeyframe(now, config_.keyframeRequestInterval)) return;
  if (auto* s = find(publisherId_); s && s->kind() == SessionKind::Publisher) {
    static_cast<PublisherSession*>(s)->sendPli();
    ++keyframeRequests_;
  }
}

std::uint64_t Stage::publisherBitrateLimit(TimePoint now) const {
  // REMB from viewers, relayed: without simulcast, one encoding serves everybody, so the publisher follows the
  // most constrained viewer that reports an estimate (never below a floor that keeps video alive).
  constexpr std::uint64_t kFloor = 150'000;
  std::uint64_t limit = config_.publisherMaxBitrate;
  for (const auto& [id, s] : sessions_) {
    if (s->kind() != SessionKind::Subscriber || s->ended_) continue;
    if (auto e = static_cast<const SubscriberSession&>(*s).estimatedBitrate(now))
      limit = std::min(limit, std::max(*e, kFloor));
  }
  return limit;
}

void Stage::sessionFailed(Session& session, const Error& reason) {
  if (session.ended_) return;
  session.ended_ = true;
  session.shutdown();
  doomed_.push_back(session.id());
  spdlog::info("stage {}: {} {} ended: {} ({})", id_, toString(session.kind()), session.id(), reason.code,
               reason.message);
  routes_.sessionEnded(id_, session.id(), reason);
}

void Stage::destroy(const std::string& sessionId) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  s.shutdown();
  StageStats counters = countersOf(s);
  counters.publishers = 0;  // gauges are not carried over, only counters
  counters.subscribers = 0;
  retired_ += counters;
  if (s.peer_) {
    for (const auto& addr : s.peer_->ice().validatedAddresses()) routes_.removeRoute(addr, s);
  }
  for (const auto& u : s.ufrags_) routes_.removeUfrag(u);
  sessions_.erase(it);
  if (publisherId_ == sessionId) {
    publisherId_.clear();
    // The stage's own publisher left: a relay, if there is one, feeds the viewers again from its next keyframe.
    for (const auto& [kind, codec] : relayCodecs_) source(kind).attachPublisher(codec, relayKeyframes());
    if (relay_ != nullptr && relayCodecs_.count("video") != 0) relay_->onKeyframeWanted(id_);
  }
}

void Stage::relayAttach(const std::string& kind, const sdp::Codec& codec) {
  relayCodecs_[kind] = codec;
  if (!ownPublisher()) source(kind).attachPublisher(codec, relayKeyframes());
}

void Stage::relayDetach(const std::string& kind) {
  if (relayCodecs_.erase(kind) == 0) return;
  if (!ownPublisher()) source(kind).detachPublisher();
}

void Stage::relayPacket(const std::string& kind, const SharedPacket& packet, TimePoint now) {
  if (ownPublisher() || relayCodecs_.count(kind) == 0 || !packet) return;
  auto parsed = rtp::parse(*packet);
  if (!parsed) return;
  source(kind).deliver(*parsed, *packet, now);
}

void Stage::relaySenderReport(const std::string& kind, SenderReportInfo sr) {
  if (ownPublisher() || relayCodecs_.count(kind) == 0) return;
  auto& src = source(kind);
  sr.generation = src.generation();
  src.setSenderReport(sr);
}

std::vector<RelaySnapshot> Stage::relaySnapshot() const {
  std::vector<RelaySnapshot> out;
  if (!feedsRelays()) return out;
  for (const auto& [kind, src] : sources_) {
    if (!src->live() || !src->codec()) continue;
    RelaySnapshot snap;
    snap.kind = kind;
    snap.codec = *src->codec();
    snap.gop.assign(src->gop().begin(), src->gop().end());
    snap.senderReport = src->senderReport();
    out.push_back(std::move(snap));
  }
  return out;
}

void Stage::sourceAttached(SourceTrack& source) {
  if (relay_ != nullptr && feedsRelays() && source.codec()) relay_->onSourceAttached(id_, source.kind(), *source.codec());
}

void Stage::sourcePacket(SourceTrack& source, const SharedPacket& packet) {
  if (relay_ != nullptr && feedsRelays()) relay_->onSourcePacket(id_, source.kind(), packet);
}

void Stage::sourceSenderReport(SourceTrack& source) {
  if (relay_ != nullptr && feedsRelays() && source.senderReport()) {
    relay_->onSourceSenderReport(id_, source.kind(), *source.senderReport());
  }
}

void Stage::sourceDetached(SourceTrack& source) {
  if (relay_ != nullptr && feedsRelays()) relay_->onSourceDetached(id_, source.kind());
}

bool Stage::remove(const std::string& sessionId) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return false;
  if (it->second->peer_) it->second->peer_->close();
  destroy(sessionId);
  return true;
}

void Stage::closeAll() {
  std::vector<std::string> ids;
  for (const auto& [id, s] : sessions_) ids.push_back(id);
  for (const auto& id : ids) remove(id);
  doomed_.clear();
}

Result<std::pair<std::string, std::string>> Stage::restartIce(const std::string& sessionId, std::string remoteUfrag,
                                                              std::string remotePwd) {
  Session* s = find(sessionId);
  if (s == nullptr || s->ended()) return Error("SESSION_NOT_FOUND", "no such session");
  std::string ufrag = crypto::randomIceString(8);
  std::string pwd = crypto::randomIceString(24);
  s->peer_->restartIce(ufrag, pwd, std::move(remoteUfrag), std::move(remotePwd));
  s->ufrags_.push_back(ufrag);
  routes_.addUfrag(ufrag, *s);
  s->setEtag("\"" + crypto::randomId(12) + "\"");
  return std::make_pair(ufrag, pwd);
}

void Stage::tick(TimePoint now) {
  for (auto& [id, s] : sessions_) {
    if (s->ended_ || !s->peer_) continue;
    if (now >= s->peer_->nextTimeout()) s->peer_->handleTimeout(now);
  }
  for (auto& [id, s] : sessions_) {
    if (!s->ended_) s->onTick(now);
  }
  if (now >= nextRtcp_) {
    nextRtcp_ = now + config_.rtcpInterval;
    for (auto& [id, s] : sessions_) {
      if (!s->ended_) s->onRtcpTimer(now);
    }
  }
  // Failed sessions are destroyed here, never inside their own callbacks.
  auto doomed = std::move(doomed_);
  doomed_.clear();
  for (const auto& id : doomed) destroy(id);
}

StageStats Stage::countersOf(const Session& s) {
  StageStats st;
  (s.kind() == SessionKind::Publisher ? st.publishers : st.subscribers) = 1;
  if (s.kind() == SessionKind::Subscriber) {
    for (const auto& os : static_cast<const SubscriberSession&>(s).streams()) {
      st.retransmitted += os->retransmitted();
      st.cachedGroupReplays += os->cachedGroupReplays();
    }
  }
  if (s.peer_) {
    const auto& ps = s.peer_->stats();
    st.packetsIn = ps.rtpIn;
    st.packetsOut = ps.rtpOut;
    st.bytesIn = ps.bytesIn;
    st.bytesOut = ps.bytesOut;
  }
  return st;
}

StageStats Stage::stats() const {
  StageStats st = retired_;
  st.keyframeRequests = keyframeRequests_;
  for (const auto& [id, s] : sessions_) st += countersOf(*s);
  return st;
}

}  // namespace stagecast::sfu
