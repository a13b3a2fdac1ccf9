#pragma once
// Synchronous Beast clients for the HTTP server tests, each on its own io_context, talking to 127.0.0.1.
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace stagecast::http::clients {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using HttpResponse = bhttp::response<bhttp::string_body>;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

inline tcp::endpoint loopback(std::uint16_t port) { return {net::ip::make_address("127.0.0.1"), port}; }

inline std::string header(const HttpResponse& r, const std::string& name) {
  auto value = r[beast::string_view(name.data(), name.size())];
  return {value.data(), value.size()};
}

// Headers of a valid WebSocket upgrade request (RFC 6455 §4.1), to send by hand.
inline HeaderList upgradeHeaders() {
  return {{"Upgrade", "websocket"},
          {"Connection", "Upgrade"},
          {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
          {"Sec-WebSocket-Version", "13"}};
}

// A keep-alive HTTP/1.1 client.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port) : socket_(io_) { socket_.connect(loopback(port)); }

  void send(bhttp::verb method, const std::string& target, const std::string& body = "",
            const HeaderList& headers = {}) {
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "localhost");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(socket_, req);
  }

  HttpResponse receive(bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    bhttp::read(socket_, buffer_, parser);
    return parser.release();
  }

  HttpResponse request(bhttp::verb method, const std::string& target, const std::string& body = "",
                       const HeaderList& headers = {}) {
    send(method, target, body, headers);
    return receive(method == bhttp::verb::head);
  }

 private:
  net::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// A WebSocket client. The constructor completes the handshake (and throws when it fails).
class WsClient {
 public:
  // receiveBuffer > 0 shrinks the socket's receive buffer before connecting, so that a client that does not
  // read pushes back on the server quickly.
  explicit WsClient(std::uint16_t port, const std::string& target = "/ws", int receiveBuffer = 0) : ws_(io_) {
    auto& socket = ws_.next_layer();
    socket.open(tcp::v4());
    if (receiveBuffer > 0) socket.set_option(net::socket_base::receive_buffer_size(receiveBuffer));
    socket.connect(loopback(port));
    ws_.handshake(response_, "127.0.0.1:" + std::to_string(port), target);
  }

  void write(const std::string& text) { ws_.write(net::buffer(text)); }

  // The next message; throws on close or error.
  std::string read() {
    beast::flat_buffer buffer;
    ws_.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }

  // Reads until the connection ends; returns the error that ended it (websocket::error::closed after a
  // closing handshake, the peer's code in reason()).
  beast::error_code readToEnd(std::vector<std::string>* messages = nullptr) {
    beast::error_code ec;
    while (true) {
      beast::flat_buffer buffer;
      ws_.read(buffer, ec);
      if (ec) return ec;
      if (messages) messages->push_back(beast::buffers_to_string(buffer.data()));
    }
  }

  std::uint16_t closeCode() const { return ws_.reason().code; }
  const websocket::response_type& handshakeResponse() const { return response_; }
  websocket::stream<tcp::socket>& ws() { return ws_; }

 private:
  net::io_context io_;
  websocket::stream<tcp::socket> ws_;
  websocket::response_type response_;
};

}  // namespace stagecast::http::clients
