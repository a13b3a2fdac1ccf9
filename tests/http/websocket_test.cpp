#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stagecast/http/server.hpp"
#include "test_clients.hpp"

namespace stagecast::http {
namespace {

using namespace clients;  // NOLINT(google-build-using-namespace)
using Decision = std::variant<Response, WebSocketCallbacks>;
using namespace std::chrono_literals;

// Bounds waits on the server so that a broken test fails instead of hanging.
constexpr auto kPatience = 10s;

template <class T>
bool ready(std::future<T>& f) {
  return f.wait_for(kPatience) == std::future_status::ready;
}

class WebSocketTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}, int threads = 2) {
    server_ = std::make_unique<Server>(io_, router_, std::move(options));
    auto status = server_->listen(*Endpoint::fromString("127.0.0.1:0"));
    ASSERT_TRUE(status.ok()) << status.error().message;
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  // Stops the server and waits until the loop has run out of work.
  void shutdown() {
    if (server_) server_->stop();
    guard_.reset();
    for (auto& t : threads_) t.join();
    threads_.clear();
    server_.reset();
  }

  void TearDown() override { shutdown(); }

  std::uint16_t port() const { return server_->port(); }

  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_ = net::make_work_guard(io_);
  Router router_;
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
};

// Accepts every upgrade and hands the socket to the test.
struct Accepted {
  std::promise<std::shared_ptr<WebSocket>> socket;
  std::promise<void> closed;
};

WebSocketHandler acceptInto(std::shared_ptr<Accepted> accepted) {
  return [accepted](Request&, std::shared_ptr<WebSocket> ws) -> Decision {
    accepted->socket.set_value(std::move(ws));
    return WebSocketCallbacks{nullptr, [accepted] { accepted->closed.set_value(); }};
  };
}

TEST_F(WebSocketTest, AcceptAndEcho) {
  std::promise<Request> seen;
  router_.addWebSocket("/ws/{room}", [&seen](Request& req, std::shared_ptr<WebSocket> ws) -> Decision {
    seen.set_value(req);
    return WebSocketCallbacks{[ws](std::string_view text) { ws->send("echo:" + std::string(text)); }, nullptr};
  });
  start();
  WsClient client(port(), "/ws/main?type=broadcaster");
  EXPECT_EQ(client.handshakeResponse().result_int(), 101);
  EXPECT_EQ(header(client.handshakeResponse(), "Server"), "stagecast");
  EXPECT_EQ(header(client.handshakeResponse(), "Sec-WebSocket-Extensions"), "");  // no permessage-deflate

  client.write("hello");
  EXPECT_EQ(client.read(), "echo:hello");
  // The handshake counts as a 101 response (it completed before the first message was read).
  EXPECT_EQ(server_->responseCounts(), (std::vector<std::pair<int, std::uint64_t>>{{101, 1}}));
  client.write("");
  EXPECT_EQ(client.read(), "echo:");
  const std::string big(60 * 1024, 'x');
  client.write(big);
  EXPECT_EQ(client.read(), "echo:" + big);
  client.write("caf\xc3\xa9");
  EXPECT_EQ(client.read(), "echo:caf\xc3\xa9");

  auto future = seen.get_future();
  ASSERT_TRUE(ready(future));
  const auto req = future.get();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/ws/main");
  EXPECT_EQ(req.params.at("room"), "main");
  EXPECT_EQ(req.query.at("type"), "broadcaster");
  EXPECT_EQ(req.header("upgrade").value_or(""), "websocket");
  EXPECT_EQ(req.remote.ip(), "127.0.0.1");
  EXPECT_EQ(req.remote.port, client.ws().next_layer().local_endpoint().port());
  EXPECT_EQ(server_->connectionCount(), 1U);

  client.ws().close(websocket::close_code::normal);
}

TEST_F(WebSocketTest, RejectedUpgradeGetsTheHttpResponse) {
  std::atomic<int> accepted{0};
  router_.addWebSocket("/ws", [&](Request& req, std::shared_ptr<WebSocket> ws) -> Decision {
    if (req.query.count("key") == 0 || req.query.at("key") != "secret") {
      ws->send("never delivered");  // the handle of a refused upgrade is inert
      return Response::error(401, "UNAUTHORIZED", "missing or wrong API key");
    }
    ++accepted;
    return WebSocketCallbacks{};
  });
  router_.add("GET", "/ok", [](Request&, Responder respond) { respond(Response::text(200, "ok")); });
  start();

  HttpClient http(port());
  auto res = http.request(bhttp::verb::get, "/ws?key=wrong", "", upgradeHeaders());
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_EQ(res.body(), R"({"error":{"code":"UNAUTHORIZED","message":"missing or wrong API key"}})");
  EXPECT_EQ(header(res, "Content-Type"), "application/json");
  EXPECT_EQ(header(res, "Upgrade"), "");
  EXPECT_EQ(header(res, "Sec-WebSocket-Accept"), "");
  EXPECT_TRUE(res.keep_alive());
  // The connection stays HTTP.
  EXPECT_EQ(http.request(bhttp::verb::get, "/ok").body(), "ok");

  net::io_context io;
  websocket::stream<tcp::socket> ws(io);
  ws.next_layer().connect(loopback(port()));
  websocket::response_type declined;
  beast::error_code ec;
  ws.handshake(declined, "127.0.0.1", "/ws", ec);
  EXPECT_EQ(ec, websocket::error::upgrade_declined) << ec.message();

  WsClient client(port(), "/ws?key=secret");
  EXPECT_EQ(accepted.load(), 1);
}

TEST_F(WebSocketTest, PlainRequestsOnAWebSocketPath) {
  std::atomic<int> calls{0};
  router_.addWebSocket("/ws", [&](Request&, std::shared_ptr<WebSocket>) -> Decision {
    ++calls;
    return WebSocketCallbacks{};
  });
  router_.add("GET", "/page", [](Request&, Responder respond) { respond(Response::text(200, "page")); });
  start();
  HttpClient http(port());

  auto plain = http.request(bhttp::verb::get, "/ws?type=broadcaster");
  EXPECT_EQ(plain.result_int(), 426);
  EXPECT_NE(plain.body().find(R"("code":"UPGRADE_REQUIRED")"), std::string::npos) << plain.body();
  EXPECT_EQ(header(plain, "Upgrade"), "websocket");
  EXPECT_EQ(header(plain, "Connection"), "Upgrade");
  EXPECT_TRUE(plain.keep_alive());

  auto head = http.request(bhttp::verb::head, "/ws");
  EXPECT_EQ(head.result_int(), 426);
  EXPECT_TRUE(head.body().empty());

  auto post = http.request(bhttp::verb::post, "/ws", "x", upgradeHeaders());
  EXPECT_EQ(post.result_int(), 405);
  EXPECT_EQ(header(post, "Allow"), "GET, HEAD, OPTIONS");

  EXPECT_EQ(http.request(bhttp::verb::options, "/ws").result_int(), 204);

  auto headers = upgradeHeaders();
  headers[3].second = "8";
  auto version = http.request(bhttp::verb::get, "/ws", "", headers);
  EXPECT_EQ(version.result_int(), 426);
  EXPECT_EQ(header(version, "Sec-WebSocket-Version"), "13");

  headers = upgradeHeaders();
  headers.erase(headers.begin() + 2);  // no Sec-WebSocket-Key
  auto noKey = http.request(bhttp::verb::get, "/ws", "", headers);
  EXPECT_EQ(noKey.result_int(), 400);
  EXPECT_NE(noKey.body().find(R"("code":"BAD_REQUEST")"), std::string::npos);

  // An upgrade request where only an HTTP route exists is an ordinary request.
  auto page = http.request(bhttp::verb::get, "/page", "", upgradeHeaders());
  EXPECT_EQ(page.result_int(), 200);
  EXPECT_EQ(page.body(), "page");
  EXPECT_EQ(http.request(bhttp::verb::get, "/nowhere", "", upgradeHeaders()).result_int(), 404);

  EXPECT_EQ(calls.load(), 0);
}

TEST_F(WebSocketTest, SendsFromOtherThreadsArriveInOrder) {
  auto accepted = std::make_shared<Accepted>();
  router_.addWebSocket("/ws", acceptInto(accepted));
  start();
  WsClient client(port());
  auto future = accepted->socket.get_future();
  ASSERT_TRUE(ready(future));
  auto ws = future.get();

  constexpr int kPerThread = 1000;
  std::vector<std::thread> producers;
  for (const char* name : {"a", "b"}) {
    producers.emplace_back([ws, name] {
      for (int i = 0; i < kPerThread; ++i) ws->send(std::string(name) + std::to_string(i));
    });
  }
  std::map<char, int> next{{'a', 0}, {'b', 0}};
  int outOfOrder = 0;
  for (int i = 0; i < 2 * kPerThread; ++i) {
    auto message = client.read();
    auto& expected = next[message.at(0)];
    if (message.substr(1) != std::to_string(expected)) ++outOfOrder;
    ++expected;
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(outOfOrder, 0);
  EXPECT_EQ(next['a'], kPerThread);
  EXPECT_EQ(next['b'], kPerThread);
}

TEST_F(WebSocketTest, OnCloseWhenTheClientCloses) {
  auto accepted = std::make_shared<Accepted>();
  router_.addWebSocket("/ws", acceptInto(accepted));
  start();
  auto socketFuture = accepted->socket.get_future();
  auto closedFuture = accepted->closed.get_future();
  {
    WsClient client(port());
    client.ws().close(websocket::close_code::normal);
  }
  ASSERT_TRUE(ready(closedFuture));
  auto ws = socketFuture.get();
  ws->send("nobody listens");  // no-op
  ws->close(1000, "again");    // no-op
}

TEST_F(WebSocketTest, StopClosesWebSocketsWithGoingAway) {
  std::atomic<int> closed{0};
  std::promise<void> allClosed;
  std::vector<std::shared_ptr<WebSocket>> sockets;
  std::mutex m;
  router_.addWebSocket("/ws", [&](Request&, std::shared_ptr<WebSocket> ws) -> Decision {
    {
      std::lock_guard lock(m);
      sockets.push_back(ws);
    }
    return WebSocketCallbacks{nullptr, [&] {
                                if (++closed == 2) allClosed.set_value();
                              }};
  });
  start();
  WsClient a(port());
  WsClient b(port());
  EXPECT_EQ(server_->connectionCount(), 2U);
  server_->stop();
  EXPECT_EQ(a.readToEnd(), websocket::error::closed);
  EXPECT_EQ(a.closeCode(), websocket::close_code::going_away);
  EXPECT_EQ(b.readToEnd(), websocket::error::closed);
  EXPECT_EQ(b.closeCode(), websocket::close_code::going_away);
  auto future = allClosed.get_future();
  ASSERT_TRUE(ready(future));
  std::lock_guard lock(m);
  for (auto& ws : sockets) ws->send("after stop");  // no-op
}

TEST_F(WebSocketTest, OversizedMessageCloses1009) {
  std::vector<std::size_t> sizes;
  std::mutex m;
  auto closed = std::make_shared<std::promise<void>>();
  router_.addWebSocket("/ws", [&](Request&, std::shared_ptr<WebSocket> ws) -> Decision {
    return WebSocketCallbacks{[&, ws](std::string_view text) {
                                {
                                  std::lock_guard lock(m);
                                  sizes.push_back(text.size());
                                }
                                ws->send(std::to_string(text.size()));
                              },
                              [closed] { closed->set_value(); }};
  });
  ServerOptions options;
  options.maxWebSocketMessageBytes = 1024;
  start(options);
  WsClient client(port());
  client.write(std::string(1024, 'a'));
  EXPECT_EQ(client.read(), "1024");
  client.write(std::string(1025, 'b'));
  EXPECT_EQ(client.readToEnd(), websocket::error::closed);
  EXPECT_EQ(client.closeCode(), websocket::close_code::too_big);
  auto future = closed->get_future();
  ASSERT_TRUE(ready(future));
  std::lock_guard lock(m);
  EXPECT_EQ(sizes, std::vector<std::size_t>{1024});
}

TEST_F(WebSocketTest, BinaryMessageCloses1003) {
  std::atomic<int> messages{0};
  auto closed = std::make_shared<std::promise<void>>();
  router_.addWebSocket("/ws", [&](Request&, std::shared_ptr<WebSocket>) -> Decision {
    return WebSocketCallbacks{[&](std::string_view) { ++messages; }, [closed] { closed->set_value(); }};
  });
  start();
  WsClient client(port());
  client.ws().binary(true);
  client.write("\x01\x02\x03");
  EXPECT_EQ(client.readToEnd(), websocket::error::closed);
  EXPECT_EQ(client.closeCode(), websocket::close_code::unknown_data);
  auto future = closed->get_future();
  ASSERT_TRUE(ready(future));
  EXPECT_EQ(messages.load(), 0);
}

TEST_F(WebSocketTest, ServerCloseFlushesQueuedMessagesFirst) {
  auto accepted = std::make_shared<Accepted>();
  router_.addWebSocket("/ws", acceptInto(accepted));
  start();
  WsClient client(port());
  auto future = accepted->socket.get_future();
  ASSERT_TRUE(ready(future));
  auto ws = future.get();
  ws->send("one");
  ws->send("two");
  // The reason is cut to fit a control frame, before the two-byte character that would straddle the limit.
  ws->close(4000, std::string(122, 'r') + "\xc3\xa9 and more");
  ws->send("three");  // after close: dropped
  std::vector<std::string> messages;
  EXPECT_EQ(client.readToEnd(&messages), websocket::error::closed);
  EXPECT_EQ(messages, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(client.closeCode(), 4000);
  const auto& reason = client.ws().reason().reason;
  EXPECT_EQ(std::string(reason.data(), reason.size()), std::string(122, 'r'));
  auto closed = accepted->closed.get_future();
  EXPECT_TRUE(ready(closed));
}

// A client that stops reading is closed with 1013 once its backlog passes the limit, while another client on
// the same broadcast keeps receiving everything.
TEST_F(WebSocketTest, SlowConsumerIsClosedWith1013) {
  std::mutex m;
  std::map<std::string, std::shared_ptr<WebSocket>> sockets;
  std::condition_variable changed;
  auto slowClosed = std::make_shared<std::atomic<bool>>(false);
  router_.addWebSocket("/ws", [&](Request& req, std::shared_ptr<WebSocket> ws) -> Decision {
    const auto name = req.query.at("name");
    {
      std::lock_guard lock(m);
      sockets[name] = ws;
    }
    changed.notify_all();
    return WebSocketCallbacks{nullptr, [slowClosed, name] {
                                if (name == "slow") *slowClosed = true;
                              }};
  });
  ServerOptions options;
  options.maxWebSocketQueueBytes = 256 * 1024;
  start(options);
  WsClient slow(port(), "/ws?name=slow", 4096);
  WsClient fast(port(), "/ws?name=fast");
  std::shared_ptr<WebSocket> toSlow;
  std::shared_ptr<WebSocket> toFast;
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(changed.wait_for(lock, kPatience, [&] { return sockets.size() == 2; }));
    toSlow = sockets["slow"];
    toFast = sockets["fast"];
  }

  // The fast client reads on its own thread and reports progress; the producer stays at most kWindow
  // messages ahead of it, so only the slow client can fall behind.
  constexpr int kWindow = 4;
  constexpr int kMaxMessages = 4096;  // 64 MiB: far beyond any socket buffering
  constexpr std::size_t kMessageBytes = 16 * 1024;
  auto message = [&](int i) {
    auto text = std::to_string(i) + ":";
    text.resize(kMessageBytes, '.');
    return text;
  };
  int fastReceived = 0;
  int fastOutOfOrder = 0;
  beast::error_code fastError;
  std::thread reader([&] {
    while (true) {
      beast::flat_buffer buffer;
      beast::error_code ec;
      fast.ws().read(buffer, ec);
      std::lock_guard lock(m);
      if (ec) fastError = ec;
      const auto text = beast::buffers_to_string(buffer.data());
      if (ec || text == "end") break;
      if (text != message(fastReceived)) ++fastOutOfOrder;
      ++fastReceived;
      changed.notify_all();
    }
  });
  int sent = 0;
  for (; sent < kMaxMessages && !*slowClosed; ++sent) {
    std::unique_lock lock(m);
    if (!changed.wait_for(lock, kPatience, [&] { return fastReceived >= sent - kWindow || fastError; })) {
      ADD_FAILURE() << "the fast client stalled at " << fastReceived;
      break;
    }
    lock.unlock();
    toSlow->send(message(sent));
    toFast->send(message(sent));
  }
  toFast->send("end");
  EXPECT_TRUE(*slowClosed) << "sent " << sent << " messages without closing the slow client";

  // The slow client gets a prefix of the messages, then the close frame.
  std::vector<std::string> slowMessages;
  EXPECT_EQ(slow.readToEnd(&slowMessages), websocket::error::closed);
  EXPECT_EQ(slow.closeCode(), websocket::close_code::try_again_later);
  EXPECT_GT(slowMessages.size(), 0U);
  EXPECT_LT(slowMessages.size(), static_cast<std::size_t>(sent));
  for (std::size_t i = 0; i < slowMessages.size(); ++i) ASSERT_EQ(slowMessages[i], message(static_cast<int>(i)));

  reader.join();
  EXPECT_FALSE(fastError) << fastError.message();
  EXPECT_EQ(fastReceived, sent);
  EXPECT_EQ(fastOutOfOrder, 0);
  toFast->send("still open");
  EXPECT_EQ(fast.read(), "still open");
}

TEST_F(WebSocketTest, SendAfterCloseIsASafeNoOp) {
  auto accepted = std::make_shared<Accepted>();
  router_.addWebSocket("/ws", acceptInto(accepted));
  start();
  auto socketFuture = accepted->socket.get_future();
  auto closedFuture = accepted->closed.get_future();
  std::shared_ptr<WebSocket> ws;
  std::uint16_t clientPort = 0;
  {
    WsClient client(port());
    clientPort = client.ws().next_layer().local_endpoint().port();
    ASSERT_TRUE(ready(socketFuture));
    ws = socketFuture.get();
    // A producer keeps sending while the client goes away.
    std::atomic<bool> done{false};
    std::thread producer([&] {
      int i = 0;
      while (!done) ws->send(std::to_string(i++));
      for (int j = 0; j < 1000; ++j) ws->send("late");
    });
    beast::flat_buffer buffer;
    beast::error_code ec;
    client.ws().read(buffer, ec);
    client.ws().close(websocket::close_code::normal, ec);  // the server may have closed first (1013)
    const bool closed = ready(closedFuture);
    done = true;
    producer.join();
    ASSERT_TRUE(closed);
  }
  EXPECT_EQ(ws->remote().port, clientPort);
  ws->send("after close");
  ws->close(1000, "after close");
  shutdown();  // the server and its loop are gone; the handle is still safe to use
  ws->send("after the server");
  ws->close(1001, "");
  EXPECT_EQ(ws->remote().port, clientPort);
}

TEST_F(WebSocketTest, PingsKeepResponsivePeersAndDropSilentOnes) {
  struct Shared {
    std::mutex m;
    std::map<std::string, std::shared_ptr<WebSocket>> sockets;
    std::promise<void> silentClosed;
    std::atomic<bool> responsiveClosed{false};
  };
  auto shared = std::make_shared<Shared>();  // callbacks may outlive the test body
  router_.addWebSocket("/ws", [shared](Request& req, std::shared_ptr<WebSocket> ws) -> Decision {
    const auto name = req.query.at("name");
    std::lock_guard lock(shared->m);
    shared->sockets[name] = ws;
    return WebSocketCallbacks{nullptr, [shared, name] {
                                if (name == "silent") shared->silentClosed.set_value();
                                if (name == "responsive") shared->responsiveClosed = true;
                              }};
  });
  ServerOptions options;
  options.webSocketPingInterval = 250ms;  // leaves the responsive client time to answer on a busy machine
  start(options);

  // The responsive client reads (Beast answers pings while reading); the silent one never reads.
  WsClient responsive(port(), "/ws?name=responsive");
  std::atomic<int> pings{0};
  responsive.ws().control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) ++pings;
  });
  std::string received;
  beast::error_code readError;
  std::thread reader([&] {
    beast::flat_buffer buffer;
    responsive.ws().read(buffer, readError);
    received = beast::buffers_to_string(buffer.data());
  });
  WsClient silent(port(), "/ws?name=silent");

  auto future = shared->silentClosed.get_future();
  const bool silentDropped = ready(future);
  EXPECT_TRUE(silentDropped);
  {
    std::lock_guard lock(shared->m);
    shared->sockets["responsive"]->send("still here");
  }
  reader.join();
  EXPECT_FALSE(readError) << readError.message();
  EXPECT_EQ(received, "still here");
  EXPECT_GE(pings.load(), 1);
  EXPECT_FALSE(shared->responsiveClosed);
}

TEST_F(WebSocketTest, ManyConcurrentWebSocketsGetABroadcast) {
  std::mutex m;
  std::vector<std::shared_ptr<WebSocket>> sockets;
  auto closed = std::make_shared<std::atomic<int>>(0);  // callbacks may outlive the test body
  router_.addWebSocket("/ws", [&](Request&, std::shared_ptr<WebSocket> ws) -> Decision {
    std::lock_guard lock(m);
    sockets.push_back(std::move(ws));
    return WebSocketCallbacks{nullptr, [closed] { ++*closed; }};
  });
  start({}, 2);
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<WsClient>(port()));
  EXPECT_EQ(server_->connectionCount(), static_cast<std::size_t>(kClients));
  std::thread broadcaster([&] {
    std::lock_guard lock(m);
    for (int round = 0; round < 3; ++round) {
      for (auto& ws : sockets) ws->send("news " + std::to_string(round));
    }
  });
  int ok = 0;
  for (auto& client : clients) {
    if (client->read() == "news 0" && client->read() == "news 1" && client->read() == "news 2") ++ok;
  }
  broadcaster.join();
  EXPECT_EQ(ok, kClients);
  EXPECT_EQ(closed->load(), 0);
}

}  // namespace
}  // namespace stagecast::http
