#include "stagecast/sfu/source_track.hpp"

#include <gtest/gtest.h>

#include "sfu_test_util.hpp"

using namespace stagecast;
using namespace stagecast::sfu;
using namespace stagecast::sfu::testing;

TEST(SourceTrack, CachesFromLatestKeyframeOnly) {
  SourceTrack t("video", 100, 1 << 20);
  t.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  TimePoint now{};
  auto feed = [&](std::uint16_t seq, bool key) {
    Bytes raw = rtpPacket(seq, seq * 100U, 1, vp8Payload(key, key, 0));
    t.deliver(*rtp::parse(raw), raw, now);
  };
  feed(1, false);
  EXPECT_FALSE(t.hasKeyframe());
  feed(2, true);
  feed(3, false);
  EXPECT_EQ(t.gop().size(), 2U);
  feed(4, true);
  EXPECT_EQ(t.gop().size(), 1U);
  EXPECT_EQ(t.keyframes(), 2U);
}

TEST(SourceTrack, DropsCacheWhenGroupExceedsBound) {
  SourceTrack t("video", 5, 1 << 20);
  t.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  TimePoint now{};
  for (std::uint16_t s = 0; s < 10; ++s) {
    Bytes raw = rtpPacket(s, 0, 1, vp8Payload(s == 0, s == 0, 0));
    t.deliver(*rtp::parse(raw), raw, now);
  }
  EXPECT_FALSE(t.hasKeyframe()) << "an incomplete group is useless to a new viewer";
}

TEST(SourceTrack, GroupAgeIsTheMediaTimeFromItsKeyframe) {
  SourceTrack t("video", 100, 1 << 20);
  t.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  TimePoint now{};
  auto feed = [&](std::uint16_t seq, std::uint32_t ts, bool key) {
    Bytes raw = rtpPacket(seq, ts, 1, vp8Payload(key, key, 0));
    t.deliver(*rtp::parse(raw), raw, now);
  };
  const std::uint32_t start = 0xFFFFFFFFU - 45000;  // half a second before the timestamp wraps
  feed(1, start - 3000, false);
  EXPECT_EQ(t.gopAge(), Duration::zero()) << "nothing cached";
  feed(2, start, true);
  EXPECT_EQ(t.gopAge(), Duration::zero());
  feed(3, start + 90000, false);  // one second later, across the wrap
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(t.gopAge()).count(), 1000);
  feed(4, start + 45000, false);  // shown earlier than the previous frame (a B-frame): the span stays
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(t.gopAge()).count(), 1000);
  feed(5, start + 270000, false);
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(t.gopAge()).count(), 3000);
  feed(6, start + 273000, true);
  EXPECT_EQ(t.gopAge(), Duration::zero()) << "a new keyframe starts a new group";
  EXPECT_TRUE(t.keyframesOnRequest()) << "a publisher answers keyframe requests by default";
  t.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000}, false);
  EXPECT_FALSE(t.keyframesOnRequest());
}

TEST(SourceTrack, MergesKeyframeRequests) {
  SourceTrack t("video", 5, 1000);
  TimePoint now{seconds(10)};
  EXPECT_TRUE(t.shouldRequestKeyframe(now, milliseconds(500)));
  EXPECT_FALSE(t.shouldRequestKeyframe(now + milliseconds(499), milliseconds(500)));
  EXPECT_TRUE(t.shouldRequestKeyframe(now + milliseconds(500), milliseconds(500)));
}

TEST(SourceTrack, NewPublisherStartsNewGeneration) {
  SourceTrack t("video", 5, 1000);
  t.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  const auto g = t.generation();
  t.detachPublisher();
  EXPECT_FALSE(t.live());
  t.attachPublisher({.payloadType = 102, .name = "H264", .clockRate = 90000});
  EXPECT_EQ(t.generation(), g + 1);
  EXPECT_EQ(t.videoCodec(), rtp::VideoCodec::H264);
}

namespace {
Bytes h264(std::initializer_list<std::uint8_t> bytes) { return Bytes(bytes); }
}  // namespace

TEST(SourceTrack, MultiPacketH264KeyframeStaysOneGroup) {
  // A keyframe as some encoders send it: STAP-A (SPS, PPS, IDR slice 1), then IDR slice 2, same timestamp.
  SourceTrack t("video", 100, 1 << 20);
  t.attachPublisher({.payloadType = 102, .name = "H264", .clockRate = 90000});
  TimePoint now{};
  const Bytes stapA = h264({24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce, 0, 2, 0x65, 0x88});
  const Bytes idrSlice = h264({0x65, 0x88, 0x84});
  const Bytes pSlice = h264({0x41, 0x9a});
  for (const auto& [seq, ts, payload] : std::vector<std::tuple<std::uint16_t, std::uint32_t, Bytes>>{
           {1, 3000, stapA}, {2, 3000, idrSlice}, {3, 6000, pSlice}}) {
    Bytes raw = rtpPacket(seq, ts, 1, payload, false, 102);
    t.deliver(*rtp::parse(raw), raw, now);
  }
  ASSERT_EQ(t.gop().size(), 3U) << "the second IDR slice must not restart the group";
  EXPECT_EQ(rtp::parse(*t.gop().front())->sequenceNumber, 1);
  EXPECT_EQ(t.keyframes(), 1U);
}
