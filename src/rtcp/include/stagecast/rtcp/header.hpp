#pragma once
// RTCP common header (RFC 3550 §6.4.1) and compound-packet walking. Parsers never throw.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "stagecast/common/byte_reader.hpp"
#include "stagecast/common/byte_writer.hpp"
#include "stagecast/common/bytes.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::rtcp {

namespace pt {
constexpr std::uint8_t kSenderReport = 200;
constexpr std::uint8_t kReceiverReport = 201;
constexpr std::uint8_t kSdes = 202;
constexpr std::uint8_t kBye = 203;
constexpr std::uint8_t kApp = 204;
constexpr std::uint8_t kRtpFeedback = 205;      // RFC 4585 §6.1 RTPFB
constexpr std::uint8_t kPayloadFeedback = 206;  // RFC 4585 §6.1 PSFB
}  // namespace pt

struct CommonHeader {
  std::uint8_t count = 0;  // RC / SC / FMT (5 bits)
  std::uint8_t packetType = 0;
  bool padding = false;
  std::size_t lengthBytes = 0;  // whole packet size including this header
  BytesView body;               // bytes after the 4-byte header, padding removed
  BytesView whole;              // the whole packet
};

// Splits a compound RTCP packet into its packets. Fails when a length runs past the buffer or the version is
// not 2.
Result<std::vector<CommonHeader>> splitCompound(BytesView datagram);

// Writes a header with a length placeholder; call finishPacket() once the body is written.
std::size_t beginPacket(ByteWriter& w, std::uint8_t count, std::uint8_t packetType);
void finishPacket(ByteWriter& w, std::size_t start);  // pads to 32 bits and patches the length field

}  // namespace stagecast::rtcp
