#pragma once
// Small string helpers shared by the SDP sources (internal, not installed).
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "stagecast/common/text.hpp"

namespace stagecast::sdp::detail {

inline bool isSpace(char c) { return c == ' ' || c == '\t'; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

inline std::string_view trimLeft(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  return s;
}

// Splits on runs of spaces/tabs; no empty tokens.
inline std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && isSpace(s[i])) ++i;
    std::size_t start = i;
    while (i < s.size() && !isSpace(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// Splits off the first token; `rest` is what follows it with leading blanks removed.
inline std::string_view firstToken(std::string_view s, std::string_view& rest) {
  s = trimLeft(s);
  std::size_t i = 0;
  while (i < s.size() && !isSpace(s[i])) ++i;
  rest = trimLeft(s.substr(i));
  return s.substr(0, i);
}

using stagecast::iequals;
using stagecast::toLower;
using stagecast::toUpper;

// Whole-string unsigned decimal; no sign, no blanks, no overflow.
template <class T>
std::optional<T> parseUint(std::string_view s) {
  if (s.empty()) return std::nullopt;
  T value{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

// RTP payload types are 7 bits (RFC 3550 §5.1).
inline std::optional<std::uint8_t> parsePayloadType(std::string_view s) {
  auto v = parseUint<unsigned>(s);
  if (!v || *v > 127) return std::nullopt;
  return static_cast<std::uint8_t>(*v);
}

}  // namespace stagecast::sdp::detail
