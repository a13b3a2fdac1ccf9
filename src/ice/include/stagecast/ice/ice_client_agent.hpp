#pragma once
// A controlling ICE agent for clients of an ICE-lite server (RFC 8445 §6.1.1: a full agent facing a lite one is
// controlling). It checks one remote candidate, nominates it with USE-CANDIDATE (RFC 8445 §8.1.1) and keeps
// consent with periodic checks (RFC 7675 §5.1). Used by the native WHIP/WHEP clients of tests and benchmarks.
#include <optional>
#include <string>
#include <vector>

#include "stagecast/ice/ice_lite_agent.hpp"

namespace stagecast::ice {

struct IceClientConfig {
  Duration initialRto = milliseconds(50);  // first check retransmission (RFC 8489 §6.2.1 allows 500 ms)
  Duration maxRto = milliseconds(1600);
  Duration consentInterval = seconds(5);  // RFC 7675 §5.1: randomised around 5 s
  Duration consentTimeout = seconds(30);
  Duration connectTimeout = seconds(20);
};

class IceClientAgent final : public IceAgent {
 public:
  IceClientAgent(std::string localUfrag, std::string localPwd, std::string remoteUfrag, std::string remotePwd,
                 Endpoint remote, IceListener& listener, IceClientConfig config, TimePoint now);

  void start(TimePoint now) override;
  bool handleStun(const stun::Message& message, BytesView raw, const Endpoint& from, TimePoint now) override;
  void handleTimeout(TimePoint now) override;
  [[nodiscard]] TimePoint nextTimeout() const override;
  void restart(std::string localUfrag, std::string localPwd, std::string remoteUfrag, std::string remotePwd) override;
  [[nodiscard]] IceState state() const override { return state_; }
  [[nodiscard]] const std::optional<Endpoint>& selected() const override { return selected_; }
  [[nodiscard]] const std::vector<Endpoint>& validatedAddresses() const override { return validated_; }

 private:
  void sendCheck(TimePoint now);
  void setState(IceState s);

  std::string localUfrag_;
  std::string localPwd_;
  std::string remoteUfrag_;
  std::string remotePwd_;
  Endpoint remote_;
  IceListener& listener_;
  IceClientConfig config_;
  std::uint64_t tieBreaker_;
  IceState state_ = IceState::New;
  std::optional<Endpoint> selected_;
  std::vector<Endpoint> validated_;
  std::optional<stun::TransactionId> pending_;
  TimePoint created_;
  TimePoint nextSend_;
  TimePoint lastResponse_;
  Duration rto_;
  bool started_ = false;
};

}  // namespace stagecast::ice
