#include <gtest/gtest.h>

#include "stagecast/actionlog/action_log.hpp"

namespace stagecast::actionlog {
namespace {

TEST(StripCredentials, KeepsAddressesWithoutCredentials) {
  EXPECT_EQ(stripCredentials("10.0.0.5:554/stream1"), "10.0.0.5:554/stream1");
  EXPECT_EQ(stripCredentials("rtsp://cam.local:554/live/main"), "rtsp://cam.local:554/live/main");
  EXPECT_EQ(stripCredentials("rtsp://[fe80::1]:554/h264"), "rtsp://[fe80::1]:554/h264");
  EXPECT_EQ(stripCredentials(""), "");
}

TEST(StripCredentials, RemovesUserinfo) {
  EXPECT_EQ(stripCredentials("rtsp://admin:s3cret@10.0.0.5:554/stream1"), "rtsp://10.0.0.5:554/stream1");
  EXPECT_EQ(stripCredentials("admin:s3cret@10.0.0.5:554/stream1"), "10.0.0.5:554/stream1");
  EXPECT_EQ(stripCredentials("rtsp://admin@cam.local/live"), "rtsp://cam.local/live");
  EXPECT_EQ(stripCredentials("rtsp://admin:s3cret@[fe80::1]:554/h264"), "rtsp://[fe80::1]:554/h264");
  EXPECT_EQ(stripCredentials("user:pass@host"), "host");
}

TEST(StripCredentials, RemovesMalformedPasswords) {
  // Unescaped '@' and '/' in the password: everything up to the last '@' of the authority goes.
  EXPECT_EQ(stripCredentials("rtsp://admin:p@ss@cam:554/live"), "rtsp://cam:554/live");
  EXPECT_EQ(stripCredentials("rtsp://admin:pa/ss@cam:554/live"), "rtsp://cam:554/live");
}

TEST(StripCredentials, KeepsAtSignsInThePath) {
  EXPECT_EQ(stripCredentials("rtsp://cam:554/live@1"), "rtsp://cam:554/live@1");
  EXPECT_EQ(stripCredentials("rtsp://u:p@cam:554/live@1"), "rtsp://cam:554/live@1");
}

TEST(StripCredentials, MasksPasswordQueryParameters) {
  EXPECT_EQ(stripCredentials("rtsp://cam/cam/realmonitor?channel=1&user=admin&password=s3cret"),
            "rtsp://cam/cam/realmonitor?channel=1&user=admin&password=***");
  EXPECT_EQ(stripCredentials("cam/live?PWD=x;token=y#frag"), "cam/live?PWD=***;token=***#frag");
  // The '?' starts the query even when the password part holds one.
  EXPECT_EQ(stripCredentials("rtsp://u:p@cam/live?pass=z"), "rtsp://cam/live?pass=***");
}

TEST(StripUrlCredentials, CleansEveryUrlInText) {
  EXPECT_EQ(stripUrlCredentials("DESCRIBE rtsp://admin:s3cret@10.0.0.5/a failed; retry rtsp://u:p@b/c?password=q"),
            "DESCRIBE rtsp://10.0.0.5/a failed; retry rtsp://b/c?password=***");
  EXPECT_EQ(stripUrlCredentials("no url here: user@example"), "no url here: user@example");
  EXPECT_EQ(stripUrlCredentials("quoted 'rtsp://a:b@h/p' end"), "quoted 'rtsp://h/p' end");
}

}  // namespace
}  // namespace stagecast::actionlog
