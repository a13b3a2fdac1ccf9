#include "stagecast/sdp/negotiation.hpp"

#include <gtest/gtest.h>

#include <string>

#include "sdp_samples.hpp"

using namespace stagecast;
using namespace stagecast::sdp;

namespace {

const char* const kTwcc = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
const char* const kMid = "urn:ietf:params:rtp-hdrext:sdes:mid";
const char* const kAudioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

SessionDescription offerFrom(const std::string& text) {
  auto r = parse(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : SessionDescription{};
}

CodecCapability h264(std::vector<std::string> profiles, int mode = 1) {
  CodecCapability c{"H264", 90000, 0, std::move(profiles), mode};
  return c;
}

AnswerOptions whipOptions() {
  AnswerOptions o;
  o.audioCodecs = {{"opus", 48000, 2, {}, 1}};
  o.videoCodecs = {{"VP8", 90000, 0, {}, 1}, h264({"42e0"})};
  o.headerExtensions = {kMid, kTwcc, kAudioLevel};
  o.iceUfrag = "srvU";
  o.icePwd = "serverpasswordserverpassword";
  o.fingerprint = {"sha-256", "01:02:03:04"};
  Candidate c;
  c.foundation = "1";
  c.transport = "udp";
  c.priority = 2130706431;
  c.address = "203.0.113.5";
  c.port = 8443;
  c.type = "host";
  o.candidates = {c};
  o.sessionId = 77;
  return o;
}

AnswerOptions whepOptions() {
  AnswerOptions o = whipOptions();
  o.acceptIncoming = false;
  o.acceptOutgoing = true;
  o.outgoing = {{"video", 5000, 5001, "sfu", "stream-1", "video-1"}, {"audio", 6000, 0, "sfu", "stream-1", "audio-1"}};
  return o;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST(Answer, ChromiumWhipPicksVp8WhenFirst) {
  auto offer = offerFrom(samples::kChromiumWhip);
  auto r = answerOffer(offer, whipOptions());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Answer& a = r.value();
  EXPECT_EQ(a.remoteIceUfrag, "EsAw");
  EXPECT_EQ(a.remoteIcePwd, "bP+XJMM09aR8AiX1jdukzR6Y");
  EXPECT_EQ(a.remoteFingerprint.algorithm, "sha-256");
  EXPECT_EQ(a.remoteSetup, SetupRole::ActPass);
  EXPECT_EQ(a.localSetup, SetupRole::Passive);
  ASSERT_EQ(a.media.size(), 2U);

  const NegotiatedMedia& audio = a.media[0];
  EXPECT_TRUE(audio.accepted);
  EXPECT_EQ(audio.mid, "0");
  EXPECT_EQ(audio.localDirection, Direction::RecvOnly);
  ASSERT_TRUE(audio.codec);
  EXPECT_EQ(audio.codec->name, "opus");
  EXPECT_EQ(audio.codec->payloadType, 111);
  EXPECT_FALSE(audio.rtxPayloadType);
  EXPECT_TRUE(audio.transportCc);
  EXPECT_FALSE(audio.nack);
  EXPECT_EQ(audio.remoteSsrcs, (std::vector<std::uint32_t>{1369587219U}));
  EXPECT_FALSE(audio.remoteRtxSsrc);
  ASSERT_EQ(audio.extmaps.size(), 3U);  // audio-level(1), twcc(3), mid(4); abs-send-time is not accepted
  EXPECT_EQ(audio.extmaps[0].id, 1);
  EXPECT_EQ(audio.extmaps[1].id, 3);
  EXPECT_EQ(audio.extmaps[2].id, 4);

  const NegotiatedMedia& video = a.media[1];
  EXPECT_TRUE(video.accepted);
  ASSERT_TRUE(video.codec);
  EXPECT_EQ(video.codec->name, "VP8");
  EXPECT_EQ(video.codec->payloadType, 96);
  EXPECT_EQ(video.rtxPayloadType, 97);
  EXPECT_TRUE(video.nack && video.pli && video.fir && video.remb && video.transportCc);
  EXPECT_EQ(video.remoteSsrcs, (std::vector<std::uint32_t>{2386416441U}));
  EXPECT_EQ(video.remoteRtxSsrc, 3402431573U);
  ASSERT_EQ(video.extmaps.size(), 2U);
  EXPECT_EQ(video.extmaps[0].uri, kTwcc);
  EXPECT_EQ(video.extmaps[0].id, 3);

  // The SDP itself.
  const SessionDescription& sdp = a.sdp;
  EXPECT_TRUE(sdp.iceLite);
  EXPECT_EQ(sdp.msidSemantic, "WMS *");
  EXPECT_TRUE(sdp.extmapAllowMixed);
  ASSERT_NE(sdp.bundleGroup(), nullptr);
  EXPECT_EQ(sdp.bundleGroup()->mids, (std::vector<std::string>{"0", "1"}));
  ASSERT_EQ(sdp.media.size(), 2U);
  const MediaSection& v = sdp.media[1];
  EXPECT_EQ(v.mid, "1");
  EXPECT_EQ(v.direction, Direction::RecvOnly);
  EXPECT_EQ(v.formats, (std::vector<std::string>{"96", "97"}));
  ASSERT_EQ(v.codecs.size(), 2U);
  EXPECT_EQ(v.codecs[1].fmtp, "apt=96");
  EXPECT_TRUE(v.rtcpMux);
  EXPECT_TRUE(v.rtcpRsize);
  EXPECT_EQ(v.iceUfrag, "srvU");
  EXPECT_EQ(v.setup, SetupRole::Passive);
  EXPECT_EQ(v.candidates.size(), 1U);
  EXPECT_TRUE(v.endOfCandidates);
  EXPECT_TRUE(v.ssrcs.empty());

  std::string text = serialize(sdp);
  EXPECT_EQ(text.rfind("v=0\r\no=- 77 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=ice-lite\r\n", 0),
            0U)
      << text;
  EXPECT_TRUE(contains(text, "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"));
  EXPECT_TRUE(contains(text, "a=setup:passive\r\n"));
  EXPECT_TRUE(contains(text, "a=rtcp-fb:96 nack pli\r\n"));
  EXPECT_TRUE(contains(text, "a=candidate:1 1 udp 2130706431 203.0.113.5 8443 typ host\r\n"));
  EXPECT_TRUE(contains(text, "a=end-of-candidates\r\n"));
  auto back = parse(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), sdp);
}

TEST(Answer, ChromiumWhipPicksH264WhenOnlyH264) {
  auto offer = offerFrom(samples::kChromiumWhip);
  auto o = whipOptions();
  o.videoCodecs = {h264({"42e0"})};
  auto r = answerOffer(offer, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& video = r->media[1];
  ASSERT_TRUE(video.codec);
  // 102 is 42001f (constraint_set1 clear) and 104 is packetization-mode=0: 106 (42e01f, mode 1) is first.
  EXPECT_EQ(video.codec->payloadType, 106);
  EXPECT_EQ(video.rtxPayloadType, 107);
  EXPECT_EQ(r->sdp.media[1].formats, (std::vector<std::string>{"106", "107"}));
  EXPECT_EQ(r->sdp.media[1].codecs[0].fmtp, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");

  o.videoCodecs = {h264({"4200"})};
  r = answerOffer(offer, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->media[1].codec->payloadType, 102);
  EXPECT_EQ(r->media[1].rtxPayloadType, 103);

  o.videoCodecs = {h264({"6400"})};
  r = answerOffer(offer, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->media[1].codec->payloadType, 112);
}

TEST(Answer, MultipleCodecsInOfferOrder) {
  auto offer = offerFrom(samples::kChromiumWhip);
  auto o = whipOptions();
  o.singleCodec = false;
  o.videoCodecs = {h264({"42e0"}), {"VP9", 90000, 0, {}, 1}, {"AV1", 90000, 0, {}, 1}};
  auto r = answerOffer(offer, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->media[1].codec->payloadType, 98);  // VP9 profile 0 is the first match in the offer
  EXPECT_EQ(r->media[1].rtxPayloadType, 99);
  EXPECT_EQ(r->sdp.media[1].formats, (std::vector<std::string>{"98", "99", "100", "101", "106", "107", "45", "46"}));
}

TEST(Answer, NoCommonCodec) {
  auto offer = offerFrom(samples::kChromiumWhip);
  auto o = whipOptions();
  o.audioCodecs = {{"G729", 8000, 0, {}, 1}};
  o.videoCodecs = {{"H265", 90000, 0, {}, 1}};
  auto r = answerOffer(offer, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "NO_COMMON_CODEC");
}

TEST(Answer, OneSectionWithoutCommonCodecIsRejected) {
  auto offer = offerFrom(samples::kChromiumWhip);
  auto o = whipOptions();
  o.videoCodecs = {{"H265", 90000, 0, {}, 1}};
  auto r = answerOffer(offer, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->media[0].accepted);
  EXPECT_FALSE(r->media[1].accepted);
  const MediaSection& v = r->sdp.media[1];
  EXPECT_EQ(v.port, 0);
  EXPECT_EQ(v.direction, Direction::Inactive);
  EXPECT_EQ(v.mid, "1");
  EXPECT_EQ(r->sdp.bundleGroup()->mids, (std::vector<std::string>{"0"}));
  std::string text = serialize(r->sdp);
  EXPECT_TRUE(contains(text, "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n")) << text;
  auto back = parse(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), r->sdp);
}

TEST(Answer, MissingFingerprintOrCredentials) {
  auto offer = offerFrom(samples::kChromiumWhip);
  for (auto& m : offer.media) m.fingerprint.reset();
  auto r = answerOffer(offer, whipOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_MALFORMED");

  offer = offerFrom(samples::kChromiumWhip);
  for (auto& m : offer.media) m.iceUfrag.reset();
  r = answerOffer(offer, whipOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_MALFORMED");

  offer = offerFrom(samples::kChromiumWhip);
  for (auto& m : offer.media) m.icePwd.reset();
  r = answerOffer(offer, whipOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_MALFORMED");
}

TEST(Answer, RtcpMuxRequired) {
  auto offer = offerFrom(samples::kChromiumWhip);
  offer.media[1].rtcpMux = false;
  auto r = answerOffer(offer, whipOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_MALFORMED");
  EXPECT_TRUE(contains(r.error().message, "rtcp-mux"));
}

TEST(Answer, MultipleSectionsNeedBundle) {
  auto offer = offerFrom(samples::kChromiumWhip);
  offer.groups.clear();
  auto r = answerOffer(offer, whipOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_MALFORMED");
}

TEST(Answer, NoMedia) {
  auto offer = offerFrom("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
  auto r = answerOffer(offer, whipOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_UNSUPPORTED");
}

TEST(Answer, PassiveOfferMakesUsActive) {
  auto offer = offerFrom(samples::kChromiumWhip);
  for (auto& m : offer.media) m.setup = SetupRole::Passive;
  auto r = answerOffer(offer, whipOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->remoteSetup, SetupRole::Passive);
  EXPECT_EQ(r->localSetup, SetupRole::Active);
  EXPECT_TRUE(contains(serialize(r->sdp), "a=setup:active\r\n"));

  for (auto& m : offer.media) m.setup = SetupRole::Active;
  r = answerOffer(offer, whipOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->localSetup, SetupRole::Passive);
}

TEST(Answer, ChromiumWhepSendsOutgoingTracks) {
  auto offer = offerFrom(samples::kChromiumWhep);
  auto r = answerOffer(offer, whepOptions());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->media.size(), 2U);
  // Tracks are matched by kind: audio section gets the audio track even though video is listed first.
  const auto& audio = r->media[0];
  EXPECT_TRUE(audio.accepted);
  EXPECT_EQ(audio.localDirection, Direction::SendOnly);
  ASSERT_TRUE(audio.outgoing);
  EXPECT_EQ(audio.outgoing->ssrc, 6000U);
  EXPECT_TRUE(audio.remoteSsrcs.empty());
  const auto& video = r->media[1];
  EXPECT_EQ(video.localDirection, Direction::SendOnly);
  ASSERT_TRUE(video.outgoing);
  EXPECT_EQ(video.outgoing->trackId, "video-1");
  EXPECT_EQ(video.rtxPayloadType, 97);

  std::string text = serialize(r->sdp);
  EXPECT_TRUE(contains(text, "a=sendonly\r\n"));
  EXPECT_FALSE(contains(text, "a=recvonly\r\n"));
  EXPECT_TRUE(contains(text, "a=msid:stream-1 audio-1\r\n"));
  EXPECT_TRUE(contains(text, "a=ssrc:6000 cname:sfu\r\na=ssrc:6000 msid:stream-1 audio-1\r\n"));
  EXPECT_FALSE(contains(text, "a=ssrc-group:FID 6000"));
  EXPECT_TRUE(contains(text, "a=msid:stream-1 video-1\r\n"));
  EXPECT_TRUE(contains(text, "a=ssrc-group:FID 5000 5001\r\n"));
  EXPECT_TRUE(contains(text, "a=ssrc:5000 cname:sfu\r\na=ssrc:5000 msid:stream-1 video-1\r\n"));
  EXPECT_TRUE(contains(text, "a=ssrc:5001 cname:sfu\r\na=ssrc:5001 msid:stream-1 video-1\r\n"));
  EXPECT_FALSE(contains(text, "a=extmap-allow-mixed") && !offer.extmapAllowMixed);
  auto back = parse(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), r->sdp);
}

TEST(Answer, WhepWithoutRtxTrackOmitsFidGroup) {
  auto offer = offerFrom(samples::kChromiumWhep);
  auto o = whepOptions();
  o.outgoing[0].rtxSsrc = 0;
  auto r = answerOffer(offer, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->sdp.media[1].ssrcGroups.empty());
  EXPECT_EQ(r->sdp.media[1].ssrcs.size(), 1U);
}

TEST(Answer, DirectionMismatchRejected) {
  // A WHEP (recvonly) offer to a WHIP endpoint: nothing to accept.
  auto r = answerOffer(offerFrom(samples::kChromiumWhep), whipOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_UNSUPPORTED");
  // A WHIP (sendonly) offer to a WHEP endpoint.
  r = answerOffer(offerFrom(samples::kChromiumWhip), whepOptions());
  ASSERT_FALSE(r.ok());
  // WHEP without a video track: the video section is rejected.
  auto o = whepOptions();
  o.outgoing.erase(o.outgoing.begin());
  r = answerOffer(offerFrom(samples::kChromiumWhep), o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->media[0].accepted);
  EXPECT_FALSE(r->media[1].accepted);
  EXPECT_EQ(r->sdp.media[1].port, 0);
}

TEST(Answer, SendrecvOfferToWhipIsRecvonly) {
  auto offer = offerFrom(samples::kChromiumWhip);
  for (auto& m : offer.media) m.direction = Direction::SendRecv;
  auto r = answerOffer(offer, whipOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->media[0].localDirection, Direction::RecvOnly);
  EXPECT_EQ(r->sdp.media[1].direction, Direction::RecvOnly);
}

TEST(Answer, FirefoxOffer) {
  auto r = answerOffer(offerFrom(samples::kFirefox), whipOptions());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->remoteIceUfrag, "2c4e6a8b");
  EXPECT_EQ(r->remoteFingerprint.value.substr(0, 5), "4C:2B");
  EXPECT_EQ(r->media[0].codec->payloadType, 109);
  EXPECT_EQ(r->media[1].codec->payloadType, 120);
  EXPECT_EQ(r->media[1].rtxPayloadType, 124);
  EXPECT_EQ(r->media[1].remoteSsrcs, (std::vector<std::uint32_t>{1318704470U}));
  EXPECT_EQ(r->media[1].remoteRtxSsrc, 3911094734U);
  EXPECT_FALSE(r->sdp.extmapAllowMixed);
  // An offered extmap direction is mirrored in the answer.
  auto o = whipOptions();
  o.headerExtensions.push_back("http://www.webrtc.org/experiments/rtp-hdrext/playout-delay");
  r = answerOffer(offerFrom(samples::kFirefox), o);
  ASSERT_TRUE(r.ok());
  const auto& ext = r->sdp.media[1].extmaps;
  ASSERT_EQ(ext.size(), 3U);
  EXPECT_EQ(ext[1].id, 6);
  EXPECT_EQ(ext[1].direction, Direction::SendOnly);
}

TEST(Answer, ObsOffer) {
  auto r = answerOffer(offerFrom(samples::kObs), whipOptions());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->remoteIceUfrag, "Gv1h");
  const auto& video = r->media[1];
  ASSERT_TRUE(video.codec);
  EXPECT_EQ(video.codec->name, "H264");
  EXPECT_EQ(video.codec->payloadType, 96);
  EXPECT_FALSE(video.rtxPayloadType);
  EXPECT_TRUE(video.nack && video.pli && video.remb);
  EXPECT_FALSE(video.fir);
  EXPECT_EQ(video.remoteSsrcs, (std::vector<std::uint32_t>{3339283387U}));
  EXPECT_FALSE(r->sdp.media[1].rtcpRsize);
  // H.264 with packetization-mode 0 only: nothing for video.
  auto o = whipOptions();
  o.videoCodecs = {h264({"42e0"}, 0)};
  r = answerOffer(offerFrom(samples::kObs), o);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->media[1].accepted);
}

TEST(Answer, GstreamerOffer) {
  auto r = answerOffer(offerFrom(samples::kGstreamer), whipOptions());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->media[0].mid, "video0");
  EXPECT_EQ(r->media[0].codec->name, "VP8");
  EXPECT_EQ(r->media[0].rtxPayloadType, 97);
  EXPECT_EQ(r->media[0].remoteSsrcs, (std::vector<std::uint32_t>{1851398296U}));
  EXPECT_EQ(r->media[0].remoteRtxSsrc, 2583279574U);
  EXPECT_EQ(r->media[1].codec->name, "OPUS");  // matched case-insensitively, written as offered
  EXPECT_EQ(r->sdp.bundleGroup()->mids, (std::vector<std::string>{"video0", "audio1"}));
  EXPECT_TRUE(r->media[0].transportCc);
}

TEST(Answer, DataChannelSectionRejected) {
  std::string text = samples::kObs;
  text.replace(text.find("a=group:BUNDLE 0 1"), 18, "a=group:BUNDLE 0 1 2");
  text += "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\na=mid:2\na=sctp-port:5000\n";
  auto r = answerOffer(offerFrom(text), whipOptions());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->media.size(), 3U);
  EXPECT_FALSE(r->media[2].accepted);
  EXPECT_EQ(r->sdp.media[2].port, 0);
  EXPECT_EQ(r->sdp.media[2].mid, "2");
  EXPECT_EQ(r->sdp.media[2].direction, Direction::Inactive);
  EXPECT_EQ(r->sdp.bundleGroup()->mids, (std::vector<std::string>{"0", "1"}));
  std::string out = serialize(r->sdp);
  EXPECT_TRUE(contains(out, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n")) << out;
}

TEST(Answer, BundleOnlySectionAccepted) {
  auto offer = offerFrom(samples::kChromiumWhip);
  offer.media[1].port = 0;
  offer.media[1].otherAttributes.push_back("bundle-only");
  auto r = answerOffer(offer, whipOptions());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->media[1].accepted);
  EXPECT_EQ(r->sdp.media[1].port, 9);
  // Port 0 without bundle-only is a rejection by the offerer.
  offer.media[1].otherAttributes.clear();
  r = answerOffer(offer, whipOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->media[1].accepted);
}

TEST(Answer, SimulcastRids) {
  auto offer = offerFrom(samples::kChromiumWhip);
  auto& v = offer.media[1];
  v.rids = {
      {"h", Direction::SendOnly, ""}, {"m", Direction::SendOnly, "max-width=640"}, {"l", Direction::SendOnly, ""}};
  v.simulcast = "send h;m;l";
  v.ssrcs.clear();
  v.ssrcGroups.clear();
  // By default simulcast is declined: the answer has no rid/simulcast lines, so the offerer sends one stream.
  auto plain = answerOffer(offer, whipOptions());
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->media[1].remoteRids.empty());
  EXPECT_FALSE(contains(serialize(plain->sdp), "a=simulcast")) << serialize(plain->sdp);

  auto opts = whipOptions();
  opts.acceptSimulcast = true;
  auto r = answerOffer(offer, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->media[1].remoteRids, (std::vector<std::string>{"h", "m", "l"}));
  std::string text = serialize(r->sdp);
  EXPECT_TRUE(contains(text, "a=rid:h recv\r\na=rid:m recv\r\na=rid:l recv\r\na=simulcast:recv h;m;l\r\n")) << text;
}

TEST(Answer, TransportCcFeedbackOnlyWithItsExtension) {
  auto offer = offerFrom(samples::kChromiumWhip);
  auto opts = whipOptions();
  std::erase(opts.headerExtensions,
             std::string("http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"));
  auto r = answerOffer(offer, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(contains(serialize(r->sdp), "transport-cc"));
  EXPECT_FALSE(r->media[1].transportCc);
}

TEST(Answer, SingleSectionWithoutBundle) {
  std::string text =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:u\r\na=ice-pwd:pppppppppppppppppppppp\r\n"
      "a=fingerprint:sha-256 AA:BB\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n";
  auto r = answerOffer(offerFrom(text), whipOptions());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->sdp.groups.empty());
  EXPECT_EQ(r->sdp.media[0].mid, "");
  EXPECT_EQ(r->media[0].codec->payloadType, 111);
  // Opus capability with channels=2 rejects a mono opus offer.
  std::string mono = text;
  mono.replace(mono.find("opus/48000/2"), 12, "opus/48000/1");
  r = answerOffer(offerFrom(mono), whipOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "NO_COMMON_CODEC");
}

TEST(H264Matches, Cases) {
  auto codec = [](std::string fmtp) {
    Codec c;
    c.name = "H264";
    c.clockRate = 90000;
    c.fmtp = std::move(fmtp);
    return c;
  };
  const auto cb = h264({"42e0"});
  // Exact profile and mode.
  EXPECT_TRUE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=42e01f")));
  // Level down-negotiation: any level is acceptable (RFC 6184 §8.2.2).
  EXPECT_TRUE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=42e034")));
  EXPECT_TRUE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=42E00A")));
  // Constrained Baseline written with other iop bits (constraint_set1 set).
  EXPECT_TRUE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=42c01f")));
  EXPECT_TRUE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=42401f")));
  // Plain Baseline (constraint_set1 clear) does not satisfy a Constrained Baseline capability.
  EXPECT_FALSE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=42001f")));
  // Packetization mode mismatch; absent means 0.
  EXPECT_FALSE(h264Matches(cb, codec("packetization-mode=0;profile-level-id=42e01f")));
  EXPECT_FALSE(h264Matches(cb, codec("profile-level-id=42e01f")));
  EXPECT_TRUE(h264Matches(h264({"42e0"}, 0), codec("profile-level-id=42e01f")));
  // Profile mismatch.
  EXPECT_FALSE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=4d001f")));
  EXPECT_FALSE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=640c1f")));
  EXPECT_TRUE(h264Matches(h264({"42e0", "4d00"}), codec("packetization-mode=1;profile-level-id=4d001f")));
  EXPECT_TRUE(h264Matches(h264({"640c"}), codec("packetization-mode=1;profile-level-id=640C1F")));
  // Absent profile-level-id means 42000a (Baseline).
  EXPECT_TRUE(h264Matches(h264({"4200"}), codec("packetization-mode=1")));
  EXPECT_FALSE(h264Matches(cb, codec("packetization-mode=1")));
  // Garbage.
  EXPECT_FALSE(h264Matches(cb, codec("packetization-mode=x;profile-level-id=42e01f")));
  EXPECT_FALSE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=42e0")));
  EXPECT_FALSE(h264Matches(cb, codec("packetization-mode=1;profile-level-id=zze01f")));
}
