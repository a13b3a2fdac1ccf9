#include "stagecast/rtp/codec_info.hpp"

#include <gtest/gtest.h>

using namespace stagecast;
using namespace stagecast::rtp;

namespace {
bool key(VideoCodec c, Bytes b) { return isKeyframeStart(c, b); }
}  // namespace

// RFC 7741 §4.2 descriptor + §4.3 payload header.
TEST(Vp8Keyframe, MinimalDescriptor) {
  EXPECT_TRUE(key(VideoCodec::VP8, {0x10, 0x00, 0x00, 0x00}));  // S=1 PID=0, P=0
  EXPECT_FALSE(key(VideoCodec::VP8, {0x10, 0x01}));             // P=1: interframe
  EXPECT_FALSE(key(VideoCodec::VP8, {0x00, 0x00}));             // S=0: continuation
  EXPECT_FALSE(key(VideoCodec::VP8, {0x11, 0x00}));             // PID=1
  EXPECT_FALSE(key(VideoCodec::VP8, {0x10}));                   // no payload header
  EXPECT_FALSE(key(VideoCodec::VP8, {}));
}

TEST(Vp8Keyframe, ExtendedDescriptor) {
  // X=1; I L T set; 15-bit PictureID (M=1); TL0PICIDX; TID/Y/KEYIDX; then payload header.
  EXPECT_TRUE(key(VideoCodec::VP8, {0x90, 0xE0, 0x81, 0x23, 0x05, 0x40, 0x9C}));
  EXPECT_FALSE(key(VideoCodec::VP8, {0x90, 0xE0, 0x81, 0x23, 0x05, 0x40, 0x9D}));
  // 7-bit PictureID only.
  EXPECT_TRUE(key(VideoCodec::VP8, {0x90, 0x80, 0x12, 0x00}));
  EXPECT_FALSE(key(VideoCodec::VP8, {0x90, 0x80, 0x12, 0x01}));
  // K only: one TID/KEYIDX byte.
  EXPECT_TRUE(key(VideoCodec::VP8, {0x90, 0x10, 0x01, 0x00}));
  // Ignoring the extension would misread 0x80 (P=0) as the payload header; it must be skipped.
  EXPECT_FALSE(key(VideoCodec::VP8, {0x90, 0x80, 0x12, 0x01}));
}

TEST(Vp8Keyframe, TruncatedExtensionsAreNotKeyframes) {
  EXPECT_FALSE(key(VideoCodec::VP8, {0x90}));
  EXPECT_FALSE(key(VideoCodec::VP8, {0x90, 0x80}));
  EXPECT_FALSE(key(VideoCodec::VP8, {0x90, 0x80, 0x81}));
  EXPECT_FALSE(key(VideoCodec::VP8, {0x90, 0xE0, 0x81, 0x23, 0x05, 0x40}));
}

// RFC 6184 §5.6–5.8.
TEST(H264Keyframe, SingleNal) {
  EXPECT_TRUE(key(VideoCodec::H264, {0x65, 0x88}));   // IDR
  EXPECT_TRUE(key(VideoCodec::H264, {0x67, 0x42}));   // SPS
  EXPECT_FALSE(key(VideoCodec::H264, {0x41, 0x9A}));  // non-IDR slice
  EXPECT_FALSE(key(VideoCodec::H264, {0x68, 0xCE}));  // PPS
  EXPECT_FALSE(key(VideoCodec::H264, {}));
}

TEST(H264Keyframe, StapA) {
  EXPECT_TRUE(key(VideoCodec::H264, {0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE}));
  EXPECT_TRUE(key(VideoCodec::H264, {0x78, 0x00, 0x01, 0x09, 0x00, 0x02, 0x65, 0x88}));  // AUD then IDR
  EXPECT_FALSE(key(VideoCodec::H264, {0x78, 0x00, 0x02, 0x41, 0x9A, 0x00, 0x02, 0x68, 0xCE}));
  EXPECT_FALSE(key(VideoCodec::H264, {0x78, 0x00, 0x05, 0x67}));  // size past end
  EXPECT_FALSE(key(VideoCodec::H264, {0x78, 0x00}));
  EXPECT_FALSE(key(VideoCodec::H264, {0x78}));
}

TEST(H264Keyframe, FuA) {
  EXPECT_TRUE(key(VideoCodec::H264, {0x7C, 0x85, 0x88}));   // S=1, IDR
  EXPECT_FALSE(key(VideoCodec::H264, {0x7C, 0x05, 0x88}));  // S=0
  EXPECT_FALSE(key(VideoCodec::H264, {0x7C, 0x45, 0x88}));  // E=1 only
  EXPECT_FALSE(key(VideoCodec::H264, {0x7C, 0x81, 0x88}));  // S=1, non-IDR
  EXPECT_FALSE(key(VideoCodec::H264, {0x7C}));
}

// draft-ietf-payload-vp9 §4.2.
TEST(Vp9Keyframe, Flags) {
  EXPECT_TRUE(key(VideoCodec::VP9, {0x08}));         // B
  EXPECT_TRUE(key(VideoCodec::VP9, {0x8C, 0x01}));   // I B E
  EXPECT_FALSE(key(VideoCodec::VP9, {0x48}));        // P B: inter-predicted
  EXPECT_FALSE(key(VideoCodec::VP9, {0x84, 0x01}));  // B=0
  EXPECT_FALSE(key(VideoCodec::VP9, {}));
}

// AV1 RTP payload §4.4 aggregation header.
TEST(Av1Keyframe, NewCodedVideoSequence) {
  EXPECT_TRUE(key(VideoCodec::AV1, {0x08, 0x0A}));
  EXPECT_TRUE(key(VideoCodec::AV1, {0x18}));  // W=1, N=1
  EXPECT_FALSE(key(VideoCodec::AV1, {0x10}));
  EXPECT_FALSE(key(VideoCodec::AV1, {0x80}));
  EXPECT_FALSE(key(VideoCodec::AV1, {}));
}

TEST(UnknownCodec, NeverKeyframe) { EXPECT_FALSE(key(VideoCodec::Unknown, {0x65, 0x08, 0x10, 0x00})); }
