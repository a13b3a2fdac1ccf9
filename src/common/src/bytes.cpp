#include "stagecast/common/bytes.hpp"

namespace stagecast {

namespace {
constexpr char kHex[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";
}  // namespace

std::string toHex(BytesView b) {
  std::string s;
  s.reserve(b.size() * 2);
  for (auto c : b) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 15]);
  }
  return s;
}

std::string toHexColon(BytesView b) {
  std::string s;
  s.reserve(b.size() * 3);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i != 0) s.push_back(':');
    s.push_back(kHexUpper[b[i] >> 4]);
    s.push_back(kHexUpper[b[i] & 15]);
  }
  return s;
}

}  // namespace stagecast
