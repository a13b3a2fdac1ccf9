#pragma once
// Server-side ICE-lite agent (RFC 8445 §2.5): answers connectivity checks, follows the controlling agent's
// nomination (USE-CANDIDATE) and tracks consent freshness (RFC 7675). Owns no socket and no clock: STUN
// messages and time in, responses and events out through IceListener.
#include <optional>
#include <string>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/clock.hpp"
#include "stagecast/common/endpoint.hpp"
#include "stagecast/stun/message.hpp"

namespace stagecast::ice {

enum class IceState { New, Connected, Completed, Disconnected, Failed };
const char* toString(IceState s);

// The local ufrag a connectivity check is addressed to: the part of its USERNAME before ':' (RFC 8445 §7.3,
// "<receiver ufrag>:<sender ufrag>"). nullopt for anything that is not a STUN message with a USERNAME. Used to
// route the first check from an address not seen before; the agent still authenticates it.
std::optional<std::string> recipientUfrag(BytesView datagram);

class IceListener {
 public:
  virtual ~IceListener() = default;
  virtual void onIceSend(BytesView datagram, const Endpoint& to) = 0;
  // A remote address passed a check with valid MESSAGE-INTEGRITY (route its datagrams to this peer).
  virtual void onIceAddressValidated(const Endpoint& remote) = 0;
  // The pair used to send media changed (first selection or nominated switch).
  virtual void onIceSelected(const Endpoint& remote) = 0;
  virtual void onIceStateChanged(IceState state) = 0;
};

struct IceConfig {
  // RFC 7675 §5.1: consent expires 30 s after the last successful check.
  Duration consentTimeout = seconds(30);
  // No check at all within this time after creation → failed.
  Duration connectTimeout = seconds(30);
  // Checks from more than this many distinct addresses are ignored (bounds memory per peer).
  std::size_t maxRemoteAddresses = 16;
};

// What a peer needs from its ICE agent, whichever role it plays.
class IceAgent {
 public:
  virtual ~IceAgent() = default;
  // Starts checks (controlling agents); a lite agent waits for them.
  virtual void start(TimePoint now) = 0;
  // Handles one STUN datagram received from `from`. Returns false when it was not valid for us.
  virtual bool handleStun(const stun::Message& message, BytesView raw, const Endpoint& from, TimePoint now) = 0;
  virtual void handleTimeout(TimePoint now) = 0;
  [[nodiscard]] virtual TimePoint nextTimeout() const = 0;
  // ICE restart (RFC 8445 §2.4): new local and remote credentials.
  virtual void restart(std::string localUfrag, std::string localPwd, std::string remoteUfrag,
                       std::string remotePwd) = 0;
  [[nodiscard]] virtual IceState state() const = 0;
  [[nodiscard]] virtual const std::optional<Endpoint>& selected() const = 0;
  [[nodiscard]] virtual const std::vector<Endpoint>& validatedAddresses() const = 0;
};

class IceLiteAgent final : public IceAgent {
 public:
  IceLiteAgent(std::string localUfrag, std::string localPwd, IceListener& listener, IceConfig config, TimePoint now);

  void setRemoteCredentials(std::string ufrag, std::string pwd);
  void start(TimePoint /*now*/) override {}
  // The selected pair is kept until a check with the new credentials nominates one.
  void restart(std::string localUfrag, std::string localPwd, std::string remoteUfrag, std::string remotePwd) override;

  bool handleStun(const stun::Message& message, BytesView raw, const Endpoint& from, TimePoint now) override;
  // Consent freshness and connect timeout.
  void handleTimeout(TimePoint now) override;
  [[nodiscard]] TimePoint nextTimeout() const override;

  [[nodiscard]] IceState state() const override { return state_; }
  [[nodiscard]] const std::optional<Endpoint>& selected() const override { return selected_; }
  [[nodiscard]] const std::string& localUfrag() const { return localUfrag_; }
  [[nodiscard]] const std::string& localPwd() const { return localPwd_; }
  [[nodiscard]] const std::vector<Endpoint>& validatedAddresses() const override { return validated_; }

 private:
  void setState(IceState s);
  void select(const Endpoint& remote);

  std::string localUfrag_;
  std::string localPwd_;
  std::string remoteUfrag_;
  std::string remotePwd_;
  IceListener& listener_;
  IceConfig config_;
  IceState state_ = IceState::New;
  std::optional<Endpoint> selected_;
  bool nominated_ = false;
  TimePoint created_;
  TimePoint lastConsent_;
  std::vector<Endpoint> validated_;
};

}  // namespace stagecast::ice
