#pragma once
// Source description (RFC 3550 §6.5); only CNAME is typed, other items are skipped.
#include <string>
#include <vector>

#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp {

struct SdesChunk {
  std::uint32_t ssrc = 0;
  std::string cname;
  friend bool operator==(const SdesChunk&, const SdesChunk&) = default;
};

struct Sdes {
  std::vector<SdesChunk> chunks;

  static Result<Sdes> parse(const CommonHeader& h);
  void write(ByteWriter& w) const;
  friend bool operator==(const Sdes&, const Sdes&) = default;
};

}  // namespace stagecast::rtcp
