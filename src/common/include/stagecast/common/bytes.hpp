#pragma once
// Byte containers shared by every layer.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stagecast {

using Bytes = std::vector<std::uint8_t>;
using BytesView = std::span<const std::uint8_t>;

inline BytesView asBytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
inline std::string_view asString(BytesView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
std::string toHex(BytesView b);
// Uppercase, colon separated ("AB:CD:..."), as used by SDP a=fingerprint (RFC 8122 §5).
std::string toHexColon(BytesView b);

}  // namespace stagecast
