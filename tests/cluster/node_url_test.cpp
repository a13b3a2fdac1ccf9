// Node URLs announced through the store: only "http://host:port" is accepted, anything else is refused.
#include <gtest/gtest.h>

#include "stagecast/cluster/channel_pulls.hpp"

namespace stagecast::cluster {
namespace {

TEST(NodeUrl, HostAndPortAreTakenFromAnHttpUrl) {
  auto a = parseNodeUrl("http://10.0.0.5:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "10.0.0.5");
  EXPECT_EQ(a->second, 8080);
  auto b = parseNodeUrl("http://127.0.0.1:65535/");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->second, 65535);
  auto c = parseNodeUrl("http://[::1]:9000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first, "::1");
  EXPECT_EQ(c->second, 9000);
}

TEST(NodeUrl, AnythingElseIsRefused) {
  for (const char* bad : {"", "http://", "https://10.0.0.5:8080", "10.0.0.5:8080", "http://10.0.0.5",
                          "http://10.0.0.5:0", "http://10.0.0.5:65536", "http://10.0.0.5:80x", "http://:8080",
                          "http://[::1]9000", "http://a/b:8080", "http://user@host:8080", "http://[::1:80"}) {
    EXPECT_FALSE(parseNodeUrl(bad)) << bad;
  }
}

}  // namespace
}  // namespace stagecast::cluster
