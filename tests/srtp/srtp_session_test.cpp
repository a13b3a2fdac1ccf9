#include "stagecast/srtp/srtp_session.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <tuple>

#include "../dtls/dtls_pair.hpp"
#include "stagecast/common/byte_writer.hpp"

namespace stagecast::srtp {
namespace {

using dtls::testing::DtlsPair;
using dtls::testing::PairOptions;

// RTP (RFC 3550 §5.1): V=2, PT 96, sequence `seq`, timestamp, SSRC, then a payload.
Bytes rtpPacket(std::uint16_t seq, std::uint32_t ssrc = 0x11223344, std::size_t payload = 160) {
  ByteWriter w;
  w.writeU8(0x80);
  w.writeU8(96);
  w.writeU16(seq);
  w.writeU32(0x1000);
  w.writeU32(ssrc);
  for (std::size_t i = 0; i < payload; ++i) w.writeU8(static_cast<std::uint8_t>(i * 7 + seq));
  return w.take();
}

// RTCP receiver report (RFC 3550 §6.4.2) with no report blocks.
Bytes rtcpPacket(std::uint32_t ssrc = 0x55667788) {
  ByteWriter w;
  w.writeU8(0x80);
  w.writeU8(201);
  w.writeU16(1);
  w.writeU32(ssrc);
  return w.take();
}

Profile toSrtp(dtls::SrtpProfile p) {
  return p == dtls::SrtpProfile::AeadAes128Gcm ? Profile::AeadAes128Gcm : Profile::Aes128CmSha1_80;
}

// Keys from a real DTLS-SRTP handshake (RFC 5764 §4.2), one session per direction and side.
struct Sessions {
  Profile profile = Profile::Aes128CmSha1_80;
  std::unique_ptr<SrtpSession> clientOut, clientIn, serverOut, serverIn;
};

Sessions handshake(bool gcm) {
  PairOptions o;
  o.clientOfferGcm = gcm;
  DtlsPair p(o);
  p.exchangeFingerprints();
  p.start();
  p.pump();
  Sessions s;
  EXPECT_TRUE(p.bothConnected());
  if (!p.bothConnected()) return s;
  const auto& ck = *p.clientListener.keys;
  const auto& sk = *p.serverListener.keys;
  s.profile = toSrtp(ck.profile);
  EXPECT_EQ(s.profile, gcm ? Profile::AeadAes128Gcm : Profile::Aes128CmSha1_80);
  s.clientOut = SrtpSession::create(s.profile, ck.localKeySalt, Direction::Outbound).value();
  s.clientIn = SrtpSession::create(s.profile, ck.remoteKeySalt, Direction::Inbound).value();
  s.serverOut = SrtpSession::create(s.profile, sk.localKeySalt, Direction::Outbound).value();
  s.serverIn = SrtpSession::create(s.profile, sk.remoteKeySalt, Direction::Inbound).value();
  return s;
}

class SrtpWithDtlsKeys : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    s_ = handshake(GetParam());
    ASSERT_NE(s_.clientOut, nullptr);
  }
  [[nodiscard]] std::size_t rtpOverhead() const { return GetParam() ? 16 : 10; }
  // SRTCP adds E||index (4 bytes) before the tag (RFC 3711 §3.4, RFC 7714 §9).
  [[nodiscard]] std::size_t rtcpOverhead() const { return rtpOverhead() + 4; }
  Sessions s_;
};

TEST_P(SrtpWithDtlsKeys, RtpRoundTripBothDirections) {
  for (std::uint16_t seq = 1000; seq < 1010; ++seq) {
    const Bytes plain = rtpPacket(seq);
    Bytes packet = plain;
    ASSERT_TRUE(s_.clientOut->protectRtp(packet).ok());
    EXPECT_EQ(packet.size(), plain.size() + rtpOverhead());
    EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 12, packet.begin()));      // header in the clear
    EXPECT_FALSE(std::equal(plain.begin() + 12, plain.end(), packet.begin() + 12));  // payload encrypted
    ASSERT_TRUE(s_.serverIn->unprotectRtp(packet).ok());
    EXPECT_EQ(packet, plain);

    Bytes back = rtpPacket(seq, 0xAABBCCDD, 40);
    ASSERT_TRUE(s_.serverOut->protectRtp(back).ok());
    ASSERT_TRUE(s_.clientIn->unprotectRtp(back).ok());
    EXPECT_EQ(back, rtpPacket(seq, 0xAABBCCDD, 40));
  }
}

TEST_P(SrtpWithDtlsKeys, RtcpRoundTripBothDirections) {
  for (int i = 0; i < 5; ++i) {
    const Bytes plain = rtcpPacket();
    Bytes packet = plain;
    ASSERT_TRUE(s_.clientOut->protectRtcp(packet).ok());
    EXPECT_EQ(packet.size(), plain.size() + rtcpOverhead());
    ASSERT_TRUE(s_.serverIn->unprotectRtcp(packet).ok());
    EXPECT_EQ(packet, plain);

    Bytes back = rtcpPacket(0x01020304);
    ASSERT_TRUE(s_.serverOut->protectRtcp(back).ok());
    ASSERT_TRUE(s_.clientIn->unprotectRtcp(back).ok());
    EXPECT_EQ(back, rtcpPacket(0x01020304));
  }
}

TEST_P(SrtpWithDtlsKeys, WrongDirectionKeysFailAuthentication) {
  Bytes packet = rtpPacket(1);
  ASSERT_TRUE(s_.clientOut->protectRtp(packet).ok());
  // The client's own inbound session holds the server's keys.
  const Status st = s_.clientIn->unprotectRtp(packet);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "SRTP_AUTH_FAILED");
}

TEST_P(SrtpWithDtlsKeys, TamperedPacketFailsAuthentication) {
  for (std::size_t flip : {std::size_t{1}, std::size_t{5}, std::size_t{20}, std::size_t{0}}) {
    Bytes packet = rtpPacket(static_cast<std::uint16_t>(200 + flip));
    ASSERT_TRUE(s_.clientOut->protectRtp(packet).ok());
    const std::size_t index = flip == 0 ? packet.size() - 1 : flip;  // header, payload, tag
    packet[index] ^= 0x01;
    const Status st = s_.serverIn->unprotectRtp(packet);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, "SRTP_AUTH_FAILED") << "flip at " << index;
  }
  Bytes rtcp = rtcpPacket();
  ASSERT_TRUE(s_.clientOut->protectRtcp(rtcp).ok());
  rtcp[10] ^= 0x80;
  const Status st = s_.serverIn->unprotectRtcp(rtcp);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "SRTP_AUTH_FAILED");
}

TEST_P(SrtpWithDtlsKeys, ReplayedPacketIsRejected) {
  Bytes packet = rtpPacket(4242);
  ASSERT_TRUE(s_.clientOut->protectRtp(packet).ok());
  Bytes copy = packet;
  ASSERT_TRUE(s_.serverIn->unprotectRtp(packet).ok());
  const Status st = s_.serverIn->unprotectRtp(copy);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "SRTP_REPLAY");

  Bytes rtcp = rtcpPacket();
  ASSERT_TRUE(s_.clientOut->protectRtcp(rtcp).ok());
  Bytes rtcpCopy = rtcp;
  ASSERT_TRUE(s_.serverIn->unprotectRtcp(rtcp).ok());
  const Status rst = s_.serverIn->unprotectRtcp(rtcpCopy);
  ASSERT_FALSE(rst.ok());
  EXPECT_EQ(rst.error().code, "SRTP_REPLAY");
}

TEST_P(SrtpWithDtlsKeys, PacketOlderThanReplayWindowIsRejected) {
  Bytes old = rtpPacket(10);
  ASSERT_TRUE(s_.clientOut->protectRtp(old).ok());
  for (std::uint16_t seq = 11; seq < 11 + 1100; seq += 100) {
    Bytes p = rtpPacket(seq);
    ASSERT_TRUE(s_.clientOut->protectRtp(p).ok());
    ASSERT_TRUE(s_.serverIn->unprotectRtp(p).ok());
  }
  Bytes newest = rtpPacket(11 + 1100);
  ASSERT_TRUE(s_.clientOut->protectRtp(newest).ok());
  ASSERT_TRUE(s_.serverIn->unprotectRtp(newest).ok());
  const Status st = s_.serverIn->unprotectRtp(old);  // > 1024 behind the highest index
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "SRTP_REPLAY");
}

TEST_P(SrtpWithDtlsKeys, OutOfOrderWithinWindowIsAccepted) {
  Bytes a = rtpPacket(500);
  Bytes b = rtpPacket(501);
  ASSERT_TRUE(s_.clientOut->protectRtp(a).ok());
  ASSERT_TRUE(s_.clientOut->protectRtp(b).ok());
  EXPECT_TRUE(s_.serverIn->unprotectRtp(b).ok());
  EXPECT_TRUE(s_.serverIn->unprotectRtp(a).ok());
}

TEST_P(SrtpWithDtlsKeys, RetransmittingTheSameRtpPacketIsAllowed) {
  // A NACK answered by resending the cached packet protects the same sequence number twice (allow_repeat_tx).
  const Bytes plain = rtpPacket(777);
  Bytes first = plain;
  Bytes second = plain;
  ASSERT_TRUE(s_.clientOut->protectRtp(first).ok());
  ASSERT_TRUE(s_.clientOut->protectRtp(second).ok());
  EXPECT_EQ(first, second);
  ASSERT_TRUE(s_.serverIn->unprotectRtp(first).ok());
  EXPECT_EQ(first, plain);
}

TEST_P(SrtpWithDtlsKeys, MalformedInputIsAnErrorNotACrash) {
  for (std::size_t n : {0, 1, 7, 11, 12, 13, 20, 40, 200}) {
    Bytes junk(n, 0xA5);
    if (n > 0) junk[0] = 0x80;
    Bytes a = junk;
    EXPECT_FALSE(s_.serverIn->unprotectRtp(a).ok()) << n;
    Bytes b = junk;
    EXPECT_FALSE(s_.serverIn->unprotectRtcp(b).ok()) << n;
  }
  Bytes tiny = {0x80, 96};
  const Status st = s_.clientOut->protectRtp(tiny);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "SRTP_PROTECT_FAILED");
  EXPECT_EQ(tiny.size(), 2U);
}

INSTANTIATE_TEST_SUITE_P(Profiles, SrtpWithDtlsKeys, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("AeadAes128Gcm") : std::string("Aes128CmSha1_80");
                         });

// Known answer from libsrtp's srtp_driver.c (srtp_validate): AES_CM_128_HMAC_SHA1_80 with master key
// E1F97A0D3E018BE0D64FA32C06DE4139 and salt 0EC675AD498AFEEBB6960B3AABE6, SSRC 0xCAFEBABE, ROC 0, SEQ 0x1234.
// This pins key derivation (RFC 3711 §4.3), AES-CM (§4.1.1) and HMAC-SHA1-80 (§4.2) end to end.
const Bytes kMasterKeySalt = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41,
                              0x39, 0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};
const Bytes kRtpPlain = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab,
                         0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
const Bytes kSrtpCipher = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e,
                           0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d,
                           0x24, 0x02, 0xb7, 0x8d, 0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb};
const Bytes kRtcpPlain = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab,
                          0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
// SRTCP index 1 with the E bit set (0x80000001), then the 80-bit tag.
const Bytes kSrtcpCipher = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28, 0x03, 0x5b, 0xe4,
                            0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41, 0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00,
                            0x00, 0x01, 0x99, 0x3e, 0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98};

TEST(SrtpKnownAnswer, AesCmRtp) {
  auto out = SrtpSession::create(Profile::Aes128CmSha1_80, kMasterKeySalt, Direction::Outbound);
  ASSERT_TRUE(out.ok());
  Bytes packet = kRtpPlain;
  ASSERT_TRUE(out.value()->protectRtp(packet).ok());
  EXPECT_EQ(packet, kSrtpCipher);

  auto in = SrtpSession::create(Profile::Aes128CmSha1_80, kMasterKeySalt, Direction::Inbound);
  ASSERT_TRUE(in.ok());
  Bytes received = kSrtpCipher;
  ASSERT_TRUE(in.value()->unprotectRtp(received).ok());
  EXPECT_EQ(received, kRtpPlain);
}

TEST(SrtpKnownAnswer, AesCmRtcp) {
  auto out = SrtpSession::create(Profile::Aes128CmSha1_80, kMasterKeySalt, Direction::Outbound);
  ASSERT_TRUE(out.ok());
  Bytes packet = kRtcpPlain;
  ASSERT_TRUE(out.value()->protectRtcp(packet).ok());
  EXPECT_EQ(packet, kSrtcpCipher);

  auto in = SrtpSession::create(Profile::Aes128CmSha1_80, kMasterKeySalt, Direction::Inbound);
  ASSERT_TRUE(in.ok());
  Bytes received = kSrtcpCipher;
  ASSERT_TRUE(in.value()->unprotectRtcp(received).ok());
  EXPECT_EQ(received, kRtcpPlain);
}

TEST(SrtpKnownAnswer, GcmExpandsByTagOnly) {
  Bytes keySalt(28);
  for (std::size_t i = 0; i < keySalt.size(); ++i) keySalt[i] = static_cast<std::uint8_t>(i);
  auto out = SrtpSession::create(Profile::AeadAes128Gcm, keySalt, Direction::Outbound);
  ASSERT_TRUE(out.ok());
  Bytes packet = kRtpPlain;
  ASSERT_TRUE(out.value()->protectRtp(packet).ok());
  ASSERT_EQ(packet.size(), kRtpPlain.size() + 16);  // RFC 7714 §7: 16-octet tag, no separate auth tag
  EXPECT_TRUE(std::equal(kRtpPlain.begin(), kRtpPlain.begin() + 12, packet.begin()));
  EXPECT_FALSE(std::equal(kRtpPlain.begin() + 12, kRtpPlain.end(), packet.begin() + 12));
}

TEST(SrtpSession, KeySaltLengths) {
  EXPECT_EQ(keySaltLength(Profile::Aes128CmSha1_80), 30U);
  EXPECT_EQ(keySaltLength(Profile::AeadAes128Gcm), 28U);
}

TEST(SrtpSession, RejectsWrongKeyLength) {
  const Bytes shortKey(29, 1);
  auto r = SrtpSession::create(Profile::Aes128CmSha1_80, shortKey, Direction::Outbound);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "SRTP_BAD_KEY");
  const Bytes cmKey(30, 1);
  EXPECT_FALSE(SrtpSession::create(Profile::AeadAes128Gcm, cmKey, Direction::Inbound).ok());
}

TEST(SrtpSession, EnsureInitializedIsIdempotent) {
  ensureInitialized();
  ensureInitialized();
  EXPECT_TRUE(SrtpSession::create(Profile::Aes128CmSha1_80, kMasterKeySalt, Direction::Inbound).ok());
}

}  // namespace
}  // namespace stagecast::srtp
