#pragma once
// A small blocking HTTP/1.1 client (Boost.Beast) for WHIP/WHEP signalling in tests, benchmarks and probes.
// One connection per request; every request is bounded by a timeout. Thread-safe (no shared state).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stagecast/common/clock.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::client {

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Content-Type", "application/sdp"}
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Case-insensitive lookup (RFC 9110 §5.1); the first field with that name.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
  // The "code" of a JSON error body {"error":{"code":"...","message":"..."}}; empty when absent.
  [[nodiscard]] std::string errorCode() const;
};

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port, Duration timeout = seconds(5));

  // Errors: "HTTP_CONNECT_FAILED", "HTTP_TIMEOUT", "HTTP_IO_FAILED". Any HTTP status is a successful result.
  Result<HttpResponse> send(const HttpRequest& request) const;

  Result<HttpResponse> get(const std::string& target) const;
  Result<HttpResponse> post(const std::string& target, std::string body, const std::string& contentType,
                            std::vector<std::pair<std::string, std::string>> headers = {}) const;
  Result<HttpResponse> patch(const std::string& target, std::string body, const std::string& contentType,
                             std::vector<std::pair<std::string, std::string>> headers = {}) const;
  Result<HttpResponse> del(const std::string& target,
                           std::vector<std::pair<std::string, std::string>> headers = {}) const;

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  std::string host_;
  std::uint16_t port_;
  Duration timeout_;
};

}  // namespace stagecast::client
