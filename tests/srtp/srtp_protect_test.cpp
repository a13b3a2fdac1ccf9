// The OpenSSL outbound path (SrtpSession::create(..., Outbound)) against libsrtp2 as the oracle: identical bytes
// for SRTP (CSRCs, header extensions, sequence-number wraps, retransmissions) and SRTCP (compound packets), and
// libsrtp2's inbound session accepts everything we protect.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>

#include "../../src/srtp/src/srtp_outbound.hpp"
#include "stagecast/common/byte_writer.hpp"
#include "stagecast/srtp/libsrtp_session.hpp"
#include "stagecast/srtp/srtp_session.hpp"

namespace stagecast::srtp {
namespace {

struct RtpSpec {
  std::uint16_t seq = 0;
  std::uint32_t ssrc = 0x11223344;
  std::uint8_t csrcs = 0;          // RFC 3550 §5.1 CC
  std::size_t extensionWords = 0;  // RFC 3550 §5.3.1 header extension length (0 = no X bit)
  bool extension = false;
  std::size_t payload = 160;
  bool marker = false;
};

// RTP (RFC 3550 §5.1) with optional CSRC list and an RFC 8285 one-byte header extension block.
Bytes rtp(const RtpSpec& s) {
  ByteWriter w;
  w.writeU8(static_cast<std::uint8_t>(0x80 | (s.extension ? 0x10 : 0) | s.csrcs));
  w.writeU8(static_cast<std::uint8_t>((s.marker ? 0x80 : 0) | 96));
  w.writeU16(s.seq);
  w.writeU32(0x1000U + s.seq * 3000U);
  w.writeU32(s.ssrc);
  for (std::uint8_t i = 0; i < s.csrcs; ++i) w.writeU32(0xC0000000U + i);
  if (s.extension) {
    w.writeU16(0xBEDE);
    w.writeU16(static_cast<std::uint16_t>(s.extensionWords));
    for (std::size_t i = 0; i < s.extensionWords * 4; ++i) w.writeU8(static_cast<std::uint8_t>(0x10 + i));
  }
  for (std::size_t i = 0; i < s.payload; ++i) w.writeU8(static_cast<std::uint8_t>(i * 7 + s.seq));
  return w.take();
}

// Compound RTCP (RFC 3550 §6.1): SR with one report block, SDES CNAME, and optionally a BYE.
Bytes rtcpCompound(std::uint32_t ssrc, bool bye, std::uint32_t salt = 0) {
  ByteWriter w;
  // SR (RFC 3550 §6.4.1), RC = 1: 7 + 6 words => length 12.
  w.writeU8(0x81);
  w.writeU8(200);
  w.writeU16(12);
  w.writeU32(ssrc);
  w.writeU32(0xE1234567);  // NTP MSW
  w.writeU32(0x89ABCDEF + salt);
  w.writeU32(0x00112233);   // RTP timestamp
  w.writeU32(1000 + salt);  // packet count
  w.writeU32(1200000);      // octet count
  w.writeU32(0xAABBCCDD);   // report block SSRC
  w.writeU32(0x01000010);
  w.writeU32(0x00010203);
  w.writeU32(20);
  w.writeU32(0);
  w.writeU32(0);
  // SDES (RFC 3550 §6.5): one chunk, CNAME "stagecast-x": 4 SSRC + 2 + 11 + null padding to 20 => length 5.
  w.writeU8(0x81);
  w.writeU8(202);
  w.writeU16(5);
  w.writeU32(ssrc);
  w.writeU8(1);
  w.writeU8(11);
  for (char c : std::string("stagecast-x")) w.writeU8(static_cast<std::uint8_t>(c));
  w.writeU8(0);
  w.writeU8(0);
  w.writeU8(0);
  if (bye) {
    w.writeU8(0x81);
    w.writeU8(203);
    w.writeU16(1);
    w.writeU32(ssrc);
  }
  return w.take();
}

Bytes keyFor(Profile p, std::uint32_t seed) {
  Bytes k(keySaltLength(p));
  std::mt19937 rng(seed);
  for (auto& b : k) b = static_cast<std::uint8_t>(rng());
  return k;
}

std::string hexOf(const Bytes& b) { return toHex(b); }

class ProtectVsLibsrtp : public ::testing::TestWithParam<Profile> {
 protected:
  void SetUp() override { reset(0x5eed); }
  void reset(std::uint32_t seed) {
    key_ = keyFor(GetParam(), seed);
    ours_ = SrtpSession::create(GetParam(), key_, Direction::Outbound).value();
    oracle_ = createLibsrtpSession(GetParam(), key_, Direction::Outbound).value();
    receiver_ = SrtpSession::create(GetParam(), key_, Direction::Inbound).value();
  }
  [[nodiscard]] std::size_t tag() const { return GetParam() == Profile::AeadAes128Gcm ? 16 : 10; }

  // Protects with both, expects identical bytes; optionally checks the receiver recovers the plaintext.
  void protectRtpBoth(const Bytes& plain, bool receive = true) {
    Bytes a = plain;
    Bytes b = plain;
    ASSERT_TRUE(ours_->protectRtp(a).ok());
    ASSERT_TRUE(oracle_->protectRtp(b).ok());
    ASSERT_EQ(a.size(), plain.size() + tag());
    ASSERT_EQ(hexOf(a), hexOf(b)) << "packet " << hexOf(plain);
    if (receive) {
      const Status st = receiver_->unprotectRtp(a);
      ASSERT_TRUE(st.ok()) << st.error().code << " " << st.error().message;
      ASSERT_EQ(a, plain);
    }
  }
  void protectRtcpBoth(const Bytes& plain) {
    Bytes a = plain;
    Bytes b = plain;
    ASSERT_TRUE(ours_->protectRtcp(a).ok());
    ASSERT_TRUE(oracle_->protectRtcp(b).ok());
    ASSERT_EQ(a.size(), plain.size() + 4 + tag());
    ASSERT_EQ(hexOf(a), hexOf(b)) << "packet " << hexOf(plain);
    const Status st = receiver_->unprotectRtcp(a);
    ASSERT_TRUE(st.ok()) << st.error().code << " " << st.error().message;
    ASSERT_EQ(a, plain);
  }

  Bytes key_;
  std::unique_ptr<SrtpSession> ours_, oracle_, receiver_;
};

TEST_P(ProtectVsLibsrtp, RtpPlainCsrcsAndHeaderExtensions) {
  std::uint16_t seq = 100;
  for (std::uint8_t csrcs : {0, 1, 3, 15}) {
    for (std::size_t extWords : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
      for (bool ext : {false, true}) {
        for (std::size_t payload :
             {std::size_t{0}, std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{17}, std::size_t{1150}}) {
          RtpSpec s{.seq = seq++, .csrcs = csrcs, .extensionWords = extWords, .extension = ext, .payload = payload};
          SCOPED_TRACE("csrcs " + std::to_string(csrcs) + " ext " + std::to_string(ext) + " words " +
                       std::to_string(extWords) + " payload " + std::to_string(payload));
          protectRtpBoth(rtp(s));
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(ProtectVsLibsrtp, RtpSeveralSsrcsKeepSeparateState) {
  for (std::uint16_t i = 0; i < 50; ++i) {
    protectRtpBoth(rtp({.seq = static_cast<std::uint16_t>(65500 + i), .ssrc = 0xA}));
    protectRtpBoth(rtp({.seq = static_cast<std::uint16_t>(10 + i), .ssrc = 0xB, .csrcs = 2}));
    protectRtpBoth(rtp({.seq = static_cast<std::uint16_t>(40000 + 700 * i), .ssrc = 0xC, .payload = 900}));
    if (HasFatalFailure()) return;
  }
}

TEST_P(ProtectVsLibsrtp, SequenceWrapIncrementsRoc) {
  // From ROC 0 through three wraps, step 1 around the wraps and larger steps between them.
  std::uint32_t ext = 65000;  // extended sequence number (ROC * 2^16 + SEQ)
  while (ext < 3 * 65536 + 2000) {
    protectRtpBoth(rtp({.seq = static_cast<std::uint16_t>(ext), .extensionWords = 2, .extension = true}));
    if (HasFatalFailure()) return;
    const auto low = static_cast<std::uint16_t>(ext);
    ext += (low > 65000 || low < 500) ? 1 : 997;
  }
  // The receiver decrypted every packet, so both ends agree on the ROC (RFC 3711 §3.3.1); a packet whose
  // ciphertext depends on ROC 3 is only accepted with ROC 3.
  Bytes p = rtp({.seq = static_cast<std::uint16_t>(ext)});
  Bytes q = p;
  ASSERT_TRUE(ours_->protectRtp(p).ok());
  ASSERT_TRUE(oracle_->protectRtp(q).ok());
  EXPECT_EQ(p, q);
}

TEST_P(ProtectVsLibsrtp, RetransmissionAcrossTheWrapUsesTheOriginalRoc) {
  std::map<std::uint16_t, Bytes> sent;
  for (std::uint32_t ext = 65530; ext < 65536 + 8; ++ext) {
    const auto seq = static_cast<std::uint16_t>(ext);
    Bytes plain = rtp({.seq = seq, .payload = 200});
    Bytes a = plain;
    ASSERT_TRUE(ours_->protectRtp(a).ok());
    sent[seq] = a;
    protectRtpBoth(plain, /*receive=*/false);  // advances the oracle (and checks it again for ours)
  }
  // NACK answered after the wrap: 65532 and 65535 still belong to ROC 0, 3 to ROC 1.
  for (std::uint16_t seq : {std::uint16_t{65532}, std::uint16_t{65535}, std::uint16_t{3}}) {
    Bytes again = rtp({.seq = seq, .payload = 200});
    Bytes oracle = again;
    ASSERT_TRUE(ours_->protectRtp(again).ok());
    ASSERT_TRUE(oracle_->protectRtp(oracle).ok());
    EXPECT_EQ(again, sent[seq]) << seq;
    EXPECT_EQ(again, oracle) << seq;
  }
}

TEST_P(ProtectVsLibsrtp, ProtectingTheSamePacketTwiceIsIdentical) {
  const Bytes plain = rtp({.seq = 4321, .csrcs = 2, .extensionWords = 1, .extension = true, .payload = 1150});
  Bytes first = plain;
  Bytes second = plain;
  ASSERT_TRUE(ours_->protectRtp(first).ok());
  Bytes between = rtp({.seq = 4322});
  ASSERT_TRUE(ours_->protectRtp(between).ok());
  ASSERT_TRUE(ours_->protectRtp(second).ok());
  EXPECT_EQ(first, second);
  ASSERT_TRUE(receiver_->unprotectRtp(first).ok());
  EXPECT_EQ(first, plain);
}

TEST_P(ProtectVsLibsrtp, RtcpCompoundPackets) {
  for (std::uint32_t i = 0; i < 20; ++i) {
    protectRtcpBoth(rtcpCompound(0x55667788, i % 5 == 4, i));
    protectRtcpBoth(rtcpCompound(0x01020304, false, i));  // its own SRTCP index sequence
    // Minimal packet: only the 8 clear octets (RFC 3711 §3.4), nothing to encrypt.
    ByteWriter w;
    w.writeU8(0x80);
    w.writeU8(201);
    w.writeU16(1);
    w.writeU32(0x0BADCAFE);
    protectRtcpBoth(w.take());
    if (HasFatalFailure()) return;
  }
}

TEST_P(ProtectVsLibsrtp, RtpAndRtcpOfOneSsrcInterleaved) {
  for (std::uint16_t i = 0; i < 30; ++i) {
    protectRtpBoth(rtp({.seq = static_cast<std::uint16_t>(65520 + i), .ssrc = 0x55667788}));
    protectRtcpBoth(rtcpCompound(0x55667788, false, i));
    if (HasFatalFailure()) return;
  }
}

TEST_P(ProtectVsLibsrtp, RandomisedTrafficMatchesLibsrtp) {
  std::mt19937 rng(1234);
  std::map<std::uint32_t, std::uint32_t> ext;  // per SSRC extended sequence of the newest packet
  std::set<std::pair<std::uint32_t, std::uint32_t>> received;
  const std::uint32_t ssrcs[] = {1, 0xFFFFFFFF, 0x12345678};
  for (auto s : ssrcs) ext[s] = rng() % 65536;
  for (int n = 0; n < 3000; ++n) {
    const std::uint32_t ssrc = ssrcs[rng() % 3];
    if (rng() % 10 == 0) {
      protectRtcpBoth(rtcpCompound(ssrc, rng() % 2 == 0, static_cast<std::uint32_t>(n)));
      if (HasFatalFailure()) return;
      continue;
    }
    std::uint32_t e = ext[ssrc];
    const unsigned r = rng() % 20;
    if (r == 0 && e > 900) {
      e -= 1 + rng() % 900;  // retransmission (libsrtp's sender also keeps a 1024 window)
    } else {
      e += 1 + (r == 1 ? rng() % 3000 : 0);
      ext[ssrc] = e;
    }
    RtpSpec spec{.seq = static_cast<std::uint16_t>(e),
                 .ssrc = ssrc,
                 .csrcs = static_cast<std::uint8_t>(rng() % 3),
                 .extensionWords = rng() % 4,
                 .extension = rng() % 2 == 0,
                 .payload = rng() % 1200};
    const bool fresh = received.insert({ssrc, e}).second;
    protectRtpBoth(rtp(spec), fresh && e == ext[ssrc]);
    if (HasFatalFailure()) return;
  }
}

TEST_P(ProtectVsLibsrtp, MalformedRtpIsRejectedUnchanged) {
  Bytes cc = rtp({.seq = 1, .csrcs = 15, .payload = 0});
  cc.resize(12 + 4 * 14);  // CC claims 15 CSRCs, only 14 present
  Bytes ext = rtp({.seq = 2, .extensionWords = 8, .extension = true, .payload = 0});
  ext.resize(ext.size() - 4);  // extension length claims one word more than present
  Bytes extHeader = rtp({.seq = 3, .extension = true, .payload = 0});
  extHeader.resize(14);  // X bit set, extension header cut short
  for (Bytes* p : {&cc, &ext, &extHeader}) {
    const Bytes before = *p;
    Bytes oracle = *p;
    const Status st = ours_->protectRtp(*p);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, "SRTP_PROTECT_FAILED");
    EXPECT_EQ(*p, before);
    EXPECT_FALSE(oracle_->protectRtp(oracle).ok());
  }
  Bytes shortRtcp = {0x80, 201, 0, 1, 0, 0, 0};
  const Status st = ours_->protectRtcp(shortRtcp);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "SRTP_PROTECT_FAILED");
  EXPECT_EQ(shortRtcp.size(), 7U);
}

TEST_P(ProtectVsLibsrtp, OutboundSessionDoesNotUnprotect) {
  Bytes p = rtp({.seq = 9});
  ASSERT_TRUE(ours_->protectRtp(p).ok());
  const Status st = ours_->unprotectRtp(p);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "SRTP_UNPROTECT_FAILED");
}

INSTANTIATE_TEST_SUITE_P(Profiles, ProtectVsLibsrtp,
                         ::testing::Values(Profile::Aes128CmSha1_80, Profile::AeadAes128Gcm),
                         [](const ::testing::TestParamInfo<Profile>& info) {
                           return info.param == Profile::AeadAes128Gcm ? std::string("AeadAes128Gcm")
                                                                       : std::string("Aes128CmSha1_80");
                         });

// RFC 3711 Appendix B.3: key derivation test vectors (AES-CM PRF, key_derivation_rate 0).
TEST(SrtpKeyDerivation, Rfc3711AppendixB3) {
  const Bytes masterKey = {0xE1, 0xF9, 0x7A, 0x0D, 0x3E, 0x01, 0x8B, 0xE0,
                           0xD6, 0x4F, 0xA3, 0x2C, 0x06, 0xDE, 0x41, 0x39};
  const Bytes masterSalt = {0x0E, 0xC6, 0x75, 0xAD, 0x49, 0x8A, 0xFE, 0xEB, 0xB6, 0x96, 0x0B, 0x3A, 0xAB, 0xE6};
  Bytes encKey(16), salt(14), authKey(20);
  ASSERT_TRUE(detail::deriveSessionKey(masterKey, masterSalt, 0x00, encKey));
  ASSERT_TRUE(detail::deriveSessionKey(masterKey, masterSalt, 0x02, salt));
  ASSERT_TRUE(detail::deriveSessionKey(masterKey, masterSalt, 0x01, authKey));
  EXPECT_EQ(toHex(encKey), "c61e7a93744f39ee10734afe3ff7a087");
  EXPECT_EQ(toHex(salt), "30cbbc08863d8c85d49db34a9ae1");
  EXPECT_EQ(toHex(authKey), "cebe321f6ff7716b6fd4ab49af256a156d38baa4");
}

// RFC 3711 §3.3.1 / Appendix A as applied by the sender.
TEST(SrtpIndexEstimate, RocFollowsWrapsAndRetransmissions) {
  using detail::estimateIndex;
  EXPECT_EQ(estimateIndex(0, 0), 0U);
  EXPECT_EQ(estimateIndex(0, 65000), 65000U);  // a high first SEQ stays in ROC 0
  EXPECT_EQ(estimateIndex(100, 65000), 65000U);
  EXPECT_EQ(estimateIndex(65535, 0), 65536U);          // wrap: ROC 1
  EXPECT_EQ(estimateIndex(65536 + 3, 65534), 65534U);  // retransmission from before the wrap: ROC 0
  EXPECT_EQ(estimateIndex(65536 + 3, 3), 65536U + 3);  // same packet again
  EXPECT_EQ(estimateIndex(65536 + 40000, 5), 2 * 65536U + 5);
  EXPECT_EQ(estimateIndex(65536 + 40000, 39000), 65536U + 39000);
  EXPECT_EQ((estimateIndex(0xFFFFFFFFULL << 16 | 65535, 0) >> 16), 0x100000000ULL);  // caller rejects
}

}  // namespace
}  // namespace stagecast::srtp
