#include <gtest/gtest.h>

#include "stagecast/ingest/rtsp_probe.hpp"

using namespace stagecast;
using namespace stagecast::ingest;

namespace {

CameraAddress camera(std::string ip, std::string path = "/stream") {
  CameraAddress a;
  a.ip = std::move(ip);
  a.path = std::move(path);
  return a;
}

std::string url(const CameraAddress& a) {
  auto r = buildRtspUrl(a);
  return r.ok() ? *r : "error " + r.error().code + " " + r.error().message;
}

// The message of an INVALID_REQUEST, or "" when the address was accepted or failed otherwise.
std::string invalidField(const CameraAddress& a) {
  auto r = buildRtspUrl(a);
  if (r.ok() || r.error().code != "INVALID_REQUEST") return "";
  return r.error().message.substr(0, r.error().message.find(':'));
}

}  // namespace

TEST(RtspUrl, Ipv4) {
  EXPECT_EQ(url(camera("192.168.1.64")), "rtsp://192.168.1.64:554/stream");
  CameraAddress a = camera("10.0.0.2", "/Streaming/Channels/101");
  a.port = 8554;
  EXPECT_EQ(url(a), "rtsp://10.0.0.2:8554/Streaming/Channels/101");
  EXPECT_EQ(url(camera("10.0.0.2", "/")), "rtsp://10.0.0.2:554/");
}

TEST(RtspUrl, Ipv6IsBracketed) {
  EXPECT_EQ(url(camera("::1")), "rtsp://[::1]:554/stream");
  EXPECT_EQ(url(camera("[fe80::1:2]")), "rtsp://[fe80::1:2]:554/stream");
  EXPECT_EQ(url(camera("2001:db8::7")), "rtsp://[2001:db8::7]:554/stream");
}

TEST(RtspUrl, HostNames) {
  EXPECT_EQ(url(camera("cam-1.example.com")), "rtsp://cam-1.example.com:554/stream");
  EXPECT_EQ(url(camera("gate")), "rtsp://gate:554/stream");
}

TEST(RtspUrl, QueryInPathIsKept) {
  EXPECT_EQ(url(camera("10.0.0.2", "/cam/realmonitor?channel=1&subtype=0")),
            "rtsp://10.0.0.2:554/cam/realmonitor?channel=1&subtype=0");
  EXPECT_EQ(url(camera("10.0.0.2", "/live%20view")), "rtsp://10.0.0.2:554/live%20view");
}

TEST(RtspUrl, CredentialsArePercentEncoded) {
  CameraAddress a = camera("10.0.0.2");
  a.username = "admin";
  a.password = "s3cret";
  EXPECT_EQ(url(a), "rtsp://admin:s3cret@10.0.0.2:554/stream");
  a.username = "jo@home";
  a.password = "p@ss:w/rd %?#&+=~._-";
  EXPECT_EQ(url(a), "rtsp://jo%40home:p%40ss%3Aw%2Frd%20%25%3F%23%26%2B%3D~._-@10.0.0.2:554/stream");
  a.password = "";
  EXPECT_EQ(url(a), "rtsp://jo%40home@10.0.0.2:554/stream");
  a.username = "caf\xc3\xa9";  // UTF-8 bytes are encoded one by one
  EXPECT_EQ(url(a), "rtsp://caf%C3%A9@10.0.0.2:554/stream");
}

TEST(RtspUrl, InvalidHost) {
  EXPECT_EQ(invalidField(camera("")), "ip");
  EXPECT_EQ(invalidField(camera("10.0.0.256")), "ip");  // all-numeric: a mistyped IPv4 address
  EXPECT_EQ(invalidField(camera("1.2.3")), "ip");
  EXPECT_EQ(invalidField(camera("cam era")), "ip");
  EXPECT_EQ(invalidField(camera("cam/../x")), "ip");
  EXPECT_EQ(invalidField(camera("user@cam")), "ip");
  EXPECT_EQ(invalidField(camera("cam:554")), "ip");
  EXPECT_EQ(invalidField(camera("-cam")), "ip");
  EXPECT_EQ(invalidField(camera("cam-")), "ip");
  EXPECT_EQ(invalidField(camera("cam..local")), "ip");
  EXPECT_EQ(invalidField(camera("cam.local.")), "ip");
  EXPECT_EQ(invalidField(camera("[10.0.0.1]")), "ip");
  EXPECT_EQ(invalidField(camera("[::1")), "ip");
  EXPECT_EQ(invalidField(camera("fe80::1%eth0")), "ip");
  EXPECT_EQ(invalidField(camera(std::string(64, 'a') + ".local")), "ip");
  EXPECT_EQ(invalidField(camera("cam\n")), "ip");
}

TEST(RtspUrl, InvalidPort) {
  CameraAddress a = camera("10.0.0.2");
  a.port = 0;
  EXPECT_EQ(invalidField(a), "port");
  a.port = 65535;
  EXPECT_EQ(url(a), "rtsp://10.0.0.2:65535/stream");
}

TEST(RtspUrl, InvalidPath) {
  EXPECT_EQ(invalidField(camera("10.0.0.2", "")), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", "stream")), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", "/my stream")), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", "/a\r\nCSeq: 1")), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", std::string("/a\0b", 4))), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", "/a#frag")), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", "/caf\xc3\xa9")), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", "/100%")), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", "/%zz")), "path");
  EXPECT_EQ(invalidField(camera("10.0.0.2", "/" + std::string(1000, 'a'))), "path");
}

TEST(RtspUrl, InvalidCredentials) {
  CameraAddress a = camera("10.0.0.2");
  a.password = "orphan";
  EXPECT_EQ(invalidField(a), "username");
  a.username = "ad:min";
  EXPECT_EQ(invalidField(a), "username");
  a.username = "ad\"min";
  EXPECT_EQ(invalidField(a), "username");
  a.username = "admin\r\n";
  EXPECT_EQ(invalidField(a), "username");
  a.username = "admin";
  a.password = "line\nbreak";
  EXPECT_EQ(invalidField(a), "password");
  a.password = std::string(100, '#');  // 300 characters once encoded
  EXPECT_EQ(invalidField(a), "username/password");
  a.password = std::string(100, 'x');
  EXPECT_EQ(url(a), "rtsp://admin:" + a.password + "@10.0.0.2:554/stream");
}

TEST(RtspUrl, Transport) {
  CameraAddress a = camera("10.0.0.2");
  a.transport = "udp";
  EXPECT_TRUE(buildRtspUrl(a).ok());
  a.transport = "UDP";
  EXPECT_TRUE(buildRtspUrl(a).ok());
  a.transport = "http";
  EXPECT_EQ(invalidField(a), "transport");
  a.transport = "";
  EXPECT_EQ(invalidField(a), "transport");
}

TEST(RtspUrl, RedactedUrlNeverContainsThePassword) {
  CameraAddress a = camera("10.0.0.2");
  a.username = "admin";
  a.password = "hunter2";
  EXPECT_EQ(redactedUrl(a), "rtsp://admin:***@10.0.0.2:554/stream");
  a.password = "";
  EXPECT_EQ(redactedUrl(a), "rtsp://admin@10.0.0.2:554/stream");
  a.username = "";
  EXPECT_EQ(redactedUrl(a), "rtsp://10.0.0.2:554/stream");

  // Invalid addresses are still shown safely.
  CameraAddress bad = camera("bad host\n", "/a b\r\n");
  bad.username = "u";
  bad.password = "hunter2";
  const std::string shown = redactedUrl(bad);
  EXPECT_EQ(shown.find("hunter2"), std::string::npos);
  EXPECT_EQ(shown.find_first_of(" \r\n"), std::string::npos) << shown;
  EXPECT_EQ(shown, "rtsp://u:***@bad%20host%0A:554/a%20b%0D%0A");
}

TEST(RtspUrl, RedactUrlsInText) {
  EXPECT_EQ(redactUrlsInText("opening rtsp://admin:pw@10.0.0.2:554/x failed"),
            "opening rtsp://admin:***@10.0.0.2:554/x failed");
  EXPECT_EQ(redactUrlsInText("a rtsp://u:p@h/x and http://v:q@k:80 end"),
            "a rtsp://u:***@h/x and http://v:***@k:80 end");
  EXPECT_EQ(redactUrlsInText("rtsp://user@host/p"), "rtsp://user@host/p");
  EXPECT_EQ(redactUrlsInText("rtsp://host/p?a=b:c@d"), "rtsp://host/p?a=b:c@d");
  EXPECT_EQ(redactUrlsInText("rtsp://u:p@ss@host/x"), "rtsp://u:***@host/x");  // unencoded '@' in the password
  EXPECT_EQ(redactUrlsInText("no urls here"), "no urls here");
  EXPECT_EQ(redactUrlsInText("trailing ://"), "trailing ://");
  EXPECT_EQ(redactUrlsInText(""), "");
}
