#include "stagecast/auth/token.hpp"

#include <gtest/gtest.h>

#include <string>

#include "jws_test_util.hpp"
#include "stagecast/auth/base64url.hpp"
#include "stagecast/common/crypto.hpp"

using namespace stagecast;
using namespace stagecast::auth;
using nlohmann::json;
namespace t = stagecast::auth::testing;

namespace {

constexpr std::int64_t kNow = 1'700'000'000;

Claims fullClaims() {
  Claims c;
  c.jti = "j-" + crypto::randomId(16);
  c.resource = "stage/42";
  c.topic = "keynote";
  c.userId = "user-7 \xC3\xA9\xE2\x82\xAC";  // non-ASCII UTF-8 survives
  c.attributes = json{{"name", "Ada"}, {"seat", 12}, {"tags", {"a", "b"}}, {"nested", {{"ok", true}}}};
  c.capabilities.allowPublish = true;
  c.capabilities.allowSubscribe = true;
  c.whipUrl = "https://media.example.test/whip/stage/42";
  c.version = 3;
  c.iat = kNow;
  c.exp = kNow + 3600;
  return c;
}

struct Parts {
  std::string header, payload, signature;
};
Parts split(const std::string& token) {
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  return {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1)};
}
std::string join(const Parts& p) { return p.header + "." + p.payload + "." + p.signature; }

json decodeJson(const std::string& part) {
  auto bytes = base64UrlDecode(part);
  if (!bytes) return json();
  return json::parse(asString(*bytes), nullptr, false);
}

class TokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new SigningKey(*SigningKey::generate());
    other_ = new SigningKey(*SigningKey::generate());
  }
  static void TearDownTestSuite() {
    delete key_;
    delete other_;
  }
  static SigningKey* key_;
  static SigningKey* other_;

  std::string signOk(const Claims& c) const {
    auto token = TokenSigner(*key_).sign(c);
    EXPECT_TRUE(token.ok()) << token.error().code << " " << token.error().message;
    return token.ok() ? *token : std::string();
  }
  Result<Claims> verify(std::string_view token, std::int64_t now = kNow, std::int64_t leeway = 30) const {
    return TokenVerifier(*key_).verify(token, now, leeway);
  }
  // A token with the given header and payload, signed by the test key outside the code under test.
  std::string rawToken(const json& header, const json& payload) const {
    return t::es384Token(key_->privatePem(), header.dump(), payload.dump());
  }
  json standardHeader() const { return json{{"alg", "ES384"}, {"typ", "JWT"}, {"kid", key_->keyId()}}; }
  json minimalPayload() const { return json{{"jti", "abc"}, {"iat", kNow}, {"exp", kNow + 60}}; }
};
SigningKey* TokenTest::key_ = nullptr;
SigningKey* TokenTest::other_ = nullptr;

#define EXPECT_CODE(result, expected)                             \
  do {                                                            \
    const auto& r_ = (result);                                    \
    ASSERT_FALSE(r_.ok()) << "expected " << (expected);           \
    EXPECT_EQ(r_.error().code, (expected)) << r_.error().message; \
  } while (0)

}  // namespace

// ---- round trip and format ----

TEST_F(TokenTest, RoundTripWithEveryClaim) {
  const Claims c = fullClaims();
  const std::string token = signOk(c);
  auto verified = verify(token);
  ASSERT_TRUE(verified.ok()) << verified.error().code << " " << verified.error().message;
  EXPECT_EQ(*verified, c);
  EXPECT_EQ(verified->jti, c.jti);
  EXPECT_EQ(verified->userId, c.userId);
  EXPECT_EQ(verified->attributes["tags"][1], "b");
  EXPECT_TRUE(verified->capabilities.allowPublish);
  EXPECT_TRUE(verified->capabilities.allowSubscribe);
  EXPECT_EQ(verified->version, 3);
  EXPECT_EQ(verified->whipUrl, c.whipUrl);
}

TEST_F(TokenTest, DefaultsRoundTrip) {
  Claims c;
  c.jti = "x";
  c.iat = kNow;
  c.exp = kNow + 1;
  auto verified = verify(signOk(c));
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(*verified, c);
  EXPECT_FALSE(verified->capabilities.allowPublish);
  EXPECT_FALSE(verified->capabilities.allowSubscribe);
  EXPECT_EQ(verified->version, 1);
  EXPECT_TRUE(verified->attributes.is_object());
}

TEST_F(TokenTest, HeaderAndPayloadFormat) {
  const std::string token = signOk(fullClaims());
  const Parts p = split(token);
  EXPECT_EQ(token.find('='), std::string::npos);
  const json header = decodeJson(p.header);
  EXPECT_EQ(header, (json{{"alg", "ES384"}, {"typ", "JWT"}, {"kid", key_->keyId()}}));
  const json payload = decodeJson(p.payload);
  for (const char* name :
       {"exp", "iat", "jti", "resource", "topic", "user_id", "attributes", "capabilities", "whip_url", "version"}) {
    EXPECT_TRUE(payload.contains(name)) << name;
  }
  EXPECT_EQ(payload["capabilities"], (json{{"allow_publish", true}, {"allow_subscribe", true}}));
  EXPECT_EQ(payload["exp"], kNow + 3600);
  // R || S: exactly 96 bytes, i.e. 128 base64url characters.
  EXPECT_EQ(p.signature.size(), 128U);
  ASSERT_TRUE(base64UrlDecode(p.signature).has_value());
  EXPECT_EQ(base64UrlDecode(p.signature)->size(), 96U);
}

TEST_F(TokenTest, SignaturesAreRandomizedButAllVerify) {
  const Claims c = fullClaims();
  const std::string a = signOk(c);
  const std::string b = signOk(c);
  EXPECT_NE(a, b);  // ECDSA with a fresh nonce
  EXPECT_TRUE(verify(a).ok());
  EXPECT_TRUE(verify(b).ok());
}

TEST_F(TokenTest, VerifierFromPublicPemOnly) {
  auto pub = VerifyingKey::fromPem(key_->publicPem());
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_EQ(pub->keyId(), key_->keyId());
  const TokenVerifier verifier(*pub);
  EXPECT_TRUE(verifier.verify(signOk(fullClaims()), kNow).ok());
}

TEST_F(TokenTest, TokenFromIndependentSignerVerifies) {
  json payload = minimalPayload();
  payload["user_id"] = "u";
  payload["unknown_claim"] = {1, 2, 3};  // ignored
  payload["topic"] = nullptr;            // null = absent
  auto verified = verify(rawToken(standardHeader(), payload));
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->userId, "u");
  EXPECT_EQ(verified->topic, "");
  // Header without kid and typ is fine too.
  EXPECT_TRUE(verify(rawToken(json{{"alg", "ES384"}}, minimalPayload())).ok());
}

// ---- tampering ----

TEST_F(TokenTest, TamperedPayloadRejected) {
  const Parts p = split(signOk(fullClaims()));
  json payload = decodeJson(p.payload);
  payload["capabilities"]["allow_publish"] = false;
  Parts forged = p;
  forged.payload = t::refBase64Url(payload.dump());
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");

  payload = decodeJson(p.payload);
  payload["exp"] = kNow + 999999;
  forged.payload = t::refBase64Url(payload.dump());
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
}

TEST_F(TokenTest, TamperedHeaderRejected) {
  const Parts p = split(signOk(fullClaims()));
  json header = decodeJson(p.header);
  header["x"] = 1;
  Parts forged = p;
  forged.header = t::refBase64Url(header.dump());
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
}

TEST_F(TokenTest, TamperedSignatureRejected) {
  const Parts p = split(signOk(fullClaims()));
  Bytes sig = *base64UrlDecode(p.signature);
  for (std::size_t i : {std::size_t{0}, std::size_t{47}, std::size_t{48}, std::size_t{95}}) {
    Bytes bad = sig;
    bad[i] ^= 0x01;
    Parts forged = p;
    forged.signature = base64UrlEncode(bad);
    EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
  }
  // Zeros and all-ones scalars.
  Parts forged = p;
  forged.signature = base64UrlEncode(Bytes(96, 0x00));
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
  forged.signature = base64UrlEncode(Bytes(96, 0xFF));
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
  // Signature swapped in from another token.
  forged.signature = split(signOk(fullClaims())).signature;
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
  // Truncated, extended, missing.
  forged.signature = base64UrlEncode(BytesView(sig).first(95));
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
  Bytes longer = sig;
  longer.push_back(0);
  forged.signature = base64UrlEncode(longer);
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
  forged.signature = "";
  EXPECT_CODE(verify(join(forged)), "TOKEN_BAD_SIGNATURE");
}

TEST_F(TokenTest, EveryCharacterFlipIsRejected) {
  const std::string token = signOk(fullClaims());
  for (std::size_t i = 0; i < token.size(); i += 7) {
    if (token[i] == '.') continue;
    std::string bad = token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    auto r = verify(bad);
    EXPECT_FALSE(r.ok()) << "position " << i;
  }
}

TEST_F(TokenTest, WrongKeyRejected) {
  const std::string token = TokenSigner(*other_).sign(fullClaims()).value();
  EXPECT_CODE(verify(token), "TOKEN_BAD_SIGNATURE");
  // Without a kid to give it away, the signature check itself must fail.
  const std::string noKid =
      t::es384Token(other_->privatePem(), json{{"alg", "ES384"}, {"typ", "JWT"}}.dump(), minimalPayload().dump());
  EXPECT_CODE(verify(noKid), "TOKEN_BAD_SIGNATURE");
  // And a forged kid naming our key does not help either.
  const std::string forgedKid = t::es384Token(other_->privatePem(), standardHeader().dump(), minimalPayload().dump());
  EXPECT_CODE(verify(forgedKid), "TOKEN_BAD_SIGNATURE");
}

// ---- time ----

TEST_F(TokenTest, ExpiryEdges) {
  Claims c = fullClaims();
  c.iat = kNow - 100;
  c.exp = kNow;
  const std::string token = signOk(c);
  // now >= exp + leeway is expired.
  EXPECT_TRUE(verify(token, kNow + 29, 30).ok());
  EXPECT_CODE(verify(token, kNow + 30, 30), "TOKEN_EXPIRED");
  EXPECT_CODE(verify(token, kNow + 100000, 30), "TOKEN_EXPIRED");
  EXPECT_TRUE(verify(token, kNow - 1, 0).ok());
  EXPECT_CODE(verify(token, kNow, 0), "TOKEN_EXPIRED");
  // A negative leeway counts as zero.
  EXPECT_TRUE(verify(token, kNow - 1, -10).ok());
}

TEST_F(TokenTest, IssuedInTheFuture) {
  Claims c = fullClaims();
  c.iat = kNow + 100;
  c.exp = kNow + 1000;
  const std::string token = signOk(c);
  EXPECT_TRUE(verify(token, kNow + 70, 30).ok());
  EXPECT_CODE(verify(token, kNow + 69, 30), "TOKEN_NOT_YET_VALID");
  EXPECT_CODE(verify(token, kNow, 30), "TOKEN_NOT_YET_VALID");
  EXPECT_TRUE(verify(token, kNow + 100, 0).ok());
  EXPECT_CODE(verify(token, kNow + 99, 0), "TOKEN_NOT_YET_VALID");
}

TEST_F(TokenTest, NotBeforeClaimIsHonoured) {
  json payload = minimalPayload();
  payload["nbf"] = kNow + 50;
  const std::string token = rawToken(standardHeader(), payload);
  EXPECT_CODE(verify(token, kNow, 30), "TOKEN_NOT_YET_VALID");
  EXPECT_TRUE(verify(token, kNow + 20, 30).ok());
  payload["nbf"] = "soon";
  EXPECT_CODE(verify(rawToken(standardHeader(), payload)), "TOKEN_MALFORMED");
}

TEST_F(TokenTest, ExtremeTimesDoNotOverflow) {
  json payload = minimalPayload();
  payload["exp"] = std::numeric_limits<std::int64_t>::max();
  payload["iat"] = std::numeric_limits<std::int64_t>::min();
  const std::string token = rawToken(standardHeader(), payload);
  EXPECT_TRUE(verify(token, kNow, std::numeric_limits<std::int64_t>::max()).ok());
  EXPECT_TRUE(verify(token, std::numeric_limits<std::int64_t>::min(), 30).ok());
  EXPECT_CODE(verify(token, std::numeric_limits<std::int64_t>::max(), 0), "TOKEN_EXPIRED");
  payload["exp"] = 18446744073709551615ULL;  // beyond int64
  EXPECT_CODE(verify(rawToken(standardHeader(), payload)), "TOKEN_MALFORMED");
  payload["exp"] = 1e300;
  EXPECT_CODE(verify(rawToken(standardHeader(), payload)), "TOKEN_MALFORMED");
}

TEST_F(TokenTest, FractionalNumericDateIsAccepted) {
  json payload = minimalPayload();
  payload["exp"] = static_cast<double>(kNow) + 60.75;
  auto verified = verify(rawToken(standardHeader(), payload));
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->exp, kNow + 60);
}

// ---- algorithms ----

TEST_F(TokenTest, AlgNoneRejected) {
  const std::string payload = minimalPayload().dump();
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    const std::string unsigned_ =
        t::refBase64Url(json{{"alg", alg}, {"typ", "JWT"}}.dump()) + "." + t::refBase64Url(payload) + ".";
    EXPECT_CODE(verify(unsigned_), "TOKEN_ALG_UNSUPPORTED");
  }
  // none with a perfectly good ES384 signature attached is still refused.
  const std::string withSig = rawToken(json{{"alg", "none"}}, minimalPayload());
  EXPECT_CODE(verify(withSig), "TOKEN_ALG_UNSUPPORTED");
}

TEST_F(TokenTest, HmacAndOtherAlgorithmsRejected) {
  const std::string payload = minimalPayload().dump();
  // The classic confusion: HS256 keyed with the public key text.
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    const std::string hs = t::hs256Token(key_->publicPem(), json{{"alg", alg}, {"typ", "JWT"}}.dump(), payload);
    EXPECT_CODE(verify(hs), "TOKEN_ALG_UNSUPPORTED");
  }
  for (const char* alg : {"RS256", "PS384", "ES256", "ES512", "es384", "ES384 ", "EdDSA", ""}) {
    EXPECT_CODE(verify(rawToken(json{{"alg", alg}}, minimalPayload())), "TOKEN_ALG_UNSUPPORTED");
  }
  EXPECT_CODE(verify(rawToken(json::object(), minimalPayload())), "TOKEN_MALFORMED");
  EXPECT_CODE(verify(rawToken(json{{"alg", 384}}, minimalPayload())), "TOKEN_MALFORMED");
  EXPECT_CODE(verify(rawToken(json{{"alg", {"ES384"}}}, minimalPayload())), "TOKEN_MALFORMED");
}

TEST_F(TokenTest, DerSignatureRejected) {
  const std::string der = t::es384Token(key_->privatePem(), standardHeader().dump(), minimalPayload().dump(), true);
  const auto sig = base64UrlDecode(split(der).signature);
  ASSERT_TRUE(sig.has_value());
  ASSERT_NE(sig->size(), 96U);
  ASSERT_EQ((*sig)[0], 0x30);  // DER SEQUENCE
  EXPECT_CODE(verify(der), "TOKEN_BAD_SIGNATURE");
  // The same signature in R || S form verifies (the DER one was genuine).
  Parts fixed = split(der);
  fixed.signature = t::refBase64Url(t::derToRaw(*sig));
  EXPECT_TRUE(verify(join(fixed)).ok());
}

TEST_F(TokenTest, UnsupportedHeaderParametersRejected) {
  json header = standardHeader();
  header["crit"] = {"exp"};
  header["exp"] = kNow;
  EXPECT_CODE(verify(rawToken(header, minimalPayload())), "TOKEN_MALFORMED");
  header = standardHeader();
  header["typ"] = "at+jwt";
  EXPECT_CODE(verify(rawToken(header, minimalPayload())), "TOKEN_MALFORMED");
  header["typ"] = 1;
  EXPECT_CODE(verify(rawToken(header, minimalPayload())), "TOKEN_MALFORMED");
  header = standardHeader();
  header["kid"] = 5;
  EXPECT_CODE(verify(rawToken(header, minimalPayload())), "TOKEN_MALFORMED");
  header["kid"] = "someone-else";
  EXPECT_CODE(verify(rawToken(header, minimalPayload())), "TOKEN_BAD_SIGNATURE");
  header["kid"] = key_->keyId();
  header["typ"] = "jwt";  // media types are case-insensitive
  EXPECT_TRUE(verify(rawToken(header, minimalPayload())).ok());
}

// ---- malformed input ----

TEST_F(TokenTest, GarbageIsMalformed) {
  const std::string good = signOk(fullClaims());
  const Parts p = split(good);
  const std::vector<std::string> inputs = {
      "",
      ".",
      "..",
      "...",
      "....",
      "abc",
      "abc.def",
      "abc.def.ghi.jkl",
      p.header + "." + p.payload,
      good + ".",
      "." + p.payload + "." + p.signature,
      p.header + ".." + p.signature,
      p.header + "=." + p.payload + "." + p.signature,
      p.header + "." + p.payload + "=." + p.signature,
      p.header + "." + p.payload + "." + p.signature + "==",
      p.header + "." + p.payload + "." + p.signature.substr(0, 127) + "+",
      " " + good,
      good + "\n",
      t::refBase64Url("not json") + "." + p.payload + "." + p.signature,
      t::refBase64Url("[\"ES384\"]") + "." + p.payload + "." + p.signature,
      t::refBase64Url("{\"alg\":\"ES384\"") + "." + p.payload + "." + p.signature,
      t::refBase64Url(std::string("{\"alg\":\"ES\xff\"}")) + "." + p.payload + "." + p.signature,
      std::string("a\0b.c.d", 7),
  };
  for (const auto& in : inputs) {
    auto r = verify(in);
    ASSERT_FALSE(r.ok()) << in;
    EXPECT_EQ(r.error().code, "TOKEN_MALFORMED") << in << ": " << r.error().message;
  }
}

TEST_F(TokenTest, OversizedTokensAreMalformed) {
  EXPECT_CODE(verify(std::string(kMaxTokenSize + 1, 'a')), "TOKEN_MALFORMED");
  EXPECT_CODE(verify(std::string(1 << 20, '.')), "TOKEN_MALFORMED");
  // A genuine signature does not rescue an oversized token.
  json payload = minimalPayload();
  payload["padding"] = std::string(7000, 'x');
  EXPECT_CODE(verify(rawToken(standardHeader(), payload)), "TOKEN_MALFORMED");
}

TEST_F(TokenTest, RandomBytesNeverVerify) {
  std::string buf;
  for (int i = 0; i < 2000; ++i) {
    const std::size_t n = crypto::randomU32() % 300;
    buf.resize(n);
    crypto::randomBytes(reinterpret_cast<std::uint8_t*>(buf.data()), n);
    // Sprinkle dots so that some inputs reach the later stages.
    for (std::size_t k = 0; k < n; k += 1 + crypto::randomU32() % 97) buf[k] = '.';
    auto r = verify(buf);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error().code == "TOKEN_MALFORMED" || r.error().code == "TOKEN_ALG_UNSUPPORTED" ||
                r.error().code == "TOKEN_BAD_SIGNATURE")
        << r.error().code;
  }
}

TEST_F(TokenTest, BadClaimsAreMalformed) {
  const json base = minimalPayload();
  const auto with = [&](const char* name, const json& value) {
    json p = base;
    p[name] = value;
    return p;
  };
  const auto without = [&](const char* name) {
    json p = base;
    p.erase(name);
    return p;
  };
  const std::vector<json> payloads = {
      without("exp"),
      without("jti"),
      with("exp", nullptr),
      with("exp", "1700000060"),
      with("exp", true),
      with("iat", "now"),
      with("iat", json::array()),
      with("jti", 12),
      with("jti", ""),
      with("resource", 1),
      with("topic", json::object()),
      with("user_id", false),
      with("whip_url", json::array()),
      with("attributes", json::array({1, 2})),
      with("attributes", "a=b"),
      with("capabilities", true),
      with("capabilities", json{{"allow_publish", "true"}}),
      with("capabilities", json{{"allow_subscribe", 1}}),
      with("version", "1"),
      with("version", 1.5),
      with("version", 4294967296LL),
      json::array({base}),
      json("string payload"),
      json(42),
  };
  for (const auto& payload : payloads) {
    auto r = verify(rawToken(standardHeader(), payload));
    ASSERT_FALSE(r.ok()) << payload.dump();
    EXPECT_EQ(r.error().code, "TOKEN_MALFORMED") << payload.dump() << ": " << r.error().message;
  }
  // Signed but not JSON at all.
  const std::string notJson = t::es384Token(key_->privatePem(), standardHeader().dump(), "{\"jti\":");
  EXPECT_CODE(verify(notJson), "TOKEN_MALFORMED");
}

// ---- signing errors ----

TEST_F(TokenTest, AttributesSizeLimit) {
  Claims c = fullClaims();
  // {"k":"..."} is 8 bytes of framing around the value.
  c.attributes = json{{"k", std::string(kMaxAttributesSize - 8, 'v')}};
  ASSERT_EQ(c.attributes.dump().size(), kMaxAttributesSize);
  EXPECT_TRUE(TokenSigner(*key_).sign(c).ok());
  c.attributes = json{{"k", std::string(kMaxAttributesSize - 7, 'v')}};
  EXPECT_CODE(TokenSigner(*key_).sign(c), "ATTRIBUTES_TOO_LARGE");
  c.attributes = json{{"k", std::string(100000, 'v')}};
  EXPECT_CODE(TokenSigner(*key_).sign(c), "ATTRIBUTES_TOO_LARGE");
  c.attributes = json::array({1, 2});
  EXPECT_CODE(TokenSigner(*key_).sign(c), "ATTRIBUTES_TOO_LARGE");
  c.attributes = nullptr;
  EXPECT_CODE(TokenSigner(*key_).sign(c), "ATTRIBUTES_TOO_LARGE");
}

TEST_F(TokenTest, InvalidClaimsNotSigned) {
  const TokenSigner signer(*key_);
  Claims c = fullClaims();
  c.exp = c.iat;
  EXPECT_CODE(signer.sign(c), "CLAIMS_INVALID");
  c.exp = c.iat - 1;
  EXPECT_CODE(signer.sign(c), "CLAIMS_INVALID");
  c = fullClaims();
  c.jti.clear();
  EXPECT_CODE(signer.sign(c), "CLAIMS_INVALID");
  c = fullClaims();
  c.userId = "bad \xff utf-8";
  EXPECT_CODE(signer.sign(c), "CLAIMS_INVALID");
  c = fullClaims();
  c.attributes = json{{"k", "bad \xc3"}};
  EXPECT_CODE(signer.sign(c), "CLAIMS_INVALID");
  // Attributes fit, but the whole token would not.
  c = fullClaims();
  c.resource = std::string(7000, 'r');
  EXPECT_CODE(signer.sign(c), "CLAIMS_INVALID");
}

TEST(Claims, JsonRoundTrip) {
  Claims c = fullClaims();
  auto back = claimsFromJson(claimsToJson(c));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, c);
  EXPECT_CODE(claimsFromJson(json::array()), "TOKEN_MALFORMED");
  EXPECT_CODE(claimsFromJson(json(nullptr)), "TOKEN_MALFORMED");
}
