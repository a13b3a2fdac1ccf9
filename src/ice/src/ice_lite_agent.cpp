#include "stagecast/ice/ice_lite_agent.hpp"

#include <algorithm>

namespace stagecast::ice {

const char* toString(IceState s) {
  switch (s) {
    case IceState::New:
      return "new";
    case IceState::Connected:
      return "connected";
    case IceState::Completed:
      return "completed";
    case IceState::Disconnected:
      return "disconnected";
    case IceState::Failed:
      return "failed";
  }
  return "unknown";
}

std::optional<std::string> recipientUfrag(BytesView datagram) {
  if (!stun::looksLikeStun(datagram)) return std::nullopt;
  auto msg = stun::parse(datagram);
  if (!msg || !msg->username) return std::nullopt;
  return msg->username->substr(0, msg->username->find(':'));
}

IceLiteAgent::IceLiteAgent(std::string localUfrag, std::string localPwd, IceListener& listener, IceConfig config,
                           TimePoint now)
    : localUfrag_(std::move(localUfrag)),
      localPwd_(std::move(localPwd)),
      listener_(listener),
      config_(config),
      created_(now),
      lastConsent_(now) {}

void IceLiteAgent::setRemoteCredentials(std::string ufrag, std::string pwd) {
  remoteUfrag_ = std::move(ufrag);
  remotePwd_ = std::move(pwd);
}

void IceLiteAgent::restart(std::string localUfrag, std::string localPwd, std::string remoteUfrag,
                           std::string remotePwd) {
  localUfrag_ = std::move(localUfrag);
  localPwd_ = std::move(localPwd);
  setRemoteCredentials(std::move(remoteUfrag), std::move(remotePwd));
  nominated_ = false;
}

void IceLiteAgent::setState(IceState s) {
  if (s == state_) return;
  state_ = s;
  listener_.onIceStateChanged(s);
}

void IceLiteAgent::select(const Endpoint& remote) {
  if (selected_ && *selected_ == remote) return;
  selected_ = remote;
  listener_.onIceSelected(remote);
}

bool IceLiteAgent::handleStun(const stun::Message& msg, BytesView raw, const Endpoint& from, TimePoint now) {
  if (state_ == IceState::Failed) return false;
  // A lite agent only answers Binding requests (RFC 8445 §7.3); indications are keepalives (RFC 8445 §11).
  if (msg.method != stun::kMethodBinding || msg.cls != stun::Class::Request) return false;

  // RFC 8445 §7.3: USERNAME is "<our ufrag>:<their ufrag>", authenticated with our password (short-term
  // credentials, RFC 8489 §9.1). Requests failing this get no success response.
  const auto key = asBytes(localPwd_);
  if (!msg.username || !msg.hasMessageIntegrity || !stun::verifyMessageIntegrity(raw, msg, key)) {
    if (msg.username && msg.hasMessageIntegrity) {
      // RFC 8489 §9.1.3: a bad MESSAGE-INTEGRITY gets 401 without integrity.
      auto err = stun::makeBindingError(msg.transactionId, 401, "Unauthenticated");
      listener_.onIceSend(stun::serialize(err, {.integrityKey = std::nullopt, .fingerprint = true}), from);
    } else {
      auto err = stun::makeBindingError(msg.transactionId, 400, "Bad Request");
      listener_.onIceSend(stun::serialize(err, {.integrityKey = std::nullopt, .fingerprint = true}), from);
    }
    return false;
  }
  const std::string& user = *msg.username;
  const auto colon = user.find(':');
  if (colon == std::string::npos || user.compare(0, colon, localUfrag_) != 0) return false;
  if (!remoteUfrag_.empty() && user.compare(colon + 1, std::string::npos, remoteUfrag_) != 0) {
    // Stale credentials after an ICE restart: RFC 8445 §7.3.1.1 says to treat as an error.
    return false;
  }
  // A lite agent is always controlled (RFC 8445 §6.1.1); a request claiming to be controlled too is a role
  // conflict we resolve by answering 487 (RFC 8445 §7.3.1.1).
  if (msg.iceControlled && !msg.iceControlling) {
    auto err = stun::makeBindingError(msg.transactionId, 487, "Role Conflict");
    listener_.onIceSend(stun::serialize(err, {.integrityKey = Bytes(key.begin(), key.end()), .fingerprint = true}),
                        from);
    return false;
  }

  const bool known = std::find(validated_.begin(), validated_.end(), from) != validated_.end();
  if (!known) {
    if (validated_.size() >= config_.maxRemoteAddresses) return false;
    validated_.push_back(from);
    listener_.onIceAddressValidated(from);
  }

  // RFC 8489 §7.3.1: success response with XOR-MAPPED-ADDRESS, integrity with the same key, FINGERPRINT.
  auto resp = stun::makeBindingSuccess(msg.transactionId, from);
  listener_.onIceSend(stun::serialize(resp, {.integrityKey = Bytes(key.begin(), key.end()), .fingerprint = true}),
                      from);

  // RFC 7675 §5.1: any authenticated check from the selected address refreshes consent.
  if (!selected_ || *selected_ == from || msg.useCandidate) lastConsent_ = now;

  if (msg.useCandidate) {
    // RFC 8445 §7.3.1.5: the controlling agent nominated this pair; a later nomination replaces it.
    nominated_ = true;
    select(from);
    setState(IceState::Completed);
  } else if (!selected_ || (!nominated_ && state_ == IceState::Disconnected)) {
    // Before any nomination, send on the first validated pair so media can start (as full agents may).
    select(from);
    setState(IceState::Connected);
  } else if (state_ == IceState::Disconnected && *selected_ == from) {
    setState(nominated_ ? IceState::Completed : IceState::Connected);
  }
  return true;
}

TimePoint IceLiteAgent::nextTimeout() const {
  if (state_ == IceState::Failed) return TimePoint::max();
  if (!selected_) return created_ + config_.connectTimeout;
  return lastConsent_ + config_.consentTimeout;
}

void IceLiteAgent::handleTimeout(TimePoint now) {
  if (state_ == IceState::Failed) return;
  if (!selected_) {
    if (now >= created_ + config_.connectTimeout) setState(IceState::Failed);
    return;
  }
  // RFC 7675 §5.1: consent lost → stop sending. We tear the peer down (the caller reacts to Failed).
  if (now >= lastConsent_ + config_.consentTimeout) setState(IceState::Failed);
}

}  // namespace stagecast::ice
