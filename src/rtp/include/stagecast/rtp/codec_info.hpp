#pragma once
// Payload inspection the SFU needs without decoding media: is this packet the start of a keyframe?
#include "stagecast/common/bytes.hpp"

namespace stagecast::rtp {

enum class VideoCodec { Unknown, VP8, VP9, H264, H265, AV1 };

// True when the packet's payload begins a keyframe (VP8: RFC 7741 §4.3 S=1, PID=0 and P=0 in the
// payload header; H.264: RFC 6184 NAL type 5 or SPS(7) at the start of a single NAL, STAP-A or FU-A with S=1;
// H.265: RFC 7798 an IRAP picture (types 16..21), VPS or SPS in a single NAL unit packet, an aggregation packet or
// a fragmentation unit with S=1; VP9: RFC draft-ietf-payload-vp9 B=1 and P=0).
bool isKeyframeStart(VideoCodec codec, BytesView payload);

}  // namespace stagecast::rtp
