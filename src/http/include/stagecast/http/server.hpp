#pragma once
// A small HTTP/1.1 server on Boost.Beast: keep-alive, body limits, routing with path parameters, CORS.
// Transport only: handlers (the API layer) decide what a request means.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stagecast/common/endpoint.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::http {

// Header names are compared case-insensitively.
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // decoded path without query, e.g. "/whip/main"
  std::map<std::string, std::string> query;  // decoded query parameters
  Headers headers;
  std::string body;
  Endpoint remote;
  std::map<std::string, std::string> params;  // from the route pattern, e.g. {"stage": "main"}

  [[nodiscard]] std::optional<std::string> header(const std::string& name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  static Response json(int status, std::string body);  // Content-Type: application/json
  static Response text(int status, std::string body, std::string contentType = "text/plain; charset=utf-8");
  // {"error": {"code": code, "message": message}}; message is JSON-escaped.
  static Response error(int status, const std::string& code, const std::string& message);
};

// Completes a request. May be called from any thread, exactly once; the server posts back to its own loop.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request&, Responder)>;

class Router {
 public:
  // Pattern segments in braces capture one path segment: "/whip/{stage}/{session}". Exact segments match
  // literally. A trailing "/*" captures the rest of the path into params["*"].
  void add(std::string method, std::string pattern, Handler handler);
  // Finds the handler. Sets params. Returns nullptr and sets `pathExists` when the path matches some route
  // with another method (→ 405).
  const Handler* match(Request& request, bool& pathExists) const;
  // Methods registered for a path (for OPTIONS / Allow).
  [[nodiscard]] std::vector<std::string> methodsFor(const std::string& path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::size_t maxBodyBytes = 256 * 1024;   // larger → 413 {"error":{"code":"BODY_TOO_LARGE"}}
  std::size_t maxHeaderBytes = 16 * 1024;  // larger → 431
  std::chrono::seconds idleTimeout{60};    // keep-alive idle connections are closed after this
  std::size_t maxConnections = 10000;      // beyond: new connections are closed at once
  // CORS (Fetch standard): Access-Control-Allow-Origin for every response; OPTIONS preflight answered with
  // 204, Allow-Methods from the router, Allow-Headers echoing the request, Expose-Headers below.
  std::string corsAllowOrigin = "*";
  std::string corsExposeHeaders = "Location, ETag, Link, Accept-Patch";
  std::string serverName = "stagecast";
};

// Runs on the given io_context (the caller runs it on one or more threads).
class Server {
 public:
  Server(boost::asio::io_context& io, Router& router, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Errors: "HTTP_BIND_FAILED".
  Status listen(const Endpoint& endpoint);
  [[nodiscard]] std::uint16_t port() const;
  // Stops accepting and closes every connection (in-flight responders become no-ops).
  void stop();
  [[nodiscard]] std::size_t connectionCount() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Percent-decoding (RFC 3986 §2.1); nullopt on malformed escapes.
std::optional<std::string> percentDecode(std::string_view s);
// Minimal JSON string escaping for error messages.
std::string jsonEscape(std::string_view s);

}  // namespace stagecast::http
