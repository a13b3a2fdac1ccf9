#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "stagecast/http/server.hpp"

namespace stagecast::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using HttpResponse = bhttp::response<bhttp::string_body>;

// A synchronous Beast client on its own io_context.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  void send(bhttp::verb method, const std::string& target, const std::string& body = "",
            const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "localhost");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(socket_, req);
  }

  HttpResponse receive(bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    bhttp::read(socket_, buffer_, parser);
    return parser.release();
  }

  HttpResponse request(bhttp::verb method, const std::string& target, const std::string& body = "",
                       const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    send(method, target, body, headers);
    return receive(method == bhttp::verb::head);
  }

  void writeRaw(std::string_view data) { net::write(socket_, net::buffer(data.data(), data.size())); }

  // Reads until the server closes; returns the error that ended the read (eof for an orderly close).
  beast::error_code readToEnd(std::string* data = nullptr) {
    beast::error_code ec;
    std::array<char, 4096> chunk{};
    if (data) *data = beast::buffers_to_string(buffer_.data());
    while (true) {
      auto n = socket_.read_some(net::buffer(chunk), ec);
      if (ec) return ec;
      if (data) data->append(chunk.data(), n);
    }
  }

  void close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket& socket() { return socket_; }
  beast::flat_buffer& buffer() { return buffer_; }

 private:
  net::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

std::string header(const HttpResponse& r, const std::string& name) {
  auto value = r[beast::string_view(name.data(), name.size())];
  return {value.data(), value.size()};
}

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}, int threads = 1) {
    server_ = std::make_unique<Server>(io_, router_, std::move(options));
    auto status = server_->listen(*Endpoint::fromString("127.0.0.1:0"));
    ASSERT_TRUE(status.ok()) << status.error().message;
    ASSERT_NE(server_->port(), 0);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  void TearDown() override {
    for (auto& t : helpers_) t.join();
    if (server_) server_->stop();
    guard_.reset();
    for (auto& t : threads_) t.join();
    server_.reset();
  }

  std::uint16_t port() const { return server_->port(); }

  // A handler that hands its responder to the test, which answers it later (from another thread).
  Handler deferred(std::shared_ptr<std::promise<Responder>> promise) {
    return [promise](Request&, Responder respond) { promise->set_value(std::move(respond)); };
  }

  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_ = net::make_work_guard(io_);
  Router router_;
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
  std::vector<std::thread> helpers_;
};

TEST_F(ServerTest, GetReturnsBodyWithStandardHeaders) {
  router_.add("GET", "/hello",
              [](Request& req, Responder respond) { respond(Response::text(200, "hello " + req.remote.ip())); });
  start();
  Client client(port());
  auto res = client.request(bhttp::verb::get, "/hello");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "hello 127.0.0.1");
  EXPECT_EQ(header(res, "Server"), "stagecast");
  EXPECT_EQ(header(res, "Content-Length"), "15");
  EXPECT_EQ(header(res, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(header(res, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(header(res, "Access-Control-Expose-Headers"), "Location, ETag, Link, Accept-Patch");
  EXPECT_TRUE(res.keep_alive());
}

TEST_F(ServerTest, PostEchoesBodyAndHeaders) {
  router_.add("POST", "/echo/{name}", [](Request& req, Responder respond) {
    auto r = Response::text(201, req.body, req.header("content-type").value_or("none"));
    r.headers.emplace("Location", "/echo/" + req.params["name"] + "/1");
    r.headers.emplace("ETag", "\"v1\"");
    respond(std::move(r));
  });
  start();
  Client client(port());
  auto res = client.request(bhttp::verb::post, "/echo/main", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n",
                            {{"Content-Type", "application/sdp"}});
  EXPECT_EQ(res.result_int(), 201);
  EXPECT_EQ(res.body(), "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n");
  EXPECT_EQ(header(res, "Content-Type"), "application/sdp");
  EXPECT_EQ(header(res, "Location"), "/echo/main/1");
  EXPECT_EQ(header(res, "ETag"), "\"v1\"");
}

TEST_F(ServerTest, HandlerAnswersFromAnotherThread) {
  auto promise = std::make_shared<std::promise<Responder>>();
  router_.add("POST", "/slow", deferred(promise));
  start();
  helpers_.emplace_back([promise] {
    auto respond = promise->get_future().get();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the delay, not a synchronization
    respond(Response::json(200, R"({"late":true})"));
  });
  Client client(port());
  auto res = client.request(bhttp::verb::post, "/slow", "x");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), R"({"late":true})");
  EXPECT_EQ(header(res, "Content-Type"), "application/json");
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  std::vector<std::uint16_t> remotePorts;
  std::mutex m;
  router_.add("GET", "/n", [&](Request& req, Responder respond) {
    {
      std::lock_guard lock(m);
      remotePorts.push_back(req.remote.port);
    }
    respond(Response::text(200, std::to_string(++calls)));
  });
  start();
  Client client(port());
  EXPECT_EQ(client.request(bhttp::verb::get, "/n").body(), "1");
  EXPECT_EQ(client.request(bhttp::verb::get, "/n").body(), "2");
  EXPECT_EQ(server_->connectionCount(), 1U);
  std::lock_guard lock(m);
  ASSERT_EQ(remotePorts.size(), 2U);
  EXPECT_EQ(remotePorts[0], remotePorts[1]);
  EXPECT_EQ(remotePorts[0], client.socket().local_endpoint().port());
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  router_.add("GET", "/p/{id}",
              [](Request& req, Responder respond) { respond(Response::text(200, req.params["id"])); });
  start();
  Client client(port());
  client.writeRaw(
      "GET /p/one HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /p/two HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /p/three HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(client.receive().body(), "one");
  EXPECT_EQ(client.receive().body(), "two");
  EXPECT_EQ(client.receive().body(), "three");
}

// Whatever pieces the socket delivers, the requests parse the same: cut at every byte, or back to back in one
// write; bodies by length and chunked (RFC 9112 §7.1), and a request right behind a body.
TEST_F(ServerTest, RequestsArrivingInPiecesOrBackToBack) {
  router_.add("POST", "/echo/{id}",
              [](Request& req, Responder respond) { respond(Response::text(200, req.params["id"] + ":" + req.body)); });
  start();
  const std::string stream =
      "POST /echo/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "POST /echo/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
      "POST /echo/c HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  Client bytewise(port());
  bytewise.socket().set_option(tcp::no_delay(true));
  for (const char c : stream) bytewise.writeRaw(std::string_view(&c, 1));
  Client together(port());
  together.writeRaw(stream);
  for (Client* client : {&bytewise, &together}) {
    EXPECT_EQ(client->receive().body(), "a:hello");
    EXPECT_EQ(client->receive().body(), "b:abcde");
    EXPECT_EQ(client->receive().body(), "c:");
  }
}

// A client that ends its side in the middle of a request (header or body) gets no answer and is closed; the
// server goes on serving others.
TEST_F(ServerTest, ConnectionEndedMidRequestIsClosedWithoutAnswer) {
  router_.add("POST", "/echo", [](Request& req, Responder respond) { respond(Response::text(200, req.body)); });
  start();
  for (const std::string partial :
       {"POST /echo HTT", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"}) {
    Client cut(port());
    cut.writeRaw(partial);
    cut.socket().shutdown(tcp::socket::shutdown_send);
    std::string data;
    EXPECT_EQ(cut.readToEnd(&data), net::error::eof) << partial;
    EXPECT_EQ(data, "") << partial;
  }
  Client next(port());
  EXPECT_EQ(next.request(bhttp::verb::post, "/echo", "still here").body(), "still here");
}

TEST_F(ServerTest, UnknownPathIs404AndOtherMethodIs405) {
  router_.add("POST", "/whip/{stage}", [](Request&, Responder respond) { respond(Response::text(201, "")); });
  router_.add("DELETE", "/whip/{stage}", [](Request&, Responder respond) { respond(Response::text(200, "")); });
  start();
  Client client(port());
  auto notFound = client.request(bhttp::verb::get, "/nowhere");
  EXPECT_EQ(notFound.result_int(), 404);
  EXPECT_EQ(header(notFound, "Content-Type"), "application/json");
  EXPECT_NE(notFound.body().find(R"({"error":{"code":"NOT_FOUND","message":)"), std::string::npos) << notFound.body();
  EXPECT_EQ(header(notFound, "Access-Control-Allow-Origin"), "*");

  auto notAllowed = client.request(bhttp::verb::get, "/whip/main");
  EXPECT_EQ(notAllowed.result_int(), 405);
  EXPECT_NE(notAllowed.body().find(R"("code":"METHOD_NOT_ALLOWED")"), std::string::npos) << notAllowed.body();
  EXPECT_EQ(header(notAllowed, "Allow"), "POST, DELETE, OPTIONS");
  EXPECT_TRUE(notAllowed.keep_alive());
  // The connection is still usable.
  EXPECT_EQ(client.request(bhttp::verb::post, "/whip/main", "sdp").result_int(), 201);
}

TEST_F(ServerTest, ResponsesAreCountedByStatus) {
  router_.add("GET", "/ok", [](Request&, Responder respond) { respond(Response::text(200, "ok")); });
  router_.add("POST", "/conflict", [](Request&, Responder respond) { respond(Response::error(409, "C", "c")); });
  start();
  EXPECT_TRUE(server_->responseCounts().empty());
  Client client(port());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client.request(bhttp::verb::get, "/ok").result_int(), 200);
  ASSERT_EQ(client.request(bhttp::verb::post, "/conflict").result_int(), 409);
  ASSERT_EQ(client.request(bhttp::verb::get, "/nowhere").result_int(), 404);  // the server's own answer
  ASSERT_EQ(client.request(bhttp::verb::delete_, "/ok").result_int(), 405);   // and this one
  Client malformed(port());
  malformed.writeRaw("GET /ok HTTP/1.1\r\nHost x\r\n\r\n");
  ASSERT_EQ(malformed.receive().result_int(), 400);
  const std::vector<std::pair<int, std::uint64_t>> expected{{200, 3}, {400, 1}, {404, 1}, {405, 1}, {409, 1}};
  EXPECT_EQ(server_->responseCounts(), expected);
}

TEST_F(ServerTest, OptionsPreflight) {
  router_.add("POST", "/whip/{stage}", [](Request&, Responder respond) { respond(Response::text(201, "")); });
  start();
  Client client(port());
  auto res = client.request(bhttp::verb::options, "/whip/main", "",
                            {{"Origin", "https://example.com"},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "authorization, content-type"}});
  EXPECT_EQ(res.result_int(), 204);
  EXPECT_EQ(header(res, "Access-Control-Allow-Methods"), "POST, OPTIONS");
  EXPECT_EQ(header(res, "Allow"), "POST, OPTIONS");
  EXPECT_EQ(header(res, "Access-Control-Allow-Headers"), "authorization, content-type");
  EXPECT_EQ(header(res, "Access-Control-Max-Age"), "86400");
  EXPECT_EQ(header(res, "Accept-Patch"), "application/trickle-ice-sdpfrag");
  EXPECT_EQ(header(res, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(header(res, "Server"), "stagecast");
  EXPECT_TRUE(res.body().empty());

  auto plain = client.request(bhttp::verb::options, "/whip/main");
  EXPECT_EQ(plain.result_int(), 204);
  EXPECT_EQ(header(plain, "Access-Control-Allow-Headers"), "Authorization, Content-Type, If-Match");

  EXPECT_EQ(client.request(bhttp::verb::options, "/unknown").result_int(), 404);
}

TEST_F(ServerTest, HeadIsAnsweredByGetRoute) {
  router_.add("GET", "/doc", [](Request&, Responder respond) { respond(Response::text(200, "twelve bytes")); });
  start();
  Client client(port());
  auto res = client.request(bhttp::verb::head, "/doc");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(header(res, "Content-Length"), "12");
  EXPECT_TRUE(res.body().empty());
  // Nothing extra was sent: the next response on the connection parses cleanly.
  EXPECT_EQ(client.request(bhttp::verb::get, "/doc").body(), "twelve bytes");
}

TEST_F(ServerTest, ThrowingHandlerGives500AndServerKeepsRunning) {
  router_.add("GET", "/boom", [](Request&, Responder) { throw std::runtime_error("kaboom"); });
  router_.add("GET", "/ok", [](Request&, Responder respond) { respond(Response::text(200, "ok")); });
  start();
  Client client(port());
  auto res = client.request(bhttp::verb::get, "/boom");
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_NE(res.body().find(R"("code":"INTERNAL_ERROR")"), std::string::npos);
  EXPECT_EQ(res.body().find("kaboom"), std::string::npos);
  EXPECT_EQ(client.request(bhttp::verb::get, "/ok").body(), "ok");
}

TEST_F(ServerTest, ResponderIsCallableOnlyOnce) {
  router_.add("GET", "/twice", [](Request&, Responder respond) {
    respond(Response::text(200, "first"));
    respond(Response::text(200, "second"));
  });
  start();
  Client client(port());
  EXPECT_EQ(client.request(bhttp::verb::get, "/twice").body(), "first");
  EXPECT_EQ(client.request(bhttp::verb::get, "/twice").body(), "first");
}

TEST_F(ServerTest, OversizedBodyGets413WhileOthersAreServed) {
  router_.add("POST", "/up",
              [](Request& req, Responder respond) { respond(Response::text(200, std::to_string(req.body.size()))); });
  ServerOptions options;
  options.maxBodyBytes = 1024;
  start(options);
  Client other(port());
  EXPECT_EQ(other.request(bhttp::verb::post, "/up", "abc").body(), "3");

  Client big(port());
  auto res = big.request(bhttp::verb::post, "/up", std::string(1024 * 1024, 'x'));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_NE(res.body().find(R"("code":"BODY_TOO_LARGE")"), std::string::npos);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(big.readToEnd(), net::error::eof);

  // Chunked bodies are limited while they stream.
  Client chunked(port());
  std::string chunk(600, 'y');
  chunked.writeRaw("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + chunk + "\r\n258\r\n" +
                   chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.receive().result_int(), 413);

  EXPECT_EQ(other.request(bhttp::verb::post, "/up", std::string(1024, 'z')).body(), "1024");
}

TEST_F(ServerTest, OversizedHeaderGets431) {
  router_.add("GET", "/h", [](Request&, Responder respond) { respond(Response::text(200, "ok")); });
  ServerOptions options;
  options.maxHeaderBytes = 2048;
  start(options);
  Client client(port());
  auto res = client.request(bhttp::verb::get, "/h", "", {{"X-Big", std::string(8192, 'h')}});
  EXPECT_EQ(res.result_int(), 431);
  EXPECT_FALSE(res.keep_alive());
  Client fine(port());
  EXPECT_EQ(fine.request(bhttp::verb::get, "/h", "", {{"X-Small", std::string(512, 'h')}}).result_int(), 200);
}

TEST_F(ServerTest, MalformedRequestGets400AndClose) {
  router_.add("GET", "/ok", [](Request&, Responder respond) { respond(Response::text(200, "ok")); });
  start();
  Client client(port());
  client.writeRaw("GET /ok HTTP/1.1\r\nHost x\r\n\r\n");  // header line without colon
  auto res = client.receive();
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_NE(res.body().find(R"("code":"BAD_REQUEST")"), std::string::npos);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(client.readToEnd(), net::error::eof);

  Client garbage(port());
  garbage.writeRaw("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n");
  std::string data;
  garbage.readToEnd(&data);
  EXPECT_EQ(data.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0U) << data;

  Client next(port());
  EXPECT_EQ(next.request(bhttp::verb::get, "/ok").body(), "ok");
}

TEST_F(ServerTest, ClientGoneBeforeDelayedResponse) {
  auto promise = std::make_shared<std::promise<Responder>>();
  router_.add("POST", "/slow", deferred(promise));
  router_.add("GET", "/ok", [](Request&, Responder respond) { respond(Response::text(200, "ok")); });
  start();
  auto future = promise->get_future();
  {
    Client client(port());
    client.send(bhttp::verb::post, "/slow", "offer");
    future.wait();  // the handler has the request
    client.close();
  }
  // Answer from another thread once the client is gone; the test waits for that thread.
  std::thread late([&future] { future.get()(Response::text(200, std::string(256 * 1024, 'a'))); });
  late.join();
  Client next(port());
  EXPECT_EQ(next.request(bhttp::verb::get, "/ok").body(), "ok");
  EXPECT_EQ(next.request(bhttp::verb::get, "/ok").body(), "ok");
}

TEST_F(ServerTest, StopClosesKeepAliveConnectionsAndDropsLateResponses) {
  auto promise = std::make_shared<std::promise<Responder>>();
  router_.add("GET", "/ok", [](Request&, Responder respond) { respond(Response::text(200, "ok")); });
  router_.add("POST", "/slow", deferred(promise));
  start();
  Client idle(port());
  EXPECT_EQ(idle.request(bhttp::verb::get, "/ok").body(), "ok");
  Client waiting(port());
  waiting.send(bhttp::verb::post, "/slow");
  auto respond = promise->get_future().get();
  EXPECT_EQ(server_->connectionCount(), 2U);

  server_->stop();
  EXPECT_EQ(idle.readToEnd(), net::error::eof);
  EXPECT_EQ(waiting.readToEnd(), net::error::eof);
  respond(Response::text(200, "too late"));  // dropped silently

  beast::error_code ec;
  net::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()), ec);
  EXPECT_TRUE(ec) << "acceptor still open";
}

TEST_F(ServerTest, PercentDecodesPathAndQuery) {
  router_.add("GET", "/files/{name}/info", [](Request& req, Responder respond) {
    std::string out = req.path + "|" + req.params["name"];
    for (const auto& [k, v] : req.query) out += "|" + k + "=" + v;
    respond(Response::text(200, out));
  });
  start();
  Client client(port());
  auto res = client.request(bhttp::verb::get, "/files/my%20file%C3%A9/info?x=1%202&y=a+b&flag&%6B=%3D%26");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "/files/my file\xc3\xa9/info|my file\xc3\xa9|flag=|k==&|x=1 2|y=a b");
  auto bad = client.request(bhttp::verb::get, "/files/%zz/info");
  EXPECT_EQ(bad.result_int(), 400);
  EXPECT_NE(bad.body().find(R"("code":"BAD_REQUEST")"), std::string::npos);
  // A bad target in a well-framed request does not cost the connection.
  EXPECT_EQ(client.request(bhttp::verb::get, "/files/a/info").body(), "/files/a/info|a");
}

TEST_F(ServerTest, ExpectContinue) {
  router_.add("POST", "/up", [](Request& req, Responder respond) { respond(Response::text(200, req.body)); });
  start();
  Client client(port());
  client.writeRaw("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string interim;
  auto n = net::read_until(client.socket(), net::dynamic_buffer(interim), "\r\n\r\n");
  EXPECT_EQ(interim.substr(0, n), "HTTP/1.1 100 Continue\r\n\r\n");
  client.writeRaw("hello");
  EXPECT_EQ(client.receive().body(), "hello");
}

TEST_F(ServerTest, IdleConnectionsTimeOut) {
  ServerOptions options;
  options.idleTimeout = std::chrono::seconds(1);
  start(options);
  Client client(port());
  EXPECT_EQ(client.readToEnd(), net::error::eof);
}

TEST_F(ServerTest, ConnectionLimit) {
  router_.add("GET", "/ok", [](Request&, Responder respond) { respond(Response::text(200, "ok")); });
  ServerOptions options;
  options.maxConnections = 1;
  start(options);
  Client first(port());
  EXPECT_EQ(first.request(bhttp::verb::get, "/ok").body(), "ok");
  Client second(port());
  auto ec = second.readToEnd();
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_EQ(first.request(bhttp::verb::get, "/ok").body(), "ok");
}

TEST_F(ServerTest, ManyConcurrentConnections) {
  std::atomic<int> served{0};
  router_.add("GET", "/c/{i}", [&](Request& req, Responder respond) {
    ++served;
    respond(Response::text(200, req.params["i"]));
  });
  start({}, 2);
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<Client>(port()));
  for (int i = 0; i < kClients; ++i) clients[i]->send(bhttp::verb::get, "/c/" + std::to_string(i));
  int ok = 0;
  for (int i = 0; i < kClients; ++i) {
    auto res = clients[i]->receive();
    if (res.result_int() == 200 && res.body() == std::to_string(i)) ++ok;
  }
  EXPECT_EQ(ok, kClients);
  EXPECT_EQ(served.load(), kClients);
  EXPECT_EQ(server_->connectionCount(), static_cast<std::size_t>(kClients));
}

TEST(ServerListenTest, BindFailureAndIpv6) {
  net::io_context io;
  Router router;
  Server first(io, router, {});
  ASSERT_TRUE(first.listen(*Endpoint::fromString("127.0.0.1:0")).ok());
  Server second(io, router, {});
  auto status = second.listen(*Endpoint::fromString("127.0.0.1:" + std::to_string(first.port())));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, "HTTP_BIND_FAILED");

  router.add("GET", "/v6", [](Request& req, Responder respond) { respond(Response::text(200, req.remote.ip())); });
  Server v6(io, router, {});
  if (!v6.listen(*Endpoint::fromString("[::1]:0")).ok()) GTEST_SKIP() << "no IPv6 loopback";
  std::thread runner([&] { io.run(); });
  {
    net::io_context cio;
    tcp::socket s(cio);
    s.connect(tcp::endpoint(net::ip::make_address("::1"), v6.port()));
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/v6", 11};
    req.set(bhttp::field::host, "[::1]");
    bhttp::write(s, req);
    beast::flat_buffer buffer;
    HttpResponse res;
    bhttp::read(s, buffer, res);
    EXPECT_EQ(res.body(), "::1");
  }
  first.stop();
  second.stop();
  v6.stop();
  runner.join();
}

}  // namespace
}  // namespace stagecast::http
