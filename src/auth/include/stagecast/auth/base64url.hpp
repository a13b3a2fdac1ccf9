#pragma once
// base64url (RFC 4648 §5) without padding, as JOSE uses it (RFC 7515 §2, Appendix C).
#include <optional>
#include <string>
#include <string_view>

#include "stagecast/common/bytes.hpp"

namespace stagecast::auth {

std::string base64UrlEncode(BytesView data);

// Strict decoder: only [A-Za-z0-9_-], no padding, no whitespace, and the unused low bits of the last
// character must be zero, so every byte string has exactly one accepted encoding. Never throws.
std::optional<Bytes> base64UrlDecode(std::string_view text);

}  // namespace stagecast::auth
