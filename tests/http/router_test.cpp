#include <gtest/gtest.h>

#include "stagecast/http/server.hpp"

namespace stagecast::http {
namespace {

// Each handler marks the request with its name so a test can tell which route matched.
Handler tag(std::string name) {
  return [name = std::move(name)](Request& r, Responder) { r.body = name; };
}

std::string run(const Router& router, const std::string& method, const std::string& path, Request* out = nullptr,
                bool* exists = nullptr) {
  Request r;
  r.method = method;
  r.path = path;
  bool pathExists = false;
  const Handler* h = router.match(r, pathExists);
  if (exists) *exists = pathExists;
  if (h == nullptr) return "";
  (*h)(r, [](Response) {});
  if (out) *out = r;
  return r.body;
}

TEST(RouterTest, CapturesSegments) {
  Router router;
  router.add("PATCH", "/whip/{stage}/{session}", tag("patch"));
  Request r;
  EXPECT_EQ(run(router, "PATCH", "/whip/main/abc123", &r), "patch");
  EXPECT_EQ(r.params.at("stage"), "main");
  EXPECT_EQ(r.params.at("session"), "abc123");
  EXPECT_EQ(run(router, "PATCH", "/whip/main"), "");
  EXPECT_EQ(run(router, "PATCH", "/whip/main/abc/extra"), "");
  EXPECT_EQ(run(router, "PATCH", "/whep/main/abc"), "");
}

TEST(RouterTest, LiteralRoot) {
  Router router;
  router.add("GET", "/", tag("root"));
  router.add("GET", "/health", tag("health"));
  EXPECT_EQ(run(router, "GET", "/"), "root");
  EXPECT_EQ(run(router, "GET", "/health"), "health");
  EXPECT_EQ(run(router, "GET", "/health/"), "");
}

TEST(RouterTest, DetectsOtherMethodOnKnownPath) {
  Router router;
  router.add("POST", "/whip/{stage}", tag("post"));
  bool exists = true;
  EXPECT_EQ(run(router, "GET", "/whip/main", nullptr, &exists), "");
  EXPECT_TRUE(exists);
  EXPECT_EQ(run(router, "GET", "/nope", nullptr, &exists), "");
  EXPECT_FALSE(exists);
  EXPECT_EQ(run(router, "POST", "/whip/main", nullptr, &exists), "post");
  EXPECT_TRUE(exists);
}

TEST(RouterTest, WildcardCapturesRest) {
  Router router;
  router.add("GET", "/static/*", tag("static"));
  Request r;
  EXPECT_EQ(run(router, "GET", "/static/css/site/main.css", &r), "static");
  EXPECT_EQ(r.params.at("*"), "css/site/main.css");
  EXPECT_EQ(run(router, "GET", "/static/", &r), "static");
  EXPECT_EQ(r.params.at("*"), "");
  EXPECT_EQ(run(router, "GET", "/static"), "");
  EXPECT_EQ(run(router, "GET", "/other/x"), "");

  Router all;
  all.add("GET", "/*", tag("all"));
  EXPECT_EQ(run(all, "GET", "/a/b", &r), "all");
  EXPECT_EQ(r.params.at("*"), "a/b");
}

TEST(RouterTest, ExactBeatsCaptureRegardlessOfOrder) {
  for (bool literalFirst : {false, true}) {
    Router router;
    if (literalFirst) router.add("GET", "/stages/list", tag("list"));
    router.add("GET", "/stages/{stage}", tag("capture"));
    router.add("GET", "/stages/*", tag("wild"));
    if (!literalFirst) router.add("GET", "/stages/list", tag("list"));
    Request r;
    EXPECT_EQ(run(router, "GET", "/stages/list", &r), "list");
    EXPECT_TRUE(r.params.empty());
    EXPECT_EQ(run(router, "GET", "/stages/main", &r), "capture");
    EXPECT_EQ(r.params.at("stage"), "main");
    EXPECT_EQ(run(router, "GET", "/stages/main/more", &r), "wild");
    EXPECT_EQ(r.params.at("*"), "main/more");
  }
}

TEST(RouterTest, EarlierSegmentsDominateAndTiesKeepAddOrder) {
  Router router;
  router.add("GET", "/{a}/fixed", tag("late-literal"));
  router.add("GET", "/fixed/{b}", tag("early-literal"));
  router.add("GET", "/x/{first}", tag("first"));
  router.add("GET", "/x/{second}", tag("second"));
  EXPECT_EQ(run(router, "GET", "/fixed/fixed"), "early-literal");
  EXPECT_EQ(run(router, "GET", "/x/y"), "first");
}

TEST(RouterTest, MatchesOnlyTheRequestedMethod) {
  Router router;
  router.add("GET", "/r/{id}", tag("get"));
  router.add("DELETE", "/r/special", tag("delete"));
  // The literal DELETE route does not shadow the GET capture for GET requests.
  EXPECT_EQ(run(router, "GET", "/r/special"), "get");
  EXPECT_EQ(run(router, "DELETE", "/r/special"), "delete");
  bool exists = false;
  EXPECT_EQ(run(router, "DELETE", "/r/other", nullptr, &exists), "");
  EXPECT_TRUE(exists);
}

// Literal routes are found by their exact path; the outcome is the one of the full scan in every case.
TEST(RouterTest, LiteralRoutesFoundByPathKeepScanOutcomes) {
  Router router;
  router.add("POST", "/api/viewer/heartbeat", tag("heartbeat"));
  router.add("POST", "/api/viewer/heartbeat", tag("second-heartbeat"));  // a tie: the first added wins
  router.add("GET", "/api/viewer/{what}", tag("capture"));
  router.add("GET", "/api/*", tag("wild"));
  Request r;
  r.params["stale"] = "x";
  EXPECT_EQ(run(router, "POST", "/api/viewer/heartbeat", &r), "heartbeat");
  EXPECT_TRUE(r.params.empty());
  // Another method on the literal path falls through to the routes that take that method.
  EXPECT_EQ(run(router, "GET", "/api/viewer/heartbeat", &r), "capture");
  EXPECT_EQ(r.params.at("what"), "heartbeat");
  bool exists = false;
  EXPECT_EQ(run(router, "DELETE", "/api/viewer/heartbeat", nullptr, &exists), "");
  EXPECT_TRUE(exists);
  // A trailing slash or an empty segment is another path.
  EXPECT_EQ(run(router, "POST", "/api/viewer/heartbeat/", nullptr, &exists), "");
  EXPECT_TRUE(exists);  // GET /api/* matches it
  EXPECT_EQ(run(router, "POST", "/api//viewer/heartbeat", nullptr, &exists), "");
}

TEST(RouterTest, MethodsForPath) {
  Router router;
  router.add("POST", "/whip/{stage}", tag("a"));
  router.add("GET", "/whip/{stage}", tag("b"));
  router.add("POST", "/whip/main", tag("c"));
  router.add("PATCH", "/whip/{stage}/{session}", tag("d"));
  EXPECT_EQ(router.methodsFor("/whip/main"), (std::vector<std::string>{"POST", "GET"}));
  EXPECT_EQ(router.methodsFor("/whip/main/s"), (std::vector<std::string>{"PATCH"}));
  EXPECT_TRUE(router.methodsFor("/nothing").empty());
}

TEST(RouterTest, WebSocketRoutes) {
  Router router;
  auto named = [](std::string name) -> WebSocketHandler {
    return
        [name = std::move(name)](Request& r, std::shared_ptr<WebSocket>) -> std::variant<Response, WebSocketCallbacks> {
          return Response::text(200, name + ":" + r.params["room"]);
        };
  };
  router.addWebSocket("/ws/{room}", named("capture"));
  router.addWebSocket("/ws/lobby", named("literal"));
  router.add("POST", "/ws/{room}", tag("post"));
  auto call = [&](const std::string& path) -> std::string {
    Request r;
    r.method = "GET";
    r.path = path;
    const WebSocketHandler* h = router.matchWebSocket(r);
    if (h == nullptr) return "";
    return std::get<Response>((*h)(r, nullptr)).body;
  };
  EXPECT_EQ(call("/ws/main"), "capture:main");
  EXPECT_EQ(call("/ws/lobby"), "literal:");  // the more specific route wins
  EXPECT_EQ(call("/ws"), "");
  EXPECT_EQ(call("/other"), "");

  // A WebSocket path is known to the HTTP side: GET is not an HTTP route (→ 426 in the server), other methods
  // get 405 with GET in Allow.
  bool exists = false;
  EXPECT_EQ(run(router, "GET", "/ws/main", nullptr, &exists), "");
  EXPECT_TRUE(exists);
  EXPECT_EQ(run(router, "PUT", "/ws/lobby", nullptr, &exists), "");
  EXPECT_TRUE(exists);
  EXPECT_EQ(run(router, "POST", "/ws/main"), "post");
  EXPECT_EQ(router.methodsFor("/ws/main"), (std::vector<std::string>{"POST", "GET"}));
  EXPECT_EQ(router.methodsFor("/ws/lobby"), (std::vector<std::string>{"POST", "GET"}));
  EXPECT_TRUE(router.methodsFor("/ws/a/b").empty());
}

TEST(HttpUtilTest, PercentDecode) {
  EXPECT_EQ(percentDecode("a%20b%2Fc%2f"), "a b/c/");
  EXPECT_EQ(percentDecode("plain+text"), "plain+text");
  EXPECT_EQ(percentDecode("%e2%9c%93"), "\xe2\x9c\x93");
  EXPECT_EQ(percentDecode(""), "");
  EXPECT_FALSE(percentDecode("%"));
  EXPECT_FALSE(percentDecode("%2"));
  EXPECT_FALSE(percentDecode("abc%g0"));
  EXPECT_FALSE(percentDecode("abc%0"));
}

TEST(HttpUtilTest, JsonEscape) {
  EXPECT_EQ(jsonEscape("plain"), "plain");
  EXPECT_EQ(jsonEscape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(jsonEscape("l1\nl2\t\r"), "l1\\nl2\\t\\r");
  EXPECT_EQ(jsonEscape(std::string_view("\x01\x1f", 2)), "\\u0001\\u001f");
  EXPECT_EQ(jsonEscape("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(HttpUtilTest, HeadersAreCaseInsensitive) {
  Request r;
  r.headers.emplace("Content-Type", "application/sdp");
  EXPECT_EQ(r.header("content-type"), "application/sdp");
  EXPECT_EQ(r.header("CONTENT-TYPE"), "application/sdp");
  EXPECT_FALSE(r.header("If-Match"));
  CaseInsensitiveLess less;
  EXPECT_FALSE(less("ETag", "etag"));
  EXPECT_FALSE(less("etag", "ETag"));
  EXPECT_TRUE(less("Allow", "etag"));
}

TEST(HttpUtilTest, ResponseHelpers) {
  auto e = Response::error(404, "NOT_FOUND", "no \"route\"");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.body, R"({"error":{"code":"NOT_FOUND","message":"no \"route\""}})");
  EXPECT_EQ(e.headers.find("content-type")->second, "application/json");
  auto t = Response::text(201, "hi");
  EXPECT_EQ(t.headers.find("Content-Type")->second, "text/plain; charset=utf-8");
  EXPECT_EQ(Response::json(200, "{}").headers.find("Content-Type")->second, "application/json");
}

}  // namespace
}  // namespace stagecast::http
