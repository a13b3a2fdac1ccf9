#include "stagecast/stun/message.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "stagecast/common/byte_writer.hpp"
#include "stagecast/common/crypto.hpp"

using namespace stagecast;
using namespace stagecast::stun;

namespace {

// Parses hex written as in the RFC text ("00 01 00 58 ..."); whitespace is ignored.
Bytes fromHex(std::string_view text) {
  Bytes out;
  int hi = -1;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  EXPECT_EQ(hi, -1) << "odd number of hex digits";
  return out;
}

// RFC 5769 §2.1: sample request, short-term credentials.
const Bytes kSampleRequest = fromHex(R"(
  00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
  00 24 00 04  6e 00 01 ff
  80 29 00 08  93 2f f9 b1  51 26 3b 36
  00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
  00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
  80 28 00 04  e5 7a 3b cf
)");

// RFC 5769 §2.2: sample IPv4 response.
const Bytes kSampleIpv4Response = fromHex(R"(
  01 01 00 3c  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 08  00 01 a1 47  e1 12 a6 43
  00 08 00 14  2b 91 f5 99  fd 9e 90 c3  8c 74 89 f9  2a f9 ba 53  f0 6b e7 d7
  80 28 00 04  c0 7d 4c 96
)");

// RFC 5769 §2.3: sample IPv6 response.
const Bytes kSampleIpv6Response = fromHex(R"(
  01 01 00 48  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
  80 22 00 0b  74 65 73 74  20 76 65 63  74 6f 72 20
  00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9
  00 08 00 14  a3 82 95 4e  4b e6 7b f1  17 84 c9 7c  82 92 c2 75  bf e3 ed 41
  80 28 00 04  c8 fb 0b 4c
)");

// RFC 5769 §2.4: sample request with long-term authentication.
const Bytes kSampleLongTermRequest = fromHex(R"(
  00 01 00 60  21 12 a4 42  78 ad 34 33  c6 ad 72 c0  29 da 41 2e
  00 06 00 12  e3 83 9e e3  83 88 e3 83  aa e3 83 83  e3 82 af e3  82 b9 00 00
  00 15 00 1c  66 2f 2f 34  39 39 6b 39  35 34 64 36  4f 4c 33 34  6f 4c 39 46  53 54 76 79  36 34 73 41
  00 14 00 0b  65 78 61 6d  70 6c 65 2e  6f 72 67 00
  00 08 00 14  f6 70 24 65  6d d6 4a 3e  02 b8 e0 71  2e 85 c9 a2  8c a8 96 66
)");

constexpr std::string_view kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";
const TransactionId kSampleTid{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

TransactionId testTid() { return TransactionId{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; }

struct RawAttr {
  std::uint16_t type;
  Bytes value;
};

// Builds a message by hand (independently of serialize()), optionally appending a correct FINGERPRINT.
Bytes buildRaw(std::uint16_t type, const std::vector<RawAttr>& attrs, bool fingerprint = false) {
  ByteWriter w;
  w.writeU16(type);
  w.writeU16(0);
  w.writeU32(kMagicCookie);
  w.writeBytes(testTid());
  for (const auto& a : attrs) {
    w.writeU16(a.type);
    w.writeU16(static_cast<std::uint16_t>(a.value.size()));
    w.writeBytes(a.value);
    while (w.size() % 4 != 0) w.writeU8(0);
  }
  if (fingerprint) {
    w.patchU16(2, static_cast<std::uint16_t>(w.size() - kHeaderSize + 8));
    const std::uint32_t crc = crypto::crc32(w.bytes()) ^ 0x5354554eU;
    w.writeU16(attr::kFingerprint);
    w.writeU16(4);
    w.writeU32(crc);
  }
  w.patchU16(2, static_cast<std::uint16_t>(w.size() - kHeaderSize));
  return w.take();
}

Bytes u32Bytes(std::uint32_t v) {
  ByteWriter w;
  w.writeU32(v);
  return w.take();
}

void expectMalformed(const Bytes& bytes, std::string_view messagePart = {}) {
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "STUN_MALFORMED");
  EXPECT_FALSE(r.error().message.empty());
  if (!messagePart.empty()) {
    EXPECT_NE(r.error().message.find(messagePart), std::string::npos) << r.error().message;
  }
}

void expectSameFields(const Message& a, const Message& b) {
  EXPECT_EQ(a.cls, b.cls);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.transactionId, b.transactionId);
  EXPECT_EQ(a.username, b.username);
  EXPECT_EQ(a.realm, b.realm);
  EXPECT_EQ(a.nonce, b.nonce);
  EXPECT_EQ(a.software, b.software);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.useCandidate, b.useCandidate);
  EXPECT_EQ(a.iceControlling, b.iceControlling);
  EXPECT_EQ(a.iceControlled, b.iceControlled);
  EXPECT_EQ(a.xorMappedAddress, b.xorMappedAddress);
  EXPECT_EQ(a.mappedAddress, b.mappedAddress);
  ASSERT_EQ(a.errorCode.has_value(), b.errorCode.has_value());
  if (a.errorCode) {
    EXPECT_EQ(a.errorCode->code, b.errorCode->code);
    EXPECT_EQ(a.errorCode->reason, b.errorCode->reason);
  }
  EXPECT_EQ(a.unknownAttributes, b.unknownAttributes);
}

}  // namespace

// ---- RFC 5769 test vectors ----

TEST(StunRfc5769, SampleRequest) {
  ASSERT_EQ(kSampleRequest.size(), 108U);
  EXPECT_TRUE(looksLikeStun(kSampleRequest));
  auto r = parse(kSampleRequest);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Message& m = *r;
  EXPECT_EQ(m.cls, Class::Request);
  EXPECT_EQ(m.method, kMethodBinding);
  EXPECT_EQ(m.transactionId, kSampleTid);
  EXPECT_EQ(m.software, "STUN test client");
  EXPECT_EQ(m.priority, 0x6e0001ffU);
  EXPECT_EQ(m.iceControlled, 0x932ff9b151263b36ULL);
  EXPECT_FALSE(m.iceControlling);
  EXPECT_EQ(m.username, "evtj:h6vY");
  EXPECT_FALSE(m.useCandidate);
  EXPECT_TRUE(m.unknownComprehensionRequired.empty());
  EXPECT_TRUE(m.hasMessageIntegrity);
  EXPECT_EQ(m.messageIntegrityOffset, 76U);
  EXPECT_FALSE(m.hasMessageIntegritySha256);
  EXPECT_TRUE(m.hasFingerprint);
  EXPECT_EQ(m.fingerprintOffset, 100U);

  EXPECT_TRUE(verifyMessageIntegrity(kSampleRequest, m, asBytes(kShortTermPassword)));
  EXPECT_FALSE(verifyMessageIntegrity(kSampleRequest, m, asBytes("VOkJxbRl1RmTxUk/WvJxBT")));
  EXPECT_FALSE(verifyMessageIntegrity(kSampleRequest, m, asBytes("")));
  EXPECT_FALSE(verifyMessageIntegritySha256(kSampleRequest, m, asBytes(kShortTermPassword)));
}

TEST(StunRfc5769, SampleIpv4Response) {
  ASSERT_EQ(kSampleIpv4Response.size(), 80U);
  EXPECT_TRUE(looksLikeStun(kSampleIpv4Response));
  auto r = parse(kSampleIpv4Response);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cls, Class::SuccessResponse);
  EXPECT_EQ(r->method, kMethodBinding);
  EXPECT_EQ(r->transactionId, kSampleTid);
  EXPECT_EQ(r->software, "test vector");
  ASSERT_TRUE(r->xorMappedAddress);
  EXPECT_EQ(*r->xorMappedAddress, Endpoint::v4(0xC0000201, 32853));  // 192.0.2.1:32853
  EXPECT_EQ(r->xorMappedAddress->toString(), "192.0.2.1:32853");
  EXPECT_FALSE(r->mappedAddress);
  EXPECT_TRUE(r->hasMessageIntegrity);
  EXPECT_EQ(r->messageIntegrityOffset, 48U);
  EXPECT_TRUE(r->hasFingerprint);
  EXPECT_EQ(r->fingerprintOffset, 72U);
  EXPECT_TRUE(verifyMessageIntegrity(kSampleIpv4Response, *r, asBytes(kShortTermPassword)));
  EXPECT_FALSE(verifyMessageIntegrity(kSampleIpv4Response, *r, asBytes("wrong")));
}

TEST(StunRfc5769, SampleIpv6Response) {
  ASSERT_EQ(kSampleIpv6Response.size(), 92U);
  EXPECT_TRUE(looksLikeStun(kSampleIpv6Response));
  auto r = parse(kSampleIpv6Response);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cls, Class::SuccessResponse);
  EXPECT_EQ(r->method, kMethodBinding);
  EXPECT_EQ(r->software, "test vector");
  ASSERT_TRUE(r->xorMappedAddress);
  EXPECT_EQ(*r->xorMappedAddress, *Endpoint::fromIp("2001:db8:1234:5678:11:2233:4455:6677", 32853));
  EXPECT_TRUE(r->xorMappedAddress->v6);
  EXPECT_TRUE(r->hasMessageIntegrity);
  EXPECT_EQ(r->messageIntegrityOffset, 60U);
  EXPECT_TRUE(r->hasFingerprint);
  EXPECT_EQ(r->fingerprintOffset, 84U);
  EXPECT_TRUE(verifyMessageIntegrity(kSampleIpv6Response, *r, asBytes(kShortTermPassword)));
  EXPECT_FALSE(verifyMessageIntegrity(kSampleIpv6Response, *r, asBytes("wrong")));
}

TEST(StunRfc5769, SampleRequestLongTermAuth) {
  ASSERT_EQ(kSampleLongTermRequest.size(), 116U);
  EXPECT_TRUE(looksLikeStun(kSampleLongTermRequest));
  auto r = parse(kSampleLongTermRequest);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cls, Class::Request);
  EXPECT_EQ(r->method, kMethodBinding);
  EXPECT_EQ(r->transactionId, (TransactionId{0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e}));
  const std::string username = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
  EXPECT_EQ(username, "マトリックス");
  EXPECT_EQ(r->username, username);
  EXPECT_EQ(r->nonce, "f//499k954d6OL34oL9FSTvy64sA");
  EXPECT_EQ(r->realm, "example.org");
  EXPECT_TRUE(r->hasMessageIntegrity);
  EXPECT_EQ(r->messageIntegrityOffset, 92U);
  EXPECT_FALSE(r->hasFingerprint);

  // The SASLprep'd password "TheMatrIX" equals the raw one.
  const auto key = longTermKey(*r->username, *r->realm, "TheMatrIX");
  EXPECT_TRUE(verifyMessageIntegrity(kSampleLongTermRequest, *r, key));
  const auto wrongKey = longTermKey(*r->username, *r->realm, "TheMatrix");
  EXPECT_FALSE(verifyMessageIntegrity(kSampleLongTermRequest, *r, wrongKey));
  // The password alone is not the long-term key.
  EXPECT_FALSE(verifyMessageIntegrity(kSampleLongTermRequest, *r, asBytes("TheMatrIX")));
}

TEST(StunRfc5769, LongTermKeyIsMd5OfUserRealmPassword) {
  EXPECT_EQ(longTermKey("user", "realm", "pass"), crypto::md5(asBytes("user:realm:pass")));
}

TEST(StunRfc5769, EveryVectorSurvivesReserialization) {
  struct Case {
    const Bytes* bytes;
    Bytes key;
  };
  const std::vector<Case> cases = {
      {&kSampleRequest, Bytes(kShortTermPassword.begin(), kShortTermPassword.end())},
      {&kSampleIpv4Response, Bytes(kShortTermPassword.begin(), kShortTermPassword.end())},
      {&kSampleIpv6Response, Bytes(kShortTermPassword.begin(), kShortTermPassword.end())},
  };
  for (const auto& c : cases) {
    auto first = parse(*c.bytes);
    ASSERT_TRUE(first.ok());
    const Bytes out = serialize(*first, SerializeOptions{c.key, true});
    EXPECT_TRUE(looksLikeStun(out));
    auto second = parse(out);
    ASSERT_TRUE(second.ok()) << second.error().message;
    expectSameFields(*first, *second);
    EXPECT_TRUE(second->hasFingerprint);
    EXPECT_TRUE(verifyMessageIntegrity(out, *second, c.key));
  }
}

// ---- serialize ----

TEST(StunSerialize, FullRoundTrip) {
  Message m;
  m.cls = Class::Request;
  m.transactionId = testTid();
  m.username = "abcd:efgh";
  m.realm = "example.org";
  m.nonce = "nonce-value";
  m.software = "stagecast";
  m.priority = 0x6e7f1eff;
  m.useCandidate = true;
  m.iceControlling = 0x0123456789abcdefULL;
  m.iceControlled = 0xfedcba9876543210ULL;
  m.xorMappedAddress = Endpoint::fromString("203.0.113.7:40000");
  m.mappedAddress = Endpoint::fromString("[2001:db8::1]:1234");
  m.errorCode = ErrorCodeAttr{420, "Unknown Attribute"};
  m.unknownAttributes = {0x0031, 0x0032, 0x0033};

  const Bytes key = {'s', 'e', 'c', 'r', 'e', 't'};
  const Bytes out = serialize(m, SerializeOptions{key, true});
  ASSERT_EQ(out.size() % 4, 0U);
  EXPECT_TRUE(looksLikeStun(out));
  auto r = parse(out);
  ASSERT_TRUE(r.ok()) << r.error().message;
  expectSameFields(m, *r);
  EXPECT_TRUE(r->hasMessageIntegrity);
  EXPECT_TRUE(r->hasFingerprint);
  EXPECT_EQ(r->messageIntegrityOffset + 24, r->fingerprintOffset);
  EXPECT_EQ(r->fingerprintOffset + 8, out.size());
  EXPECT_TRUE(verifyMessageIntegrity(out, *r, key));
  EXPECT_FALSE(verifyMessageIntegrity(out, *r, asBytes("Secret")));
}

TEST(StunSerialize, AttributeOrderAndPadding) {
  Message m;
  m.transactionId = testTid();
  m.software = "x";
  m.username = "u";
  m.priority = 7;
  const Bytes out = serialize(m, SerializeOptions{std::nullopt, false});
  // Header, USERNAME (1 byte + 3 zero padding), PRIORITY, SOFTWARE.
  const Bytes expected = fromHex(R"(
    00 01 00 18  21 12 a4 42  01 02 03 04  05 06 07 08  09 0a 0b 0c
    00 06 00 01  75 00 00 00
    00 24 00 04  00 00 00 07
    80 22 00 01  78 00 00 00
  )");
  EXPECT_EQ(out, expected);
}

TEST(StunSerialize, NoIntegrityNoFingerprint) {
  Message m = makeBindingSuccess(testTid(), *Endpoint::fromString("10.0.0.1:5000"));
  const Bytes out = serialize(m, SerializeOptions{std::nullopt, false});
  EXPECT_EQ(out.size(), 32U);
  auto r = parse(out);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->hasMessageIntegrity);
  EXPECT_FALSE(r->hasFingerprint);
  EXPECT_FALSE(verifyMessageIntegrity(out, *r, asBytes("k")));
}

TEST(StunSerialize, BindingSuccessWithIntegrityVerifies) {
  const Endpoint mapped = *Endpoint::fromString("198.51.100.20:61000");
  const Message m = makeBindingSuccess(kSampleTid, mapped);
  EXPECT_EQ(m.cls, Class::SuccessResponse);
  EXPECT_EQ(m.method, kMethodBinding);
  const Bytes key(kShortTermPassword.begin(), kShortTermPassword.end());
  const Bytes out = serialize(m, SerializeOptions{key, true});
  EXPECT_EQ(out[0], 0x01);
  EXPECT_EQ(out[1], 0x01);
  auto r = parse(out);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cls, Class::SuccessResponse);
  EXPECT_EQ(r->transactionId, kSampleTid);
  EXPECT_EQ(r->xorMappedAddress, mapped);
  EXPECT_TRUE(verifyMessageIntegrity(out, *r, key));
  EXPECT_FALSE(verifyMessageIntegrity(out, *r, asBytes("not the password")));

  // Independent check of §14.5: HMAC over the prefix whose length field ends after MESSAGE-INTEGRITY.
  Bytes prefix(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r->messageIntegrityOffset));
  const std::size_t len = r->messageIntegrityOffset + 24 - kHeaderSize;
  prefix[2] = static_cast<std::uint8_t>(len >> 8);
  prefix[3] = static_cast<std::uint8_t>(len);
  const auto mac = crypto::hmacSha1(key, prefix);
  EXPECT_TRUE(
      std::equal(mac.begin(), mac.end(), out.begin() + static_cast<std::ptrdiff_t>(r->messageIntegrityOffset + 4)));
}

TEST(StunSerialize, BindingSuccessIpv6) {
  const Endpoint mapped = *Endpoint::fromString("[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  const Bytes out = serialize(makeBindingSuccess(kSampleTid, mapped), SerializeOptions{});
  auto r = parse(out);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->xorMappedAddress, mapped);
  // The encoded attribute matches the RFC 5769 §2.3 XOR-MAPPED-ADDRESS bytes.
  const Bytes expectedAttr = fromHex("00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9");
  EXPECT_TRUE(std::equal(expectedAttr.begin(), expectedAttr.end(), out.begin() + 20));
}

TEST(StunSerialize, BindingError) {
  const Message m = makeBindingError(testTid(), 487, "Role Conflict");
  const Bytes out = serialize(m, SerializeOptions{});
  EXPECT_EQ(out[0], 0x01);
  EXPECT_EQ(out[1], 0x11);
  auto r = parse(out);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cls, Class::ErrorResponse);
  ASSERT_TRUE(r->errorCode);
  EXPECT_EQ(r->errorCode->code, 487);
  EXPECT_EQ(r->errorCode->reason, "Role Conflict");
}

TEST(StunSerialize, ClassAndMethodBits) {
  for (Class cls : {Class::Request, Class::Indication, Class::SuccessResponse, Class::ErrorResponse}) {
    for (std::uint16_t method : {0x001, 0x003, 0x00F, 0x010, 0x070, 0x080, 0xF80, 0xABC, 0xFFF}) {
      Message m;
      m.cls = cls;
      m.method = method;
      m.transactionId = testTid();
      const Bytes out = serialize(m, SerializeOptions{});
      EXPECT_EQ(out[0] & 0xC0, 0);
      auto r = parse(out);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->cls, cls);
      EXPECT_EQ(r->method, method);
    }
  }
  Message ind;
  ind.cls = Class::Indication;
  const Bytes out = serialize(ind, SerializeOptions{});
  EXPECT_EQ(out[0], 0x00);
  EXPECT_EQ(out[1], 0x11);
}

TEST(StunSerialize, ClampsValuesParseWouldReject) {
  Message m;
  m.transactionId = testTid();
  m.username = std::string(600, 'u');
  m.software = std::string(1000, 's');
  m.errorCode = ErrorCodeAttr{200, std::string(900, 'r')};
  auto r = parse(serialize(m, SerializeOptions{}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->username->size(), 513U);
  EXPECT_EQ(r->software->size(), 763U);
  EXPECT_EQ(r->errorCode->code, 300);
  EXPECT_EQ(r->errorCode->reason.size(), 763U);
}

// ---- parse: malformed input ----

TEST(StunParse, EveryTruncationFailsCleanly) {
  for (const Bytes* v : {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response, &kSampleLongTermRequest}) {
    for (std::size_t n = 0; n < v->size(); ++n) {
      const Bytes cut(v->begin(), v->begin() + static_cast<std::ptrdiff_t>(n));
      EXPECT_FALSE(looksLikeStun(cut)) << n;
      auto r = parse(cut);
      ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
      EXPECT_EQ(r.error().code, "STUN_MALFORMED");
      // With the length field fixed up, the attribute walk itself sees the truncation; it must not crash and
      // any success must not claim integrity data beyond the buffer.
      if (n >= kHeaderSize && n % 4 == 0) {
        Bytes fixed = cut;
        fixed[2] = static_cast<std::uint8_t>((n - kHeaderSize) >> 8);
        fixed[3] = static_cast<std::uint8_t>(n - kHeaderSize);
        auto f = parse(fixed);
        if (f.ok()) {
          EXPECT_FALSE(f->hasFingerprint);
          if (f->hasMessageIntegrity) {
            EXPECT_LE(f->messageIntegrityOffset + 24, fixed.size());
          }
          (void)verifyMessageIntegrity(fixed, *f, asBytes(kShortTermPassword));
        } else {
          EXPECT_EQ(f.error().code, "STUN_MALFORMED");
        }
      }
    }
  }
}

TEST(StunParse, CorruptedFingerprintFails) {
  Bytes b = kSampleRequest;
  b.back() ^= 0x01;
  expectMalformed(b, "FINGERPRINT");
  // A flipped byte elsewhere also breaks the CRC.
  Bytes c = kSampleIpv4Response;
  c[30] ^= 0x40;
  expectMalformed(c, "FINGERPRINT");
}

TEST(StunParse, CorruptedIntegrityDetectedByVerify) {
  // Without FINGERPRINT, a bit flip in the HMAC parses but fails verification.
  Bytes b = kSampleLongTermRequest;
  b[100] ^= 0x80;
  auto r = parse(b);
  ASSERT_TRUE(r.ok());
  const auto key = longTermKey(*r->username, *r->realm, "TheMatrIX");
  EXPECT_FALSE(verifyMessageIntegrity(b, *r, key));
  // Tampering with a covered attribute (nonce) also fails.
  Bytes c = kSampleLongTermRequest;
  c[70] ^= 0x01;
  auto rc = parse(c);
  ASSERT_TRUE(rc.ok());
  EXPECT_FALSE(verifyMessageIntegrity(c, *rc, key));
}

TEST(StunParse, HeaderValidation) {
  expectMalformed({}, "header");
  expectMalformed(Bytes(19, 0), "header");
  Bytes ok = buildRaw(0x0001, {});
  ASSERT_TRUE(parse(ok).ok());

  Bytes topBits = ok;
  topBits[0] |= 0x80;
  expectMalformed(topBits, "most significant bits");
  Bytes cookie = ok;
  cookie[4] = 0x21;
  cookie[7] = 0x43;
  expectMalformed(cookie, "magic cookie");

  Bytes notAligned = buildRaw(0x0001, {{attr::kUseCandidate, {}}});
  notAligned[3] = 2;
  expectMalformed(notAligned, "multiple of 4");
  Bytes longer = buildRaw(0x0001, {{attr::kUseCandidate, {}}});
  longer[3] = 8;
  expectMalformed(longer, "does not match");
  Bytes trailing = buildRaw(0x0001, {{attr::kUseCandidate, {}}});
  trailing.insert(trailing.end(), {0, 0, 0, 0});
  expectMalformed(trailing, "does not match");
}

TEST(StunParse, AttributeLengthBeyondMessage) {
  Bytes b = buildRaw(0x0001, {{attr::kSoftware, Bytes(8, 'a')}});
  b[22] = 0x00;
  b[23] = 0x10;  // SOFTWARE claims 16 bytes, only 8 present
  expectMalformed(b, "declares length 16");
  // A lone partial attribute header.
  Bytes h = buildRaw(0x0001, {});
  h.insert(h.end(), {0x80, 0x22, 0x00, 0x08});
  h[3] = 4;
  expectMalformed(h, "declares length 8");
}

TEST(StunParse, XorMappedAddressValidation) {
  // Bad family.
  expectMalformed(buildRaw(0x0101, {{attr::kXorMappedAddress, fromHex("00 03 a1 47 e1 12 a6 43")}}), "family");
  // IPv4 family with IPv6 length and vice versa.
  expectMalformed(buildRaw(0x0101, {{attr::kXorMappedAddress, fromHex("00 01 a1 47 e1 12 a6 43 00 00 00 00")}}),
                  "XOR-MAPPED-ADDRESS");
  expectMalformed(buildRaw(0x0101, {{attr::kXorMappedAddress, fromHex("00 02 a1 47 e1 12 a6 43")}}),
                  "XOR-MAPPED-ADDRESS");
  expectMalformed(buildRaw(0x0101, {{attr::kXorMappedAddress, fromHex("00 01 a1")}}), "XOR-MAPPED-ADDRESS");
  expectMalformed(buildRaw(0x0101, {{attr::kMappedAddress, fromHex("00 07 00 50 0a 00 00 01")}}), "MAPPED-ADDRESS");

  auto r = parse(buildRaw(0x0101, {{attr::kMappedAddress, fromHex("00 01 00 50 0a 00 00 01")}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->mappedAddress, Endpoint::fromString("10.0.0.1:80"));
}

TEST(StunParse, ErrorCodeValidation) {
  auto ec = [](std::uint8_t cls, std::uint8_t number) {
    return buildRaw(0x0111, {{attr::kErrorCode, Bytes{0, 0, cls, number, 'x'}}});
  };
  auto r = parse(ec(4, 1));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->errorCode->code, 401);
  EXPECT_EQ(r->errorCode->reason, "x");
  EXPECT_TRUE(parse(ec(3, 0)).ok());
  EXPECT_TRUE(parse(ec(6, 99)).ok());
  expectMalformed(ec(2, 0), "class");
  expectMalformed(ec(7, 0), "class");
  expectMalformed(ec(4, 100), "number");
  expectMalformed(buildRaw(0x0111, {{attr::kErrorCode, Bytes{0, 0, 4}}}), "ERROR-CODE");
}

TEST(StunParse, FixedLengthAttributes) {
  expectMalformed(buildRaw(0x0001, {{attr::kPriority, Bytes(3, 1)}}), "PRIORITY");
  expectMalformed(buildRaw(0x0001, {{attr::kUseCandidate, Bytes(4, 0)}}), "USE-CANDIDATE");
  expectMalformed(buildRaw(0x0001, {{attr::kIceControlling, Bytes(4, 0)}}), "ICE-CONTROLLING");
  expectMalformed(buildRaw(0x0001, {{attr::kIceControlled, Bytes(12, 0)}}), "ICE-CONTROLLED");
  expectMalformed(buildRaw(0x0001, {{attr::kMessageIntegrity, Bytes(19, 0)}}), "MESSAGE-INTEGRITY");
  expectMalformed(buildRaw(0x0001, {{attr::kMessageIntegrity, Bytes(32, 0)}}), "MESSAGE-INTEGRITY");
  expectMalformed(buildRaw(0x0001, {{attr::kFingerprint, Bytes(8, 0)}}), "FINGERPRINT");
  expectMalformed(buildRaw(0x0011, {{attr::kUnknownAttributes, Bytes(3, 0)}}), "UNKNOWN-ATTRIBUTES");
}

TEST(StunParse, MessageIntegritySha256Length) {
  for (std::size_t len : {0, 12, 14, 17, 18, 36}) {
    expectMalformed(buildRaw(0x0001, {{attr::kMessageIntegritySha256, Bytes(len, 0)}}), "MESSAGE-INTEGRITY-SHA256");
  }
  for (std::size_t len : {16, 20, 24, 28, 32}) {
    auto r = parse(buildRaw(0x0001, {{attr::kMessageIntegritySha256, Bytes(len, 0)}}));
    ASSERT_TRUE(r.ok()) << len;
    EXPECT_TRUE(r->hasMessageIntegritySha256);
    EXPECT_EQ(r->messageIntegritySha256Offset, 20U);
  }
}

TEST(StunParse, UsernameLimit) {
  EXPECT_TRUE(parse(buildRaw(0x0001, {{attr::kUsername, Bytes(513, 'u')}})).ok());
  expectMalformed(buildRaw(0x0001, {{attr::kUsername, Bytes(514, 'u')}}), "USERNAME");
  EXPECT_TRUE(parse(buildRaw(0x0001, {{attr::kRealm, Bytes(763, 'r')}})).ok());
  expectMalformed(buildRaw(0x0001, {{attr::kNonce, Bytes(764, 'n')}}), "NONCE");
}

TEST(StunParse, UnknownAttributes) {
  auto r = parse(buildRaw(0x0001, {{0x7777, Bytes(3, 1)},
                                   {0xC001, Bytes(5, 2)},
                                   {0x7777, {}},
                                   {0x0003, Bytes(4, 0)},
                                   {attr::kUnknownAttributes, fromHex("00 1a 00 1b 00 1c")}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->unknownComprehensionRequired, (std::vector<std::uint16_t>{0x7777, 0x0003}));
  EXPECT_EQ(r->unknownAttributes, (std::vector<std::uint16_t>{0x001a, 0x001b, 0x001c}));
}

TEST(StunParse, FirstOccurrenceWins) {
  auto r = parse(buildRaw(0x0001, {{attr::kUsername, {'a'}},
                                   {attr::kUsername, {'b'}},
                                   {attr::kPriority, u32Bytes(1)},
                                   {attr::kPriority, u32Bytes(2)}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->username, "a");
  EXPECT_EQ(r->priority, 1U);
}

TEST(StunParse, AttributeAfterFingerprintFails) {
  Bytes b = buildRaw(0x0001, {{attr::kUseCandidate, {}}}, true);
  ASSERT_TRUE(parse(b).ok());
  // FINGERPRINT whose CRC is right for a header length that also counts a trailing USE-CANDIDATE.
  Bytes c = buildRaw(0x0001, {{attr::kUseCandidate, {}}});
  c[3] = static_cast<std::uint8_t>(c.size() - kHeaderSize + 8 + 4);
  const std::uint32_t crc = crypto::crc32(c) ^ 0x5354554eU;
  c.insert(c.end(), {0x80, 0x28, 0x00, 0x04});
  const Bytes crcBytes = u32Bytes(crc);
  c.insert(c.end(), crcBytes.begin(), crcBytes.end());
  c.insert(c.end(), {0x00, 0x25, 0x00, 0x00});
  expectMalformed(c, "follows FINGERPRINT");
  // Appending to a finished message breaks the CRC as well; either way it is rejected.
  b.insert(b.end(), {0x80, 0x22, 0x00, 0x00});
  b[3] = static_cast<std::uint8_t>(b[3] + 4);
  expectMalformed(b);
}

TEST(StunParse, AttributesAfterIntegrityIgnored) {
  // §14.5: only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count after MESSAGE-INTEGRITY.
  const Bytes b = buildRaw(0x0001,
                           {{attr::kUsername, {'a'}},
                            {attr::kMessageIntegrity, Bytes(20, 0)},
                            {attr::kUsername, {'b', 'c'}},
                            {attr::kPriority, Bytes(3, 0)},  // malformed but ignored
                            {0x0077, {}},
                            {attr::kMessageIntegritySha256, Bytes(32, 0)},
                            {attr::kSoftware, {'z'}}},
                           true);
  auto r = parse(b);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->username, "a");
  EXPECT_FALSE(r->priority);
  EXPECT_FALSE(r->software);
  EXPECT_TRUE(r->unknownComprehensionRequired.empty());
  EXPECT_TRUE(r->hasMessageIntegrity);
  EXPECT_EQ(r->messageIntegrityOffset, 28U);
  EXPECT_TRUE(r->hasMessageIntegritySha256);
  EXPECT_TRUE(r->hasFingerprint);
}

TEST(StunParse, MessageIntegritySha256Verifies) {
  Message m;
  m.transactionId = testTid();
  m.username = "user:peer";
  m.priority = 12345;
  Bytes b = serialize(m, SerializeOptions{std::nullopt, false});
  const Bytes key = {'k', 'e', 'y'};
  for (std::size_t len : {16U, 32U}) {
    Bytes msg = b;
    const std::size_t off = msg.size();
    // §14.6 by hand: length covers the attribute, HMAC-SHA256 over the prefix, truncated.
    const std::size_t newLen = off + 4 + len - kHeaderSize;
    msg[2] = static_cast<std::uint8_t>(newLen >> 8);
    msg[3] = static_cast<std::uint8_t>(newLen);
    const auto mac = crypto::hmacSha256(key, msg);
    msg.insert(msg.end(), {0x00, 0x1C, 0x00, static_cast<std::uint8_t>(len)});
    msg.insert(msg.end(), mac.begin(), mac.begin() + static_cast<std::ptrdiff_t>(len));
    auto r = parse(msg);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(r->hasMessageIntegritySha256);
    EXPECT_EQ(r->messageIntegritySha256Offset, off);
    EXPECT_TRUE(verifyMessageIntegritySha256(msg, *r, key));
    EXPECT_FALSE(verifyMessageIntegritySha256(msg, *r, asBytes("kez")));
    EXPECT_FALSE(verifyMessageIntegrity(msg, *r, key));
    msg.back() ^= 1;
    EXPECT_FALSE(verifyMessageIntegritySha256(msg, *r, key));
  }
}

TEST(StunVerify, InconsistentMessageDoesNotReadOutOfBounds) {
  auto r = parse(kSampleRequest);
  ASSERT_TRUE(r.ok());
  Message m = *r;
  const Bytes shorter(kSampleRequest.begin(), kSampleRequest.begin() + 80);
  EXPECT_FALSE(verifyMessageIntegrity(shorter, m, asBytes(kShortTermPassword)));
  m.messageIntegrityOffset = 1000;
  EXPECT_FALSE(verifyMessageIntegrity(kSampleRequest, m, asBytes(kShortTermPassword)));
  m.messageIntegrityOffset = 0;
  EXPECT_FALSE(verifyMessageIntegrity(kSampleRequest, m, asBytes(kShortTermPassword)));
  m.hasMessageIntegritySha256 = true;
  m.messageIntegritySha256Offset = 104;
  EXPECT_FALSE(verifyMessageIntegritySha256(kSampleRequest, m, asBytes(kShortTermPassword)));
}

// ---- demultiplexing ----

TEST(StunLooksLike, RejectsRtpDtlsAndJunk) {
  // RTP version 2 (first byte 0x80), payload type 111.
  const Bytes rtp = fromHex("80 6f 12 34 00 00 56 78 de ad be ef 00 01 02 03 04 05 06 07 08 09 0a 0b");
  EXPECT_FALSE(looksLikeStun(rtp));
  // RTCP receiver report.
  EXPECT_FALSE(looksLikeStun(fromHex("81 c9 00 07 de ad be ef 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")));
  // DTLS 1.2 handshake record (content type 22).
  const Bytes dtls =
      fromHex("16 fe fd 00 00 00 00 00 00 00 00 00 36 01 00 00 2a 00 00 00 00 00 00 00 2a fe fd 00 00 00 00");
  EXPECT_FALSE(looksLikeStun(dtls));
  EXPECT_FALSE(parse(rtp).ok());
  EXPECT_FALSE(parse(dtls).ok());
  EXPECT_FALSE(looksLikeStun({}));
  EXPECT_FALSE(looksLikeStun(Bytes(20, 0)));  // no magic cookie
  // Cookie present but the length disagrees with the datagram.
  Bytes b = kSampleIpv4Response;
  b.push_back(0);
  EXPECT_FALSE(looksLikeStun(b));
  b = kSampleIpv4Response;
  b[3] = 0x3d;
  EXPECT_FALSE(looksLikeStun(b));
  EXPECT_TRUE(looksLikeStun(buildRaw(0x0001, {})));
}
