#pragma once
// H.265 access units (Annex B byte stream, as a camera's encoder or libavformat delivers them) to RTP payloads
// (RFC 7798, one RTP stream, no decoding order numbers: sprop-max-don-diff is 0, so no DONL/DOND fields):
// single NAL unit packets (§4.4.1), fragmentation units (§4.4.3) for NAL units larger than the MTU, and
// aggregation packets (§4.4.2) for runs of parameter sets. The VPS, SPS and PPS last seen are put in front of an
// IRAP picture that lacks them, so a receiver joining at any IRAP picture can decode it; repeats of them with
// other pictures are left out, so parameter sets travel with IRAP pictures only (unless they change) and mark
// where a receiver can start. Pure: no clock, no I/O, never throws; the caller writes the RTP header with the
// marker bit given here (§4.1: last packet of the access unit).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "stagecast/common/bytes.hpp"

namespace stagecast::ingest::h265 {

// nal_unit_type values (H.265 Table 7-1) and the RFC 7798 §4.4 payload structure types.
namespace nal {
constexpr std::uint8_t kTrailR = 1;
constexpr std::uint8_t kBlaWLp = 16;  // first IRAP type
constexpr std::uint8_t kIdrWRadl = 19;
constexpr std::uint8_t kIdrNLp = 20;
constexpr std::uint8_t kCra = 21;  // last IRAP type
constexpr std::uint8_t kVps = 32;
constexpr std::uint8_t kSps = 33;
constexpr std::uint8_t kPps = 34;
constexpr std::uint8_t kAud = 35;
constexpr std::uint8_t kEos = 36;
constexpr std::uint8_t kFd = 38;  // filler data
constexpr std::uint8_t kPrefixSei = 39;
constexpr std::uint8_t kSuffixSei = 40;
constexpr std::uint8_t kAp = 48;    // RFC 7798 §4.4.2 aggregation packet
constexpr std::uint8_t kFu = 49;    // RFC 7798 §4.4.3 fragmentation unit
constexpr std::uint8_t kPaci = 50;  // RFC 7798 §4.4.4 PACI packet (never produced)
}  // namespace nal

// The two-byte NAL unit header (H.265 §7.3.1.2), also the RTP payload header (RFC 7798 §1.1.4):
// F(1) Type(6) LayerId(6) TID(3), where TID is nuh_temporal_id_plus1.
constexpr std::uint8_t nalType(std::uint8_t firstHeaderByte) { return (firstHeaderByte >> 1) & 0x3f; }
constexpr std::uint8_t layerId(std::uint8_t first, std::uint8_t second) {
  return static_cast<std::uint8_t>(((first & 0x01) << 5) | (second >> 3));
}
constexpr std::uint8_t temporalIdPlus1(std::uint8_t secondHeaderByte) { return secondHeaderByte & 0x07; }
// Intra random access point pictures (H.265 §3.73, types BLA_W_LP .. CRA_NUT): where decoding can start.
constexpr bool isIrap(std::uint8_t type) { return type >= nal::kBlaWLp && type <= nal::kCra; }
constexpr bool isParameterSet(std::uint8_t type) { return type >= nal::kVps && type <= nal::kPps; }

// NAL units of an Annex B byte stream (H.265 Annex B, the same format as H.264's): without start codes and
// trailing zero bytes; the views point into `stream`.
std::vector<BytesView> splitAnnexB(BytesView stream);

// The parameter set NAL units of a decoder configuration as libavformat gives it (AVCodecParameters extradata):
// an HEVCDecoderConfigurationRecord ("hvcC", ISO/IEC 14496-15 §8.3.3.1) or an Annex B byte stream (what the RTSP
// demuxer makes of sprop-vps/sps/pps). Malformed input gives the units read before the fault, or none.
std::vector<Bytes> parameterSetsOf(BytesView extradata);

// general_profile_space, general_tier_flag, general_profile_idc and general_level_idc of a stream, as RFC 7798
// §7.1 signals them (profile-space, tier-flag, profile-id, level-id).
struct ProfileTierLevel {
  std::uint8_t profileSpace = 0;
  std::uint8_t tierFlag = 0;
  std::uint8_t profileId = 0;
  std::uint8_t levelId = 0;
  bool operator==(const ProfileTierLevel&) const = default;
};

// The general profile_tier_level() of an SPS NAL unit (H.265 §7.3.2.2.1 and §7.3.3, read after removing the
// emulation prevention bytes, §7.4.2). None when the unit is not an SPS or is too short.
std::optional<ProfileTierLevel> profileTierLevelOfSps(BytesView spsNalUnit);

struct PacketizerOptions {
  // Largest RTP payload produced, in bytes (RTP header and transport overheads not included). At least 4:
  // smaller values are raised to 4, the smallest fragmentation unit that carries a byte.
  std::size_t mtu = 1200;
  // Put the most recent VPS, SPS and PPS seen in front of an IRAP access unit that does not carry them.
  bool prependParameterSets = true;
  // Send runs of two or more parameter sets that fit the MTU together in one aggregation packet.
  bool aggregateParameterSets = true;
  // With prependParameterSets: leave out a VPS, SPS or PPS that an access unit without an IRAP picture carries
  // when it equals the one last seen (encoders repeat them before non-IRAP I pictures too). A receiver starts at an
  // IRAP picture, which carries them, and a repeat changes nothing (H.265 §7.4.3); a changed one is sent.
  bool dropRepeatedParameterSets = true;
};

struct RtpPayload {
  Bytes data;
  bool marker = false;  // set on the last payload of the access unit (RFC 7798 §4.1)
};

class Packetizer {
 public:
  explicit Packetizer(PacketizerOptions options = {});

  // Payloads for one access unit, in sending order; empty when it holds no NAL unit that can be sent. Dropped:
  // units shorter than their two-byte header, units with nuh_temporal_id_plus1 = 0 (forbidden, H.265 §7.4.2.2;
  // RFC 7798 gives TID 0 no meaning), units of types 48..63, which H.265 leaves unspecified and RFC 7798 uses
  // for its own structures, and repeated parameter sets (see the options). The parameter set cache is updated
  // from every access unit.
  std::vector<RtpPayload> packetize(BytesView accessUnit);

  // Caches a VPS, SPS or PPS given out of band (extradata, hvcC); other units are ignored.
  void remember(BytesView nalUnit);

  [[nodiscard]] const Bytes& cachedVps() const { return vps_; }
  [[nodiscard]] const Bytes& cachedSps() const { return sps_; }
  [[nodiscard]] const Bytes& cachedPps() const { return pps_; }
  [[nodiscard]] std::size_t mtu() const { return options_.mtu; }

 private:
  Bytes* cacheFor(std::uint8_t type);
  void emitNal(BytesView unit, std::vector<RtpPayload>& out) const;
  void emitParameterSets(const std::vector<BytesView>& sets, std::vector<RtpPayload>& out) const;

  PacketizerOptions options_;
  Bytes vps_;
  Bytes sps_;
  Bytes pps_;
};

}  // namespace stagecast::ingest::h265
