// The server under keep-alive HTTP clients, responders completed from another thread, and WebSockets opening,
// echoing, receiving broadcasts and closing, all at once: on one io_context run by several threads (connections
// on strands), and on one io_context per thread (connections directly on their loop, oneThreadPerLoop).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "stagecast/http/server.hpp"
#include "test_clients.hpp"

namespace stagecast::http {
namespace {

using namespace clients;  // NOLINT(google-build-using-namespace)

// Collects failures from client threads (gtest assertions are for the main thread).
class Failures {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    if (count_++ < 10) messages_.push_back(std::move(what));
  }
  [[nodiscard]] int count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  [[nodiscard]] std::string summary() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& m : messages_) out += m + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  int count_ = 0;
  std::vector<std::string> messages_;
};

// The parameter: one io_context per thread with ServerOptions::oneThreadPerLoop (true), or one io_context shared
// by every thread (false).
class ServerConcurrencyTest : public ::testing::TestWithParam<bool> {};

TEST_P(ServerConcurrencyTest, SeveralLoopThreadsUnderHttpAndWebSocketLoad) {
  constexpr int kLoopThreads = 4;
  constexpr int kHttpClients = 8;
  constexpr int kRequestsPerClient = 2000;
  constexpr int kWebSocketClients = 2;
  constexpr int kWebSocketsPerClient = 100;
  constexpr int kMessagesPerWebSocket = 3;

  const bool ownLoops = GetParam();
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  for (int i = 0; i < (ownLoops ? kLoopThreads : 1); ++i) {
    contexts.push_back(std::make_unique<net::io_context>(ownLoops ? 1 : kLoopThreads));
    work.push_back(net::make_work_guard(*contexts.back()));
  }
  // Answers some requests later, from its own thread.
  net::io_context worker;
  auto workerWork = net::make_work_guard(worker);

  Router router;
  router.add("GET", "/echo/{id}", [](Request& req, Responder respond) {
    respond(Response::text(200, req.params["id"] + "|" + req.query["n"]));
  });
  router.add("POST", "/later", [&worker](Request& req, Responder respond) {
    net::post(worker, [body = req.body, respond = std::move(respond)] {
      respond(Response::text(200, std::to_string(body.size()) + ":" + body));
    });
  });
  std::mutex socketsMutex;
  std::set<std::shared_ptr<WebSocket>> sockets;  // the open WebSockets, for the broadcaster
  std::atomic<int> opened{0};
  std::atomic<int> closed{0};
  router.addWebSocket(
      "/ws", [&](Request&, std::shared_ptr<WebSocket> ws) -> std::variant<Response, WebSocketCallbacks> {
        ++opened;
        {
          std::lock_guard lock(socketsMutex);
          sockets.insert(ws);
        }
        return WebSocketCallbacks{[ws](std::string_view text) { ws->send("echo " + std::string(text)); },
                                  [&, ws] {
                                    ++closed;
                                    std::lock_guard lock(socketsMutex);
                                    sockets.erase(ws);
                                  }};
      });

  std::vector<net::io_context*> loops;
  for (auto& c : contexts) loops.push_back(c.get());
  ServerOptions options;
  options.oneThreadPerLoop = ownLoops;
  Server server(loops, router, options);
  ASSERT_TRUE(server.listen(*Endpoint::fromString("127.0.0.1:0")).ok());
  const auto port = server.port();
  std::thread workerThread([&] { worker.run(); });
  std::vector<std::thread> loop;
  for (int i = 0; i < kLoopThreads; ++i) {
    loop.emplace_back([&, i] { contexts[static_cast<std::size_t>(i) % contexts.size()]->run(); });
  }

  Failures failures;
  std::vector<std::thread> clients;
  for (int c = 0; c < kHttpClients; ++c) {
    clients.emplace_back([&, c] {
      try {
        HttpClient http(port);
        for (int i = 0; i < kRequestsPerClient; ++i) {
          const auto id = "c" + std::to_string(c);
          if (i % 4 == 3) {
            const auto body = id + "-" + std::to_string(i);
            auto res = http.request(bhttp::verb::post, "/later", body);
            const auto expected = std::to_string(body.size()) + ":" + body;
            if (res.result_int() != 200 || res.body() != expected) failures.add(id + " POST got " + res.body());
          } else {
            auto res = http.request(bhttp::verb::get, "/echo/" + id + "?n=" + std::to_string(i));
            const auto expected = id + "|" + std::to_string(i);
            if (res.result_int() != 200 || res.body() != expected) failures.add(id + " GET got " + res.body());
          }
        }
      } catch (const std::exception& e) {
        failures.add("http client " + std::to_string(c) + ": " + e.what());
      }
    });
  }
  // WebSocket progress paces the broadcaster: one round of ticks per echo received, so that it races with
  // opening and closing without flooding anyone.
  std::mutex progressMutex;
  std::condition_variable progressed;
  int echoes = 0;
  int webSocketClientsDone = 0;
  auto report = [&](bool done) {
    {
      std::lock_guard lock(progressMutex);
      ++(done ? webSocketClientsDone : echoes);
    }
    progressed.notify_all();
  };
  for (int c = 0; c < kWebSocketClients; ++c) {
    clients.emplace_back([&, c] {
      try {
        for (int n = 0; n < kWebSocketsPerClient; ++n) {
          WsClient client(port);
          for (int i = 0; i < kMessagesPerWebSocket; ++i) client.write(std::to_string(c) + "/" + std::to_string(i));
          int echoed = 0;
          while (echoed < kMessagesPerWebSocket) {
            auto text = client.read();
            if (text == "tick") continue;  // the broadcaster's
            if (text != "echo " + std::to_string(c) + "/" + std::to_string(echoed)) {
              failures.add("websocket got " + text);
            }
            ++echoed;
            report(false);
          }
          client.ws().close(websocket::close_code::normal);
        }
      } catch (const std::exception& e) {
        failures.add("websocket client " + std::to_string(c) + ": " + e.what());
      }
      report(true);
    });
  }
  // Sends to whichever WebSockets are open, racing with their opening and closing.
  std::thread broadcaster([&] {
    int seen = 0;
    while (true) {
      {
        std::unique_lock lock(progressMutex);
        progressed.wait(lock, [&] { return echoes > seen || webSocketClientsDone == kWebSocketClients; });
        if (webSocketClientsDone == kWebSocketClients) return;
        seen = echoes;
      }
      std::vector<std::shared_ptr<WebSocket>> open;
      {
        std::lock_guard lock(socketsMutex);
        open.assign(sockets.begin(), sockets.end());
      }
      for (auto& ws : open) ws->send("tick");
    }
  });
  for (auto& t : clients) t.join();
  broadcaster.join();

  EXPECT_EQ(failures.count(), 0) << failures.summary();
  EXPECT_EQ(opened.load(), kWebSocketClients * kWebSocketsPerClient);

  server.stop();
  work.clear();
  for (auto& t : loop) t.join();
  workerWork.reset();
  workerThread.join();
  EXPECT_EQ(closed.load(), opened.load());
  EXPECT_EQ(server.connectionCount(), 0U);
  std::lock_guard lock(socketsMutex);
  EXPECT_TRUE(sockets.empty());
}

INSTANTIATE_TEST_SUITE_P(Loops, ServerConcurrencyTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "OneThreadPerLoop" : "SharedLoop"; });

// One io_context per thread: connections are dealt out over the loops, each connection stays on its loop (all its
// handlers run on one thread), and every loop gets connections. WebSockets work on any loop. The parameter is
// ServerOptions::oneThreadPerLoop (connections on strands of their loop, or directly on it).
class ServerLoopsTest : public ::testing::TestWithParam<bool> {};

TEST_P(ServerLoopsTest, ConnectionsAreSpreadOverLoopsAndStayOnTheirs) {
  constexpr int kLoops = 3;
  constexpr int kClients = 12;
  constexpr int kRequests = 40;
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::io_context*> loops;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  for (int i = 0; i < kLoops; ++i) {
    contexts.push_back(std::make_unique<net::io_context>(1));
    loops.push_back(contexts.back().get());
    work.push_back(net::make_work_guard(*contexts.back()));
  }
  net::io_context worker;
  auto workerWork = net::make_work_guard(worker);

  Router router;
  router.add("GET", "/thread", [](Request&, Responder respond) {
    respond(Response::text(200, std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()))));
  });
  // Answered from another thread: the response still goes out on the connection's own loop.
  router.add("POST", "/later", [&worker](Request& req, Responder respond) {
    net::post(worker, [body = req.body, respond = std::move(respond)] { respond(Response::text(200, body)); });
  });
  router.addWebSocket("/ws", [](Request&, std::shared_ptr<WebSocket> ws) -> std::variant<Response, WebSocketCallbacks> {
    return WebSocketCallbacks{[ws](std::string_view text) { ws->send("echo " + std::string(text)); }, [] {}};
  });

  ServerOptions options;
  options.oneThreadPerLoop = GetParam();
  Server server(loops, router, options);
  ASSERT_TRUE(server.listen(*Endpoint::fromString("127.0.0.1:0")).ok());
  std::vector<std::thread> threads;
  for (auto* loop : loops) threads.emplace_back([loop] { loop->run(); });
  std::thread workerThread([&] { worker.run(); });

  Failures failures;
  std::mutex seenMutex;
  std::set<std::string> threadsSeen;
  // Clients connect one after another, so that the deal is deterministic: client c lands on loop c % kLoops.
  std::vector<std::unique_ptr<HttpClient>> connections;
  for (int c = 0; c < kClients; ++c) connections.push_back(std::make_unique<HttpClient>(server.port()));
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      try {
        auto& http = *connections[static_cast<std::size_t>(c)];
        std::string thread;
        for (int i = 0; i < kRequests; ++i) {
          if (i % 2 == 1) {
            const auto body = "c" + std::to_string(c) + "-" + std::to_string(i);
            auto res = http.request(bhttp::verb::post, "/later", body);
            if (res.result_int() != 200 || res.body() != body) failures.add("POST got " + res.body());
            continue;
          }
          auto res = http.request(bhttp::verb::get, "/thread");
          if (res.result_int() != 200) failures.add("GET status " + std::to_string(res.result_int()));
          if (thread.empty()) thread = res.body();
          if (res.body() != thread) failures.add("client " + std::to_string(c) + " moved to another thread");
        }
        std::lock_guard lock(seenMutex);
        threadsSeen.insert(thread);
      } catch (const std::exception& e) {
        failures.add("http client " + std::to_string(c) + ": " + e.what());
      }
    });
  }
  for (auto& t : clients) t.join();
  for (int c = 0; c < kLoops; ++c) {
    WsClient ws(server.port());
    ws.write("hi " + std::to_string(c));
    EXPECT_EQ(ws.read(), "echo hi " + std::to_string(c));
    ws.ws().close(websocket::close_code::normal);
  }
  EXPECT_EQ(failures.count(), 0) << failures.summary();
  EXPECT_EQ(threadsSeen.size(), static_cast<std::size_t>(kLoops));

  connections.clear();
  server.stop();
  work.clear();
  for (auto& t : threads) t.join();
  workerWork.reset();
  workerThread.join();
  EXPECT_EQ(server.connectionCount(), 0U);
}

INSTANTIATE_TEST_SUITE_P(Strands, ServerLoopsTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "OneThreadPerLoop" : "StrandPerConnection"; });

}  // namespace
}  // namespace stagecast::http
