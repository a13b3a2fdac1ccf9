#pragma once
// SDP offers of a native WHIP publisher (sendonly) or WHEP viewer (recvonly), shaped like a browser's:
// BUNDLE (RFC 8843), rtcp-mux (RFC 5761), ICE credentials (RFC 8839), a DTLS fingerprint (RFC 8122) with
// setup:actpass (RFC 5763 §5), mids "0" (audio) and "1" (video).
#include <cstdint>
#include <string>
#include <vector>

#include "stagecast/sdp/session_description.hpp"

namespace stagecast::client {

enum class Role { Publisher, Viewer };
enum class MediaKind { Audio, Video };
// H265 is for viewers (e.g. of an H.265 camera); the synthetic sources make H.264 and VP8 only.
enum class VideoCodecKind { H264, VP8, H265 };

const char* toString(MediaKind k);

// Payload types the offers use.
namespace pt {
constexpr std::uint8_t kOpus = 111;
constexpr std::uint8_t kH264 = 102;
constexpr std::uint8_t kH264Rtx = 103;
constexpr std::uint8_t kVp8 = 96;
constexpr std::uint8_t kVp8Rtx = 97;
constexpr std::uint8_t kH265 = 49;
constexpr std::uint8_t kH265Rtx = 50;
}  // namespace pt

struct OfferOptions {
  Role role = Role::Viewer;
  bool audio = true;
  bool video = true;
  VideoCodecKind videoCodec = VideoCodecKind::H264;
  // Further video codecs offered after `videoCodec`, in preference order, as a browser offers several.
  std::vector<VideoCodecKind> moreVideoCodecs;
  // H.265 (RFC 7798 §7.1): the highest level offered, level-id = 30 × the level (180: level 6); Main profile,
  // Main tier, one RTP stream.
  int h265LevelId = 180;
  std::string iceUfrag;
  std::string icePwd;
  std::string fingerprint;  // "AB:CD:..." sha-256
  // Publishers: announced with a=ssrc cname/msid and an FID group (RFC 5576 §4.2, RFC 4588 §8).
  std::uint32_t audioSsrc = 0;
  std::uint32_t videoSsrc = 0;
  std::uint32_t videoRtxSsrc = 0;
  std::string cname = "stagecast-client";
};

sdp::SessionDescription buildOffer(const OfferOptions& options);
std::string buildOfferSdp(const OfferOptions& options);

std::uint8_t videoPayloadType(VideoCodecKind codec);

}  // namespace stagecast::client
