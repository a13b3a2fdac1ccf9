#include "stagecast/common/byte_reader.hpp"

#include <gtest/gtest.h>

#include "stagecast/common/byte_writer.hpp"

using namespace stagecast;

TEST(ByteReader, ReadsBigEndianFields) {
  const Bytes data{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a};
  ByteReader r(data);
  std::uint8_t a = 0;
  std::uint16_t b = 0;
  std::uint32_t c = 0;
  ASSERT_TRUE(r.readU8(a));
  ASSERT_TRUE(r.readU16(b));
  ASSERT_TRUE(r.readU24(c));
  EXPECT_EQ(a, 0x01);
  EXPECT_EQ(b, 0x0203);
  EXPECT_EQ(c, 0x040506U);
  ASSERT_TRUE(r.readU32(c));
  EXPECT_EQ(c, 0x0708090aU);
  EXPECT_TRUE(r.empty());
}

TEST(ByteReader, UnderrunFailsWithoutConsuming) {
  const Bytes data{0xff, 0xee, 0xdd};
  ByteReader r(data);
  std::uint32_t v = 42;
  EXPECT_FALSE(r.readU32(v));
  EXPECT_EQ(v, 42U);
  EXPECT_EQ(r.position(), 0U);
  std::uint64_t w = 0;
  EXPECT_FALSE(r.readU64(w));
  BytesView view;
  EXPECT_FALSE(r.readBytes(4, view));
  EXPECT_TRUE(r.readBytes(3, view));
  EXPECT_EQ(view.size(), 3U);
  EXPECT_FALSE(r.skip(1));
}

TEST(ByteWriter, WritesAndPatches) {
  ByteWriter w;
  w.writeU16(0);
  w.writeU32(0xdeadbeef);
  w.writeU64(0x0102030405060708ULL);
  w.patchU16(0, 0xabcd);
  const Bytes expected{0xab, 0xcd, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(w.bytes(), expected);
  ByteReader r(w.bytes());
  std::uint16_t a = 0;
  std::uint32_t b = 0;
  std::uint64_t c = 0;
  ASSERT_TRUE(r.readU16(a) && r.readU32(b) && r.readU64(c));
  EXPECT_EQ(c, 0x0102030405060708ULL);
}
