#pragma once
// H.264 access units (Annex B byte stream, as a camera's encoder or libavformat delivers them) to RTP payloads
// (RFC 6184, non-interleaved mode): single NAL unit packets (§5.6), FU-A fragments (§5.8) for NAL units larger
// than the MTU, STAP-A (§5.7.1) for SPS/PPS put in front of an IDR picture that lacks them. Pure: no clock, no
// I/O; the caller writes the RTP header (rtp::write) with the marker bit given here.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stagecast/common/bytes.hpp"

namespace stagecast::ingest::h264 {

// nal_unit_type values (H.264 Table 7-1) and the RFC 6184 §5.2 payload structure types.
namespace nal {
constexpr std::uint8_t kSlice = 1;
constexpr std::uint8_t kIdr = 5;
constexpr std::uint8_t kSei = 6;
constexpr std::uint8_t kSps = 7;
constexpr std::uint8_t kPps = 8;
constexpr std::uint8_t kAud = 9;
constexpr std::uint8_t kStapA = 24;
constexpr std::uint8_t kFuA = 28;
}  // namespace nal

constexpr std::uint8_t nalType(std::uint8_t header) { return header & 0x1f; }
constexpr std::uint8_t nalRefIdc(std::uint8_t header) { return (header >> 5) & 0x03; }

// NAL units of an Annex B byte stream (H.264 §B.2): split at 3- and 4-byte start codes, without the start
// codes and without trailing zero bytes. Bytes before the first start code and empty NAL units are dropped.
// The views point into `stream`.
std::vector<BytesView> splitAnnexB(BytesView stream);

struct PacketizerOptions {
  // Largest RTP payload produced, in bytes (RTP header and transport overheads not included). At least 3:
  // smaller values are raised to 3, the smallest FU-A that carries a byte.
  std::size_t mtu = 1200;
  // Put the most recent SPS and PPS seen in a STAP-A in front of an IDR access unit that does not carry them,
  // so a receiver joining at any keyframe can decode it.
  bool prependParameterSets = true;
};

struct RtpPayload {
  Bytes data;
  bool marker = false;  // set on the last payload of the access unit (RFC 6184 §5.1)
};

class Packetizer {
 public:
  explicit Packetizer(PacketizerOptions options = {});

  // Payloads for one access unit, in sending order; empty when it holds no NAL unit. NAL units of the types
  // H.264 leaves unspecified (0, 24..31) are dropped: RFC 6184 uses those values for its own structures. The
  // SPS/PPS cache is updated from every access unit, whether or not prepending is enabled.
  std::vector<RtpPayload> packetize(BytesView accessUnit);

  [[nodiscard]] const Bytes& cachedSps() const { return sps_; }
  [[nodiscard]] const Bytes& cachedPps() const { return pps_; }
  [[nodiscard]] std::size_t mtu() const { return options_.mtu; }

 private:
  void emitNal(BytesView nalUnit, std::vector<RtpPayload>& out) const;
  void emitParameterSets(const std::vector<BytesView>& sets, std::vector<RtpPayload>& out) const;

  PacketizerOptions options_;
  Bytes sps_;
  Bytes pps_;
};

}  // namespace stagecast::ingest::h264
