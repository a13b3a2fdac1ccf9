// The response head writer, read back with Beast's response parser (the oracle for the wire format).
#include "stagecast/http/response_head.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>

namespace stagecast::http {
namespace {

namespace bhttp = boost::beast::http;

struct Parsed {
  bhttp::response<bhttp::empty_body> message;
  std::string head;
};

Parsed write(int status, const Headers& headers, const ServerOptions& options, const ResponseFraming& framing,
             std::size_t* dropped = nullptr) {
  Parsed out;
  const auto n = appendResponseHead(out.head, status, headers, options, framing);
  if (dropped != nullptr) *dropped = n;
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.skip(true);  // the head alone
  boost::beast::error_code ec;
  const auto used = parser.put(boost::asio::buffer(out.head), ec);
  EXPECT_FALSE(ec) << ec.message() << "\n" << out.head;
  EXPECT_EQ(used, out.head.size());
  EXPECT_TRUE(parser.is_header_done());
  out.message = parser.release();
  return out;
}

std::string field(const Parsed& p, const char* name) { return std::string(p.message[name]); }

std::size_t countOf(const Parsed& p, const char* name) {
  return static_cast<std::size_t>(std::distance(p.message.equal_range(name).first, p.message.equal_range(name).second));
}

TEST(ResponseHeadTest, StatusLineAndDefaults) {
  ResponseFraming framing;
  framing.contentLength = 12;
  const auto p = write(201, {{"Content-Type", "application/sdp"}, {"Location", "/whip/a/b"}}, {}, framing);
  EXPECT_EQ(p.head.rfind("HTTP/1.1 201 Created\r\n", 0), 0U);
  EXPECT_EQ(p.message.result_int(), 201);
  EXPECT_EQ(field(p, "Content-Type"), "application/sdp");
  EXPECT_EQ(field(p, "Location"), "/whip/a/b");
  EXPECT_EQ(field(p, "Server"), "stagecast");
  EXPECT_EQ(field(p, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(countOf(p, "Vary"), 0U);  // "*" does not vary by origin
  EXPECT_EQ(field(p, "Access-Control-Expose-Headers"), "Location, ETag, Link, Accept-Patch");
  EXPECT_EQ(field(p, "Content-Length"), "12");
  EXPECT_EQ(countOf(p, "Connection"), 0U);
  EXPECT_TRUE(p.message.keep_alive());
  EXPECT_EQ(p.head.substr(p.head.size() - 4), "\r\n\r\n");
}

TEST(ResponseHeadTest, HandlerFieldsWinOverDefaultsAndFramingIsTheServers) {
  ServerOptions options;
  options.corsAllowOrigin = "https://app.example";
  options.serverName = "node-a";
  ResponseFraming framing;
  framing.contentLength = 0;
  const auto p = write(200,
                       {{"Server", "custom"},
                        {"Content-Length", "999"},
                        {"Transfer-Encoding", "chunked"},
                        {"connection", "keep-alive"},
                        {"Vary", "Accept"}},
                       options, framing);
  EXPECT_EQ(field(p, "Server"), "custom");
  EXPECT_EQ(field(p, "Content-Length"), "0");
  EXPECT_EQ(countOf(p, "Content-Length"), 1U);
  EXPECT_EQ(countOf(p, "Transfer-Encoding"), 0U);
  EXPECT_EQ(field(p, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(countOf(p, "Vary"), 2U);  // the handler's and Origin
}

TEST(ResponseHeadTest, MalformedFieldsAreDroppedAndCounted) {
  std::size_t dropped = 0;
  const auto p = write(200,
                       {{"Good", "yes"},
                        {"Bad Name", "x"},
                        {"", "x"},
                        {"Colon:", "x"},
                        {"Split", "a\r\nInjected: 1"},
                        {"Nul", std::string("a\0b", 3)}},
                       {}, {}, &dropped);
  EXPECT_EQ(dropped, 5U);
  EXPECT_EQ(field(p, "Good"), "yes");
  EXPECT_EQ(countOf(p, "Injected"), 0U);
  EXPECT_EQ(countOf(p, "Split"), 0U);
}

TEST(ResponseHeadTest, ConnectionFollowsVersionAndKeepAlive) {
  ResponseFraming f;
  f.contentLength = 0;
  f.keepAlive = false;
  auto p = write(400, {}, {}, f);
  EXPECT_EQ(field(p, "Connection"), "close");
  EXPECT_FALSE(p.message.keep_alive());

  f.version = 10;
  f.keepAlive = true;
  p = write(200, {}, {}, f);
  EXPECT_EQ(p.head.rfind("HTTP/1.0 200 OK\r\n", 0), 0U);
  EXPECT_EQ(field(p, "Connection"), "keep-alive");
  EXPECT_TRUE(p.message.keep_alive());

  f.keepAlive = false;
  p = write(200, {}, {}, f);
  EXPECT_EQ(countOf(p, "Connection"), 0U);
  EXPECT_FALSE(p.message.keep_alive());

  f.version = 11;
  f.keepAlive = true;
  p = write(426, {{"Upgrade", "websocket"}}, {}, f);
  EXPECT_EQ(field(p, "Connection"), "Upgrade");
  f.keepAlive = false;
  p = write(426, {{"Upgrade", "websocket"}}, {}, f);
  EXPECT_EQ(field(p, "Connection"), "close, Upgrade");
}

TEST(ResponseHeadTest, NoContentLengthWhenTheStatusForbidsABody) {
  ResponseFraming f;  // contentLength left empty, as for 204 and 304
  const auto p = write(204, {}, {}, f);
  EXPECT_EQ(countOf(p, "Content-Length"), 0U);
  EXPECT_EQ(p.head.rfind("HTTP/1.1 204 No Content\r\n", 0), 0U);
}

TEST(ResponseHeadTest, UnregisteredStatusHasAnEmptyReason) {
  ResponseFraming f;
  f.contentLength = 0;
  const auto p = write(299, {}, {}, f);
  EXPECT_EQ(p.head.rfind("HTTP/1.1 299 \r\n", 0), 0U);
  EXPECT_EQ(p.message.result_int(), 299);
  EXPECT_EQ(reasonPhrase(404), "Not Found");
  EXPECT_EQ(reasonPhrase(413), "Content Too Large");
}

}  // namespace
}  // namespace stagecast::http
