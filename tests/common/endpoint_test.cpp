#include "stagecast/common/endpoint.hpp"

#include <gtest/gtest.h>

using namespace stagecast;

TEST(Endpoint, ParsesV4AndV6) {
  auto a = Endpoint::fromString("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->v6);
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->toString(), "127.0.0.1:8080");
  EXPECT_TRUE(a->isLoopback());
  auto b = Endpoint::fromString("[::1]:9");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->v6);
  EXPECT_EQ(b->toString(), "[::1]:9");
  EXPECT_TRUE(b->isLoopback());
  EXPECT_EQ(Endpoint::fromString("localhost:1")->ip(), "127.0.0.1");
}

TEST(Endpoint, RejectsGarbage) {
  EXPECT_FALSE(Endpoint::fromString("127.0.0.1"));
  EXPECT_FALSE(Endpoint::fromString("127.0.0.1:99999"));
  EXPECT_FALSE(Endpoint::fromString("300.0.0.1:1"));
  EXPECT_FALSE(Endpoint::fromString("[::1:1"));
  EXPECT_FALSE(Endpoint::fromString("a.b:1x"));
}

TEST(Endpoint, EqualityAndHash) {
  auto a = *Endpoint::fromString("10.0.0.1:5");
  auto b = Endpoint::v4(0x0a000001, 5);
  EXPECT_EQ(a, b);
  EXPECT_EQ(EndpointHash{}(a), EndpointHash{}(b));
  b.port = 6;
  EXPECT_FALSE(a == b);
}
