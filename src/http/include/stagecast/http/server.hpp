#pragma once
// A small HTTP/1.1 server on Boost.Beast: keep-alive, body limits, routing with path parameters, CORS, and
// WebSocket (RFC 6455) endpoints for text notifications.
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
#include <unordered_map>
#include <utility>
#include <variant>
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

// An accepted WebSocket connection (RFC 6455), text messages only. Callers may keep the shared_ptr as long as
// they like: once the connection has closed every call is a no-op, and the server keeps no reference to it.
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // Queues a text message (valid UTF-8). Thread-safe: callable from any thread; messages sent from one thread
  // arrive in that order. Never blocks: when the connection's unsent backlog would exceed
  // ServerOptions::maxWebSocketQueueBytes the message is dropped and the connection is closed with 1013.
  virtual void send(std::string text) = 0;
  // Starts the closing handshake after the messages already queued have been written. Thread-safe. Codes that
  // may not be sent (RFC 6455 §7.4) are replaced by 1000; the reason is cut to 123 bytes.
  virtual void close(std::uint16_t code = 1000, std::string reason = {}) = 0;
  [[nodiscard]] virtual Endpoint remote() const = 0;
};

// What an accepting WebSocketHandler returns. Both run on the server's loop, never concurrently for one
// connection.
struct WebSocketCallbacks {
  // A complete text message; the view is valid during the call only.
  std::function<void(std::string_view text)> onMessage;
  // Called once when the connection closes, whichever side closes it or fails (after it no onMessage
  // follows); the callbacks are released afterwards.
  std::function<void()> onClose;
};

// Called on the server's loop with the upgrade request (path, query, headers, remote, params) before the
// handshake is answered. Returns a Response to refuse the upgrade (the client gets that HTTP response and the
// connection stays HTTP), or callbacks to accept it.
using WebSocketHandler =
    std::function<std::variant<Response, WebSocketCallbacks>(Request&, std::shared_ptr<WebSocket>)>;

class Router {
 public:
  // Routes are added before the server starts; afterwards the router is only read (from any loop thread).
  // Pattern segments in braces capture one path segment: "/whip/{stage}/{session}". Exact segments match
  // literally. A trailing "/*" captures the rest of the path into params["*"].
  void add(std::string method, std::string pattern, Handler handler);
  // A WebSocket endpoint (same pattern syntax). A GET with "Upgrade: websocket" is handed to the handler; a
  // plain GET or HEAD gets 426 {"error":{"code":"UPGRADE_REQUIRED"}} unless an HTTP GET route also matches;
  // other methods get 405.
  void addWebSocket(std::string pattern, WebSocketHandler handler);
  // Finds the handler. Sets params. Returns nullptr and sets `pathExists` when the path matches some route
  // with another method (→ 405); a WebSocket route counts as a GET route of its path.
  const Handler* match(Request& request, bool& pathExists) const;
  // The WebSocket handler for the request's path, or nullptr. Sets params when found.
  const WebSocketHandler* matchWebSocket(Request& request) const;
  // Methods registered for a path (for OPTIONS / Allow); a WebSocket route contributes GET.
  [[nodiscard]] std::vector<std::string> methodsFor(const std::string& path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  struct WebSocketRoute {
    std::vector<std::string> segments;
    WebSocketHandler handler;
  };
  std::vector<Route> routes_;
  std::vector<WebSocketRoute> webSocketRoutes_;
  // Routes without captures or wildcards by their exact path ("/api/viewer/heartbeat"), in the order added:
  // such a route outranks every other route matching its path, so a hit with the request's method needs no scan.
  std::unordered_map<std::string, std::vector<std::size_t>> literalRoutes_;
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
  // WebSocket connections (CORS does not apply to them). Incoming messages larger than this close the
  // connection with 1009; binary messages close it with 1003.
  std::size_t maxWebSocketMessageBytes = 64 * 1024;
  // Unsent outgoing bytes per connection (queued and being written); a consumer that falls this far behind is
  // closed with 1013 (try again later), so one slow client costs bounded memory and never holds up others.
  std::size_t maxWebSocketQueueBytes = 1024 * 1024;
  // A ping is sent after this long without a message from the peer; a peer that sends nothing (no pong)
  // during the next interval as well is dropped. Zero disables pings and the idle check.
  std::chrono::milliseconds webSocketPingInterval{20'000};
  // Every io_context given to the Server is run by exactly one thread. Connections then run directly on their
  // loop instead of on a strand of it (the loop itself serializes their handlers), which saves a lock and a
  // queue hand-off per completion. Leave false when a loop may be run by several threads.
  bool oneThreadPerLoop = false;
};

// Runs on the given io_contexts (the caller runs each on one or more threads). Accepted connections are dealt
// out over the io_contexts in turn and stay on theirs; the listening socket lives on the first. Each connection
// runs on its own strand (or directly on its loop with ServerOptions::oneThreadPerLoop), so handlers and
// WebSocket callbacks of one connection never run concurrently; those of different connections may. One io_context per
// thread, each run by its own thread, keeps connections of different threads from sharing a scheduler (no lock handoffs
// between threads on every completion).
class Server {
 public:
  Server(boost::asio::io_context& io, Router& router, ServerOptions options);
  // `loops` must not be empty (std::invalid_argument).
  Server(std::vector<boost::asio::io_context*> loops, Router& router, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Errors: "HTTP_BIND_FAILED".
  Status listen(const Endpoint& endpoint);
  [[nodiscard]] std::uint16_t port() const;
  // Stops accepting and closes every connection (in-flight responders become no-ops); WebSockets are closed
  // with 1001 (going away), their onClose runs on the loop afterwards.
  void stop();
  // Open connections, HTTP and WebSocket.
  [[nodiscard]] std::size_t connectionCount() const;
  // Responses sent since the start, by status code, ascending; codes never sent are left out. Every answer
  // counts, the server's own (400 malformed, 404 no route, 413, 431, ...) and handlers', and 101 for each
  // WebSocket handshake completed.
  [[nodiscard]] std::vector<std::pair<int, std::uint64_t>> responseCounts() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Percent-decoding (RFC 3986 §2.1); nullopt on malformed escapes.
std::optional<std::string> percentDecode(std::string_view s);
// Minimal JSON string escaping for error messages.
std::string jsonEscape(std::string_view s);

}  // namespace stagecast::http
