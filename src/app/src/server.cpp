#include "stagecast/app/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <thread>

#include "stagecast/api/media_api.hpp"
#include "stagecast/api/status_api.hpp"
#include "stagecast/app/assets.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::app {

struct Server::Impl {
  ServerConfig config;
  std::unique_ptr<engine::Engine> engine;
  boost::asio::io_context io{1};
  http::Router router;
  std::unique_ptr<http::Server> http;
  std::thread httpThread;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopped{false};
};

Server::Server() : impl_(std::make_unique<Impl>()) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::create(const ServerConfig& config) {
  std::unique_ptr<Server> s(new Server());
  auto& impl = *s->impl_;
  impl.config = config;

  auto udp = Endpoint::fromString(config.udp);
  if (!udp) return Error("CONFIG_INVALID", "--udp must be HOST:PORT with a numeric IP, got '" + config.udp + "'");
  auto httpEp = Endpoint::fromString(config.http);
  if (!httpEp) return Error("CONFIG_INVALID", "--http must be HOST:PORT with a numeric IP, got '" + config.http + "'");
  for (const auto& a : config.announcedAddresses) {
    if (!Endpoint::fromIp(a, 0)) return Error("CONFIG_INVALID", "announced address '" + a + "' is not an IP address");
  }

  engine::EngineConfig ec;
  ec.udp = *udp;
  ec.workers = config.workers;
  ec.announcedAddresses = config.announcedAddresses;
  ec.sfu.audioCodecs = sfu::SfuConfig::defaultAudioCodecs();
  ec.sfu.videoCodecs = sfu::SfuConfig::defaultVideoCodecs();
  ec.sfu.publisherMaxBitrate = config.publisherMaxBitrate;
  ec.sfu.ice.consentTimeout = seconds(config.consentTimeoutSeconds);
  auto engine = engine::Engine::create(std::move(ec));
  if (!engine) return engine.error();
  impl.engine = std::move(engine).value();

  api::MediaApiOptions mo;
  mo.iceServers = config.iceServers;
  api::registerMediaRoutes(impl.router, *impl.engine, mo);
  api::registerStatusRoutes(impl.router, *impl.engine, impl.ready);
  for (const auto& a : assets()) {
    auto handler = [&a](http::Request&, http::Responder done) {
      done(http::Response::text(200, std::string(a.body), std::string(a.contentType)));
    };
    impl.router.add("GET", std::string(a.path), handler);
    if (a.path == "/index.html") impl.router.add("GET", "/", handler);
  }

  http::ServerOptions ho;
  ho.maxBodyBytes = config.maxBodyBytes;
  impl.http = std::make_unique<http::Server>(impl.io, impl.router, ho);
  if (auto st = impl.http->listen(*httpEp); !st) return st.error();
  return s;
}

Status Server::start() {
  auto& impl = *impl_;
  impl.engine->start();
  impl.httpThread = std::thread([&impl] {
    pthread_setname_np(pthread_self(), "http");
    impl.io.run();
  });
  impl.ready = true;
  return {};
}

void Server::stop() {
  auto& impl = *impl_;
  if (impl.stopped.exchange(true)) return;
  impl.ready = false;
  // Media first: sessions are closed (DTLS close_notify) while their sockets still exist.
  if (impl.engine) impl.engine->stop();
  if (impl.http) {
    boost::asio::post(impl.io, [&impl] {
      impl.http->stop();
      impl.io.stop();
    });
  }
  if (impl.httpThread.joinable()) impl.httpThread.join();
  impl.http.reset();
  spdlog::info("stopped");
}

void Server::runUntilSignal() {
  boost::asio::io_context sigIo(1);
  boost::asio::signal_set signals(sigIo, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code&, int sig) { spdlog::info("signal {}: shutting down", sig); });
  sigIo.run();
  stop();
}

std::uint16_t Server::httpPort() const { return impl_->http ? impl_->http->port() : 0; }
Endpoint Server::udpEndpoint() const { return impl_->engine->udpEndpoint(); }
engine::Engine& Server::engine() { return *impl_->engine; }

}  // namespace stagecast::app
