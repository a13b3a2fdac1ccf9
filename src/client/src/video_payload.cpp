#include "stagecast/client/video_payload.hpp"

#include "stagecast/common/text.hpp"
#include "stagecast/rtp/codec_info.hpp"

namespace stagecast::client {

std::optional<VideoCodecKind> videoCodecKindFromName(std::string_view name) {
  if (iequals(name, "H264")) return VideoCodecKind::H264;
  if (iequals(name, "VP8")) return VideoCodecKind::VP8;
  if (iequals(name, "H265")) return VideoCodecKind::H265;
  return std::nullopt;
}

bool isKeyframeStart(VideoCodecKind codec, BytesView payload) {
  switch (codec) {
    case VideoCodecKind::H264:
      return rtp::isKeyframeStart(rtp::VideoCodec::H264, payload);
    case VideoCodecKind::VP8:
      return rtp::isKeyframeStart(rtp::VideoCodec::VP8, payload);
    case VideoCodecKind::H265:
      return rtp::isKeyframeStart(rtp::VideoCodec::H265, payload);
  }
  return false;
}

}  // namespace stagecast::client
