// libFuzzer target for the HTTP/1.1 and WebSocket server, the first code every client's bytes reach. A server
// with a few routes (literal, captured segments, wildcard, an answer from another thread, a body echo, a
// WebSocket echo) runs on 127.0.0.1 for the whole run. Each input is written to a new connection in chunks (the
// first byte picks their size, so requests are split at every offset), followed by the client's end of stream.
// Checked:
// - the server closes the connection after the client's end of stream (no session left waiting);
// - what it sent is a sequence of well-formed HTTP/1.1 responses (HTTP/1.0 to a 1.0 client; parsed by Beast's
//   response parser) up to a 101 switch, none of them 5xx (these routes never fail), each error body in the
//   stable JSON error shape;
// - afterwards it still answers an ordinary request on a new connection, and every connection is released.
#include <sys/socket.h>
#include <sys/time.h>
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <variant>

#include <spdlog/spdlog.h>

#include "stagecast/http/server.hpp"

using namespace stagecast;
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "http_fuzz: %s\n", what);
    std::abort();
  }
}

// The server under test and the thread that answers the asynchronous route, alive for the whole run.
struct Fixture {
  net::io_context loop;
  net::io_context other;  // answers /later from another thread, as handlers that wait on a store do
  http::Router router;
  std::unique_ptr<http::Server> server;
  std::thread loopThread;
  std::thread otherThread;
  std::unique_ptr<net::executor_work_guard<net::io_context::executor_type>> otherWork;

  Fixture() {
    spdlog::set_level(spdlog::level::off);
    router.add("GET", "/hello",
               [](http::Request&, http::Responder respond) { respond(http::Response::text(200, "hello")); });
    router.add("POST", "/echo/{id}", [](http::Request& req, http::Responder respond) {
      respond(http::Response::text(200, req.params["id"] + ":" + req.body));
    });
    router.add("GET", "/files/*", [](http::Request& req, http::Responder respond) {
      respond(http::Response::text(200, req.params["*"]));
    });
    router.add("PUT", "/later", [this](http::Request& req, http::Responder respond) {
      net::post(other, [respond = std::move(respond), size = req.body.size()] {
        respond(http::Response::json(202, "{\"bytes\":" + std::to_string(size) + "}"));
      });
    });
    router.addWebSocket(
        "/ws",
        [](http::Request& req,
           std::shared_ptr<http::WebSocket> ws) -> std::variant<http::Response, http::WebSocketCallbacks> {
          if (req.query.count("refuse") != 0) return http::Response::error(403, "REFUSED", "refused");
          std::weak_ptr<http::WebSocket> weak = ws;
          http::WebSocketCallbacks callbacks;
          callbacks.onMessage = [weak](std::string_view text) {
            if (auto socket = weak.lock()) socket->send(std::string(text));
          };
          callbacks.onClose = [] {};
          return callbacks;
        });
    http::ServerOptions options;
    options.maxBodyBytes = 4096;
    options.maxHeaderBytes = 2048;
    options.idleTimeout = std::chrono::seconds(10);
    options.maxWebSocketMessageBytes = 1024;
    options.webSocketPingInterval = std::chrono::milliseconds(0);
    options.oneThreadPerLoop = true;
    server = std::make_unique<http::Server>(loop, router, options);
    check(server->listen(*Endpoint::fromString("127.0.0.1:0")).ok(), "listen");
    otherWork = std::make_unique<net::executor_work_guard<net::io_context::executor_type>>(other.get_executor());
    loopThread = std::thread([this] { loop.run(); });
    otherThread = std::thread([this] { other.run(); });
  }
};

Fixture& fixture() {
  static Fixture* f = new Fixture();  // never destroyed: the server outlives every input
  return *f;
}

tcp::socket connect(net::io_context& io) {
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), fixture().server->port()));
  // A server that stops answering fails the input instead of hanging the run.
  timeval timeout{10, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return socket;
}

// Reads until the server closes. A reset (the server closed with our bytes unread) also ends the stream.
std::string readAll(tcp::socket& socket) {
  std::string received;
  char chunk[4096];
  while (true) {
    const ssize_t n = ::recv(socket.native_handle(), chunk, sizeof chunk, 0);
    if (n > 0) {
      received.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    check(!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)), "the server did not close the connection");
    return received;
  }
}

// Checks the responses in `bytes`. Responses to HEAD carry no body, which the parser cannot know from the
// response alone, so for inputs that may hold a HEAD request only the first response's head is checked.
void checkResponses(std::string_view bytes, bool mayHoldHead) {
  while (!bytes.empty()) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.eager(true);
    parser.body_limit(1 << 20);
    boost::system::error_code ec;
    std::size_t used = parser.put(net::buffer(bytes.data(), bytes.size()), ec);
    if (mayHoldHead) {
      // Only the first response's head: its body length is not known without the request.
      check(parser.is_header_done(), "a malformed response head");
      check(parser.get().result_int() < 500, "a 5xx answer");
      return;
    }
    if (ec == bhttp::error::need_more && !parser.is_done()) {
      // A body delimited by the end of the stream is not something this server sends.
      check(false, "a truncated response");
    }
    check(!ec, "a malformed response");
    check(parser.is_done(), "an incomplete response");
    const auto& response = parser.get();
    check(response.version() == 11 || response.version() == 10, "a response that is not HTTP/1.x");
    const unsigned status = response.result_int();
    check(status < 500, "a 5xx answer");
    if (status >= 400) {
      const std::string& body = response.body();
      check(body.rfind("{\"error\":{\"code\":\"", 0) == 0, "an error without the JSON error shape");
    }
    if (status == 101) return;  // WebSocket frames follow
    bytes.remove_prefix(used);
  }
}

void expectServing() {
  net::io_context io;
  auto socket = connect(io);
  static constexpr std::string_view probe = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  net::write(socket, net::buffer(probe.data(), probe.size()));
  const std::string answer = readAll(socket);
  check(
      answer.rfind("HTTP/1.1 200 ", 0) == 0 && answer.size() >= 5 && answer.compare(answer.size() - 5, 5, "hello") == 0,
      "the server stopped answering ordinary requests");
  socket.close();
  // Every connection is released once both ends have closed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fixture().server->connectionCount() != 0) {
    check(std::chrono::steady_clock::now() < deadline, "a connection was never released");
    std::this_thread::yield();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // First byte: chunk size 1..127, or the whole input at once.
  const std::size_t chunk = (data[0] & 0x80) != 0 ? size : std::size_t{1} + (data[0] & 0x7f) % 127;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  {
    net::io_context io;
    auto socket = connect(io);
    for (std::size_t at = 0; at < input.size(); at += chunk) {
      boost::system::error_code ec;
      net::write(socket, net::buffer(input.data() + at, std::min(chunk, input.size() - at)), ec);
      if (ec) break;  // the server closed after an error answer; what it sent is checked below
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    const std::string received = readAll(socket);
    checkResponses(received, input.find("HEAD") != std::string_view::npos);
  }
  expectServing();
  return 0;
}
