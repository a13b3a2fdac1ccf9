#include "stagecast/client/video_payload.hpp"

#include <gtest/gtest.h>

#include "stagecast/client/offer.hpp"
#include "stagecast/sdp/negotiation.hpp"

namespace stagecast::client {
namespace {

// An H.265 NAL unit (two-byte header, TID 1) or payload header of the given type, then `body`.
Bytes h265(std::uint8_t type, std::initializer_list<std::uint8_t> body = {0xaf, 0x10}) {
  Bytes b{static_cast<std::uint8_t>(type << 1), 0x01};
  for (const std::uint8_t byte : body) b.push_back(byte);
  return b;
}

// An aggregation packet (RFC 7798 §4.4.2) of the given units.
Bytes aggregation(const std::vector<Bytes>& units) {
  Bytes b = h265(48, {});
  for (const auto& u : units) {
    b.push_back(static_cast<std::uint8_t>(u.size() >> 8));
    b.push_back(static_cast<std::uint8_t>(u.size() & 0xff));
    b.insert(b.end(), u.begin(), u.end());
  }
  return b;
}

TEST(VideoPayload, H265SingleNalUnits) {
  for (std::uint8_t t = 0; t < 48; ++t) {
    const bool key = (t >= 16 && t <= 21) || t == 32 || t == 33;
    EXPECT_EQ(isKeyframeStart(VideoCodecKind::H265, h265(t)), key) << "type " << int{t};
  }
}

TEST(VideoPayload, H265AggregationPackets) {
  EXPECT_TRUE(isKeyframeStart(VideoCodecKind::H265, aggregation({h265(32), h265(33), h265(34)})));
  EXPECT_TRUE(isKeyframeStart(VideoCodecKind::H265, aggregation({h265(39), h265(19)})));
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, aggregation({h265(34), h265(39)})));
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, aggregation({h265(1), h265(1)})));
  Bytes cut = aggregation({h265(39), h265(19)});
  cut.resize(cut.size() - 3);  // the IDR unit's size runs past the end
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, cut));
}

TEST(VideoPayload, H265FragmentationUnits) {
  EXPECT_TRUE(isKeyframeStart(VideoCodecKind::H265, h265(49, {0x80 | 21, 0x55})));   // S, CRA
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, h265(49, {21, 0x55})));         // continuation
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, h265(49, {0x40 | 19, 0x55})));  // end only
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, h265(49, {0x80 | 1, 0x55})));   // S, TRAIL_R
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, h265(49, {})));                 // no FU header
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, h265(50)));                     // PACI
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, Bytes{0x26}));
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H265, Bytes{}));
}

TEST(VideoPayload, OtherCodecsAsTheRtpLayerSeesThem) {
  const Bytes idr{0x65, 0x88};
  EXPECT_TRUE(isKeyframeStart(VideoCodecKind::H264, idr));
  // The same bytes read per codec: 0x41 is an H.264 P slice but an H.265 VPS header.
  EXPECT_TRUE(isKeyframeStart(VideoCodecKind::H265, Bytes{0x41, 0x01}));
  EXPECT_FALSE(isKeyframeStart(VideoCodecKind::H264, Bytes{0x41, 0x9a}));
  EXPECT_TRUE(isKeyframeStart(VideoCodecKind::VP8, Bytes{0x10, 0x00, 0x9d}));
  EXPECT_EQ(videoCodecKindFromName("h265"), VideoCodecKind::H265);
  EXPECT_EQ(videoCodecKindFromName("H264"), VideoCodecKind::H264);
  EXPECT_EQ(videoCodecKindFromName("vp8"), VideoCodecKind::VP8);
  EXPECT_FALSE(videoCodecKindFromName("AV1").has_value());
}

OfferOptions viewer() {
  OfferOptions o;
  o.role = Role::Viewer;
  o.iceUfrag = "abcd";
  o.icePwd = "0123456789abcdefghijklmn";
  o.fingerprint = "AB:CD:EF";
  return o;
}

TEST(Offer, ViewerOfferingH265) {
  OfferOptions o = viewer();
  o.videoCodec = VideoCodecKind::H265;
  o.h265LevelId = 123;
  auto parsed = sdp::parse(buildOfferSdp(o));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& video = parsed->media[1];
  ASSERT_EQ(video.codecs.size(), 2u);
  EXPECT_EQ(video.codecs[0].name, "H265");
  EXPECT_EQ(video.codecs[0].payloadType, pt::kH265);
  EXPECT_EQ(video.codecs[0].clockRate, 90000u);
  auto params = sdp::parseH265Params(video.codecs[0]);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->profileId, 1);
  EXPECT_EQ(params->tierFlag, 0);
  EXPECT_EQ(params->levelId, 123);
  EXPECT_EQ(params->txMode, "SRST");
  EXPECT_EQ(video.codecs[1].rtxApt(), pt::kH265);
  EXPECT_EQ(videoPayloadType(VideoCodecKind::H265), pt::kH265);
}

TEST(Offer, SeveralVideoCodecsInPreferenceOrder) {
  OfferOptions o = viewer();
  o.videoCodec = VideoCodecKind::H264;
  o.moreVideoCodecs = {VideoCodecKind::H265, VideoCodecKind::H264, VideoCodecKind::VP8};  // a repeat is skipped
  auto parsed = sdp::parse(buildOfferSdp(o));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto& video = parsed->media[1];
  EXPECT_EQ(video.formats, (std::vector<std::string>{"102", "103", "49", "50", "96", "97"}));

  // An answerer that sends H.265 picks it from the list.
  sdp::AnswerOptions ao;
  ao.audioCodecs = {{"opus", 48000, 2, {}, 1}};
  sdp::CodecCapability h265cap{"H265", 90000, 0, {}, 1};
  h265cap.h265 = sdp::H265Params{};
  ao.videoCodecs = {h265cap};
  ao.iceUfrag = "srv";
  ao.icePwd = "serverpasswordserverpass";
  ao.fingerprint = {"sha-256", "01:02"};
  ao.acceptIncoming = false;
  ao.acceptOutgoing = true;
  ao.outgoing = {{"audio", 1, 0, "c", "s", "a"}, {"video", 2, 0, "c", "s", "v"}};
  auto answer = sdp::answerOffer(*parsed, ao);
  ASSERT_TRUE(answer) << answer.error().message;
  ASSERT_TRUE(answer->media[1].codec);
  EXPECT_EQ(answer->media[1].codec->payloadType, pt::kH265);
}

}  // namespace
}  // namespace stagecast::client
