#include "stagecast/common/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace stagecast::crypto {

std::array<std::uint8_t, 20> hmacSha1(BytesView key, BytesView data) {
  std::array<std::uint8_t, 20> out{};
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len);
  return out;
}

std::array<std::uint8_t, 32> hmacSha256(BytesView key, BytesView data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len);
  return out;
}

std::array<std::uint8_t, 16> md5(BytesView data) {
  std::array<std::uint8_t, 16> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_md5(), nullptr);
  return out;
}

std::array<std::uint8_t, 32> sha256(BytesView data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

namespace {
struct Crc32Table {
  std::array<std::uint32_t, 256> t{};
  constexpr Crc32Table() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1U) ? (0xEDB88320U ^ (c >> 1)) : (c >> 1);
      t[i] = c;
    }
  }
};
constexpr Crc32Table kCrc;
}  // namespace

std::uint32_t crc32(BytesView data) {
  std::uint32_t c = 0xFFFFFFFFU;
  for (auto b : data) c = kCrc.t[(c ^ b) & 0xFFU] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

void randomBytes(std::uint8_t* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}

std::uint32_t randomU32() {
  std::uint32_t v = 0;
  randomBytes(reinterpret_cast<std::uint8_t*>(&v), sizeof v);
  return v;
}

std::uint64_t randomU64() {
  std::uint64_t v = 0;
  randomBytes(reinterpret_cast<std::uint8_t*>(&v), sizeof v);
  return v;
}

namespace {
std::string randomFrom(std::string_view alphabet, std::size_t length) {
  std::string s(length, '\0');
  std::array<std::uint8_t, 64> buf{};
  std::size_t i = 0;
  while (i < length) {
    randomBytes(buf.data(), buf.size());
    for (auto b : buf) {
      // Rejection sampling keeps the distribution uniform.
      const unsigned limit = 256 - (256 % alphabet.size());
      if (b >= limit) continue;
      s[i++] = alphabet[b % alphabet.size()];
      if (i == length) break;
    }
  }
  return s;
}
}  // namespace

std::string randomIceString(std::size_t length) {
  return randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", length);
}

std::string randomId(std::size_t length) { return randomFrom("abcdefghijklmnopqrstuvwxyz0123456789", length); }

bool equalConstantTime(BytesView a, BytesView b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace stagecast::crypto
