#pragma once
// Builders for synthetic RTP packets used by the SFU unit tests.
#include "stagecast/rtp/rtp_packet.hpp"

namespace stagecast::sfu::testing {

// VP8 payload (RFC 7741): descriptor with S=1, PID=0 on the first packet of a frame; keyframe when P bit = 0.
inline Bytes vp8Payload(bool frameStart, bool keyframe, std::uint8_t marker) {
  Bytes p;
  p.push_back(frameStart ? 0x10 : 0x00);  // X=0 R=0 N=0 S=start PID=0
  p.push_back(keyframe ? 0x00 : 0x01);    // payload header: P bit (0 = keyframe)
  p.push_back(0x9d);
  p.push_back(marker);
  for (int i = 0; i < 20; ++i) p.push_back(static_cast<std::uint8_t>(i));
  return p;
}

inline Bytes rtpPacket(std::uint16_t seq, std::uint32_t ts, std::uint32_t ssrc, const Bytes& payload,
                       bool marker = false, std::uint8_t pt = 96) {
  Bytes out;
  rtp::write({.marker = marker, .payloadType = pt, .sequenceNumber = seq, .timestamp = ts, .ssrc = ssrc}, {}, payload,
             out);
  return out;
}

}  // namespace stagecast::sfu::testing
