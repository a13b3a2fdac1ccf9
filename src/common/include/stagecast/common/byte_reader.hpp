#pragma once
// Bounds-checked big-endian reader over network bytes. Never throws: every read returns false on underrun
// and leaves the output untouched. Never overlay structs on network bytes; read them through this.
#include <cstddef>
#include <cstdint>

#include "stagecast/common/bytes.hpp"

namespace stagecast {

class ByteReader {
 public:
  explicit ByteReader(BytesView data) : data_(data) {}

  [[nodiscard]] std::size_t position() const { return pos_; }
  [[nodiscard]] std::size_t remaining() const { return data_.size() - pos_; }
  [[nodiscard]] bool empty() const { return remaining() == 0; }
  [[nodiscard]] BytesView rest() const { return data_.subspan(pos_); }
  [[nodiscard]] BytesView whole() const { return data_; }

  bool readU8(std::uint8_t& out) {
    if (remaining() < 1) return false;
    out = data_[pos_++];
    return true;
  }
  bool readU16(std::uint16_t& out) {
    if (remaining() < 2) return false;
    out = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool readU24(std::uint32_t& out) {
    if (remaining() < 3) return false;
    out = (std::uint32_t{data_[pos_]} << 16) | (std::uint32_t{data_[pos_ + 1]} << 8) | data_[pos_ + 2];
    pos_ += 3;
    return true;
  }
  bool readU32(std::uint32_t& out) {
    if (remaining() < 4) return false;
    out = (std::uint32_t{data_[pos_]} << 24) | (std::uint32_t{data_[pos_ + 1]} << 16) |
          (std::uint32_t{data_[pos_ + 2]} << 8) | data_[pos_ + 3];
    pos_ += 4;
    return true;
  }
  bool readU64(std::uint64_t& out) {
    std::uint32_t hi = 0;
    std::uint32_t lo = 0;
    if (remaining() < 8) return false;
    readU32(hi);
    readU32(lo);
    out = (std::uint64_t{hi} << 32) | lo;
    return true;
  }
  bool readBytes(std::size_t n, BytesView& out) {
    if (remaining() < n) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(std::size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }

 private:
  BytesView data_;
  std::size_t pos_ = 0;
};

}  // namespace stagecast
