#include "stagecast/client/synthetic_source.hpp"

#include <gtest/gtest.h>

#include "stagecast/rtp/codec_info.hpp"

namespace stagecast::client {
namespace {

void checkGop(VideoCodecKind codec) {
  VideoSourceOptions o;
  o.codec = codec;
  o.fps = 30;
  o.gop = seconds(1);
  o.bitrate = 2'000'000;
  o.streamId = 7;
  SyntheticVideoSource src(o);
  const auto rc = codec == VideoCodecKind::H264 ? rtp::VideoCodec::H264 : rtp::VideoCodec::VP8;
  for (std::uint32_t f = 0; f < 65; ++f) {
    auto pkts = src.nextFrame();
    ASSERT_FALSE(pkts.empty());
    const bool key = f % 30 == 0;
    for (std::size_t i = 0; i < pkts.size(); ++i) {
      const auto& p = pkts[i];
      EXPECT_LE(p.payload.size() + 12, 1200u);
      EXPECT_EQ(p.marker, i + 1 == pkts.size());
      EXPECT_EQ(p.timestamp, pkts[0].timestamp);
      auto tag = inspectPayload(MediaKind::Video, codec, p.payload);
      ASSERT_TRUE(tag) << "frame " << f << " packet " << i;
      EXPECT_EQ(tag->streamId, 7);
      EXPECT_EQ(tag->frame, f);
      EXPECT_EQ(tag->index, i);
      EXPECT_EQ(tag->count, pkts.size());
      EXPECT_EQ(tag->keyframe, key);
      // H.264: the STAP-A with SPS and the IDR's first FU-A both count as keyframe starts (RFC 6184 §5.7.1, §5.8).
      EXPECT_EQ(rtp::isKeyframeStart(rc, p.payload), key && (i == 0 || (codec == VideoCodecKind::H264 && i == 1)))
          << "frame " << f << " packet " << i;
    }
    if (key && codec == VideoCodecKind::H264) {
      EXPECT_EQ(pkts[0].payload[0] & 0x1F, 24);  // STAP-A
      EXPECT_EQ(pkts[1].payload[0] & 0x1F, 28);  // FU-A
      EXPECT_EQ(pkts[1].payload[1], 0x85);       // S + IDR
      EXPECT_EQ(pkts.back().payload[1], 0x45);   // E + IDR
    }
  }
  EXPECT_EQ(src.keyframesProduced(), 3u);
}

TEST(SyntheticVideo, H264GopStructureAndTags) { checkGop(VideoCodecKind::H264); }
TEST(SyntheticVideo, Vp8GopStructureAndTags) { checkGop(VideoCodecKind::VP8); }

TEST(SyntheticVideo, KeyframeOnRequest) {
  SyntheticVideoSource src({});
  (void)src.nextFrame();
  auto delta = src.nextFrame();
  EXPECT_FALSE(inspectPayload(MediaKind::Video, VideoCodecKind::H264, delta[0].payload)->keyframe);
  src.requestKeyframe();
  auto key = src.nextFrame();
  EXPECT_TRUE(key[0].keyframeStart);
  EXPECT_EQ(src.frameInterval(), std::chrono::microseconds(33333));
}

TEST(SyntheticVideo, CorruptionIsDetected) {
  SyntheticVideoSource src({});
  auto pkts = src.nextFrame();
  Bytes p = pkts[1].payload;
  p[p.size() / 2] ^= 0x01;
  EXPECT_FALSE(inspectPayload(MediaKind::Video, VideoCodecKind::H264, p));
  p = pkts[1].payload;
  p.pop_back();
  EXPECT_FALSE(inspectPayload(MediaKind::Video, VideoCodecKind::H264, p));
}

TEST(SyntheticAudio, CounterAndTimestamps) {
  SyntheticAudioSource src({.payloadSize = 60, .streamId = 3, .initialTimestamp = 1000});
  for (std::uint32_t i = 0; i < 5; ++i) {
    auto p = src.nextPacket();
    EXPECT_EQ(p.timestamp, 1000 + i * 960);
    EXPECT_EQ(p.payload.size(), 60u);
    auto tag = inspectPayload(MediaKind::Audio, VideoCodecKind::H264, p.payload);
    ASSERT_TRUE(tag);
    EXPECT_EQ(tag->frame, i);
    EXPECT_EQ(tag->streamId, 3);
  }
}

}  // namespace
}  // namespace stagecast::client
