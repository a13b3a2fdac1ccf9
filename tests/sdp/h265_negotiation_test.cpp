// H.265 payload format parameters (RFC 7798 §7.1) and their offer/answer (§7.2.2) for a server that sends a
// camera's stream as it is (WHEP, previews) or receives one (WHIP).
#include <gtest/gtest.h>

#include <string>

#include "sdp_samples.hpp"
#include "stagecast/sdp/negotiation.hpp"

using namespace stagecast;
using namespace stagecast::sdp;

namespace {

Codec h265Codec(std::uint8_t pt, std::string fmtp) {
  Codec c;
  c.payloadType = pt;
  c.name = "H265";
  c.clockRate = 90000;
  c.fmtp = std::move(fmtp);
  c.rtcpFeedback = {"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"};
  return c;
}

Codec rtx(std::uint8_t pt, std::uint8_t apt) {
  Codec c;
  c.payloadType = pt;
  c.name = "rtx";
  c.clockRate = 90000;
  c.fmtp = "apt=" + std::to_string(apt);
  return c;
}

// Chromium's WHEP offer with H.265 added the way a browser that supports it lists it (after H.264): Main and
// Main 10, level 6 (180), Main tier, one RTP stream; each with its RTX. Serialized and parsed again, so the
// H265/90000 lines go through the parser.
SessionDescription whepOfferWithH265(
    const std::string& mainFmtp = "level-id=180;profile-id=1;tier-flag=0;tx-mode=SRST",
    const std::string& main10Fmtp = "level-id=180;profile-id=2;tier-flag=0;tx-mode=SRST") {
  auto parsed = parse(samples::kChromiumWhep);
  EXPECT_TRUE(parsed.ok());
  SessionDescription offer = parsed.ok() ? *parsed : SessionDescription{};
  MediaSection& video = offer.media.at(1);
  for (const Codec& c : {h265Codec(49, mainFmtp), rtx(50, 49), h265Codec(51, main10Fmtp), rtx(52, 51)}) {
    video.codecs.push_back(c);
    video.formats.push_back(std::to_string(c.payloadType));
  }
  auto again = parse(serialize(offer));
  EXPECT_TRUE(again.ok()) << (again.ok() ? "" : again.error().message);
  return again.ok() ? *again : SessionDescription{};
}

AnswerOptions whepOptions(const CodecCapability& video) {
  AnswerOptions o;
  o.audioCodecs = {{"opus", 48000, 2, {}, 1}};
  o.videoCodecs = {video};
  o.iceUfrag = "srvU";
  o.icePwd = "serverpasswordserverpassword";
  o.fingerprint = {"sha-256", "01:02:03:04"};
  o.acceptIncoming = false;
  o.acceptOutgoing = true;
  o.outgoing = {{"video", 5000, 5001, "sfu", "stream-1", "video-1"}, {"audio", 6000, 0, "sfu", "stream-1", "audio-1"}};
  return o;
}

// The capability of a stage whose source sends H.265 with this configuration.
CodecCapability stream(int profileId, int tierFlag, int levelId) {
  CodecCapability c{"H265", 90000, 0, {}, 1};
  H265Params p;
  p.profileId = profileId;
  p.tierFlag = tierFlag;
  p.levelId = levelId;
  c.h265 = p;
  return c;
}

}  // namespace

TEST(H265Params, DefaultsAndValues) {
  auto d = parseH265Params(h265Codec(96, ""));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->profileSpace, 0);
  EXPECT_EQ(d->profileId, 1);
  EXPECT_EQ(d->tierFlag, 0);
  EXPECT_EQ(d->levelId, 93);
  EXPECT_FALSE(d->maxRecvLevelId.has_value());
  EXPECT_EQ(d->txMode, "SRST");
  EXPECT_EQ(d->receiveLevel(), 93);

  auto v = parseH265Params(
      h265Codec(96, "profile-space=1; profile-id=2;tier-flag=1;level-id=120;max-recv-level-id=153;tx-mode=mrst"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->profileSpace, 1);
  EXPECT_EQ(v->profileId, 2);
  EXPECT_EQ(v->tierFlag, 1);
  EXPECT_EQ(v->levelId, 120);
  EXPECT_EQ(v->maxRecvLevelId, 153);
  EXPECT_EQ(v->receiveLevel(), 153);
  EXPECT_EQ(v->txMode, "MRST");

  for (const char* bad : {"level-id=256", "level-id=abc", "tier-flag=2", "profile-id=32", "profile-space=4",
                          "level-id=-1", "max-recv-level-id=300", "level-id="}) {
    auto r = parseH265Params(h265Codec(96, bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "SDP_MALFORMED") << bad;
  }
}

TEST(H265Params, FmtpLine) {
  H265Params p;
  EXPECT_EQ(h265Fmtp(p), "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST");
  p.profileSpace = 2;
  p.levelId = 153;
  p.tierFlag = 1;
  EXPECT_EQ(h265Fmtp(p), "profile-space=2;level-id=153;profile-id=1;tier-flag=1;tx-mode=SRST");
  auto back = parseH265Params(h265Codec(96, h265Fmtp(p)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, p);
}

TEST(H265Answer, ViewerOfferingH265GetsTheStreamsLevel) {
  auto r = answerOffer(whepOfferWithH265(), whepOptions(stream(1, 0, 93)));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const NegotiatedMedia& video = r->media[1];
  ASSERT_TRUE(video.accepted);
  EXPECT_EQ(video.localDirection, Direction::SendOnly);
  ASSERT_TRUE(video.codec);
  EXPECT_EQ(video.codec->name, "H265");
  EXPECT_EQ(video.codec->payloadType, 49);
  EXPECT_EQ(video.rtxPayloadType, 50);
  // §7.2.2: the offer's configuration, with the level lowered to the stream's (3.1 within the offered 6).
  EXPECT_EQ(video.codec->fmtp, "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST");
  EXPECT_TRUE(video.nack && video.pli);

  const std::string text = serialize(r->sdp);
  EXPECT_NE(text.find("m=video 9 UDP/TLS/RTP/SAVPF 49 50\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=rtpmap:49 H265/90000\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=fmtp:49 level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST\r\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("H264"), std::string::npos);
  EXPECT_EQ(text.find("sprop-max-don-diff"), std::string::npos);  // absent: 0, no DON fields
}

TEST(H265Answer, ProfileMustMatch) {
  auto r = answerOffer(whepOfferWithH265(), whepOptions(stream(2, 0, 120)));  // Main 10
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->media[1].codec);
  EXPECT_EQ(r->media[1].codec->payloadType, 51);
  EXPECT_EQ(r->media[1].rtxPayloadType, 52);
  EXPECT_EQ(r->media[1].codec->fmtp, "level-id=120;profile-id=2;tier-flag=0;tx-mode=SRST");

  // Main Still Picture (3) is not offered: the video section is rejected, audio still answered.
  r = answerOffer(whepOfferWithH265(), whepOptions(stream(3, 0, 93)));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->media[0].accepted);
  EXPECT_FALSE(r->media[1].accepted);
  EXPECT_EQ(r->sdp.media[1].port, 0);
}

TEST(H265Answer, StreamAboveTheOfferedLevelIsRefused) {
  auto r = answerOffer(whepOfferWithH265(), whepOptions(stream(1, 0, 183)));  // 6.1 > 6
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->media[1].accepted);
  // At the offered level exactly: fine.
  r = answerOffer(whepOfferWithH265(), whepOptions(stream(1, 0, 180)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->media[1].accepted);
}

TEST(H265Answer, MaxRecvLevelIdRaisesWhatTheViewerTakes) {
  const auto offer = whepOfferWithH265("level-id=93;max-recv-level-id=153;profile-id=1;tier-flag=0;tx-mode=SRST");
  auto r = answerOffer(offer, whepOptions(stream(1, 0, 120)));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->media[1].accepted);
  EXPECT_EQ(r->media[1].codec->fmtp, "level-id=120;profile-id=1;tier-flag=0;tx-mode=SRST");
  r = answerOffer(offer, whepOptions(stream(1, 0, 156)));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->media[1].accepted);
}

TEST(H265Answer, TierOfTheStreamMustBeReceivable) {
  // A High-tier stream to a Main-tier receiver: refused.
  auto r = answerOffer(whepOfferWithH265(), whepOptions(stream(1, 1, 93)));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->media[1].accepted);
  // A Main-tier stream to a High-tier receiver: accepted, the answer keeps the offered tier.
  const auto highTier = whepOfferWithH265("level-id=150;profile-id=1;tier-flag=1;tx-mode=SRST");
  r = answerOffer(highTier, whepOptions(stream(1, 0, 120)));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->media[1].accepted);
  EXPECT_EQ(r->media[1].codec->fmtp, "level-id=120;profile-id=1;tier-flag=1;tx-mode=SRST");
  r = answerOffer(highTier, whepOptions(stream(1, 1, 150)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->media[1].accepted);
}

TEST(H265Answer, OnlyOneRtpStream) {
  auto r =
      answerOffer(whepOfferWithH265("level-id=180;profile-id=1;tx-mode=MRST", "level-id=180;profile-id=2;tx-mode=MRMT"),
                  whepOptions(stream(1, 0, 93)));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->media[1].accepted);
}

TEST(H265Answer, DefaultsApplyToAnOfferWithoutParameters) {
  // No fmtp: Main profile, Main tier, level 3.1.
  auto r = answerOffer(whepOfferWithH265("", "profile-id=2"), whepOptions(stream(1, 0, 90)));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->media[1].accepted);
  EXPECT_EQ(r->media[1].codec->payloadType, 49);
  EXPECT_EQ(r->media[1].codec->fmtp, "level-id=90;profile-id=1;tier-flag=0;tx-mode=SRST");
  r = answerOffer(whepOfferWithH265("", "profile-id=2"), whepOptions(stream(1, 0, 120)));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->media[1].accepted);  // 4.0 above the default 3.1
}

TEST(H265Answer, H264OnlyOfferHasNoCommonCodecWithAnH265Stream) {
  auto offer = parse(samples::kChromiumWhep);
  ASSERT_TRUE(offer.ok());
  auto options = whepOptions(stream(1, 0, 93));
  options.audioCodecs = {{"G729", 8000, 0, {}, 1}};
  auto r = answerOffer(*offer, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "NO_COMMON_CODEC");
}

TEST(H265Answer, ReceivingAnswererLowersTheLevel) {
  // A WHIP-like sendonly offer of H.265 answered by a receiver that decodes up to level 4 (120).
  auto parsed = parse(samples::kChromiumWhip);
  ASSERT_TRUE(parsed.ok());
  SessionDescription offer = *parsed;
  MediaSection& video = offer.media.at(1);
  video.codecs = {h265Codec(49, "level-id=153;profile-id=1;tier-flag=0;tx-mode=SRST"), rtx(50, 49)};
  video.formats = {"49", "50"};
  AnswerOptions o = whepOptions(stream(1, 0, 120));
  o.acceptIncoming = true;
  o.acceptOutgoing = false;
  o.outgoing.clear();
  auto r = answerOffer(offer, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->media[1].accepted);
  EXPECT_EQ(r->media[1].localDirection, Direction::RecvOnly);
  EXPECT_EQ(r->media[1].codec->fmtp, "level-id=120;profile-id=1;tier-flag=0;tx-mode=SRST");
  video.codecs[0].fmtp = "level-id=90;profile-id=1";
  r = answerOffer(offer, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->media[1].codec->fmtp, "level-id=90;profile-id=1;tier-flag=0;tx-mode=SRST");
}

TEST(H265Matches, WithoutAConfigurationAnySingleStreamOfferMatches) {
  const CodecCapability any{"H265", 90000, 0, {}, 1};
  EXPECT_TRUE(h265Matches(any, h265Codec(96, "level-id=186;profile-id=4"), true));
  EXPECT_FALSE(h265Matches(any, h265Codec(96, "tx-mode=MRMT"), true));
  EXPECT_FALSE(h265Matches(any, h265Codec(96, "level-id=x"), true));
  EXPECT_EQ(h265AnswerFmtp(any, h265Codec(96, "level-id=186;profile-id=4;max-recv-level-id=189"), true),
            "level-id=186;profile-id=4;tier-flag=0;tx-mode=SRST");
}
