// HTTP/1.x response head writer (RFC 9112 §4, §5, §9.3).
#include "stagecast/http/response_head.hpp"

#include <charconv>

#include "stagecast/common/text.hpp"

namespace stagecast::http {

namespace {

// tchar (RFC 9110 §5.6.2)
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool validName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!isTokenChar(c)) return false;
  }
  return true;
}

// field-value (RFC 9110 §5.5): CR, LF and NUL are never allowed.
bool validValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool framingField(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Connection") || iequals(name, "Transfer-Encoding");
}

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void appendNumber(std::string& out, std::size_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), n);
  out.append(digits, end);
}

}  // namespace

std::string_view reasonPhrase(int status) {
  // The IANA HTTP Status Code Registry (RFC 9110 §15).
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return {};
  }
}

std::size_t appendResponseHead(std::string& out, int status, const Headers& headers, const ServerOptions& options,
                               const ResponseFraming& framing) {
  const bool http10 = framing.version < 11;
  out.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  appendNumber(out, static_cast<std::size_t>(status));
  out.push_back(' ');
  out.append(reasonPhrase(status));
  out.append("\r\n");

  std::size_t dropped = 0;
  bool hasServer = false;
  bool hasAllowOrigin = false;
  bool hasExposeHeaders = false;
  bool hasUpgrade = false;
  for (const auto& [name, value] : headers) {
    if (framingField(name)) continue;
    if (!validName(name) || !validValue(value)) {
      ++dropped;
      continue;
    }
    hasServer = hasServer || iequals(name, "Server");
    hasAllowOrigin = hasAllowOrigin || iequals(name, "Access-Control-Allow-Origin");
    hasExposeHeaders = hasExposeHeaders || iequals(name, "Access-Control-Expose-Headers");
    hasUpgrade = hasUpgrade || iequals(name, "Upgrade");
    appendField(out, name, value);
  }
  if (!hasServer) appendField(out, "Server", options.serverName);
  if (!options.corsAllowOrigin.empty() && !hasAllowOrigin) {
    appendField(out, "Access-Control-Allow-Origin", options.corsAllowOrigin);
    // A specific origin makes the response vary by request origin (Fetch standard, CORS protocol and caching).
    if (options.corsAllowOrigin != "*") appendField(out, "Vary", "Origin");
  }
  if (!options.corsExposeHeaders.empty() && !hasExposeHeaders) {
    appendField(out, "Access-Control-Expose-Headers", options.corsExposeHeaders);
  }
  if (framing.contentLength) {
    out.append("Content-Length: ");
    appendNumber(out, *framing.contentLength);
    out.append("\r\n");
  }
  std::string_view connection;
  if (!framing.keepAlive && !http10) connection = "close";
  if (framing.keepAlive && http10) connection = "keep-alive";
  if (hasUpgrade) {
    out.append("Connection: ");
    if (!connection.empty()) {
      out.append(connection);
      out.append(", ");
    }
    out.append("Upgrade\r\n");
  } else if (!connection.empty()) {
    appendField(out, "Connection", connection);
  }
  out.append("\r\n");
  return dropped;
}

}  // namespace stagecast::http
