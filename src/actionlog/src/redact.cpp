// Credential removal for camera addresses and free text. Camera URLs come from configuration and from operators,
// so they are not always well formed: a password may hold an unescaped '/' or '@'. The rules lean towards removing
// too much rather than keeping a secret.
#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <string_view>

#include "stagecast/actionlog/action_log.hpp"

namespace stagecast::actionlog {
namespace {

constexpr std::array<std::string_view, 6> kSecretParameters = {"password", "passwd", "pass", "pwd", "secret", "token"};

bool isDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// "host", "host:port", "[v6]" or "[v6]:port".
bool looksLikeHostPort(std::string_view s) {
  if (s.empty()) return false;
  std::string_view host = s;
  std::string_view port;
  if (s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = s.substr(1, close - 1);
    const auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (!isDigits(port)) return false;
    }
    return std::all_of(host.begin(), host.end(),
                       [](unsigned char c) { return std::isxdigit(c) != 0 || c == ':' || c == '.' || c == '%'; });
  }
  const auto colon = s.find(':');
  if (colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (!isDigits(port)) return false;
  }
  return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '.' || c == '-' || c == '_';
  });
}

bool isSecretParameter(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(kSecretParameters.begin(), kSecretParameters.end(), lower) != kSecretParameters.end();
}

// The query (without '?'): the value of every secret parameter becomes "***".
std::string cleanQuery(std::string_view query) {
  std::string out;
  out.reserve(query.size());
  while (true) {
    const auto end = query.find_first_of("&;");
    const auto part = query.substr(0, end);
    const auto eq = part.find('=');
    if (eq != std::string_view::npos && isSecretParameter(part.substr(0, eq))) {
      out.append(part.substr(0, eq + 1));
      out.append("***");
    } else {
      out.append(part);
    }
    if (end == std::string_view::npos) break;
    out.push_back(query[end]);
    query.remove_prefix(end + 1);
  }
  return out;
}

// `rest` is what follows "scheme://" (or a whole address without a scheme): authority, path, query, fragment.
std::string cleanAfterScheme(std::string_view rest) {
  const auto queryAt = rest.find_first_of("?#");
  std::string_view base = rest.substr(0, queryAt);
  const auto slash = base.find('/');
  const auto authority = base.substr(0, slash);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    base.remove_prefix(at + 1);
  } else if (const auto later = base.rfind('@'); later != std::string_view::npos) {
    // An '@' after a well-formed host[:port]/ is part of the path; otherwise what precedes it is userinfo whose
    // password holds a '/'.
    if (!looksLikeHostPort(authority)) base.remove_prefix(later + 1);
  }
  std::string out(base);
  if (queryAt != std::string_view::npos) {
    const auto tail = rest.substr(queryAt);
    if (tail.front() == '?') {
      const auto hash = tail.find('#');
      out.push_back('?');
      out.append(cleanQuery(tail.substr(1, hash == std::string_view::npos ? std::string_view::npos : hash - 1)));
      if (hash != std::string_view::npos) out.append(tail.substr(hash));
    } else {
      out.append(tail);
    }
  }
  return out;
}

}  // namespace

std::string stripCredentials(std::string_view address) {
  const auto scheme = address.find("://");
  if (scheme == std::string_view::npos) return cleanAfterScheme(address);
  std::string out(address.substr(0, scheme + 3));
  out.append(cleanAfterScheme(address.substr(scheme + 3)));
  return out;
}

std::string stripUrlCredentials(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (true) {
    const auto scheme = text.find("://");
    if (scheme == std::string_view::npos) break;
    out.append(text.substr(0, scheme + 3));
    text.remove_prefix(scheme + 3);
    auto end = std::find_if(text.begin(), text.end(), [](unsigned char c) {
      return std::isspace(c) != 0 || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`';
    });
    const auto length = static_cast<std::size_t>(end - text.begin());
    out.append(cleanAfterScheme(text.substr(0, length)));
    text.remove_prefix(length);
  }
  out.append(text);
  return out;
}

}  // namespace stagecast::actionlog
