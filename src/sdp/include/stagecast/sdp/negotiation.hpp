#pragma once
// Offer/answer (RFC 3264, RFC 8829 §5.3) for a server that answers remote offers: WHIP publishers (the
// offer is sendonly, we receive) and WHEP viewers (the offer is recvonly, we send).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stagecast/sdp/session_description.hpp"

namespace stagecast::sdp {

// The media format configuration of an H.265 payload format (RFC 7798 §7.1), as far as a server that forwards
// one RTP stream uses it. Absent parameters take their defaults.
struct H265Params {
  int profileSpace = 0;  // profile-space, 0..3
  int profileId = 1;     // profile-id, 0..31 (1: Main)
  int tierFlag = 0;      // tier-flag, 0..1 (0: Main tier)
  int levelId = 93;      // level-id, 0..255: 30 × the level number (93: level 3.1)
  // max-recv-level-id, 0..255: a receiver that decodes a higher level than level-id says so with it.
  std::optional<int> maxRecvLevelId;
  std::string txMode = "SRST";  // tx-mode: SRST (one RTP stream), MRST, MRMT

  // The highest level the offerer of a recvonly/sendrecv section can receive (§7.2.2).
  [[nodiscard]] int receiveLevel() const { return std::max(levelId, maxRecvLevelId.value_or(0)); }
  bool operator==(const H265Params&) const = default;
};

// Reads the H.265 parameters of a codec's fmtp. Errors: SDP_MALFORMED for a value that is not a number in range.
Result<H265Params> parseH265Params(const Codec& codec);
// "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST", with profile-space in front when it is not 0.
std::string h265Fmtp(const H265Params& params);

// What the server can receive or send.
struct CodecCapability {
  std::string name;  // "VP8", "H264", "VP9", "AV1", "H265", "opus"
  std::uint32_t clockRate = 0;
  std::uint8_t channels = 0;
  // H.264 only: profile_idc/profile_iop pairs accepted (the level is negotiated down, RFC 6184 §8.2.2) and
  // the packetization-mode, which must match exactly.
  std::vector<std::string> h264Profiles;  // e.g. "42e0", "4200", "4d00" (first 2 bytes of profile-level-id hex)
  int h264PacketizationMode = 1;
  // H.265 only: sending (WHEP, previews), the configuration of the stream sent; receiving, the profile accepted
  // and the highest level. Unset: any configuration sent as one RTP stream (tx-mode SRST) is accepted.
  std::optional<H265Params> h265;
};

// The SSRCs and stream ids the server will send in one media section of its answer (WHEP).
struct OutgoingTrack {
  std::string kind;  // "audio" / "video"
  std::uint32_t ssrc = 0;
  std::uint32_t rtxSsrc = 0;  // 0 = no RTX
  std::string cname;
  std::string streamId;
  std::string trackId;
};

struct AnswerOptions {
  std::vector<CodecCapability> audioCodecs;
  std::vector<CodecCapability> videoCodecs;
  std::vector<std::string> headerExtensions;  // URIs we accept
  std::string iceUfrag;
  std::string icePwd;
  Fingerprint fingerprint;
  bool iceLite = true;
  std::vector<Candidate> candidates;  // put in every accepted section (BUNDLE: the first; all for robustness)
  // For WHEP: tracks we send, matched to offered recvonly/sendrecv sections by kind in order.
  std::vector<OutgoingTrack> outgoing;
  // When set, only one codec (the best match in the offer's preference order) is kept per section, plus its
  // RTX. Makes the forwarding path simpler and avoids an offerer switching codecs mid-stream.
  bool singleCodec = true;
  // When set, sections whose direction is sendonly (the remote sends) are accepted (WHIP); otherwise rejected.
  bool acceptIncoming = true;
  // When set, sections whose direction is recvonly/sendrecv are answered as sendonly with `outgoing` (WHEP).
  bool acceptOutgoing = false;
  // When set, offered send rids are answered with a=rid recv and a=simulcast:recv (RFC 8853). Otherwise the
  // answer leaves them out and the offerer sends a single stream (RFC 8853 §5.3).
  bool acceptSimulcast = false;
  std::uint64_t sessionId = 0;
};

// What was agreed for one media section.
struct NegotiatedMedia {
  std::string mid;
  std::string kind;
  bool accepted = false;  // false: rejected (port 0)
  Direction localDirection = Direction::Inactive;
  std::optional<Codec> codec;  // the chosen codec with the offerer's payload type
  std::optional<std::uint8_t> rtxPayloadType;
  std::vector<ExtMap> extmaps;             // accepted extensions with the offerer's ids
  std::vector<std::uint32_t> remoteSsrcs;  // from a=ssrc (media SSRC first when an FID group exists)
  std::optional<std::uint32_t> remoteRtxSsrc;
  std::vector<std::string> remoteRids;
  bool nack = false;
  bool pli = false;
  bool fir = false;
  bool transportCc = false;
  bool remb = false;
  std::optional<OutgoingTrack> outgoing;  // WHEP: the track sent in this section
};

struct Answer {
  SessionDescription sdp;
  std::vector<NegotiatedMedia> media;  // one per offered m-line
  // Offer's ICE credentials and DTLS fingerprint (from the first bundled section).
  std::string remoteIceUfrag;
  std::string remoteIcePwd;
  Fingerprint remoteFingerprint;
  SetupRole remoteSetup = SetupRole::ActPass;
  SetupRole localSetup = SetupRole::Passive;
};

// Errors (codes): "SDP_MALFORMED" (missing ICE credentials / fingerprint / rtcp-mux / BUNDLE-less multi-section
// offers), "NO_COMMON_CODEC" (no accepted section has a codec in common), "SDP_UNSUPPORTED" (e.g. no media).
Result<Answer> answerOffer(const SessionDescription& offer, const AnswerOptions& options);

// H.264 profile-level-id matching (RFC 6184 §8.1): whether `offeredFmtp` is acceptable for `capability`.
bool h264Matches(const CodecCapability& capability, const Codec& offered);

// H.265 matching (RFC 7798 §7.2.2): whether the offered H265 format is acceptable for `capability`. The offer
// must ask for one RTP stream (tx-mode SRST) and, when the capability has a configuration, the same profile space
// and profile. `sending`: the answer is sendonly, so the offerer must be able to receive the stream's tier (a
// High-tier receiver takes Main-tier streams) and level (up to max-recv-level-id when it gives one).
bool h265Matches(const CodecCapability& capability, const Codec& offered, bool sending);
// The fmtp of the answer for a matching offered H265 format: the offer's configuration (profile space, profile,
// tier) with level-id replaced by the level of the stream sent (sending) or the lower of the offered and the
// capability's level (receiving); tx-mode=SRST. Without DON (sprop-max-don-diff absent: 0).
std::string h265AnswerFmtp(const CodecCapability& capability, const Codec& offered, bool sending);

}  // namespace stagecast::sdp
