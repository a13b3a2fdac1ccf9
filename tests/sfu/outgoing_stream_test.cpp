#include "stagecast/sfu/outgoing_stream.hpp"

#include <gtest/gtest.h>

#include "sfu_test_util.hpp"

using namespace stagecast;
using namespace stagecast::sfu;
using namespace stagecast::sfu::testing;

namespace {

struct Harness {
  std::vector<Bytes> sent;
  int keyframeRequests = 0;
  SourceTrack source{"video", 1000, 1 << 20};
  OutgoingStream stream;
  TimePoint now{seconds(50)};

  explicit Harness(bool video = true)
      : stream(
            OutgoingParams{.ssrc = 0xABCDEF01,
                           .payloadType = 100,
                           .midExtensionId = 3,
                           .mid = "1",
                           .clockRate = 90000,
                           .video = video,
                           .retransmitBufferPackets = 64},
            [this](Bytes& p) { sent.push_back(p); }, [this](TimePoint) { ++keyframeRequests; }) {}

  void publish(std::uint16_t seq, std::uint32_t ts, bool keyframeStart, std::uint32_t ssrc = 1111) {
    Bytes raw = rtpPacket(seq, ts, ssrc, vp8Payload(keyframeStart, keyframeStart, 0));
    auto p = rtp::parse(raw);
    ASSERT_TRUE(p.ok());
    source.deliver(*p, raw, now);
  }
  rtp::RtpPacket sentAt(std::size_t i) const { return *rtp::parse(sent.at(i)); }
};

}  // namespace

TEST(OutgoingStream, ReplaysCachedGroupThenContinuesLive) {
  Harness h;
  sdp::Codec vp8{.payloadType = 96, .name = "VP8", .clockRate = 90000};
  h.source.attachPublisher(vp8);
  h.publish(10, 1000, false);  // before any keyframe: not cached
  h.publish(11, 4000, true);   // keyframe start
  h.publish(12, 4000, false);
  h.publish(13, 7000, false);
  h.source.addSink(&h.stream);
  h.stream.start(h.source, h.now);
  ASSERT_EQ(h.sent.size(), 3U) << "the cached group from the keyframe is replayed at once";
  EXPECT_EQ(h.keyframeRequests, 0);
  h.publish(14, 10000, false);
  ASSERT_EQ(h.sent.size(), 4U);
  for (std::size_t i = 0; i < h.sent.size(); ++i) {
    auto p = h.sentAt(i);
    EXPECT_EQ(p.ssrc, 0xABCDEF01U);
    EXPECT_EQ(p.payloadType, 100);
    ASSERT_TRUE(p.extension(3));
    EXPECT_EQ(asString(*p.extension(3)), "1");
    if (i > 0) {
      EXPECT_EQ(static_cast<std::uint16_t>(p.sequenceNumber - h.sentAt(i - 1).sequenceNumber), 1);
    }
  }
  EXPECT_EQ(h.sentAt(3).timestamp - h.sentAt(0).timestamp, 6000U) << "timestamps keep their spacing";
}

TEST(OutgoingStream, WaitsForKeyframeAndAsksForOneWhenNothingCached) {
  Harness h;
  h.source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  h.source.addSink(&h.stream);
  h.stream.start(h.source, h.now);
  EXPECT_EQ(h.keyframeRequests, 1);
  h.publish(1, 100, false);
  h.publish(2, 200, false);
  EXPECT_TRUE(h.sent.empty());
  EXPECT_EQ(h.stream.keyframeWaitDrops(), 2U);
  h.publish(3, 300, true);
  h.publish(4, 400, false);
  EXPECT_EQ(h.sent.size(), 2U);
  EXPECT_TRUE(rtp::isKeyframeStart(rtp::VideoCodec::VP8, h.sentAt(0).payload));
}

namespace {

// A group whose keyframe is 3 s of media time old (over the default 2 s replay limit): packets 1 (keyframe) to 4.
void publishOldGroup(Harness& h) {
  h.publish(1, 0, true);
  h.publish(2, 90000, false);
  h.publish(3, 180000, false);
  h.publish(4, 270000, false);
  ASSERT_EQ(std::chrono::duration_cast<milliseconds>(h.source.gopAge()).count(), 3000);
}

}  // namespace

TEST(OutgoingStream, OldGroupIsNotReplayedWhenAFreshKeyframeCanBeRequested) {
  Harness h;
  h.source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  publishOldGroup(h);
  h.source.addSink(&h.stream);
  h.stream.start(h.source, h.now);
  EXPECT_TRUE(h.sent.empty()) << "three seconds of video in one burst would put the viewer behind";
  EXPECT_EQ(h.keyframeRequests, 1);
  h.now += milliseconds(100);
  h.publish(5, 273000, false);
  EXPECT_TRUE(h.sent.empty());
  h.now += milliseconds(100);
  h.publish(6, 276000, true);  // the requested keyframe
  h.publish(7, 279000, false);
  ASSERT_EQ(h.sent.size(), 2U);
  EXPECT_TRUE(rtp::isKeyframeStart(rtp::VideoCodec::VP8, h.sentAt(0).payload));
  EXPECT_EQ(h.stream.cachedGroupReplays(), 0U);
  h.now += seconds(2);
  h.publish(8, 282000, false);
  EXPECT_EQ(h.sent.size(), 3U) << "once live, nothing is replayed later";
}

TEST(OutgoingStream, OldGroupIsReplayedWhenTheRequestedKeyframeDoesNotCome) {
  Harness h;
  h.source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  publishOldGroup(h);
  h.source.addSink(&h.stream);
  h.stream.start(h.source, h.now);
  EXPECT_EQ(h.keyframeRequests, 1);
  h.now += milliseconds(999);
  h.publish(5, 273000, false);
  EXPECT_TRUE(h.sent.empty()) << "still waiting for the keyframe";
  h.now += milliseconds(1);
  h.publish(6, 276000, false);
  ASSERT_EQ(h.sent.size(), 6U) << "the whole group, ending with the packet that arrived at the deadline";
  EXPECT_TRUE(rtp::isKeyframeStart(rtp::VideoCodec::VP8, h.sentAt(0).payload));
  for (std::size_t i = 1; i < h.sent.size(); ++i) {
    EXPECT_EQ(static_cast<std::uint16_t>(h.sentAt(i).sequenceNumber - h.sentAt(i - 1).sequenceNumber), 1);
  }
  EXPECT_EQ(h.sentAt(5).timestamp - h.sentAt(0).timestamp, 276000U);
  EXPECT_EQ(h.stream.cachedGroupReplays(), 1U);
  h.publish(7, 279000, false);
  EXPECT_EQ(h.sent.size(), 7U);
}

TEST(OutgoingStream, OldGroupOfASourceWithoutKeyframeRequestsIsReplayedAtOnce) {
  Harness h;
  // An RTSP camera: nobody can ask it for a keyframe, so waiting would only delay the first frame.
  h.source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000}, false);
  publishOldGroup(h);
  h.source.addSink(&h.stream);
  h.stream.start(h.source, h.now);
  EXPECT_EQ(h.sent.size(), 4U);
  EXPECT_EQ(h.keyframeRequests, 0);
  EXPECT_EQ(h.stream.cachedGroupReplays(), 1U);
}

TEST(OutgoingStream, SourceSwitchKeepsSequenceContinuous) {
  Harness h;
  h.source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  h.source.addSink(&h.stream);
  h.stream.start(h.source, h.now);
  h.publish(500, 9000, true, 1111);
  h.publish(501, 12000, false, 1111);
  // A new publisher with unrelated numbering takes over.
  h.source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  h.now += milliseconds(100);
  h.publish(40000, 777, false, 2222);  // not a keyframe: dropped until one comes
  h.publish(40001, 3777, true, 2222);
  h.publish(40002, 6777, false, 2222);
  ASSERT_EQ(h.sent.size(), 4U);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(static_cast<std::uint16_t>(h.sentAt(i).sequenceNumber - h.sentAt(i - 1).sequenceNumber), 1);
    EXPECT_EQ(h.sentAt(i).ssrc, h.sentAt(0).ssrc);
  }
  const std::uint32_t gap = h.sentAt(2).timestamp - h.sentAt(1).timestamp;
  EXPECT_GE(gap, 9000U - 100) << "the timestamp advances by the wall-clock gap (100 ms = 9000 ticks)";
  EXPECT_LE(gap, 9000U + 100);
}

TEST(OutgoingStream, RetransmitsFromBufferOnlyWhatItStillHas) {
  Harness h;
  h.source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  h.source.addSink(&h.stream);
  h.stream.start(h.source, h.now);
  for (std::uint16_t i = 0; i < 100; ++i) h.publish(static_cast<std::uint16_t>(1000 + i), 90 * i, i == 0);
  ASSERT_EQ(h.sent.size(), 100U);
  const auto last = h.sentAt(99).sequenceNumber;
  const Bytes original = h.sent[99];
  h.sent.clear();
  // The buffer holds 64 packets: the last one is there, the first is gone.
  EXPECT_EQ(h.stream.retransmit({last, static_cast<std::uint16_t>(last - 99)}, h.now), 1U);
  ASSERT_EQ(h.sent.size(), 1U);
  EXPECT_EQ(h.sent[0], original);
  EXPECT_EQ(h.stream.retransmitted(), 1U);
}

TEST(OutgoingStream, AudioStartsImmediately) {
  Harness h(false);
  SourceTrack audio("audio", 10, 1000);
  audio.attachPublisher({.payloadType = 111, .name = "opus", .clockRate = 48000, .channels = 2});
  audio.addSink(&h.stream);
  h.stream.start(audio, h.now);
  Bytes raw = rtpPacket(7, 960, 5, Bytes{1, 2, 3}, false, 111);
  audio.deliver(*rtp::parse(raw), raw, h.now);
  EXPECT_EQ(h.sent.size(), 1U);
  EXPECT_EQ(h.keyframeRequests, 0);
}

TEST(OutgoingStream, WaitingViewerDoesNotStartInsideAKeyframe) {
  // A cache bound of one packet: a two-packet keyframe leaves nothing cached, so a new viewer must wait.
  SourceTrack source("video", 1, 1 << 20);
  std::vector<Bytes> sent;
  OutgoingStream stream(
      {.ssrc = 9, .payloadType = 102, .clockRate = 90000, .video = true, .retransmitBufferPackets = 64},
      [&](Bytes& p) { sent.push_back(p); }, [](TimePoint) {});
  source.attachPublisher({.payloadType = 102, .name = "H264", .clockRate = 90000});
  TimePoint now{};
  auto feed = [&](std::uint16_t seq, std::uint32_t ts, Bytes payload) {
    Bytes raw = rtpPacket(seq, ts, 1, payload, false, 102);
    source.deliver(*rtp::parse(raw), raw, now);
  };
  const Bytes stapA{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce};
  const Bytes idrSlice{0x65, 0x88, 0x84};
  feed(1, 3000, stapA);
  feed(2, 3000, idrSlice);
  ASSERT_FALSE(source.hasKeyframe());
  // The viewer joins now: the rest of the frame at 3000 lacks its SPS/PPS and must not start the stream.
  source.addSink(&stream);
  stream.start(source, now);
  feed(3, 3000, idrSlice);
  feed(4, 6000, Bytes{0x41, 0x9a});
  EXPECT_TRUE(sent.empty());
  feed(5, 9000, stapA);
  feed(6, 9000, idrSlice);
  ASSERT_EQ(sent.size(), 2U);
  EXPECT_EQ(rtp::parse(sent[0])->payload[0], 24);
}

TEST(OutgoingStream, DropsPacketsOfAnotherCodecThanNegotiated) {
  // The viewer negotiated VP8; a replacement publisher sends H.264: nothing is forwarded under the VP8 payload type.
  SourceTrack source("video", 100, 1 << 20);
  std::vector<Bytes> sent;
  OutgoingStream stream(
      {.ssrc = 9,
       .payloadType = 96,
       .codecName = "VP8",
       .clockRate = 90000,
       .video = true,
       .retransmitBufferPackets = 64},
      [&](Bytes& p) { sent.push_back(p); }, [](TimePoint) {});
  TimePoint now{};
  source.attachPublisher({.payloadType = 96, .name = "vp8", .clockRate = 90000});
  source.addSink(&stream);
  stream.start(source, now);
  auto feed = [&](std::uint16_t seq, Bytes payload, std::uint8_t pt) {
    Bytes raw = rtpPacket(seq, seq * 3000U, 1, payload, false, pt);
    source.deliver(*rtp::parse(raw), raw, now);
  };
  feed(1, vp8Payload(true, true, 0), 96);
  EXPECT_EQ(sent.size(), 1U) << "same codec (names compare case-insensitively)";
  source.attachPublisher({.payloadType = 102, .name = "H264", .clockRate = 90000});
  feed(2, Bytes{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, 102);
  feed(3, Bytes{0x41, 0x9a}, 102);
  EXPECT_EQ(sent.size(), 1U);
  EXPECT_EQ(stream.codecMismatchDrops(), 2U);
  source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  feed(4, vp8Payload(true, true, 0), 96);
  EXPECT_EQ(sent.size(), 2U) << "a VP8 publisher again: forwarding resumes on its keyframe";
}
