#include "stagecast/sfu/config.hpp"

namespace stagecast::sfu {

std::vector<sdp::CodecCapability> SfuConfig::defaultAudioCodecs() {
  return {{.name = "opus", .clockRate = 48000, .channels = 2}};
}

std::vector<sdp::CodecCapability> SfuConfig::defaultVideoCodecs() {
  // Order is our preference only when the offer lists several equally; the offer's order wins (RFC 3264).
  sdp::CodecCapability h264{.name = "H264", .clockRate = 90000};
  h264.h264Profiles = {"42e0", "4200", "4d00", "6400"};
  h264.h264PacketizationMode = 1;
  return {{.name = "VP8", .clockRate = 90000},
          h264,
          {.name = "VP9", .clockRate = 90000},
          {.name = "AV1", .clockRate = 90000}};
}

}  // namespace stagecast::sfu
