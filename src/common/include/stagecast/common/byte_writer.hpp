#pragma once
// Big-endian writer that appends to an owned buffer.
#include <cstddef>
#include <cstdint>

#include "stagecast/common/bytes.hpp"

namespace stagecast {

class ByteWriter {
 public:
  ByteWriter() = default;
  explicit ByteWriter(std::size_t reserve) { buf_.reserve(reserve); }

  void writeU8(std::uint8_t v) { buf_.push_back(v); }
  void writeU16(std::uint16_t v) {
    buf_.push_back(static_cast<std::uint8_t>(v >> 8));
    buf_.push_back(static_cast<std::uint8_t>(v));
  }
  void writeU24(std::uint32_t v) {
    buf_.push_back(static_cast<std::uint8_t>(v >> 16));
    buf_.push_back(static_cast<std::uint8_t>(v >> 8));
    buf_.push_back(static_cast<std::uint8_t>(v));
  }
  void writeU32(std::uint32_t v) {
    writeU16(static_cast<std::uint16_t>(v >> 16));
    writeU16(static_cast<std::uint16_t>(v));
  }
  void writeU64(std::uint64_t v) {
    writeU32(static_cast<std::uint32_t>(v >> 32));
    writeU32(static_cast<std::uint32_t>(v));
  }
  void writeBytes(BytesView b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  void writeZeros(std::size_t n) { buf_.insert(buf_.end(), n, 0); }

  // Overwrites an already written field (lengths known only after the body is written).
  void patchU16(std::size_t pos, std::uint16_t v) {
    buf_.at(pos) = static_cast<std::uint8_t>(v >> 8);
    buf_.at(pos + 1) = static_cast<std::uint8_t>(v);
  }
  void patchU32(std::size_t pos, std::uint32_t v) {
    patchU16(pos, static_cast<std::uint16_t>(v >> 16));
    patchU16(pos + 2, static_cast<std::uint16_t>(v));
  }

  [[nodiscard]] std::size_t size() const { return buf_.size(); }
  [[nodiscard]] const Bytes& bytes() const { return buf_; }
  Bytes& mutableBytes() { return buf_; }
  Bytes take() { return std::move(buf_); }

 private:
  Bytes buf_;
};

}  // namespace stagecast
