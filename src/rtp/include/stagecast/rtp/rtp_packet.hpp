#pragma once
// RTP packet codec (RFC 3550 §5.1) with header extensions (RFC 8285). Pure and allocation-light:
// parse() returns views into the caller's buffer. Never throws.
#include <array>
#include <cstdint>
#include <optional>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::rtp {

struct HeaderExtension {
  std::uint8_t id = 0;  // 1..14 (one-byte) or 1..255 (two-byte)
  BytesView data;
};

// A parsed view of one RTP packet. All views point into the buffer given to parse().
struct RtpPacket {
  bool marker = false;
  std::uint8_t payloadType = 0;
  std::uint16_t sequenceNumber = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::uint8_t csrcCount = 0;
  std::array<std::uint32_t, 15> csrcs{};
  // RFC 8285: profile 0xBEDE (one-byte) or 0x1000-0x100F (two-byte). Other profiles are kept as opaque.
  std::optional<std::uint16_t> extensionProfile;
  std::uint8_t extensionCount = 0;
  std::array<HeaderExtension, 16> extensions{};  // at most 16 kept; more are ignored
  std::size_t headerSize = 0;                    // fixed header + CSRCs + extension block
  BytesView payload;                             // without padding
  std::uint8_t paddingSize = 0;

  [[nodiscard]] std::optional<BytesView> extension(std::uint8_t id) const;
};

// RFC 7983 §7: RTP/RTCP when the first byte is in [128, 191].
bool looksLikeRtpOrRtcp(BytesView datagram);
// RFC 5761 §4: RTCP when the second byte (PT with marker) is in [192, 223].
bool looksLikeRtcp(BytesView datagram);

Result<RtpPacket> parse(BytesView datagram);

// Builder for outgoing packets (used by the forwarder when rewriting a packet for one subscriber).
struct RtpHeaderFields {
  bool marker = false;
  std::uint8_t payloadType = 0;
  std::uint16_t sequenceNumber = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
};

// Writes header + one-byte-form extensions (ids 1..14, data 1..16 bytes; two-byte form used automatically
// when any extension needs it) + payload into `out` (cleared first). Returns bytes written.
std::size_t write(const RtpHeaderFields& fields, std::span<const HeaderExtension> extensions, BytesView payload,
                  Bytes& out);

// Sequence-number arithmetic (RFC 3550 Appendix A.1).
inline bool seqNewer(std::uint16_t a, std::uint16_t b) { return a != b && static_cast<std::uint16_t>(a - b) < 0x8000; }

// Extension URIs we understand (RFC 8285 negotiation lives in the SDP layer).
namespace ext {
constexpr const char* kMid = "urn:ietf:params:rtp-hdrext:sdes:mid";
constexpr const char* kRid = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
constexpr const char* kRepairedRid = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
constexpr const char* kAbsSendTime = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
constexpr const char* kTransportCc = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
constexpr const char* kAudioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
}  // namespace ext

// abs-send-time: 24-bit 6.18 fixed-point seconds.
std::array<std::uint8_t, 3> encodeAbsSendTime(std::uint64_t microsecondsSinceAnyEpoch);
std::optional<std::uint32_t> decodeAbsSendTime(BytesView data);
// transport-wide-cc: 16-bit sequence number.
std::optional<std::uint16_t> decodeTransportSequence(BytesView data);

}  // namespace stagecast::rtp
