#pragma once
// Typed SDP model (RFC 8866) with the WebRTC attributes (RFC 8829/8843/8839/8122/5576/8285/5761).
// parse() never throws; serialize() writes CRLF line endings.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stagecast/common/error.hpp"

namespace stagecast::sdp {

enum class Direction { SendRecv, SendOnly, RecvOnly, Inactive };
std::string_view toString(Direction d);
Direction reverse(Direction d);  // sendonly <-> recvonly

enum class SetupRole { ActPass, Active, Passive, HoldConn };

struct Fingerprint {
  std::string algorithm;  // "sha-256"
  std::string value;      // "AB:CD:..." uppercase hex

  bool operator==(const Fingerprint&) const = default;
};

struct Codec {
  std::uint8_t payloadType = 0;
  std::string name;  // as written, e.g. "VP8", "H264", "opus", "rtx"
  std::uint32_t clockRate = 0;
  std::uint8_t channels = 0;              // 0 = not given (video); audio "opus/48000/2" gives 2
  std::string fmtp;                       // raw a=fmtp parameter string, e.g. "level-asymmetry-allowed=1;..."
  std::vector<std::string> rtcpFeedback;  // "nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"

  // fmtp as key=value pairs (keys lowercased).
  [[nodiscard]] std::map<std::string, std::string> fmtpParams() const;
  [[nodiscard]] bool isRtx() const;
  // For rtx: the apt= payload type.
  [[nodiscard]] std::optional<std::uint8_t> rtxApt() const;

  bool operator==(const Codec&) const = default;
};

struct ExtMap {
  std::uint8_t id = 0;
  std::string uri;
  std::optional<Direction> direction;

  bool operator==(const ExtMap&) const = default;
};

struct SsrcInfo {
  std::uint32_t ssrc = 0;
  std::string cname;
  std::string msid;  // "stream-id track-id" from a=ssrc:N msid:...

  bool operator==(const SsrcInfo&) const = default;
};

struct SsrcGroup {
  std::string semantics;  // "FID", "SIM"
  std::vector<std::uint32_t> ssrcs;

  bool operator==(const SsrcGroup&) const = default;
};

struct Candidate {
  std::string foundation;
  std::uint32_t component = 1;
  std::string transport;  // "udp" / "tcp" (lowercase)
  std::uint32_t priority = 0;
  std::string address;  // IP or mDNS name
  std::uint16_t port = 0;
  std::string type;                               // "host", "srflx", "prflx", "relay"
  std::string tcpType;                            // for tcp candidates
  std::map<std::string, std::string> extensions;  // generation, ufrag, network-id, ...

  static Result<Candidate> parse(std::string_view value);  // value after "candidate:" (prefix tolerated)
  [[nodiscard]] std::string toString() const;              // "candidate:<foundation> ..." (without "a=")

  bool operator==(const Candidate&) const = default;
};

struct Rid {
  std::string id;
  Direction direction = Direction::SendOnly;  // "send" -> SendOnly, "recv" -> RecvOnly
  std::string params;

  bool operator==(const Rid&) const = default;
};

struct MediaSection {
  std::string kind;  // "audio", "video", "application"
  std::uint16_t port = 9;
  std::string protocol = "UDP/TLS/RTP/SAVPF";
  std::vector<std::string> formats;           // as listed on the m= line (payload types or "webrtc-datachannel")
  std::string connection = "IN IP4 0.0.0.0";  // c= value

  std::string mid;
  Direction direction = Direction::SendRecv;
  std::vector<Codec> codecs;  // in m= line order
  std::vector<ExtMap> extmaps;
  bool rtcpMux = false;
  bool rtcpRsize = false;
  std::optional<std::string> iceUfrag;
  std::optional<std::string> icePwd;
  std::vector<std::string> iceOptions;
  std::optional<Fingerprint> fingerprint;
  std::optional<SetupRole> setup;
  std::vector<std::string> msids;  // a=msid values
  std::vector<SsrcInfo> ssrcs;
  std::vector<SsrcGroup> ssrcGroups;
  std::vector<Rid> rids;
  std::optional<std::string> simulcast;
  std::vector<Candidate> candidates;
  bool endOfCandidates = false;
  std::optional<std::uint16_t> sctpPort;
  std::optional<std::uint32_t> maxMessageSize;
  std::vector<std::string> otherAttributes;  // unparsed a= lines (without "a="), kept in order

  [[nodiscard]] const Codec* findCodec(std::uint8_t pt) const;
  [[nodiscard]] std::optional<std::uint8_t> extmapId(std::string_view uri) const;

  bool operator==(const MediaSection&) const = default;
};

struct Group {
  std::string semantics;  // "BUNDLE"
  std::vector<std::string> mids;

  bool operator==(const Group&) const = default;
};

struct SessionDescription {
  std::string originUsername = "-";
  std::uint64_t sessionId = 0;
  std::uint64_t sessionVersion = 2;
  std::string originAddress = "IN IP4 127.0.0.1";
  std::string sessionName = "-";
  std::vector<Group> groups;
  bool iceLite = false;
  std::optional<std::string> iceUfrag;  // session level
  std::optional<std::string> icePwd;
  std::vector<std::string> iceOptions;
  std::optional<Fingerprint> fingerprint;
  std::optional<SetupRole> setup;
  std::string msidSemantic;  // e.g. "WMS *"; empty = omitted
  bool extmapAllowMixed = false;
  std::vector<std::string> otherAttributes;
  std::vector<MediaSection> media;

  // Effective ICE/DTLS parameters of a media section (media level overrides session level).
  [[nodiscard]] std::optional<std::string> iceUfragFor(const MediaSection& m) const;
  [[nodiscard]] std::optional<std::string> icePwdFor(const MediaSection& m) const;
  [[nodiscard]] std::optional<Fingerprint> fingerprintFor(const MediaSection& m) const;
  [[nodiscard]] std::optional<SetupRole> setupFor(const MediaSection& m) const;
  [[nodiscard]] const Group* bundleGroup() const;

  bool operator==(const SessionDescription&) const = default;
};

constexpr std::size_t kMaxSdpSize = 64 * 1024;

// Errors: code "SDP_MALFORMED" (with the line number in the message) or "SDP_TOO_LARGE".
Result<SessionDescription> parse(std::string_view text);
std::string serialize(const SessionDescription& sdp);

// Parses a trickle-ICE SDP fragment (RFC 8840 §9, media type application/trickle-ice-sdpfrag): ufrag/pwd and
// candidates per mid (or per m-line index when there is no mid).
struct SdpFragment {
  std::optional<std::string> iceUfrag;
  std::optional<std::string> icePwd;
  struct MediaCandidates {
    std::string mid;
    std::vector<Candidate> candidates;
    bool endOfCandidates = false;

    bool operator==(const MediaCandidates&) const = default;
  };
  std::vector<MediaCandidates> media;

  bool operator==(const SdpFragment&) const = default;
};
Result<SdpFragment> parseFragment(std::string_view text);

}  // namespace stagecast::sdp
