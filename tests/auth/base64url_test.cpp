#include "stagecast/auth/base64url.hpp"

#include <gtest/gtest.h>

#include <string>

#include "jws_test_util.hpp"
#include "stagecast/common/crypto.hpp"

using namespace stagecast;
using namespace stagecast::auth;
namespace t = stagecast::auth::testing;

namespace {
std::string decodeToString(std::string_view s) {
  auto b = base64UrlDecode(s);
  return b ? std::string(asString(*b)) : std::string("<invalid>");
}
}  // namespace

TEST(Base64Url, Rfc4648Vectors) {
  // RFC 4648 §10 vectors with the padding removed.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64UrlEncode(asBytes(plain)), encoded);
    EXPECT_EQ(decodeToString(encoded), plain);
  }
}

TEST(Base64Url, UsesUrlSafeAlphabet) {
  const Bytes bytes = {0xfb, 0xff, 0xbf, 0xfe};
  EXPECT_EQ(base64UrlEncode(bytes), "-_-__g");
  EXPECT_EQ(*base64UrlDecode("-_-__g"), bytes);
  // RFC 7515 Appendix C example.
  const Bytes rfc = {3, 236, 255, 224, 193};
  EXPECT_EQ(base64UrlEncode(rfc), "A-z_4ME");
}

TEST(Base64Url, StrictDecoding) {
  for (const char* bad : {"Zg==", "Zg=", "Zm9v=", "Z", "Zm9vY", "Zm9v+w", "Zm9v/w", "Zm 9v", "Zm9v\n", "Zh", "Zm9",
                          "Zm8=", "=", "\xc3\xa9", "Zm9vYmFy!"}) {
    EXPECT_FALSE(base64UrlDecode(bad).has_value()) << bad;
  }
  // Non-zero unused bits: only one encoding is accepted for each byte string.
  EXPECT_TRUE(base64UrlDecode("Zg").has_value());
  EXPECT_FALSE(base64UrlDecode("Zh").has_value());
  EXPECT_TRUE(base64UrlDecode("Zm8").has_value());
  EXPECT_FALSE(base64UrlDecode("Zm9").has_value());
  EXPECT_FALSE(base64UrlDecode(std::string_view("Zm\0v", 4)).has_value());
}

TEST(Base64Url, RandomRoundTripMatchesReference) {
  for (std::size_t n = 0; n < 200; ++n) {
    Bytes data(n);
    if (n > 0) crypto::randomBytes(data.data(), n);
    const std::string encoded = base64UrlEncode(data);
    EXPECT_EQ(encoded, t::refBase64Url(data));
    const auto decoded = base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, data);
  }
}
