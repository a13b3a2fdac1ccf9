#pragma once
// A WHIP publisher or WHEP viewer: one PeerConnection plus what was negotiated for it.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stagecast/common/clock.hpp"
#include "stagecast/sdp/negotiation.hpp"
#include "stagecast/sfu/outgoing_stream.hpp"
#include "stagecast/sfu/source_track.hpp"
#include "stagecast/sfu/twcc_recorder.hpp"
#include "stagecast/webrtc/peer_connection.hpp"

namespace stagecast::sfu {

class Stage;

enum class SessionKind { Publisher, Subscriber };
const char* toString(SessionKind k);

class Session : public webrtc::PeerListener {
 public:
  Session(std::string id, SessionKind kind, Stage& stage);
  ~Session() override;

  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] SessionKind kind() const { return kind_; }
  [[nodiscard]] const std::string& etag() const { return etag_; }
  void setEtag(std::string e) { etag_ = std::move(e); }
  [[nodiscard]] webrtc::PeerConnection& peer() { return *peer_; }
  [[nodiscard]] const webrtc::PeerConnection& peer() const { return *peer_; }
  [[nodiscard]] bool ended() const { return ended_; }
  [[nodiscard]] TimePoint createdAt() const { return createdAt_; }

  void createPeer(webrtc::PeerConfig config, TimePoint now);
  // Periodic work: RTCP reports (once a second) and fast feedback (every worker tick).
  virtual void onRtcpTimer(TimePoint now) = 0;
  virtual void onTick(TimePoint /*now*/) {}
  // Stops forwarding and detaches from the stage's sources. Idempotent.
  virtual void shutdown() = 0;

  // webrtc::PeerListener
  void onPeerSend(BytesView datagram, const Endpoint& to) override;
  void onPeerAddressValidated(const Endpoint& remote) override;
  void onPeerClosed(const Error& reason) override;

 protected:
  void sendRtcp(Bytes& packet);

  std::string id_;
  SessionKind kind_;
  Stage& stage_;
  std::string etag_;
  std::unique_ptr<webrtc::PeerConnection> peer_;
  bool ended_ = false;
  TimePoint createdAt_{};
  std::uint32_t rtcpSsrc_;           // our SSRC as sender of feedback
  std::vector<std::string> ufrags_;  // local ICE ufrags routed to this session (more than one after a restart)

  friend class Stage;
};

// Receives one publisher's media and feeds the stage's sources.
class PublisherSession final : public Session {
 public:
  PublisherSession(std::string id, Stage& stage, const sdp::Answer& answer);

  void onPeerConnected(TimePoint now) override;
  void onPeerRtp(const rtp::RtpPacket& parsed, Bytes& packet, TimePoint now) override;
  void onPeerRtcp(BytesView packet, TimePoint now) override;
  void onRtcpTimer(TimePoint now) override;
  void onTick(TimePoint now) override;
  void shutdown() override;

  // The codec negotiated for a kind ("audio" / "video"), if that section was accepted.
  [[nodiscard]] std::optional<sdp::Codec> codecFor(const std::string& kind) const;
  // Sends a PLI for the video source (the stage merges requests before calling this).
  void sendPli();
  [[nodiscard]] std::uint64_t nacksSent() const { return nacksSent_; }

 private:
  struct Incoming {
    SourceTrack* source = nullptr;
    sdp::Codec codec;
    std::uint8_t payloadType = 0;
    std::optional<std::uint8_t> rtxPayloadType;
    std::uint32_t mediaSsrc = 0;  // learnt from the first packet
    std::uint32_t rtxSsrc = 0;
    bool nack = false;
    // Reception state (RFC 3550 §6.4.1, Appendix A.3/A.8)
    bool started = false;
    std::uint16_t maxSeq = 0;
    std::uint32_t cycles = 0;
    std::uint32_t baseSeq = 0;
    std::uint32_t received = 0;
    std::uint32_t expectedPrior = 0;
    std::uint32_t receivedPrior = 0;
    double jitter = 0;
    std::int64_t lastTransit = 0;
    bool haveTransit = false;
    std::uint32_t lastSrMiddle = 0;
    std::optional<TimePoint> lastSrAt;
    std::map<std::uint16_t, int> missing;  // seq → NACK attempts
  };
  Incoming* findIncoming(const rtp::RtpPacket& p);
  void track(Incoming& in, const rtp::RtpPacket& p, TimePoint now);
  void sendNacks(TimePoint now);

  std::vector<Incoming> incoming_;
  std::optional<std::uint8_t> twccExtensionId_;
  TwccRecorder twcc_;
  TimePoint nextTwcc_{};
  Bytes unwrap_;
  std::uint64_t nacksSent_ = 0;
  bool attached_ = false;
};

// Sends the stage's sources to one viewer.
class SubscriberSession final : public Session {
 public:
  SubscriberSession(std::string id, Stage& stage, const sdp::Answer& answer, std::size_t retransmitBufferPackets);

  void onPeerConnected(TimePoint now) override;
  void onPeerRtp(const rtp::RtpPacket& parsed, Bytes& packet, TimePoint now) override;
  void onPeerRtcp(BytesView packet, TimePoint now) override;
  void onRtcpTimer(TimePoint now) override;
  void shutdown() override;

  [[nodiscard]] const std::vector<std::unique_ptr<OutgoingStream>>& streams() const { return streams_; }
  // The viewer's latest REMB (draft-alvestrand-rmcat-remb), if any.
  [[nodiscard]] std::optional<std::uint64_t> estimatedBitrate(TimePoint now) const;

 private:
  OutgoingStream* streamBySsrc(std::uint32_t ssrc);
  std::vector<std::unique_ptr<OutgoingStream>> streams_;
  std::vector<SourceTrack*> sources_;  // parallel to streams_
  bool attached_ = false;
  std::optional<std::uint64_t> remb_;
  TimePoint rembAt_{};
};

}  // namespace stagecast::sfu
