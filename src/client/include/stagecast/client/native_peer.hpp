#pragma once
// A native WHIP publisher or WHEP viewer on an externally owned boost::asio::io_context: one UDP socket, one
// webrtc::PeerConnection (controlling ICE towards the server's ICE-lite agent, RFC 8445 §6.1.1; DTLS client
// unless the answer says otherwise, RFC 5763 §5) and one steady_timer. No thread of its own, so hundreds fit on
// one thread.
//
// Threading: connect() may be called on any thread (it performs the blocking HTTP exchange, binds the socket and
// posts the start to the io_context). Everything else, including the callbacks, runs on the io_context's thread
// only, except sendDelete() and the accessors of immutable signalling data (resourceUrl(), answerSdp(), ...).
// Asynchronous operations keep the peer alive (shared_from_this); stop() ends them.
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stagecast/client/http_client.hpp"
#include "stagecast/client/offer.hpp"
#include "stagecast/dtls/certificate.hpp"
#include "stagecast/rtcp/nack.hpp"
#include "stagecast/webrtc/peer_connection.hpp"

namespace stagecast::client {

// One RTP packet as a viewer received it (after SRTP).
struct ReceivedPacket {
  MediaKind kind = MediaKind::Video;
  std::uint32_t ssrc = 0;
  std::uint16_t sequenceNumber = 0;
  std::int64_t extendedSequence = 0;  // RFC 3550 Appendix A.1: with the wrap-around count
  std::uint32_t timestamp = 0;
  std::uint8_t payloadType = 0;
  bool marker = false;
  bool retransmission = false;  // filled a gap we had NACKed
  BytesView payload;            // valid during the callback only
  TimePoint at{};
};

// The answer of a signalling exchange other than WHIP/WHEP.
struct SignalledAnswer {
  std::string sdp;
  std::string resource;  // the session's resource or id, if the exchange gives one
};

struct NativePeerOptions {
  Role role = Role::Viewer;
  std::string host = "127.0.0.1";
  std::uint16_t httpPort = 0;
  std::string stage;
  std::string bearerToken;  // participant token (Authorization: Bearer) for the WHIP/WHEP request, if any
  bool audio = true;
  bool video = true;
  VideoCodecKind videoCodec = VideoCodecKind::H264;
  // Viewers: further video codecs offered after `videoCodec` (OfferOptions::moreVideoCodecs), and the H.265
  // level offered (OfferOptions::h265LevelId).
  std::vector<VideoCodecKind> moreVideoCodecs;
  int h265LevelId = 180;
  // Signalling instead of POST /whip|whep/{stage} (e.g. a camera preview endpoint): called by connect() with the
  // offer, returns the answer. Its error is connect()'s.
  std::function<Result<SignalledAnswer>(const std::string& offerSdp)> signal;
  // Generating a certificate costs a few ms: share one across many peers.
  std::shared_ptr<dtls::Certificate> certificate;
  // Test hook: the a=fingerprint put into the offer instead of the certificate's (DTLS must then fail).
  std::optional<std::string> fingerprintOverride;
  ice::IceClientConfig ice = defaultIceConfig();
  Duration httpTimeout = seconds(5);
  Duration dtlsTimeout = seconds(10);
  // Viewer: Generic NACK (RFC 4585 §6.2.1) for missing sequence numbers, asked for up to `nackMaxRetries` more
  // times `nackRetryInterval` apart before the packet counts as lost.
  bool sendNacks = true;
  int nackMaxRetries = 3;
  Duration nackRetryInterval = milliseconds(40);
  // Viewer, for load generation: once connected, count RTP packets from their clear header (RFC 3711 §3.1)
  // without decrypting them; onRtp is not called and payload checks are skipped.
  bool countOnly = false;
  // Publisher: packets kept per kind to answer the server's NACKs (power of two).
  std::size_t historyPackets = 2048;
  Duration rtcpInterval = seconds(1);

  // Callbacks, on the io_context's thread.
  std::function<void(const ReceivedPacket&)> onRtp;
  std::function<void(TimePoint)> onConnected;
  std::function<void(const Error&)> onClosed;
  // Publisher: the server asked for a keyframe (PLI / FIR).
  std::function<void()> onKeyframeRequest;
  // Test hook: return true to drop an inbound RTP datagram before any processing (the header is read from the
  // still-encrypted packet, RFC 3711 §3.1: the RTP header is not encrypted).
  std::function<bool(MediaKind kind, std::uint16_t sequenceNumber)> dropFilter;

  static ice::IceClientConfig defaultIceConfig() {
    ice::IceClientConfig c;
    c.consentInterval = seconds(1);  // below any server consent timeout used in tests (RFC 7675 allows 4-6 s)
    return c;
  }
};

// Per-kind reception statistics of a viewer.
struct ReceiveStats {
  std::uint32_t ssrc = 0;
  std::uint64_t packets = 0;  // unique packets
  std::uint64_t bytes = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t droppedByFilter = 0;
  std::uint64_t nackedSequences = 0;  // sequence numbers put into NACKs (retries included)
  std::uint64_t nackPackets = 0;
  std::uint64_t recovered = 0;  // gaps filled after a NACK
  std::uint64_t lost = 0;       // gave up after the retries
  std::optional<TimePoint> firstPacketAt;
  std::optional<TimePoint> firstKeyframeAt;
  bool firstPacketWasKeyframe = false;
  std::uint16_t firstSequence = 0;
  std::int64_t highestExtended = -1;
};

struct NativePeerStats {
  std::optional<TimePoint> startedAt;
  std::optional<TimePoint> connectedAt;
  bool closed = false;
  std::optional<Error> closeReason;
  ReceiveStats audio;
  ReceiveStats video;
  // Publisher side.
  std::uint64_t rtpSent = 0;
  std::uint64_t nacksReceived = 0;
  std::uint64_t retransmitted = 0;
  std::uint64_t retransmitMisses = 0;
  std::uint64_t keyframeRequests = 0;
  std::uint64_t sendErrors = 0;
  webrtc::PeerStats peer;
};

class NativePeer final : public std::enable_shared_from_this<NativePeer>, private webrtc::PeerListener {
 public:
  // Offers, POSTs to /whip/{stage} or /whep/{stage}, applies the answer, binds the socket and posts the start.
  // Errors: the server's error code (e.g. "STAGE_NOT_FOUND") for a non-201 answer, "HTTP_*", "ANSWER_INVALID",
  // "SOCKET_FAILED".
  static Result<std::shared_ptr<NativePeer>> connect(boost::asio::io_context& io, NativePeerOptions options);
  ~NativePeer() override;

  // --- io thread ---
  // Publisher: one RTP packet with our SSRC and next sequence number (RFC 3550 §5.1).
  Status sendRtp(MediaKind kind, BytesView payload, bool marker, std::uint32_t timestamp);
  // Viewer: asks the server for a keyframe (PLI, RFC 4585 §6.3.1).
  void requestKeyframe();
  void setKeyframeRequestHandler(std::function<void()> fn) { options_.onKeyframeRequest = std::move(fn); }
  void setRtpHandler(std::function<void(const ReceivedPacket&)> fn) { options_.onRtp = std::move(fn); }
  // DTLS close_notify, then stop(). The HTTP resource is not deleted.
  void close();
  // Closes the socket and the timer without telling anybody (a vanished peer).
  void stop();
  [[nodiscard]] bool connected() const { return peer_ && peer_->connected() && !stats_.closed; }
  [[nodiscard]] bool stopped() const { return stopped_; }
  [[nodiscard]] const NativePeerStats& stats() const;
  [[nodiscard]] Endpoint localEndpoint() const { return local_; }

  // --- any thread ---
  // HTTP DELETE of the session resource (RFC 9725 §4.2), with the bearer token of the request that created it.
  // Blocking.
  Result<HttpResponse> sendDelete() const;
  [[nodiscard]] const std::string& resourceUrl() const { return resource_; }
  [[nodiscard]] const std::string& answerSdp() const { return answerSdp_; }
  [[nodiscard]] const std::string& offerSdp() const { return offerSdp_; }
  [[nodiscard]] const std::string& serverUfrag() const { return serverUfrag_; }
  [[nodiscard]] const Endpoint& serverEndpoint() const { return serverEndpoint_; }
  [[nodiscard]] Role role() const { return options_.role; }
  [[nodiscard]] std::uint32_t localSsrc(MediaKind kind) const {
    return kind == MediaKind::Audio ? audioSsrc_ : videoSsrc_;
  }
  [[nodiscard]] std::uint8_t payloadType(MediaKind kind) const {
    return kind == MediaKind::Audio ? audioPt_ : videoPt_;
  }
  // The video codec the answer chose (the offered one when the answer names none we know).
  [[nodiscard]] VideoCodecKind videoCodec() const { return videoCodec_; }

 private:
  struct Private {};

 public:
  NativePeer(Private, boost::asio::io_context& io, NativePeerOptions options);

 private:
  struct Track {
    explicit Track(MediaKind k) : kind(k) {}
    MediaKind kind;
    // Publisher: outgoing numbering and the NACK history (plaintext packets by sequence & mask).
    std::uint16_t nextSeq = 0;
    std::vector<Bytes> history;
    std::vector<std::int32_t> historySeq;  // -1: empty
    // Viewer: reception state.
    bool started = false;
    std::uint16_t highest = 0;
    std::int64_t cycles = 0;
    std::vector<std::int64_t> seen;  // extended sequence numbers by slot, for duplicate detection
    struct Missing {
      int attempts = 0;
      TimePoint nextAt{};
    };
    std::map<std::int64_t, Missing> missing;  // by extended sequence number
    ReceiveStats* stats = nullptr;
  };

  void start();
  void receive();
  void onDatagram(std::size_t size, const Endpoint& from);
  void schedule();
  void onTimer();
  TimePoint nextDeadline() const;
  Track* trackFor(std::uint8_t payloadType);
  // Returns the extended sequence number (RFC 3550 Appendix A.1).
  std::int64_t trackReceived(Track& t, const rtp::RtpPacket& p, TimePoint now, bool& retransmission, bool& duplicate);
  void sendNacks(TimePoint now);
  void sendReceiverReport(TimePoint now);
  void answerNack(const rtcp::Nack& nack);

  // webrtc::PeerListener
  void onPeerSend(BytesView datagram, const Endpoint& to) override;
  void onPeerAddressValidated(const Endpoint& remote) override;
  void onPeerConnected(TimePoint now) override;
  void onPeerRtp(const rtp::RtpPacket& parsed, Bytes& packet, TimePoint now) override;
  void onPeerRtcp(BytesView packet, TimePoint now) override;
  void onPeerClosed(const Error& reason) override;

  boost::asio::io_context& io_;
  NativePeerOptions options_;
  boost::asio::ip::udp::socket socket_;
  boost::asio::steady_timer timer_;
  TimePoint armedFor_ = TimePoint::max();
  bool timerArmed_ = false;
  std::array<std::uint8_t, 2048> rx_{};
  boost::asio::ip::udp::endpoint rxFrom_;
  boost::asio::ip::udp::endpoint serverAsio_;
  std::unique_ptr<webrtc::PeerConnection> peer_;
  webrtc::PeerConfig peerConfig_;
  Endpoint local_;
  Endpoint serverEndpoint_;
  std::string resource_;
  std::string answerSdp_;
  std::string offerSdp_;
  std::string serverUfrag_;
  std::uint32_t audioSsrc_ = 0;
  std::uint32_t videoSsrc_ = 0;
  std::uint32_t rtcpSsrc_ = 0;
  std::uint8_t audioPt_ = pt::kOpus;
  std::uint8_t videoPt_ = pt::kH264;
  VideoCodecKind videoCodec_ = VideoCodecKind::H264;
  Track audio_{MediaKind::Audio};
  Track video_{MediaKind::Video};
  Bytes txBuf_;
  TimePoint nextRtcp_ = TimePoint::max();
  bool stopped_ = false;
  mutable NativePeerStats stats_;
};

}  // namespace stagecast::client
