#include "stagecast/common/endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace stagecast {

Endpoint Endpoint::v4(std::uint32_t ip, std::uint16_t port) {
  Endpoint e;
  e.addr[0] = static_cast<std::uint8_t>(ip >> 24);
  e.addr[1] = static_cast<std::uint8_t>(ip >> 16);
  e.addr[2] = static_cast<std::uint8_t>(ip >> 8);
  e.addr[3] = static_cast<std::uint8_t>(ip);
  e.port = port;
  return e;
}

std::optional<Endpoint> Endpoint::fromIp(std::string_view ip, std::uint16_t port) {
  std::string s(ip);
  Endpoint e;
  e.port = port;
  if (inet_pton(AF_INET, s.c_str(), e.addr.data()) == 1) return e;
  if (inet_pton(AF_INET6, s.c_str(), e.addr.data()) == 1) {
    e.v6 = true;
    return e;
  }
  return std::nullopt;
}

std::optional<Endpoint> Endpoint::fromString(std::string_view hostPort) {
  std::string_view host;
  std::string_view port;
  if (!hostPort.empty() && hostPort.front() == '[') {
    auto close = hostPort.find(']');
    if (close == std::string_view::npos || close + 1 >= hostPort.size() || hostPort[close + 1] != ':')
      return std::nullopt;
    host = hostPort.substr(1, close - 1);
    port = hostPort.substr(close + 2);
  } else {
    auto colon = hostPort.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = hostPort.substr(0, colon);
    port = hostPort.substr(colon + 1);
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535) return std::nullopt;
  if (host == "localhost") host = "127.0.0.1";
  return fromIp(host, static_cast<std::uint16_t>(p));
}

std::string Endpoint::ip() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof(buf));
  return buf;
}

std::string Endpoint::toString() const {
  return v6 ? "[" + ip() + "]:" + std::to_string(port) : ip() + ":" + std::to_string(port);
}

bool Endpoint::isLoopback() const {
  if (!v6) return addr[0] == 127;
  static const std::array<std::uint8_t, 16> kLoop{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return addr == kLoop;
}

std::size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::memcpy(&a, e.addr.data(), 8);
  std::memcpy(&b, e.addr.data() + 8, 8);
  std::uint64_t h =
      a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL) ^ (std::uint64_t{e.port} << 1) ^ (e.v6 ? 1U : 0U);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return static_cast<std::size_t>(h);
}

}  // namespace stagecast
