#pragma once
// Helpers shared by the RTCP tests.
#include <gtest/gtest.h>

#include "stagecast/rtcp/header.hpp"

namespace stagecast::rtcp::test {

// The single packet in `packet`, via splitCompound().
inline CommonHeader headerOf(const Bytes& packet) {
  auto split = splitCompound(packet);
  EXPECT_TRUE(split.ok()) << (split.ok() ? "" : split.error().message);
  if (!split.ok() || split->size() != 1) return {};
  return split->front();
}

// The same header with its body cut to the first n bytes.
inline CommonHeader truncated(CommonHeader h, std::size_t n) {
  h.body = h.body.first(n);
  return h;
}

template <class T>
Bytes written(const T& msg) {
  ByteWriter w;
  msg.write(w);
  return w.take();
}

}  // namespace stagecast::rtcp::test
