#pragma once
// Internal helpers shared by the RTCP message parsers (not installed).
#include <cstdint>
#include <string>
#include <utility>

#include "stagecast/common/error.hpp"
#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp::detail {

inline Error malformed(std::string message) { return Error{"RTCP_MALFORMED", std::move(message)}; }

// Fails unless the header carries the expected packet type (and FMT, when fmt >= 0).
inline Status expectType(const CommonHeader& h, std::uint8_t packetType, int fmt, const char* what) {
  if (h.packetType != packetType) {
    return malformed(std::string(what) + ": packet type " + std::to_string(h.packetType) + " is not " +
                     std::to_string(packetType));
  }
  if (fmt >= 0 && h.count != fmt) {
    return malformed(std::string(what) + ": FMT " + std::to_string(h.count) + " is not " + std::to_string(fmt));
  }
  return {};
}

}  // namespace stagecast::rtcp::detail
