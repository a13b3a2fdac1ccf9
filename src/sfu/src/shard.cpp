#include "stagecast/sfu/shard.hpp"

#include "stagecast/common/log.hpp"

namespace stagecast::sfu {

Shard::Shard(const SfuConfig& config, DatagramSender& sender, ShardObserver& observer)
    : config_(config), sender_(sender), observer_(observer) {}

Shard::~Shard() { closeAll(); }

Stage* Shard::findStage(const std::string& id) {
  auto it = stages_.find(id);
  return it == stages_.end() ? nullptr : it->second.get();
}

Result<CreatedSession> Shard::publish(const std::string& stageId, std::string_view offer, TimePoint now) {
  auto parsed = sdp::parse(offer);
  if (!parsed) return parsed.error();
  auto& stage = stages_[stageId];
  if (!stage) stage = std::make_unique<Stage>(stageId, config_, sender_, *this, &observer_);
  auto r = stage->publish(*parsed, now);
  if (!r && stage->empty() && !stage->persistent()) {
    stages_.erase(stageId);
    observer_.onStageClosed(stageId);
  }
  return r;
}

Result<CreatedSession> Shard::subscribe(const std::string& stageId, std::string_view offer, TimePoint now) {
  auto parsed = sdp::parse(offer);
  if (!parsed) return parsed.error();
  Stage* stage = findStage(stageId);
  if (stage == nullptr) return Error("STAGE_NOT_FOUND", "nobody publishes to stage '" + stageId + "'");
  return stage->subscribe(*parsed, now);
}

Status Shard::remove(const std::string& stageId, const std::string& sessionId) {
  Stage* stage = findStage(stageId);
  if (stage == nullptr || !stage->remove(sessionId)) return Error("SESSION_NOT_FOUND", "no such session");
  if (stage->empty() && !stage->persistent()) {
    retire(*stage);
    stages_.erase(stageId);
    observer_.onStageClosed(stageId);
  }
  return {};
}

Result<PatchResult> Shard::patch(const std::string& stageId, const std::string& sessionId, const std::string& ifMatch,
                                 std::string_view fragment, TimePoint now) {
  Stage* stage = findStage(stageId);
  Session* session = stage != nullptr ? stage->find(sessionId) : nullptr;
  if (session == nullptr || session->ended()) return Error("SESSION_NOT_FOUND", "no such session");
  auto frag = sdp::parseFragment(fragment);
  if (!frag) return frag.error();
  // RFC 9725 §4.3.2: ICE credentials other than the session's current ones mean an ICE restart; otherwise the
  // fragment carries trickled candidates, which an ICE-lite server does not need (the client's checks reach us).
  const bool restart =
      frag->iceUfrag && frag->icePwd &&
      (*frag->iceUfrag != session->peer().remoteUfrag() || *frag->icePwd != session->peer().remotePwd());
  if (restart) {
    if (!ifMatch.empty() && ifMatch != "*" && ifMatch != session->etag()) {
      return Error("PRECONDITION_FAILED", "If-Match does not match the session's ETag");
    }
    auto creds = stage->restartIce(sessionId, *frag->iceUfrag, *frag->icePwd);
    if (!creds) return creds.error();
    PatchResult r;
    r.etag = session->etag();
    r.answerFragment = "a=ice-lite\r\na=ice-ufrag:" + creds->first + "\r\na=ice-pwd:" + creds->second + "\r\n";
    for (const auto& c : config_.candidates) r.answerFragment += "a=" + c.toString() + "\r\n";
    r.answerFragment += "a=end-of-candidates\r\n";
    return r;
  }
  if (!ifMatch.empty() && ifMatch != "*" && ifMatch != session->etag()) {
    return Error("PRECONDITION_FAILED", "If-Match does not match the session's ETag");
  }
  return PatchResult{};
}

void Shard::ensureStage(const std::string& stageId) {
  auto& stage = stages_[stageId];
  if (!stage) stage = std::make_unique<Stage>(stageId, config_, sender_, *this, &observer_);
  stage->setPersistent(true);
}

bool Shard::dropStage(const std::string& stageId) {
  auto it = stages_.find(stageId);
  if (it == stages_.end()) return false;
  it->second->closeAll();
  retire(*it->second);
  stages_.erase(it);
  observer_.onStageClosed(stageId);
  return true;
}

void Shard::relayAttach(const std::string& stageId, const std::string& kind, const sdp::Codec& codec) {
  if (Stage* s = findStage(stageId)) s->relayAttach(kind, codec);
}

void Shard::sourceAttach(const std::string& stageId, const std::string& kind, const sdp::Codec& codec,
                         bool keyframesOnRequest) {
  if (Stage* s = findStage(stageId)) {
    s->setExternalSource(true, keyframesOnRequest);
    s->relayAttach(kind, codec);
  }
}

void Shard::relayDetach(const std::string& stageId, const std::string& kind) {
  if (Stage* s = findStage(stageId)) s->relayDetach(kind);
}

void Shard::relayPacket(const std::string& stageId, const std::string& kind, const SharedPacket& packet,
                        TimePoint now) {
  if (Stage* s = findStage(stageId)) s->relayPacket(kind, packet, now);
}

void Shard::relaySenderReport(const std::string& stageId, const std::string& kind, const SenderReportInfo& sr) {
  if (Stage* s = findStage(stageId)) s->relaySenderReport(kind, sr);
}

void Shard::requestKeyframe(const std::string& stageId, TimePoint now) {
  if (Stage* s = findStage(stageId)) s->requestKeyframe(now);
}

std::vector<RelaySnapshot> Shard::relaySnapshot(const std::string& stageId) {
  Stage* s = findStage(stageId);
  return s != nullptr ? s->relaySnapshot() : std::vector<RelaySnapshot>{};
}

void Shard::handleDatagram(BytesView datagram, const Endpoint& from, TimePoint now) {
  Session* session = nullptr;
  if (auto it = byAddress_.find(from); it != byAddress_.end()) {
    session = it->second;
  } else if (auto ufrag = ice::recipientUfrag(datagram)) {
    // An address we do not know yet: route by the ufrag the check is addressed to.
    if (auto u = byUfrag_.find(*ufrag); u != byUfrag_.end()) session = u->second;
  }
  if (session == nullptr || session->ended()) {
    ++unrouted_;
    return;
  }
  session->peer().handleDatagram(datagram, from, now);
}

void Shard::tick(TimePoint now) {
  for (auto it = stages_.begin(); it != stages_.end();) {
    it->second->tick(now);
    if (it->second->empty() && !it->second->persistent()) {
      retire(*it->second);
      const std::string id = it->first;
      it = stages_.erase(it);
      observer_.onStageClosed(id);
    } else {
      ++it;
    }
  }
}

void Shard::retire(const Stage& stage) {
  // Counters are monotonic: a closing stage hands its totals to the shard.
  StageStats st = stage.stats();
  st.publishers = 0;  // gauges are not carried over, only counters
  st.subscribers = 0;
  retired_ += st;
}

void Shard::closeAll() {
  for (auto& [id, stage] : stages_) stage->closeAll();
  stages_.clear();
}

ShardStats& ShardStats::operator+=(const ShardStats& o) {
  StageStats::operator+=(o);
  stages += o.stages;
  unroutedDatagrams += o.unroutedDatagrams;
  sessionsEnded += o.sessionsEnded;
  return *this;
}

ShardStats Shard::stats() const {
  ShardStats s;
  static_cast<StageStats&>(s) = retired_;
  s.stages = stages_.size();
  s.unroutedDatagrams = unrouted_;
  s.sessionsEnded = ended_;
  for (const auto& [id, stage] : stages_) s.StageStats::operator+=(stage->stats());
  return s;
}

void Shard::addRoute(const Endpoint& remote, Session& session) {
  byAddress_[remote] = &session;
  observer_.onRouteAdded(remote);
}

void Shard::removeRoute(const Endpoint& remote, Session& session) {
  auto it = byAddress_.find(remote);
  if (it == byAddress_.end() || it->second != &session) return;
  byAddress_.erase(it);
  observer_.onRouteRemoved(remote);
}

void Shard::addUfrag(const std::string& ufrag, Session& session) {
  byUfrag_[ufrag] = &session;
  observer_.onUfragAdded(ufrag);
}

void Shard::removeUfrag(const std::string& ufrag) {
  if (byUfrag_.erase(ufrag) != 0) observer_.onUfragRemoved(ufrag);
}

void Shard::sessionEnded(const std::string& stageId, const std::string& sessionId, const Error& reason) {
  ++ended_;
  observer_.onSessionEnded(stageId, sessionId, reason);
}

}  // namespace stagecast::sfu
