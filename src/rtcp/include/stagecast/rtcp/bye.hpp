#pragma once
// Goodbye (RFC 3550 §6.6).
#include <string>
#include <vector>

#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp {

struct Bye {
  std::vector<std::uint32_t> ssrcs;
  std::string reason;

  static Result<Bye> parse(const CommonHeader& h);
  void write(ByteWriter& w) const;
  friend bool operator==(const Bye&, const Bye&) = default;
};

}  // namespace stagecast::rtcp
