#pragma once
// A transport address independent of any socket library, so that pure codecs can carry it.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace stagecast {

struct Endpoint {
  bool v6 = false;
  std::array<std::uint8_t, 16> addr{};  // IPv4 uses the first 4 bytes
  std::uint16_t port = 0;

  static Endpoint v4(std::uint32_t ip, std::uint16_t port);
  // Parses "1.2.3.4" or "::1" (no port). Returns nullopt for anything else.
  static std::optional<Endpoint> fromIp(std::string_view ip, std::uint16_t port);
  // Parses "1.2.3.4:5", "[::1]:5".
  static std::optional<Endpoint> fromString(std::string_view hostPort);

  [[nodiscard]] std::string ip() const;
  [[nodiscard]] std::string toString() const;
  [[nodiscard]] bool isLoopback() const;

  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.v6 == b.v6 && a.port == b.port && a.addr == b.addr;
  }
};

struct EndpointHash {
  std::size_t operator()(const Endpoint& e) const noexcept;
};

}  // namespace stagecast
