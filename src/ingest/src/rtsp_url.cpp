// Camera address validation and RTSP URL composition (RFC 3986 §3.2 authority, RFC 7826 §18.2 rtsp URI).
#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <string_view>

#include "stagecast/common/text.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

namespace stagecast::ingest {

namespace {

// libavformat copies "user:password" into a 128-byte buffer and the path into a 1024-byte one; longer values
// would be truncated silently and fail in confusing ways, so they are rejected up front.
constexpr std::size_t kMaxUserinfo = 127;
constexpr std::size_t kMaxPath = 1000;
constexpr std::size_t kMaxHostName = 253;
constexpr std::size_t kMaxLabel = 63;

Error invalid(std::string message) { return {probe_error::kInvalidRequest, std::move(message)}; }

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }
// RFC 3986 §2.3.
bool isUnreserved(char c) { return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

std::string percentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (isUnreserved(c)) {
      out.push_back(c);
    } else {
      const auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0x0f]);
    }
  }
  return out;
}

bool isIpv4Literal(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool isIpv6Literal(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// RFC 1123 §2.1 host name: dot-separated labels of letters, digits and hyphens, no label starting or ending
// with a hyphen. An all-numeric name is a mistyped IPv4 address, not a host name.
bool isHostName(std::string_view s) {
  if (s.empty() || s.size() > kMaxHostName) return false;
  bool allNumeric = true;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view label = s.substr(start, end - start);
    if (label.empty() || label.size() > kMaxLabel || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!isAlpha(c) && !isDigit(c) && c != '-') return false;
      if (!isDigit(c)) allNumeric = false;
    }
    start = end + 1;
  }
  return !allNumeric;
}

// The host as it appears in the URL: IPv6 literals in brackets (RFC 3986 §3.2.2).
Result<std::string> urlHost(const std::string& ip) {
  if (ip.empty()) return invalid("ip: required");
  if (ip.front() == '[' || ip.back() == ']') {
    const std::string inner =
        ip.size() >= 2 && ip.front() == '[' && ip.back() == ']' ? ip.substr(1, ip.size() - 2) : "";
    if (!isIpv6Literal(inner)) return invalid("ip: brackets must enclose an IPv6 address");
    return "[" + inner + "]";
  }
  if (isIpv4Literal(ip)) return ip;
  if (isIpv6Literal(ip)) return "[" + ip + "]";
  if (ip.find('%') != std::string::npos) return invalid("ip: IPv6 zone identifiers are not supported");
  if (!isHostName(ip)) return invalid("ip: not an IPv4/IPv6 address or a valid host name");
  return ip;
}

Status checkPath(const std::string& path) {
  if (path.empty() || path.front() != '/') return invalid("path: must start with '/'");
  if (path.size() > kMaxPath) return invalid("path: longer than " + std::to_string(kMaxPath) + " characters");
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == ' ' || isControl(c)) return invalid("path: must not contain spaces or control characters");
    if (static_cast<unsigned char>(c) >= 0x80) return invalid("path: non-ASCII characters must be percent-encoded");
    if (std::strchr("\"#<>\\^`{|}", c) != nullptr)
      return invalid(std::string("path: character '") + c + "' not allowed");
    if (c == '%' && (i + 2 >= path.size() || !isHex(path[i + 1]) || !isHex(path[i + 2]))) {
      return invalid("path: '%' must start a percent-encoded byte (%XX)");
    }
  }
  return {};
}

Status checkCredentials(const CameraAddress& a) {
  if (a.username.empty() && !a.password.empty()) return invalid("username: required when a password is given");
  for (char c : a.username) {
    if (isControl(c)) return invalid("username: must not contain control characters");
    // ':' separates user from password (RFC 7617 §2); '"' and '\' would break the Digest quoted-string.
    if (c == ':' || c == '"' || c == '\\') return invalid(std::string("username: character '") + c + "' not allowed");
  }
  for (char c : a.password) {
    if (isControl(c)) return invalid("password: must not contain control characters");
  }
  return {};
}

std::string userinfo(const CameraAddress& a, bool redact) {
  if (a.username.empty()) return "";
  std::string out = percentEncode(a.username);
  if (!a.password.empty()) out += redact ? ":***" : ":" + percentEncode(a.password);
  return out;
}

}  // namespace

Result<std::string> buildRtspUrl(const CameraAddress& address) {
  auto host = urlHost(address.ip);
  if (!host.ok()) return host.error();
  if (address.port == 0) return invalid("port: must be 1..65535");
  if (auto s = checkPath(address.path); !s.ok()) return s.error();
  if (auto s = checkCredentials(address); !s.ok()) return s.error();
  const std::string transport = toLower(address.transport);
  if (transport != "tcp" && transport != "udp") return invalid("transport: must be \"tcp\" or \"udp\"");
  const std::string info = userinfo(address, false);
  if (info.size() > kMaxUserinfo) return invalid("username/password: too long once percent-encoded");

  std::string url = "rtsp://";
  if (!info.empty()) url += info + "@";
  url += *host + ":" + std::to_string(address.port) + address.path;
  return url;
}

std::string redactedUrl(const CameraAddress& address) {
  auto host = urlHost(address.ip);
  std::string url = "rtsp://";
  const std::string info = userinfo(address, true);
  if (!info.empty()) url += info + "@";
  url += host.ok() ? *host : percentEncode(address.ip);
  url += ":" + std::to_string(address.port);
  // An invalid path is still shown, but with anything unsafe encoded so it cannot break a log line.
  for (char c : address.path) {
    if (c == ' ' || isControl(c) || static_cast<unsigned char>(c) >= 0x80) {
      url += percentEncode(std::string_view(&c, 1));
    } else {
      url.push_back(c);
    }
  }
  return url;
}

std::string redactUrlsInText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t scheme = text.find("://", pos);
    if (scheme == std::string_view::npos) break;
    const std::size_t authority = scheme + 3;
    out.append(text.substr(pos, authority - pos));
    std::size_t end = authority;
    while (end < text.size() && std::strchr("/?# \t\r\n\"'<>", text[end]) == nullptr) ++end;
    const std::string_view auth = text.substr(authority, end - authority);
    const std::size_t at = auth.rfind('@');
    const std::size_t colon = at == std::string_view::npos ? std::string_view::npos : auth.substr(0, at).find(':');
    if (colon != std::string_view::npos) {
      out.append(auth.substr(0, colon));
      out.append(":***");
      out.append(auth.substr(at));
    } else {
      out.append(auth);
    }
    pos = end;
  }
  out.append(text.substr(std::min(pos, text.size())));
  return out;
}

}  // namespace stagecast::ingest
