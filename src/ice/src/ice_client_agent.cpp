#include "stagecast/ice/ice_client_agent.hpp"

#include "stagecast/common/crypto.hpp"

namespace stagecast::ice {

IceClientAgent::IceClientAgent(std::string localUfrag, std::string localPwd, std::string remoteUfrag,
                               std::string remotePwd, Endpoint remote, IceListener& listener, IceClientConfig config,
                               TimePoint now)
    : localUfrag_(std::move(localUfrag)),
      localPwd_(std::move(localPwd)),
      remoteUfrag_(std::move(remoteUfrag)),
      remotePwd_(std::move(remotePwd)),
      remote_(remote),
      listener_(listener),
      config_(config),
      tieBreaker_(crypto::randomU64()),
      created_(now),
      nextSend_(now),
      lastResponse_(now),
      rto_(config.initialRto) {}

void IceClientAgent::setState(IceState s) {
  if (s == state_) return;
  state_ = s;
  listener_.onIceStateChanged(s);
}

void IceClientAgent::start(TimePoint now) {
  started_ = true;
  sendCheck(now);
}

void IceClientAgent::sendCheck(TimePoint now) {
  // RFC 8445 §7.2.2: USERNAME "<remote>:<local>", PRIORITY, ICE-CONTROLLING, USE-CANDIDATE (aggressive
  // nomination towards a lite agent is allowed, RFC 8445 §8.1.1), MESSAGE-INTEGRITY with the remote password.
  stun::Message m;
  m.cls = stun::Class::Request;
  m.method = stun::kMethodBinding;
  crypto::randomBytes(m.transactionId.data(), m.transactionId.size());
  m.username = remoteUfrag_ + ":" + localUfrag_;
  m.priority = (110U << 24) | (65535U << 8) | 255U;  // peer-reflexive type preference (RFC 8445 §7.2.2)
  m.iceControlling = tieBreaker_;
  m.useCandidate = true;
  pending_ = m.transactionId;
  const auto key = asBytes(remotePwd_);
  listener_.onIceSend(stun::serialize(m, {.integrityKey = Bytes(key.begin(), key.end()), .fingerprint = true}),
                      remote_);
  const bool connected = state_ == IceState::Completed || state_ == IceState::Connected;
  nextSend_ = now + (connected ? config_.consentInterval : rto_);
  if (!connected) rto_ = std::min(rto_ * 2, config_.maxRto);
}

bool IceClientAgent::handleStun(const stun::Message& msg, BytesView raw, const Endpoint& from, TimePoint now) {
  if (state_ == IceState::Failed) return false;
  if (msg.cls == stun::Class::Request) {
    // A lite server sends no checks, but answer any authenticated one (RFC 8445 §7.3).
    if (!msg.hasMessageIntegrity || !stun::verifyMessageIntegrity(raw, msg, asBytes(localPwd_))) return false;
    auto resp = stun::makeBindingSuccess(msg.transactionId, from);
    const auto key = asBytes(localPwd_);
    listener_.onIceSend(stun::serialize(resp, {.integrityKey = Bytes(key.begin(), key.end()), .fingerprint = true}),
                        from);
    return true;
  }
  if (!pending_ || msg.transactionId != *pending_) return false;
  if (!(from == remote_)) return false;  // RFC 8445 §7.2.5.2.1: the response must come from where we sent
  if (!msg.hasMessageIntegrity || !stun::verifyMessageIntegrity(raw, msg, asBytes(remotePwd_))) return false;
  pending_.reset();
  if (msg.cls != stun::Class::SuccessResponse) return false;
  lastResponse_ = now;
  if (!selected_) {
    validated_.push_back(remote_);
    listener_.onIceAddressValidated(remote_);
    selected_ = remote_;
    listener_.onIceSelected(remote_);
    nextSend_ = now + config_.consentInterval;
  }
  setState(IceState::Completed);
  return true;
}

TimePoint IceClientAgent::nextTimeout() const {
  if (state_ == IceState::Failed || !started_) return TimePoint::max();
  return nextSend_;
}

void IceClientAgent::handleTimeout(TimePoint now) {
  if (state_ == IceState::Failed || !started_) return;
  if (!selected_ && now >= created_ + config_.connectTimeout) {
    setState(IceState::Failed);
    return;
  }
  if (selected_ && now >= lastResponse_ + config_.consentTimeout) {
    setState(IceState::Failed);  // RFC 7675 §5.1: consent lost
    return;
  }
  if (now >= nextSend_) sendCheck(now);
}

void IceClientAgent::restart(std::string localUfrag, std::string localPwd, std::string remoteUfrag,
                             std::string remotePwd) {
  localUfrag_ = std::move(localUfrag);
  localPwd_ = std::move(localPwd);
  remoteUfrag_ = std::move(remoteUfrag);
  remotePwd_ = std::move(remotePwd);
  rto_ = config_.initialRto;
  nextSend_ = TimePoint::min();
}

}  // namespace stagecast::ice
