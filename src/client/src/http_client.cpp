#include "stagecast/client/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include "stagecast/common/text.hpp"

namespace stagecast::client {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// One request on one connection. Every step is asynchronous so that tcp_stream's expiry bounds the whole
// exchange; the caller's thread runs a private io_context until it finishes.
struct Exchange {
  asio::io_context io{1};
  beast::tcp_stream stream{io};
  tcp::resolver resolver{io};
  bhttp::request<bhttp::string_body> req;
  bhttp::response<bhttp::string_body> res;
  beast::flat_buffer buffer;
  std::optional<Error> error;
  bool done = false;

  void fail(const beast::error_code& ec, const char* what) {
    if (ec == beast::error::timeout) {
      error = Error("HTTP_TIMEOUT", std::string(what) + " timed out");
    } else {
      error = Error(std::string(what) == "connect" ? "HTTP_CONNECT_FAILED" : "HTTP_IO_FAILED",
                    std::string(what) + ": " + ec.message());
    }
  }
};

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

std::string HttpResponse::errorCode() const {
  // Tolerant scan for "code":"VALUE" (the server's error bodies are flat and machine-written).
  const std::string key = "\"code\"";
  auto p = body.find(key);
  if (p == std::string::npos) return {};
  p = body.find('"', body.find(':', p + key.size()));
  if (p == std::string::npos) return {};
  auto e = body.find('"', p + 1);
  if (e == std::string::npos) return {};
  return body.substr(p + 1, e - p - 1);
}

HttpClient::HttpClient(std::string host, std::uint16_t port, Duration timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

Result<HttpResponse> HttpClient::send(const HttpRequest& request) const {
  Exchange x;
  x.req.version(11);
  x.req.method_string(request.method);
  x.req.target(request.target);
  x.req.set(bhttp::field::host, host_ + ":" + std::to_string(port_));
  x.req.set(bhttp::field::user_agent, "stagecast-client");
  x.req.set(bhttp::field::connection, "close");
  for (const auto& [k, v] : request.headers) x.req.set(k, v);
  x.req.body() = request.body;
  if (!request.body.empty() || request.method == "POST" || request.method == "PATCH") x.req.prepare_payload();

  x.stream.expires_after(timeout_);
  x.resolver.async_resolve(host_, std::to_string(port_), [&x](beast::error_code ec, tcp::resolver::results_type r) {
    if (ec) return x.fail(ec, "connect");
    x.stream.async_connect(r, [&x](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return x.fail(ec, "connect");
      bhttp::async_write(x.stream, x.req, [&x](beast::error_code ec, std::size_t) {
        if (ec) return x.fail(ec, "write");
        bhttp::async_read(x.stream, x.buffer, x.res, [&x](beast::error_code ec, std::size_t) {
          if (ec) return x.fail(ec, "read");
          x.done = true;
          beast::error_code ignored;
          x.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        });
      });
    });
  });
  // The stream's own expiry normally ends the exchange; run_for is a backstop (e.g. a hung resolver).
  x.io.run_for(timeout_ + milliseconds(500));
  if (!x.done && !x.error) x.error = Error("HTTP_TIMEOUT", "request timed out");
  if (x.error) return *x.error;

  HttpResponse out;
  out.status = static_cast<int>(x.res.result_int());
  for (const auto& f : x.res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(x.res.body());
  return out;
}

Result<HttpResponse> HttpClient::get(const std::string& target) const { return send({"GET", target, {}, {}}); }

Result<HttpResponse> HttpClient::post(const std::string& target, std::string body, const std::string& contentType,
                                      std::vector<std::pair<std::string, std::string>> headers) const {
  headers.emplace_back("Content-Type", contentType);
  return send({"POST", target, std::move(body), std::move(headers)});
}

Result<HttpResponse> HttpClient::patch(const std::string& target, std::string body, const std::string& contentType,
                                       std::vector<std::pair<std::string, std::string>> headers) const {
  headers.emplace_back("Content-Type", contentType);
  return send({"PATCH", target, std::move(body), std::move(headers)});
}

Result<HttpResponse> HttpClient::del(const std::string& target,
                                     std::vector<std::pair<std::string, std::string>> headers) const {
  return send({"DELETE", target, {}, std::move(headers)});
}

}  // namespace stagecast::client
