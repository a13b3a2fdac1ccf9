#pragma once
// Small crypto helpers over OpenSSL 3.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "stagecast/common/bytes.hpp"

namespace stagecast::crypto {

std::array<std::uint8_t, 20> hmacSha1(BytesView key, BytesView data);
std::array<std::uint8_t, 32> hmacSha256(BytesView key, BytesView data);
std::array<std::uint8_t, 16> md5(BytesView data);
std::array<std::uint8_t, 32> sha256(BytesView data);
// CRC-32 (ISO 3309 / ITU-T V.42), as used by the STUN FINGERPRINT attribute.
std::uint32_t crc32(BytesView data);
// Cryptographically secure random bytes.
void randomBytes(std::uint8_t* out, std::size_t n);
std::uint32_t randomU32();
std::uint64_t randomU64();
// Random string from [A-Za-z0-9+/] (ICE char set, RFC 8839 §5.4).
std::string randomIceString(std::size_t length);
// Random identifier from [a-z0-9].
std::string randomId(std::size_t length);
// Constant-time comparison.
bool equalConstantTime(BytesView a, BytesView b);

}  // namespace stagecast::crypto
