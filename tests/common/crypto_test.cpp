#include "stagecast/common/crypto.hpp"

#include <gtest/gtest.h>

using namespace stagecast;

TEST(Crypto, Crc32KnownValue) {
  // The standard check value of CRC-32/ISO-HDLC.
  EXPECT_EQ(crypto::crc32(asBytes("123456789")), 0xCBF43926U);
}

TEST(Crypto, HmacSha1Rfc2202) {
  // RFC 2202 test case 2.
  auto mac = crypto::hmacSha1(asBytes("Jefe"), asBytes("what do ya want for nothing?"));
  EXPECT_EQ(toHex(mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(Crypto, RandomIceStringUsesIceCharset) {
  auto s = crypto::randomIceString(64);
  ASSERT_EQ(s.size(), 64U);
  for (char c : s) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/') << c;
  EXPECT_NE(crypto::randomIceString(16), crypto::randomIceString(16));
}

TEST(Crypto, ConstantTimeEquality) {
  EXPECT_TRUE(crypto::equalConstantTime(asBytes("abc"), asBytes("abc")));
  EXPECT_FALSE(crypto::equalConstantTime(asBytes("abc"), asBytes("abd")));
  EXPECT_FALSE(crypto::equalConstantTime(asBytes("abc"), asBytes("ab")));
}
