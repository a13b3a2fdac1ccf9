// JSON member reader (RFC 8259). Grammar references are to RFC 8259 sections; UTF-8 to RFC 3629 §4.
#include "stagecast/common/json_members.hpp"

#include <charconv>
#include <vector>

namespace stagecast::json {

namespace {

class Scanner {
 public:
  explicit Scanner(std::string_view text)
      : p_(reinterpret_cast<const unsigned char*>(text.data())), end_(p_ + text.size()) {}

  ScanResult run(std::span<Member> members);

 private:
  // §2: ws = *( %x20 / %x09 / %x0A / %x0D )
  void skipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size()) return false;
    for (char c : word) {
      if (*p_++ != static_cast<unsigned char>(c)) return false;
    }
    return true;
  }
  bool string(std::string* out);
  bool utf8Sequence(std::string* out);
  bool escape(std::string* out);
  bool hex4(std::uint32_t& v);
  bool number();

  const unsigned char* p_;
  const unsigned char* end_;
};

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// §7: a string; p_ is on the opening quote. Decoded into `out` when given.
bool Scanner::string(std::string* out) {
  ++p_;
  while (true) {
    // The run of plain characters up to the next quote, escape, control character or non-ASCII byte.
    const unsigned char* run = p_;
    while (p_ < end_ && *p_ != '"' && *p_ != '\\' && *p_ >= 0x20 && *p_ < 0x80) ++p_;
    if (out != nullptr && p_ != run)
      out->append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p_ - run));
    if (p_ == end_) return false;
    const unsigned char c = *p_;
    if (c == '"') {
      ++p_;
      return true;
    }
    if (c == '\\') {
      if (!escape(out)) return false;
    } else if (c < 0x20) {
      return false;  // control characters must be escaped
    } else if (!utf8Sequence(out)) {
      return false;
    }
  }
}

// RFC 3629 §4: one well-formed multi-byte sequence (no overlongs, no surrogates, nothing above U+10FFFF).
bool Scanner::utf8Sequence(std::string* out) {
  const unsigned char lead = *p_;
  int trail = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    trail = 1;
  } else if (lead == 0xE0) {
    trail = 2;
    lo = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    trail = 2;
  } else if (lead == 0xED) {
    trail = 2;
    hi = 0x9F;
  } else if (lead == 0xF0) {
    trail = 3;
    lo = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    trail = 3;
  } else if (lead == 0xF4) {
    trail = 3;
    hi = 0x8F;
  } else {
    return false;
  }
  if (end_ - p_ <= trail) return false;
  if (p_[1] < lo || p_[1] > hi) return false;
  for (int i = 2; i <= trail; ++i) {
    if (p_[i] < 0x80 || p_[i] > 0xBF) return false;
  }
  if (out != nullptr) out->append(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(trail + 1));
  p_ += trail + 1;
  return true;
}

bool Scanner::hex4(std::uint32_t& v) {
  if (end_ - p_ < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) {
    const unsigned char c = *p_++;
    std::uint32_t d = 0;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  return true;
}

// §7: an escape; p_ is on the backslash. A \u escape of a high surrogate must be followed by one of a low
// surrogate; a lone low surrogate is an error.
bool Scanner::escape(std::string* out) {
  ++p_;
  if (p_ == end_) return false;
  const unsigned char c = *p_++;
  char plain = 0;
  switch (c) {
    case '"':
      plain = '"';
      break;
    case '\\':
      plain = '\\';
      break;
    case '/':
      plain = '/';
      break;
    case 'b':
      plain = '\b';
      break;
    case 'f':
      plain = '\f';
      break;
    case 'n':
      plain = '\n';
      break;
    case 'r':
      plain = '\r';
      break;
    case 't':
      plain = '\t';
      break;
    case 'u': {
      std::uint32_t cp = 0;
      if (!hex4(cp)) return false;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        std::uint32_t low = 0;
        if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
        p_ += 2;
        if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
      if (out != nullptr) appendUtf8(*out, cp);
      return true;
    }
    default:
      return false;
  }
  if (out != nullptr) out->push_back(plain);
  return true;
}

// §6: number = [ minus ] int [ frac ] [ exp ]. A number too large for a double is refused, as a document parser
// storing doubles must; one too small becomes zero and is fine.
bool Scanner::number() {
  const unsigned char* start = p_;
  if (*p_ == '-') ++p_;
  if (p_ == end_) return false;
  long leading = 0;  // digits before the point, leading zeros excluded (for the magnitude below)
  if (*p_ == '0') {
    ++p_;
  } else if (*p_ >= '1' && *p_ <= '9') {
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      ++p_;
      ++leading;
    }
  } else {
    return false;
  }
  long zerosAfterPoint = 0;  // zeros right after the point when the integer part is 0
  bool fractionSeen = false;
  if (p_ < end_ && *p_ == '.') {
    ++p_;
    const unsigned char* digits = p_;
    bool nonzero = false;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      if (*p_ != '0') nonzero = true;
      if (!nonzero && leading == 0) ++zerosAfterPoint;
      ++p_;
    }
    if (p_ == digits) return false;
    fractionSeen = nonzero;
  }
  long exponent = 0;
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    bool negative = false;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) negative = *p_++ == '-';
    const unsigned char* digits = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      if (exponent < 1'000'000) exponent = exponent * 10 + (*p_ - '0');
      ++p_;
    }
    if (p_ == digits) return false;
    if (negative) exponent = -exponent;
  }
  double value = 0;
  const auto* first = reinterpret_cast<const char*>(start);
  const auto [ptr, ec] = std::from_chars(first, reinterpret_cast<const char*>(p_), value);
  if (ec == std::errc()) return true;
  if (ec != std::errc::result_out_of_range) return false;
  // Out of range: too large (refused) or too small (zero, accepted). The two lie hundreds of orders of magnitude
  // apart, so the position of the first significant digit relative to the point, plus the exponent, tells them.
  if (leading == 0 && !fractionSeen) return true;  // zero
  const long order = (leading > 0 ? leading : -zerosAfterPoint) + exponent;
  return order <= 0;
}

ScanResult Scanner::run(std::span<Member> members) {
  // A UTF-8 byte order mark may open the text (as document parsers accept); a partial one may not.
  if (p_ < end_ && *p_ == 0xEF) {
    if (end_ - p_ < 3 || p_[1] != 0xBB || p_[2] != 0xBF) return ScanResult::Malformed;
    p_ += 3;
  }
  skipWs();
  if (p_ == end_) return ScanResult::Malformed;
  const bool rootIsObject = *p_ == '{';
  std::vector<unsigned char> open;  // the containers around the current position: '{' or '['
  std::string key;
  Member* current = nullptr;  // the wanted member whose value comes next (top level of the root object only)

  enum class Step { Value, Key, After };
  Step step = Step::Value;
  while (true) {
    switch (step) {
      case Step::Value: {
        skipWs();
        if (p_ == end_) return ScanResult::Malformed;
        Member* target = open.size() == 1 ? current : nullptr;
        current = nullptr;
        const unsigned char c = *p_;
        if (c == '{' || c == '[') {
          if (target != nullptr) {
            target->kind = MemberKind::Other;
            target->value.clear();
          }
          ++p_;
          open.push_back(c);
          skipWs();
          if (p_ < end_ && *p_ == (c == '{' ? '}' : ']')) {
            ++p_;
            open.pop_back();
            step = Step::After;
          } else {
            step = c == '{' ? Step::Key : Step::Value;
          }
          continue;
        }
        if (c == '"') {
          if (target != nullptr) {
            target->kind = MemberKind::String;
            target->value.clear();
          }
          if (!string(target != nullptr ? &target->value : nullptr)) return ScanResult::Malformed;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
          if (!number()) return ScanResult::Malformed;
          if (target != nullptr) target->kind = MemberKind::Other;
        } else if (c == 't' || c == 'f' || c == 'n') {
          if (!literal(c == 't' ? "true" : c == 'f' ? "false" : "null")) return ScanResult::Malformed;
          if (target != nullptr) target->kind = c == 'n' ? MemberKind::Null : MemberKind::Other;
        } else {
          return ScanResult::Malformed;
        }
        if (target != nullptr && target->kind != MemberKind::String) target->value.clear();
        step = Step::After;
        continue;
      }
      case Step::Key: {
        skipWs();
        if (p_ == end_ || *p_ != '"') return ScanResult::Malformed;
        const bool top = open.size() == 1;
        key.clear();
        if (!string(top ? &key : nullptr)) return ScanResult::Malformed;
        skipWs();
        if (p_ == end_ || *p_ != ':') return ScanResult::Malformed;
        ++p_;
        current = nullptr;
        if (top) {
          for (auto& m : members) {
            if (m.name == key) current = &m;
          }
        }
        step = Step::Value;
        continue;
      }
      case Step::After: {
        skipWs();
        if (open.empty()) {
          if (p_ != end_) return ScanResult::Malformed;  // §2: one value, then only whitespace
          return rootIsObject ? ScanResult::Object : ScanResult::NotObject;
        }
        if (p_ == end_) return ScanResult::Malformed;
        const unsigned char c = *p_++;
        if (c == ',') {
          step = open.back() == '{' ? Step::Key : Step::Value;
        } else if (c == (open.back() == '{' ? '}' : ']')) {
          open.pop_back();
        } else {
          return ScanResult::Malformed;
        }
        continue;
      }
    }
  }
}

}  // namespace

ScanResult scanObjectMembers(std::string_view text, std::span<Member> members) {
  for (auto& m : members) {
    m.kind = MemberKind::Missing;
    m.value.clear();
  }
  return Scanner(text).run(members);
}

}  // namespace stagecast::json
