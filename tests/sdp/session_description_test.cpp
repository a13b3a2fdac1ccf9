#include "stagecast/sdp/session_description.hpp"

#include <gtest/gtest.h>

#include <string>

#include "sdp_samples.hpp"

using namespace stagecast;
using namespace stagecast::sdp;

namespace {

SessionDescription mustParse(const std::string& text) {
  auto r = parse(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().code + ": " + r.error().message);
  return r.ok() ? r.value() : SessionDescription{};
}

void expectMalformed(const std::string& text, const std::string& linePrefix) {
  auto r = parse(text);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.error().code, "SDP_MALFORMED");
  EXPECT_EQ(r.error().message.rfind(linePrefix, 0), 0U) << r.error().message;
}

const std::string kMinimalHead = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

}  // namespace

TEST(SdpParse, ChromiumWhipOffer) {
  auto sdp = mustParse(samples::kChromiumWhip);
  EXPECT_EQ(sdp.originUsername, "-");
  EXPECT_EQ(sdp.sessionId, 4215775240449105457ULL);
  EXPECT_EQ(sdp.sessionVersion, 2U);
  EXPECT_EQ(sdp.originAddress, "IN IP4 127.0.0.1");
  ASSERT_NE(sdp.bundleGroup(), nullptr);
  EXPECT_EQ(sdp.bundleGroup()->mids, (std::vector<std::string>{"0", "1"}));
  EXPECT_TRUE(sdp.extmapAllowMixed);
  EXPECT_EQ(sdp.msidSemantic, "WMS -");
  ASSERT_EQ(sdp.media.size(), 2U);

  const auto& audio = sdp.media[0];
  EXPECT_EQ(audio.kind, "audio");
  EXPECT_EQ(audio.port, 9);
  EXPECT_EQ(audio.protocol, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(audio.mid, "0");
  EXPECT_EQ(audio.direction, Direction::SendOnly);
  EXPECT_TRUE(audio.rtcpMux);
  EXPECT_TRUE(audio.rtcpRsize);
  EXPECT_EQ(audio.iceUfrag, "EsAw");
  EXPECT_EQ(audio.icePwd, "bP+XJMM09aR8AiX1jdukzR6Y");
  EXPECT_EQ(audio.iceOptions, (std::vector<std::string>{"trickle"}));
  ASSERT_TRUE(audio.fingerprint);
  EXPECT_EQ(audio.fingerprint->algorithm, "sha-256");
  EXPECT_EQ(audio.fingerprint->value.substr(0, 8), "DA:7B:57");
  EXPECT_EQ(audio.setup, SetupRole::ActPass);
  ASSERT_EQ(audio.codecs.size(), 8U);
  EXPECT_EQ(audio.codecs[0].name, "opus");
  EXPECT_EQ(audio.codecs[0].clockRate, 48000U);
  EXPECT_EQ(audio.codecs[0].channels, 2);
  EXPECT_EQ(audio.codecs[0].fmtp, "minptime=10;useinbandfec=1");
  EXPECT_EQ(audio.codecs[0].rtcpFeedback, (std::vector<std::string>{"transport-cc"}));
  EXPECT_EQ(audio.codecs[0].fmtpParams().at("useinbandfec"), "1");
  EXPECT_EQ(audio.extmapId("urn:ietf:params:rtp-hdrext:sdes:mid"), 4);
  EXPECT_EQ(audio.msids, (std::vector<std::string>{"- 0b7c5d3e-9a51-4a0e-8f5e-2c5b7f3c1a44"}));
  ASSERT_EQ(audio.ssrcs.size(), 1U);
  EXPECT_EQ(audio.ssrcs[0].ssrc, 1369587219U);
  EXPECT_EQ(audio.ssrcs[0].cname, "Dv8ebxdGzy9PbiRC");
  EXPECT_EQ(audio.ssrcs[0].msid, "- 0b7c5d3e-9a51-4a0e-8f5e-2c5b7f3c1a44");
  // a=rtcp is not modelled: preserved verbatim.
  EXPECT_EQ(audio.otherAttributes, (std::vector<std::string>{"rtcp:9 IN IP4 0.0.0.0"}));

  const auto& video = sdp.media[1];
  EXPECT_EQ(video.codecs.size(), 25U);
  EXPECT_EQ(video.formats.size(), 25U);
  const Codec* vp8 = video.findCodec(96);
  ASSERT_NE(vp8, nullptr);
  EXPECT_EQ(vp8->name, "VP8");
  EXPECT_EQ(vp8->rtcpFeedback, (std::vector<std::string>{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"}));
  const Codec* rtx = video.findCodec(97);
  ASSERT_NE(rtx, nullptr);
  EXPECT_TRUE(rtx->isRtx());
  EXPECT_EQ(rtx->rtxApt(), 96);
  EXPECT_FALSE(vp8->rtxApt());
  EXPECT_EQ(video.findCodec(106)->fmtpParams().at("profile-level-id"), "42e01f");
  EXPECT_EQ(video.findCodec(45)->name, "AV1");
  EXPECT_EQ(video.findCodec(200), nullptr);
  ASSERT_EQ(video.ssrcGroups.size(), 1U);
  EXPECT_EQ(video.ssrcGroups[0].semantics, "FID");
  EXPECT_EQ(video.ssrcGroups[0].ssrcs, (std::vector<std::uint32_t>{2386416441U, 3402431573U}));
  EXPECT_EQ(video.ssrcs.size(), 2U);
  EXPECT_EQ(video.extmaps.size(), 11U);
}

TEST(SdpParse, FirefoxSessionLevelAttributes) {
  auto sdp = mustParse(samples::kFirefox);
  EXPECT_EQ(sdp.originUsername, "mozilla...THIS_IS_SDPARTA-115.0");
  EXPECT_EQ(sdp.sessionVersion, 0U);
  ASSERT_TRUE(sdp.fingerprint);
  EXPECT_EQ(sdp.iceOptions, (std::vector<std::string>{"trickle"}));
  EXPECT_EQ(sdp.msidSemantic, "WMS *");
  ASSERT_EQ(sdp.media.size(), 2U);
  EXPECT_FALSE(sdp.media[0].fingerprint);
  EXPECT_EQ(sdp.fingerprintFor(sdp.media[0]), sdp.fingerprint);
  EXPECT_EQ(sdp.iceUfragFor(sdp.media[1]), "2c4e6a8b");
  EXPECT_EQ(sdp.setupFor(sdp.media[1]), SetupRole::ActPass);
  ASSERT_EQ(sdp.media[0].extmaps.size(), 3U);
  EXPECT_EQ(sdp.media[0].extmaps[1].direction, Direction::RecvOnly);
  EXPECT_FALSE(sdp.media[0].extmaps[0].direction);
  EXPECT_EQ(sdp.media[0].findCodec(9)->channels, 1);
  EXPECT_EQ(sdp.media[0].findCodec(101)->fmtp, "0-15");
  EXPECT_EQ(sdp.media[1].findCodec(119)->rtxApt(), 123);
}

TEST(SdpParse, ObsLfOnlySessionLevelTransport) {
  auto sdp = mustParse(samples::kObs);
  EXPECT_EQ(sdp.groups.size(), 2U);
  EXPECT_EQ(sdp.groups[1].semantics, "LS");
  EXPECT_EQ(sdp.iceUfrag, "Gv1h");
  EXPECT_EQ(sdp.setup, SetupRole::ActPass);
  EXPECT_EQ(sdp.iceOptions, (std::vector<std::string>{"ice2,trickle"}));
  ASSERT_EQ(sdp.media.size(), 2U);
  EXPECT_FALSE(sdp.media[1].iceUfrag);
  EXPECT_EQ(sdp.iceUfragFor(sdp.media[1]), "Gv1h");
  EXPECT_EQ(sdp.media[1].codecs[0].fmtpParams().at("packetization-mode"), "1");
}

TEST(SdpParse, GstreamerIgnoresBandwidthLine) {
  auto sdp = mustParse(samples::kGstreamer);
  ASSERT_EQ(sdp.media.size(), 2U);
  EXPECT_EQ(sdp.media[0].mid, "video0");
  EXPECT_EQ(sdp.media[1].codecs[0].name, "OPUS");
  EXPECT_TRUE(sdp.media[0].otherAttributes.empty());
}

TEST(SdpParse, CrlfAndLfGiveTheSameModel) {
  std::string lf = samples::kChromiumWhip;
  std::string stripped;
  for (char c : lf) {
    if (c != '\r') stripped.push_back(c);
  }
  EXPECT_EQ(mustParse(stripped), mustParse(samples::kChromiumWhip));
}

TEST(SdpRoundTrip, AllSamples) {
  for (const std::string* text :
       {&samples::kChromiumWhip, &samples::kChromiumWhep, &samples::kFirefox, &samples::kObs, &samples::kGstreamer}) {
    auto first = mustParse(*text);
    std::string out = serialize(first);
    auto second = mustParse(out);
    EXPECT_EQ(first, second) << out;
    EXPECT_EQ(serialize(second), out);  // serialization is a fixed point
  }
}

TEST(SdpSerialize, LineOrderAndCrlf) {
  auto sdp = mustParse(samples::kFirefox);
  std::string out = serialize(sdp);
  EXPECT_EQ(
      out.rfind("v=0\r\no=mozilla...THIS_IS_SDPARTA-115.0 5263472441383735442 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 0),
      0U);
  // Every line ends in CRLF; no bare LF.
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\n') {
      ASSERT_GT(i, 0U);
      EXPECT_EQ(out[i - 1], '\r');
    }
  }
  auto pos = [&](const std::string& s) { return out.find(s); };
  EXPECT_LT(pos("a=group:BUNDLE 0 1"), pos("a=msid-semantic: WMS *"));
  EXPECT_LT(pos("a=msid-semantic"), pos("a=fingerprint:sha-256 4C"));
  EXPECT_LT(pos("a=fingerprint:sha-256 4C"), pos("a=ice-options:trickle"));
  EXPECT_LT(pos("a=ice-options:trickle"), pos("m=audio"));
  // Within a section: m, c, mid, ice, setup, direction, rtcp-mux, msid, codecs, extmap, ssrc-group, ssrc.
  std::size_t video = pos("m=video");
  auto vpos = [&](const std::string& s) { return out.find(s, video); };
  EXPECT_LT(video, vpos("c=IN IP4 0.0.0.0"));
  EXPECT_LT(vpos("c=IN IP4"), vpos("a=mid:1"));
  EXPECT_LT(vpos("a=mid:1"), vpos("a=ice-ufrag"));
  EXPECT_LT(vpos("a=ice-pwd"), vpos("a=setup:actpass"));
  EXPECT_LT(vpos("a=setup:actpass"), vpos("a=sendonly"));
  EXPECT_LT(vpos("a=sendonly"), vpos("a=rtcp-mux"));
  EXPECT_LT(vpos("a=rtcp-mux"), vpos("a=rtcp-rsize"));
  EXPECT_LT(vpos("a=rtcp-rsize"), vpos("a=msid:"));
  EXPECT_LT(vpos("a=msid:"), vpos("a=rtpmap:120 VP8/90000\r\na=rtcp-fb:120 nack\r\n"));
  EXPECT_LT(vpos("a=rtcp-fb:120 transport-cc\r\na=fmtp:120 max-fs=12288;max-fr=60\r\na=rtpmap:124"),
            vpos("a=extmap:3 "));
  EXPECT_LT(vpos("a=extmap:6/recvonly http"), vpos("a=ssrc-group:FID 1318704470 3911094734"));
  EXPECT_LT(vpos("a=ssrc-group:FID"), vpos("a=ssrc:1318704470 cname:"));
}

TEST(SdpParse, WildcardRtcpFbAppliesToAllCodecs) {
  std::string text = kMinimalHead +
                     "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\n"
                     "a=rtcp-fb:* nack\r\n"
                     "a=rtpmap:96 VP8/90000\r\n"
                     "a=rtpmap:97 rtx/90000\r\n"
                     "a=rtpmap:98 H264/90000\r\n"
                     "a=rtcp-fb:96 nack pli\r\n"
                     "a=rtcp-fb:* transport-cc\r\n";
  auto sdp = mustParse(text);
  ASSERT_EQ(sdp.media.size(), 1U);
  const auto& m = sdp.media[0];
  EXPECT_EQ(m.findCodec(96)->rtcpFeedback, (std::vector<std::string>{"nack", "nack pli", "transport-cc"}));
  EXPECT_EQ(m.findCodec(97)->rtcpFeedback, (std::vector<std::string>{"nack", "transport-cc"}));
  EXPECT_EQ(m.findCodec(98)->rtcpFeedback, (std::vector<std::string>{"nack", "transport-cc"}));
  // The wildcard is expanded on output and reads back to the same model.
  std::string out = serialize(sdp);
  EXPECT_EQ(out.find("rtcp-fb:*"), std::string::npos);
  EXPECT_EQ(mustParse(out), sdp);
}

TEST(SdpParse, StaticPayloadTypesGetDefaultNames) {
  auto sdp = mustParse(kMinimalHead + "m=audio 5004 RTP/AVP 0 8 9 18\r\nc=IN IP4 192.0.2.1\r\n");
  const auto& m = sdp.media[0];
  EXPECT_EQ(m.connection, "IN IP4 192.0.2.1");
  EXPECT_EQ(m.port, 5004);
  EXPECT_EQ(m.findCodec(0)->name, "PCMU");
  EXPECT_EQ(m.findCodec(0)->clockRate, 8000U);
  EXPECT_EQ(m.findCodec(8)->name, "PCMA");
  EXPECT_EQ(m.findCodec(9)->name, "G722");
  EXPECT_EQ(m.findCodec(18)->name, "");  // not one of the defaults we fill in
  EXPECT_EQ(m.direction, Direction::SendRecv);
  EXPECT_EQ(mustParse(serialize(sdp)), sdp);
}

TEST(SdpParse, SessionConnectionIsTheDefaultForMedia) {
  auto sdp = mustParse(
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"
      "m=audio 9 RTP/AVP 0\r\nm=audio 9 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n");
  EXPECT_EQ(sdp.media[0].connection, "IN IP6 2001:db8::1");
  EXPECT_EQ(sdp.media[1].connection, "IN IP4 0.0.0.0");
}

TEST(SdpParse, UnknownLinesIgnoredUnknownAttributesKept) {
  std::string text = kMinimalHead +
                     "i=session info\r\nb=AS:300\r\nu=http://example.com\r\n"
                     "a=foo:bar\r\na=tool:x\r\n"
                     "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nb=TIAS:1000\r\ni=media info\r\n"
                     "a=rtpmap:96 VP8/90000\r\na=x-google-flag:conference\r\na=bundle-only\r\na=zzz\r\n";
  auto sdp = mustParse(text);
  EXPECT_EQ(sdp.otherAttributes, (std::vector<std::string>{"foo:bar", "tool:x"}));
  EXPECT_EQ(sdp.media[0].otherAttributes, (std::vector<std::string>{"x-google-flag:conference", "bundle-only", "zzz"}));
  EXPECT_EQ(mustParse(serialize(sdp)), sdp);
}

TEST(SdpParse, DataChannelSection) {
  std::string text = kMinimalHead +
                     "a=group:BUNDLE 0\r\n"
                     "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
                     "a=sctp-port:5000\r\na=max-message-size:262144\r\n";
  auto sdp = mustParse(text);
  const auto& m = sdp.media[0];
  EXPECT_EQ(m.kind, "application");
  EXPECT_EQ(m.formats, (std::vector<std::string>{"webrtc-datachannel"}));
  EXPECT_TRUE(m.codecs.empty());
  EXPECT_EQ(m.sctpPort, 5000);
  EXPECT_EQ(m.maxMessageSize, 262144U);
  EXPECT_EQ(mustParse(serialize(sdp)), sdp);
}

TEST(SdpParse, RidSimulcastAndCandidates) {
  std::string text = kMinimalHead +
                     "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
                     "a=rid:h send\r\na=rid:m send max-width=640;max-height=360\r\na=rid:l recv\r\n"
                     "a=simulcast:send h;m\r\n"
                     "a=candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host generation 0\r\n"
                     "a=candidate:2 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active\r\n"
                     "a=end-of-candidates\r\n";
  auto sdp = mustParse(text);
  const auto& m = sdp.media[0];
  ASSERT_EQ(m.rids.size(), 3U);
  EXPECT_EQ(m.rids[0].id, "h");
  EXPECT_EQ(m.rids[0].direction, Direction::SendOnly);
  EXPECT_EQ(m.rids[1].params, "max-width=640;max-height=360");
  EXPECT_EQ(m.rids[2].direction, Direction::RecvOnly);
  EXPECT_EQ(m.simulcast, "send h;m");
  ASSERT_EQ(m.candidates.size(), 2U);
  EXPECT_EQ(m.candidates[1].tcpType, "active");
  EXPECT_TRUE(m.endOfCandidates);
  EXPECT_EQ(mustParse(serialize(sdp)), sdp);
}

TEST(SdpParse, DirectionsAndSetupRoles) {
  for (auto [attr, dir] : {std::pair{"sendrecv", Direction::SendRecv}, std::pair{"sendonly", Direction::SendOnly},
                           std::pair{"recvonly", Direction::RecvOnly}, std::pair{"inactive", Direction::Inactive}}) {
    auto sdp = mustParse(kMinimalHead + "m=audio 9 RTP/AVP 0\r\na=" + attr + "\r\n");
    EXPECT_EQ(sdp.media[0].direction, dir);
    EXPECT_EQ(toString(dir), attr);
  }
  EXPECT_EQ(reverse(Direction::SendOnly), Direction::RecvOnly);
  EXPECT_EQ(reverse(Direction::RecvOnly), Direction::SendOnly);
  EXPECT_EQ(reverse(Direction::SendRecv), Direction::SendRecv);
  EXPECT_EQ(reverse(Direction::Inactive), Direction::Inactive);
  auto sdp = mustParse(kMinimalHead + "a=setup:passive\r\nm=audio 9 RTP/AVP 0\r\na=setup:active\r\n");
  EXPECT_EQ(sdp.setup, SetupRole::Passive);
  EXPECT_EQ(sdp.media[0].setup, SetupRole::Active);
}

TEST(SdpParse, FingerprintIsNormalised) {
  auto sdp = mustParse(kMinimalHead + "a=fingerprint:SHA-256 ab:cd:ef\r\n");
  ASSERT_TRUE(sdp.fingerprint);
  EXPECT_EQ(sdp.fingerprint->algorithm, "sha-256");
  EXPECT_EQ(sdp.fingerprint->value, "AB:CD:EF");
}

TEST(SdpParse, MissingVersionLine) {
  expectMalformed("o=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", "line 1:");
  expectMalformed("", "line 1:");
  expectMalformed("\r\n\r\n", "line 1:");
  expectMalformed("v=1\r\n", "line 1:");
}

TEST(SdpParse, BadMediaLines) {
  expectMalformed(kMinimalHead + "m=audio\r\n", "line 5:");
  expectMalformed(kMinimalHead + "m=audio 9 UDP/TLS/RTP/SAVPF\r\n", "line 5:");
  expectMalformed(kMinimalHead + "m=audio nine UDP/TLS/RTP/SAVPF 111\r\n", "line 5:");
  expectMalformed(kMinimalHead + "m=audio 70000 UDP/TLS/RTP/SAVPF 111\r\n", "line 5:");
  expectMalformed(kMinimalHead + "m=audio 9 UDP/TLS/RTP/SAVPF 111 opus\r\n", "line 5:");
  expectMalformed(kMinimalHead + "m=audio 9 UDP/TLS/RTP/SAVPF 128\r\n", "line 5:");
  expectMalformed(kMinimalHead + "m=audio 9 UDP/TLS/RTP/SAVPF -1\r\n", "line 5:");
  expectMalformed(kMinimalHead + "m=audio 9 UDP/TLS/RTP/SAVPF 96 96\r\n", "line 5:");
  expectMalformed(kMinimalHead + "m=audio 9 RTP/AVP 0\r\nm=video 9 RTP/AVP +96\r\n", "line 6:");
}

TEST(SdpParse, BadAttributes) {
  const std::string m = kMinimalHead + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
  expectMalformed(m + "a=rtpmap:96\r\n", "line 6:");
  expectMalformed(m + "a=rtpmap:x VP8/90000\r\n", "line 6:");
  expectMalformed(m + "a=rtpmap:96 VP8/ninety\r\n", "line 6:");
  expectMalformed(m + "a=rtpmap:96 VP8\r\n", "line 6:");
  expectMalformed(m + "a=rtpmap:96 opus/48000/two\r\n", "line 6:");
  expectMalformed(m + "a=rtpmap:96 VP8/99999999999\r\n", "line 6:");
  expectMalformed(m + "a=rtpmap:96 VP8/90000\r\na=fmtp:abc x=1\r\n", "line 7:");
  expectMalformed(m + "a=rtcp-fb:96\r\n", "line 6:");
  expectMalformed(m + "a=rtcp-fb:x nack\r\n", "line 6:");
  expectMalformed(m + "a=extmap:0 urn:x\r\n", "line 6:");
  expectMalformed(m + "a=extmap:1/sideways urn:x\r\n", "line 6:");
  expectMalformed(m + "a=extmap:1\r\n", "line 6:");
  expectMalformed(m + "a=ssrc:abc cname:x\r\n", "line 6:");
  expectMalformed(m + "a=ssrc:1\r\n", "line 6:");
  expectMalformed(m + "a=ssrc-group:FID 1 x\r\n", "line 6:");
  expectMalformed(m + "a=rid:h sideways\r\n", "line 6:");
  expectMalformed(m + "a=setup:maybe\r\n", "line 6:");
  expectMalformed(m + "a=candidate:1 1 udp 1 192.0.2.1 99999 typ host\r\n", "line 6:");
  expectMalformed(m + "a=sctp-port:x\r\n", "line 6:");
  expectMalformed(m + "a=mid\r\n", "line 6:");
  // Session level: malformed typed attributes and attribute lines without a name.
  expectMalformed(kMinimalHead + "a=\r\n", "line 5:");
  expectMalformed(kMinimalHead + "a=:x\r\n", "line 5:");
  expectMalformed(kMinimalHead + "a=fingerprint:sha-256\r\n", "line 5:");
  expectMalformed(kMinimalHead + "a=group:\r\n", "line 5:");
  expectMalformed(kMinimalHead + "a=ice-ufrag\r\n", "line 5:");
  expectMalformed("v=0\r\no=- x 2 IN IP4 127.0.0.1\r\n", "line 2:");
  expectMalformed("v=0\r\no=- 1 2 IN IP4\r\n", "line 2:");
  expectMalformed(kMinimalHead + "c=IN IP4\r\n", "line 5:");
  expectMalformed(kMinimalHead + "not a line\r\n", "line 5:");
  expectMalformed(kMinimalHead + "X=1\r\n", "line 5:");
}

TEST(SdpParse, TooLarge) {
  std::string text = kMinimalHead;
  while (text.size() <= kMaxSdpSize) text += "a=x-padding:0123456789012345678901234567890123456789\r\n";
  auto r = parse(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_TOO_LARGE");
  auto f = parseFragment(text);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, "SDP_TOO_LARGE");
}

TEST(SdpParse, BinaryGarbage) {
  std::string garbage;
  std::uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245U + 12345U;
    garbage.push_back(static_cast<char>(x >> 24));
  }
  auto r = parse(garbage);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_MALFORMED");
  EXPECT_EQ(r.error().message.rfind("line ", 0), 0U);
  // Control characters inside an otherwise valid SDP.
  expectMalformed(kMinimalHead + std::string("a=foo\0bar\r\n", 11), "line 5:");
  expectMalformed(kMinimalHead + "a=foo\rbar\r\n", "line 5:");
}

TEST(SdpFragment, WhipPatchBody) {
  // RFC 9725 §4.3.1 example shape.
  std::string text =
      "a=ice-ufrag:EsAw\r\n"
      "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
      "m=audio 9 RTP/AVP 0\r\n"
      "a=mid:0\r\n"
      "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n"
      "a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n"
      "a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw\r\n"
      "a=end-of-candidates\r\n";
  auto r = parseFragment(text);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->iceUfrag, "EsAw");
  EXPECT_EQ(r->icePwd, "P2uYro0UCOQ4zxjKXaWCBui1");
  ASSERT_EQ(r->media.size(), 1U);
  EXPECT_EQ(r->media[0].mid, "0");
  ASSERT_EQ(r->media[0].candidates.size(), 3U);
  EXPECT_EQ(r->media[0].candidates[1].address, "198.51.100.2");
  EXPECT_EQ(r->media[0].candidates[2].tcpType, "active");
  EXPECT_EQ(r->media[0].candidates[0].extensions.at("network-id"), "1");
  EXPECT_TRUE(r->media[0].endOfCandidates);
}

TEST(SdpFragment, MidsIndexesAndSessionEndOfCandidates) {
  std::string text =
      "a=ice-ufrag:u\na=ice-pwd:p\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:a\na=candidate:1 1 udp 1 192.0.2.1 1000 typ host\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96\na=candidate:2 1 udp 1 192.0.2.1 1001 typ host\n"
      "a=end-of-candidates\n";
  auto r = parseFragment(text);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->media.size(), 2U);
  EXPECT_EQ(r->media[0].mid, "a");
  EXPECT_FALSE(r->media[0].endOfCandidates);
  EXPECT_EQ(r->media[1].mid, "1");  // m-line index when there is no a=mid
  EXPECT_TRUE(r->media[1].endOfCandidates);

  auto s = parseFragment("a=ice-ufrag:u\r\na=end-of-candidates\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->media.size(), 1U);
  EXPECT_TRUE(s->media[0].endOfCandidates);

  auto empty = parseFragment("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->media.empty());
}

TEST(SdpFragment, Malformed) {
  auto r = parseFragment("a=ice-ufrag:u\r\nm=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 1 192.0.2.1\r\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SDP_MALFORMED");
  EXPECT_EQ(r.error().message.rfind("line 3:", 0), 0U) << r.error().message;
  auto m = parseFragment("m=audio\r\n");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message.rfind("line 1:", 0), 0U);
}

TEST(SdpCodec, FmtpParams) {
  Codec c;
  c.fmtp = "profile-level-id=42E01F; Packetization-Mode=1;;flag";
  auto p = c.fmtpParams();
  EXPECT_EQ(p.at("profile-level-id"), "42E01F");
  EXPECT_EQ(p.at("packetization-mode"), "1");
  EXPECT_EQ(p.at("flag"), "");
  c.name = "RTX";
  c.fmtp = "apt=300";
  EXPECT_TRUE(c.isRtx());
  EXPECT_FALSE(c.rtxApt());
}
