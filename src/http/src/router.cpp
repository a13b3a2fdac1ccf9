// Router, request/response helpers and the small text utilities of the HTTP layer.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "stagecast/http/server.hpp"

namespace stagecast::http {

namespace {

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// "/a/b" → {"a", "b"}; "/" → {""}; "/a/" → {"a", ""}. A leading slash is dropped, empty segments are kept so
// that "/a" and "/a/" stay distinct resources.
std::vector<std::string> splitPath(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.emplace_back(path.substr(start));
      break;
    }
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool isCapture(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

bool isWildcard(const std::vector<std::string>& segments, std::size_t i) {
  return i + 1 == segments.size() && segments[i] == "*";
}

// Per-segment specificity used to rank matching routes: literal (2) beats capture (1) beats wildcard (0);
// earlier segments dominate. The ranks are packed into one integer, two bits per segment from the top (a
// segment's rank + 1, so that a shorter ranking, a prefix, compares lower), which orders them as the
// segment-by-segment comparison would, without allocating. Returns nullopt when the route does not match.
constexpr std::size_t kRankedSegments = 31;

void addRank(std::uint64_t& rank, std::size_t i, unsigned value) {
  if (i < kRankedSegments) rank |= static_cast<std::uint64_t>(value + 1) << (62 - 2 * i);
}

std::optional<std::uint64_t> matchRoute(const std::vector<std::string>& pattern,
                                        const std::vector<std::string>& path,
                                        std::map<std::string, std::string>* params) {
  std::uint64_t rank = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (isWildcard(pattern, i)) {
      if (path.size() <= i) return std::nullopt;  // "/files/*" needs at least "/files/"
      if (params) {
        std::string rest;
        for (std::size_t j = i; j < path.size(); ++j) {
          if (j > i) rest += '/';
          rest += path[j];
        }
        (*params)["*"] = std::move(rest);
      }
      addRank(rank, i, 0);
      return rank;
    }
    if (i >= path.size()) return std::nullopt;
    const auto& seg = pattern[i];
    if (isCapture(seg)) {
      if (params) (*params)[seg.substr(1, seg.size() - 2)] = path[i];
      addRank(rank, i, 1);
    } else if (seg == path[i]) {
      addRank(rank, i, 2);
    } else {
      return std::nullopt;
    }
  }
  if (pattern.size() != path.size()) return std::nullopt;
  return rank;
}

}  // namespace

bool CaseInsensitiveLess::operator()(const std::string& a, const std::string& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return lowerAscii(x) < lowerAscii(y); });
}

std::optional<std::string> Request::header(const std::string& name) const {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

Response Response::json(int status, std::string body) { return text(status, std::move(body), "application/json"); }

Response Response::text(int status, std::string body, std::string contentType) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace("Content-Type", std::move(contentType));
  return r;
}

Response Response::error(int status, const std::string& code, const std::string& message) {
  return json(status, R"({"error":{"code":")" + jsonEscape(code) + R"(","message":")" + jsonEscape(message) + R"("}})");
}

void Router::add(std::string method, std::string pattern, Handler handler) {
  auto segments = splitPath(pattern);
  // Ranks cover kRankedSegments segments; longer literal routes are left to the scan and its tie rule.
  const bool literal = segments.size() <= kRankedSegments &&
                       std::none_of(segments.begin(), segments.end(), [&](const std::string& seg) {
                         return isCapture(seg) || seg == "*";
                       });
  if (literal) {
    std::string path;
    for (const auto& seg : segments) path += "/" + seg;
    literalRoutes_[path].push_back(routes_.size());
  }
  routes_.push_back(Route{std::move(method), std::move(segments), std::move(handler)});
}

void Router::addWebSocket(std::string pattern, WebSocketHandler handler) {
  webSocketRoutes_.push_back(WebSocketRoute{splitPath(pattern), std::move(handler)});
}

const Handler* Router::match(Request& request, bool& pathExists) const {
  pathExists = false;
  if (auto it = literalRoutes_.find(request.path); it != literalRoutes_.end()) {
    for (const auto index : it->second) {
      if (routes_[index].method != request.method) continue;
      pathExists = true;
      request.params.clear();
      return &routes_[index].handler;
    }
  }
  const auto path = splitPath(request.path);
  const Route* best = nullptr;
  std::uint64_t bestRank = 0;
  for (const auto& route : routes_) {
    auto rank = matchRoute(route.segments, path, nullptr);
    if (!rank) continue;
    pathExists = true;
    if (route.method != request.method) continue;
    // Strictly greater: on a tie the route added first wins.
    if (best == nullptr || *rank > bestRank) {
      best = &route;
      bestRank = *rank;
    }
  }
  if (!pathExists) {
    for (const auto& route : webSocketRoutes_) {
      if (matchRoute(route.segments, path, nullptr)) {
        pathExists = true;
        break;
      }
    }
  }
  if (best == nullptr) return nullptr;
  request.params.clear();
  matchRoute(best->segments, path, &request.params);
  return &best->handler;
}

const WebSocketHandler* Router::matchWebSocket(Request& request) const {
  const auto path = splitPath(request.path);
  const WebSocketRoute* best = nullptr;
  std::uint64_t bestRank = 0;
  for (const auto& route : webSocketRoutes_) {
    auto rank = matchRoute(route.segments, path, nullptr);
    if (rank && (best == nullptr || *rank > bestRank)) {
      best = &route;
      bestRank = std::move(*rank);
    }
  }
  if (best == nullptr) return nullptr;
  request.params.clear();
  matchRoute(best->segments, path, &request.params);
  return &best->handler;
}

std::vector<std::string> Router::methodsFor(const std::string& path) const {
  const auto segments = splitPath(path);
  std::vector<std::string> methods;
  for (const auto& route : routes_) {
    if (!matchRoute(route.segments, segments, nullptr)) continue;
    if (std::find(methods.begin(), methods.end(), route.method) == methods.end()) methods.push_back(route.method);
  }
  for (const auto& route : webSocketRoutes_) {
    if (!matchRoute(route.segments, segments, nullptr)) continue;
    if (std::find(methods.begin(), methods.end(), "GET") == methods.end()) methods.emplace_back("GET");
    break;
  }
  return methods;
}

std::optional<std::string> percentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]);
    int lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string jsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace stagecast::http
