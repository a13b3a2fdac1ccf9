#include "stagecast/app/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <algorithm>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include "stagecast/api/camera_api.hpp"
#include "stagecast/api/control_api.hpp"
#include "stagecast/api/media_api.hpp"
#include "stagecast/api/status_api.hpp"
#include "stagecast/app/assets.hpp"
#include "stagecast/cluster/channel_pulls.hpp"
#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/control/memory_store.hpp"
#include "stagecast/control/redis_store.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::app {

namespace {

// The command layer's view of this node's media engine.
class EngineMediaPlane final : public control::MediaPlane {
 public:
  explicit EngineMediaPlane(engine::Engine& engine) : engine_(engine) {}
  void stageCreated(const control::StageRecord& s) override { engine_.createStage(s.stageId, s.channelId, nullptr); }
  void stageDeleted(const control::StageRecord& s) override { engine_.deleteStage(s.stageId, nullptr); }
  void endSession(const std::string& stageId, const std::string& sessionId) override {
    engine_.remove(stageId, sessionId, [stageId, sessionId](Status st) {
      if (st) spdlog::info("stage {}: viewer session {} ended (viewer left or timed out)", stageId, sessionId);
    });
  }
  void channelFeed(const std::string& channelId, const std::optional<control::OriginRecord>& remote) override {
    if (pulls_ != nullptr) pulls_->set(channelId, remote);
  }
  void setPulls(cluster::ChannelPulls* pulls) { pulls_ = pulls; }

 private:
  engine::Engine& engine_;
  cluster::ChannelPulls* pulls_ = nullptr;
};

// An API key from <dataDir>/api-key, generated on first start (mode 0600). The key itself is never logged.
Result<std::string> generatedApiKey(const std::string& dataDir) {
  namespace fs = std::filesystem;
  const fs::path path = fs::path(dataDir) / "api-key";
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream in(path);
    std::string key;
    std::getline(in, key);
    if (!key.empty()) return key;
  }
  fs::create_directories(path.parent_path(), ec);
  const std::string key = crypto::randomId(32);
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Error("CONFIG_INVALID", "cannot write " + path.string());
    out << key << "\n";
  }
  ::chmod(tmp.c_str(), 0600);
  fs::rename(tmp, path, ec);
  if (ec) return Error("CONFIG_INVALID", "cannot write " + path.string() + ": " + ec.message());
  spdlog::info("generated an API key into {} (send it as x-api-key)", path.string());
  return key;
}

}  // namespace

struct Server::Impl {
  ServerConfig config;
  std::unique_ptr<engine::Engine> engine;
  // One event loop per HTTP thread; the HTTP server deals connections out over them.
  std::vector<std::unique_ptr<boost::asio::io_context>> httpLoops;
  http::Router router;
  std::unique_ptr<http::Server> http;
  std::vector<std::thread> httpThreads;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopped{false};

  // Live channels.
  std::optional<auth::SigningKey> key;
  std::unique_ptr<auth::TokenSigner> signer;
  std::unique_ptr<control::Store> store;
  std::unique_ptr<EngineMediaPlane> mediaPlane;
  control::SystemWallClock wallClock;
  std::unique_ptr<control::ChannelService> channels;
  std::unique_ptr<cluster::ChannelPulls> pulls;  // broadcasts published on other nodes
  std::shared_ptr<api::NotificationHub> hub;
  std::unique_ptr<actionlog::ActionLog> actionLog;
  std::unique_ptr<api::CameraPreviews> previews;
  std::unique_ptr<api::CameraRegistry> cameraRegistry;
  std::shared_ptr<api::CameraApi> cameraApi;
  std::vector<std::string> apiKeys;
  boost::asio::io_context controlIo{1};
  std::unique_ptr<boost::asio::steady_timer> sweepTimer;
  std::thread controlThread;

  void scheduleSweep() {
    sweepTimer->expires_after(std::chrono::seconds(1));
    sweepTimer->async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      channels->sweep();
      // WHEP camera sessions are extended before the previews' TTL sweep could end them.
      if (cameraApi) api::sweepCameraSessions(*cameraApi);
      if (previews) previews->sweep();
      scheduleSweep();
    });
  }
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

  // Live channels: signing key, API keys, store, command layer.
  namespace fs = std::filesystem;
  const std::string keyFile =
      config.jwtKeyFile.empty() ? (fs::path(config.dataDir) / "jwt-es384.pem").string() : config.jwtKeyFile;
  auto key = auth::SigningKey::loadOrCreate(keyFile);
  if (!key) return key.error().withContext("signing key " + keyFile);
  impl.key = std::move(key).value();
  impl.signer = std::make_unique<auth::TokenSigner>(*impl.key);
  impl.apiKeys = config.apiKeys;
  if (impl.apiKeys.empty()) {
    auto k = generatedApiKey(config.dataDir);
    if (!k) return k.error();
    impl.apiKeys.push_back(*k);
  }
  if (config.store == "memory") {
    impl.store = std::make_unique<control::MemoryStore>(config.notificationHistory);
  } else if (config.store == "redis") {
    control::RedisOptions ro;
    ro.host = config.redisHost;
    ro.port = config.redisPort;
    ro.password = config.redisPassword;
    ro.keyPrefix = config.redisKeyPrefix;
    ro.historyLimit = config.notificationHistory;
    auto r = control::RedisStore::connect(ro);
    if (!r) return r.error();
    impl.store = std::move(r).value();
  } else {
    return Error("CONFIG_INVALID", "store must be \"memory\" or \"redis\", got '" + config.store + "'");
  }
  if (config.stageCapacity == 0) return Error("CONFIG_INVALID", "stageCapacity must be at least 1");
  impl.mediaPlane = std::make_unique<EngineMediaPlane>(*impl.engine);
  control::ControlConfig cc;
  cc.stageCapacity = config.stageCapacity;
  cc.stageGrace = std::chrono::seconds(config.stageGraceSeconds);
  cc.minStages = config.minStages;
  cc.viewerTimeout = std::chrono::seconds(config.viewerTimeoutSeconds);
  cc.channels = config.channels;
  cc.defaultChannel = config.channels.empty() ? "main" : config.channels.front();
  cc.publicBaseUrl = config.publicBaseUrl;
  cc.nodeId = config.nodeId.empty() ? "node-" + crypto::randomId(8) : config.nodeId;
  impl.channels =
      std::make_unique<control::ChannelService>(cc, *impl.store, *impl.signer, *impl.mediaPlane, impl.wallClock);

  api::MediaApiOptions mo;
  mo.iceServers = config.iceServers;
  if (config.mediaAuth) {
    mo.verifier = std::make_shared<auth::TokenVerifier>(*impl.key);
  } else {
    spdlog::warn("media authentication is off: anyone can publish and watch");
  }
  auto* channels = impl.channels.get();
  mo.onViewerSession = [channels](const std::string& stage, const std::string& user, const std::string& session) {
    channels->viewerSessionStarted(stage, user, session);
  };
  mo.onPublisherSession = [channels](const std::string& stage, const std::string& session) {
    channels->publisherSessionStarted(stage, session);
  };
  mo.onSessionDeleted = [channels](const std::string& stage, const std::string& session) {
    channels->sessionEnded(stage, session);
  };
  impl.engine->setSessionEndedHandler(
      [&impl](const std::string& stage, const std::string& session, const Error& reason) {
        impl.channels->sessionEnded(stage, session);
        if (impl.previews) impl.previews->sessionEnded(stage, session, reason);
        if (impl.cameraApi) api::cameraSessionEnded(*impl.cameraApi, session);
      });
  api::registerMediaRoutes(impl.router, *impl.engine, mo);
  api::registerStatusRoutes(
      impl.router, *impl.engine, impl.ready, impl.channels.get(),
      [&impl]() -> std::optional<cluster::ChannelPullStats> {
        if (!impl.pulls) return std::nullopt;
        return impl.pulls->stats();
      },
      [&impl] {
        // The HTTP server is created after the routes; /metrics is only asked once it runs.
        return impl.http ? impl.http->responseCounts() : std::vector<std::pair<int, std::uint64_t>>{};
      });
  api::ControlApiOptions co;
  co.apiKeys = impl.apiKeys;
  co.mediaNodeSecret = config.mediaNodeSecret;
  co.heartbeatIntervalSeconds = config.heartbeatIntervalSeconds;
  impl.hub = api::registerControlRoutes(impl.router, *impl.channels, *impl.key, co);

  // Camera preview: probes and the action log.
  if (config.actionLogBackend != "none") {
    std::string connection = config.actionLogConnection;
    if (connection.empty() && config.actionLogBackend == "sqlite3") {
      std::error_code ec;
      fs::create_directories(config.dataDir, ec);
      connection = (fs::path(config.dataDir) / "actions.db").string();
    }
    auto log = actionlog::ActionLog::open(config.actionLogBackend, connection);
    if (!log) return log.error().withContext("action log");
    impl.actionLog = std::move(log).value();
  }
  api::CameraApiOptions cam;
  cam.apiKeys = impl.apiKeys;
  cam.probeTimeout = std::chrono::milliseconds(config.probeTimeoutMs);
  cam.actionLog = impl.actionLog.get();
  api::CameraPreviewOptions po;
  po.streamInfoTimeout = std::chrono::milliseconds(config.probeTimeoutMs);
  if (config.previewTtlSeconds <= 0) return Error("CONFIG_INVALID", "previewTtlSeconds must be positive");
  po.sessionTtl = std::chrono::seconds(config.previewTtlSeconds);
  impl.previews = std::make_unique<api::CameraPreviews>(*impl.engine, po, impl.actionLog.get());
  cam.previews = impl.previews.get();
  cam.previewTtl = po.sessionTtl;

  // Camera registry: <dataDir>/cameras.json, credentials sealed under <dataDir>/camera-secrets.key (or the
  // cameraKeyFile). A registry that does not open (wrong key, altered file) stops the start.
  api::CameraRegistryOptions ro;
  ro.file = (fs::path(config.dataDir) / "cameras.json").string();
  ro.keyFile =
      config.cameraKeyFile.empty() ? (fs::path(config.dataDir) / "camera-secrets.key").string() : config.cameraKeyFile;
  ro.nowMs = [&impl] { return impl.wallClock.nowMs(); };
  auto registry = api::CameraRegistry::open(ro);
  if (!registry) return registry.error().withContext("camera registry");
  impl.cameraRegistry = std::move(registry).value();
  cam.registry = impl.cameraRegistry.get();
  cam.signer = impl.signer.get();
  // Camera tokens are checked on /whep/camera/{id} even with mediaAuth off: they guard the camera's credentials.
  cam.verifier = std::make_shared<auth::TokenVerifier>(*impl.key);
  cam.nowMs = [&impl] { return impl.wallClock.nowMs(); };
  cam.iceServers = config.iceServers;
  impl.cameraApi = api::registerCameraRoutes(impl.router, cam);
  for (const auto& a : assets()) {
    auto handler = [&a](http::Request&, http::Responder done) {
      done(http::Response::text(200, std::string(a.body), std::string(a.contentType)));
    };
    impl.router.add("GET", std::string(a.path), handler);
    if (a.path == "/index.html") impl.router.add("GET", "/", handler);
    // Pages are also served without their extension: /broadcaster, /watch.
    if (a.path.size() > 5 && a.path.substr(a.path.size() - 5) == ".html" && a.path != "/index.html") {
      impl.router.add("GET", std::string(a.path.substr(0, a.path.size() - 5)), handler);
    }
  }

  http::ServerOptions ho;
  ho.maxBodyBytes = config.maxBodyBytes;
  ho.oneThreadPerLoop = true;  // each loop below gets its own thread
  std::vector<boost::asio::io_context*> loops;
  for (std::size_t i = 0; i < std::max<std::size_t>(1, config.httpThreads); ++i) {
    impl.httpLoops.push_back(std::make_unique<boost::asio::io_context>(1));
    loops.push_back(impl.httpLoops.back().get());
  }
  impl.http = std::make_unique<http::Server>(std::move(loops), impl.router, ho);
  if (auto st = impl.http->listen(*httpEp); !st) return st.error();

  // Several nodes on one store: a broadcast published here is offered to the others at this node's URL, and
  // broadcasts published elsewhere are pulled while viewers here watch them.
  std::string nodeUrl = config.nodeUrl;
  if (!nodeUrl.empty() && !cluster::parseNodeUrl(nodeUrl)) {
    return Error("CONFIG_INVALID", "nodeUrl must be http://HOST:PORT, got '" + nodeUrl + "'");
  }
  if (nodeUrl.empty()) {
    // The listen address, unless it is a wildcard (then other nodes cannot know which address to use).
    const bool wildcard = std::all_of(httpEp->addr.begin(), httpEp->addr.end(), [](std::uint8_t b) { return b == 0; });
    Endpoint self = *httpEp;
    self.port = impl.http->port();
    if (!wildcard) nodeUrl = "http://" + self.toString();
  }
  impl.channels->setNodeUrl(nodeUrl);
  cluster::ChannelPullOptions pullOptions;
  pullOptions.nodeId = impl.channels->config().nodeId;
  impl.pulls = std::make_unique<cluster::ChannelPulls>(*impl.engine, *impl.signer, pullOptions);
  impl.mediaPlane->setPulls(impl.pulls.get());
  impl.engine->setSourceKeyframeHandler([pulls = impl.pulls.get()](const std::string& stageId) {
    pulls->keyframeWanted(stageId);
  });
  return s;
}

Status Server::start() {
  auto& impl = *impl_;
  impl.engine->start();
  if (auto st = impl.channels->start(); !st) return st;
  impl.sweepTimer = std::make_unique<boost::asio::steady_timer>(impl.controlIo);
  impl.scheduleSweep();
  impl.controlThread = std::thread([&impl] {
    pthread_setname_np(pthread_self(), "control");
    impl.controlIo.run();
  });
  for (auto& loop : impl.httpLoops) {
    impl.httpThreads.emplace_back([io = loop.get()] {
      pthread_setname_np(pthread_self(), "http");
      // A loop that has no connection yet must keep waiting for one; stop() ends it.
      auto work = boost::asio::make_work_guard(*io);
      io->run();
    });
  }
  impl.ready = true;
  return {};
}

void Server::stop() {
  auto& impl = *impl_;
  if (impl.stopped.exchange(true)) return;
  impl.ready = false;
  if (impl.sweepTimer) {
    boost::asio::post(impl.controlIo, [&impl] {
      impl.sweepTimer->cancel();
      impl.controlIo.stop();
    });
  }
  if (impl.controlThread.joinable()) impl.controlThread.join();
  if (impl.mediaPlane) impl.mediaPlane->setPulls(nullptr);  // no more sweeps: nothing asks for pulls
  if (impl.channels) impl.channels->stop();
  // Media first: sessions are closed (DTLS close_notify) while their sockets still exist.
  if (impl.engine) impl.engine->stop();
  if (impl.http) {
    boost::asio::post(*impl.httpLoops.front(), [&impl] {
      impl.http->stop();
      for (auto& loop : impl.httpLoops) loop->stop();
    });
  }
  for (auto& t : impl.httpThreads) {
    if (t.joinable()) t.join();
  }
  // The loops stopped with the HTTP server's closing work queued (the listening socket's close, each connection's
  // close). Run what is ready, here on this thread now that the loop threads are gone, until nothing is: the
  // pending accept and the connections' operations complete, so no operation of one loop still holds a socket of
  // another when the loops are destroyed.
  for (int pass = 0; pass < 100; ++pass) {
    std::size_t ran = 0;
    for (auto& loop : impl.httpLoops) {
      loop->restart();
      ran += loop->poll();
    }
    if (ran == 0) break;
  }
  impl.http.reset();
  impl.pulls.reset();  // ends the pulls from other nodes (close_notify and DELETE to their origins)
  impl.cameraApi.reset();  // waits for probes and registry writes in flight
  impl.cameraRegistry.reset();
  impl.previews.reset();   // stops the camera pulls
  impl.actionLog.reset();  // flushes
  // What is still pending on the loops (a WebSocket's closing handshake, a late response) is destroyed here, while
  // everything it may refer to (router, channels, notification hub) still exists. The first loop goes last: it
  // holds the HTTP server's listening socket and timers, which the last connection to go may release.
  while (!impl.httpLoops.empty()) impl.httpLoops.pop_back();
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
control::ChannelService& Server::channels() { return *impl_->channels; }
const auth::SigningKey& Server::signingKey() const { return *impl_->key; }
const std::vector<std::string>& Server::apiKeys() const { return impl_->apiKeys; }

}  // namespace stagecast::app
