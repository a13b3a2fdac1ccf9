#include "stagecast/client/offer.hpp"

#include <gtest/gtest.h>

#include "stagecast/sdp/negotiation.hpp"

namespace stagecast::client {
namespace {

OfferOptions options(Role role, VideoCodecKind codec) {
  OfferOptions o;
  o.role = role;
  o.videoCodec = codec;
  o.iceUfrag = "abcd";
  o.icePwd = "0123456789abcdefghijklmn";
  o.fingerprint = "AB:CD:EF";
  o.audioSsrc = 11;
  o.videoSsrc = 22;
  o.videoRtxSsrc = 33;
  return o;
}

TEST(Offer, PublisherOfferRoundTripsAndIsAccepted) {
  const std::string text = buildOfferSdp(options(Role::Publisher, VideoCodecKind::H264));
  auto parsed = sdp::parse(text);
  ASSERT_TRUE(parsed) << parsed.error().message << "\n" << text;
  ASSERT_EQ(parsed->media.size(), 2u);
  ASSERT_NE(parsed->bundleGroup(), nullptr);
  const auto& video = parsed->media[1];
  EXPECT_EQ(video.mid, "1");
  EXPECT_EQ(video.direction, sdp::Direction::SendOnly);
  EXPECT_TRUE(video.rtcpMux);
  EXPECT_EQ(video.setup, sdp::SetupRole::ActPass);
  ASSERT_EQ(video.codecs.size(), 2u);
  EXPECT_EQ(video.codecs[0].payloadType, 102);
  EXPECT_EQ(video.codecs[0].fmtpParams().at("profile-level-id"), "42e01f");
  EXPECT_EQ(video.codecs[1].rtxApt(), 102);
  ASSERT_EQ(video.ssrcGroups.size(), 1u);
  EXPECT_EQ(video.ssrcGroups[0].ssrcs, (std::vector<std::uint32_t>{22, 33}));

  sdp::AnswerOptions ao;
  ao.audioCodecs = {{"opus", 48000, 2, {}, 1}};
  ao.videoCodecs = {{"H264", 90000, 0, {"42e0"}, 1}};
  ao.iceUfrag = "srv";
  ao.icePwd = "serverpasswordserverpass";
  ao.fingerprint = {"sha-256", "01:02"};
  auto answer = sdp::answerOffer(*parsed, ao);
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_TRUE(answer->media[0].accepted);
  EXPECT_TRUE(answer->media[1].accepted);
  EXPECT_TRUE(answer->media[1].nack);
  EXPECT_TRUE(answer->media[1].pli);
  EXPECT_EQ(answer->media[1].remoteSsrcs.front(), 22u);
}

TEST(Offer, ViewerVp8OfferIsRecvOnlyWithoutSsrcs) {
  auto parsed = sdp::parse(buildOfferSdp(options(Role::Viewer, VideoCodecKind::VP8)));
  ASSERT_TRUE(parsed);
  for (const auto& m : parsed->media) {
    EXPECT_EQ(m.direction, sdp::Direction::RecvOnly);
    EXPECT_TRUE(m.ssrcs.empty());
  }
  EXPECT_EQ(parsed->media[1].codecs[0].name, "VP8");
  EXPECT_EQ(parsed->media[1].codecs[0].payloadType, 96);
  EXPECT_EQ(parsed->media[0].codecs[0].name, "opus");
}

}  // namespace
}  // namespace stagecast::client
