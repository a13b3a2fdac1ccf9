#pragma once
// Source description (RFC 3550 §6.5); only CNAME is typed, other items are skipped.
#include <string>
#include <vector>

#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp {

struct SdesChunk {
  std::uint32_t ssrc = 0;
  std::string cname;
};

struct Sdes {
  std::vector<SdesChunk> chunks;

  static Result<Sdes> parse(const CommonHeader& h);
  void write(ByteWriter& w) const;
};

}  // namespace stagecast::rtcp
