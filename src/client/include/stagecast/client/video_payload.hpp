#pragma once
// What a native viewer reads from a video payload without decoding it: does it begin a keyframe? For the codecs
// the clients offer, H.265 included (RFC 7798), which the rtp layer's inspection does not cover.
#include <optional>
#include <string_view>

#include "stagecast/client/offer.hpp"
#include "stagecast/common/bytes.hpp"

namespace stagecast::client {

// The codec of an RTP encoding name ("H264", "VP8", "H265", any case); none for others.
std::optional<VideoCodecKind> videoCodecKindFromName(std::string_view name);

// H.264 and VP8: rtp::isKeyframeStart. H.265: a single NAL unit packet, an aggregation packet holding such a unit
// or a fragmentation unit with S=1, whose NAL unit is an IRAP picture (types 16..21) or a VPS or SPS (sent in
// front of one).
bool isKeyframeStart(VideoCodecKind codec, BytesView payload);

}  // namespace stagecast::client
