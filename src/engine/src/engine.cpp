#include "stagecast/engine/engine.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "stagecast/common/log.hpp"

namespace stagecast::engine {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

udp::endpoint toAsio(const Endpoint& e) {
  if (e.v6) {
    asio::ip::address_v6::bytes_type b{};
    std::copy(e.addr.begin(), e.addr.end(), b.begin());
    return {asio::ip::address_v6(b), e.port};
  }
  return {asio::ip::address_v4(asio::ip::address_v4::bytes_type{e.addr[0], e.addr[1], e.addr[2], e.addr[3]}), e.port};
}

Endpoint fromAsio(const udp::endpoint& e) {
  Endpoint out;
  out.port = e.port();
  const auto a = e.address();
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.addr.begin());
  } else if (a.to_v6().is_v4_mapped()) {
    const auto b = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_bytes();
    std::copy(b.begin(), b.end(), out.addr.begin());
  } else {
    out.v6 = true;
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out.addr.begin());
  }
  return out;
}

bool isUnspecified(const Endpoint& e) {
  return std::all_of(e.addr.begin(), e.addr.begin() + (e.v6 ? 16 : 4), [](std::uint8_t b) { return b == 0; });
}

// Addresses of the machine's interfaces in the bound family, for a socket bound to the wildcard address:
// non-loopback ones first; loopback only when there is nothing else.
std::vector<std::string> interfaceAddresses(bool v6) {
  std::vector<std::string> out;
  std::vector<std::string> loopback;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {v6 ? "::1" : "127.0.0.1"};
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    Endpoint e;
    if (i->ifa_addr->sa_family == AF_INET && !v6) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      e = Endpoint::v4(ntohl(sin->sin_addr.s_addr), 0);
    } else if (i->ifa_addr->sa_family == AF_INET6 && v6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) continue;  // needs a scope id, useless in SDP
      e.v6 = true;
      std::copy(sin6->sin6_addr.s6_addr, sin6->sin6_addr.s6_addr + 16, e.addr.begin());
    } else {
      continue;
    }
    auto& bucket = e.isLoopback() ? loopback : out;
    if (std::find(bucket.begin(), bucket.end(), e.ip()) == bucket.end()) bucket.push_back(e.ip());
  }
  freeifaddrs(list);
  return out.empty() ? loopback : out;
}

}  // namespace

struct Engine::Impl {
  struct Worker;

  // Shared routing: which worker owns a remote address or an ICE ufrag. Written rarely (session set-up and
  // teardown), read for datagrams that land on a worker other than the owner.
  mutable std::shared_mutex routesMutex;
  std::unordered_map<Endpoint, std::size_t, EndpointHash> addressOwner;
  std::unordered_map<std::string, std::size_t> ufragOwner;

  std::mutex stagesMutex;
  std::unordered_map<std::string, std::size_t> stageWorker;
  std::size_t nextWorker = 0;

  EngineConfig config;
  std::vector<std::unique_ptr<Worker>> workers;
  Endpoint bound;
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};

  std::mutex sessionEndedMutex;
  SessionEndedFn sessionEnded;
  std::function<void(const std::string& stageId)> sourceKeyframeWanted;  // guarded by sessionEndedMutex

  // Relay links: which stages relay an origin stage's publisher (a channel's stages relay the channel).
  mutable std::shared_mutex relayMutex;
  std::unordered_map<std::string, std::vector<std::string>> relayTargets;  // origin -> stages relaying it
  std::unordered_map<std::string, std::string> relayOrigin;                // stage -> its origin

  struct Worker final : sfu::DatagramSender, sfu::ShardObserver {
    Impl& engine;
    std::size_t index;
    asio::io_context io{1};
    udp::socket socket{io};
    asio::steady_timer timer{io};
    std::unique_ptr<sfu::Shard> shard;
    std::thread thread;
    udp::endpoint from;
    std::array<std::uint8_t, 4096> buf{};
    std::uint64_t received = 0;
    std::uint64_t sent = 0;
    std::uint64_t sendErrors = 0;
    std::uint64_t posts = 0;
    mutable std::mutex statsMutex;
    EngineStats snapshot;

    Worker(Impl& e, std::size_t i) : engine(e), index(i) {
      shard = std::make_unique<sfu::Shard>(engine.config.sfu, *this, *this);
    }

    // Outgoing datagrams are batched and written with one sendmmsg(2) per batch: a publisher's packet fans out
    // to every viewer of the stage within one handler, so this saves a system call per viewer.
    static constexpr std::size_t kBatch = 64;
    static constexpr std::size_t kSlot = 1500;
    std::vector<std::uint8_t> slab = std::vector<std::uint8_t>(kBatch * kSlot);
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iovs{};
    std::array<sockaddr_storage, kBatch> addrs{};
    std::size_t queued = 0;

    // sfu::DatagramSender
    void sendDatagram(BytesView datagram, const Endpoint& to) override {
      if (datagram.size() > kSlot) {
        flush();
        boost::system::error_code ec;
        socket.send_to(asio::buffer(datagram.data(), datagram.size()), toAsio(to), 0, ec);
        ec ? ++sendErrors : ++sent;
        return;
      }
      if (queued == kBatch) flush();
      std::uint8_t* slot = slab.data() + queued * kSlot;
      std::memcpy(slot, datagram.data(), datagram.size());
      iovs[queued] = {slot, datagram.size()};
      auto& sa = addrs[queued];
      socklen_t len = 0;
      if (to.v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&sa);
        *a = {};
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(to.port);
        std::memcpy(&a->sin6_addr, to.addr.data(), 16);
        len = sizeof(sockaddr_in6);
      } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&sa);
        *a = {};
        a->sin_family = AF_INET;
        a->sin_port = htons(to.port);
        std::memcpy(&a->sin_addr, to.addr.data(), 4);
        len = sizeof(sockaddr_in);
      }
      auto& m = msgs[queued].msg_hdr;
      m = {};
      m.msg_name = &sa;
      m.msg_namelen = len;
      m.msg_iov = &iovs[queued];
      m.msg_iovlen = 1;
      ++queued;
    }

    void flush() {
      std::size_t done = 0;
      while (done < queued) {
        const int n = ::sendmmsg(socket.native_handle(), msgs.data() + done, static_cast<unsigned>(queued - done), 0);
        if (n <= 0) {
          if (n < 0 && errno == EINTR) continue;
          // A full socket buffer (EAGAIN) or an unreachable destination: skip one datagram, as a network drops it.
          ++sendErrors;
          ++done;
          continue;
        }
        sent += static_cast<std::uint64_t>(n);
        done += static_cast<std::size_t>(n);
      }
      queued = 0;
    }

    // sfu::ShardObserver
    void onRouteAdded(const Endpoint& remote) override {
      std::unique_lock lock(engine.routesMutex);
      engine.addressOwner[remote] = index;
    }
    void onRouteRemoved(const Endpoint& remote) override {
      std::unique_lock lock(engine.routesMutex);
      auto it = engine.addressOwner.find(remote);
      if (it != engine.addressOwner.end() && it->second == index) engine.addressOwner.erase(it);
    }
    void onUfragAdded(const std::string& ufrag) override {
      std::unique_lock lock(engine.routesMutex);
      engine.ufragOwner[ufrag] = index;
    }
    void onUfragRemoved(const std::string& ufrag) override {
      std::unique_lock lock(engine.routesMutex);
      engine.ufragOwner.erase(ufrag);
    }
    void onSessionEnded(const std::string& stageId, const std::string& sessionId, const Error& reason) override {
      SessionEndedFn fn;
      {
        std::lock_guard lock(engine.sessionEndedMutex);
        fn = engine.sessionEnded;
      }
      if (fn) fn(stageId, sessionId, reason);
    }
    // Relay: the origin's events are posted to the workers of the stages that relay it (always posted, even to
    // this worker, so a shard is never re-entered while it is changing its own stages).
    template <class Fn>
    void forRelayTargets(const std::string& originId, Fn&& fn) {
      std::vector<std::pair<std::size_t, std::vector<std::string>>> byWorker;
      {
        std::shared_lock lock(engine.relayMutex);
        auto it = engine.relayTargets.find(originId);
        if (it == engine.relayTargets.end() || it->second.empty()) return;
        std::lock_guard stagesLock(engine.stagesMutex);
        for (const auto& target : it->second) {
          auto w = engine.stageWorker.find(target);
          if (w == engine.stageWorker.end()) continue;
          auto slot = std::find_if(byWorker.begin(), byWorker.end(), [&](const auto& p) { return p.first == w->second; });
          if (slot == byWorker.end()) {
            byWorker.push_back({w->second, {}});
            slot = byWorker.end() - 1;
          }
          slot->second.push_back(target);
        }
      }
      for (auto& [index, targets] : byWorker) {
        Worker& w = *engine.workers[index];
        ++posts;
        asio::post(w.io, [&w, targets = std::move(targets), fn] {
          for (const auto& t : targets) fn(*w.shard, t);
          w.flush();
        });
      }
    }
    void onSourceAttached(const std::string& stageId, const std::string& kind, const sdp::Codec& codec) override {
      forRelayTargets(stageId, [kind, codec](sfu::Shard& s, const std::string& t) { s.relayAttach(t, kind, codec); });
    }
    void onSourcePacket(const std::string& stageId, const std::string& kind, const sfu::SharedPacket& packet) override {
      forRelayTargets(stageId, [kind, packet](sfu::Shard& s, const std::string& t) {
        s.relayPacket(t, kind, packet, Clock::now());
      });
    }
    void onSourceSenderReport(const std::string& stageId, const std::string& kind,
                              const sfu::SenderReportInfo& sr) override {
      forRelayTargets(stageId, [kind, sr](sfu::Shard& s, const std::string& t) { s.relaySenderReport(t, kind, sr); });
    }
    void onSourceDetached(const std::string& stageId, const std::string& kind) override {
      forRelayTargets(stageId, [kind](sfu::Shard& s, const std::string& t) { s.relayDetach(t, kind); });
    }
    void onKeyframeWanted(const std::string& stageId) override {
      std::string origin;
      {
        std::shared_lock lock(engine.relayMutex);
        auto it = engine.relayOrigin.find(stageId);
        if (it != engine.relayOrigin.end()) origin = it->second;
      }
      if (origin.empty()) {
        // An origin fed by an external source: the keyframe has to come from that source.
        std::function<void(const std::string&)> fn;
        {
          std::lock_guard lock(engine.sessionEndedMutex);
          fn = engine.sourceKeyframeWanted;
        }
        if (fn) fn(stageId);
        return;
      }
      Worker& w = engine.workerForStage(origin, true);
      ++posts;
      asio::post(w.io, [&w, origin] {
        w.shard->requestKeyframe(origin, Clock::now());
        w.flush();
      });
    }

    void onStageClosed(const std::string& stageId) override {
      std::lock_guard lock(engine.stagesMutex);
      auto it = engine.stageWorker.find(stageId);
      if (it != engine.stageWorker.end() && it->second == index) engine.stageWorker.erase(it);
    }

    // Which worker owns this datagram: by address, else by the ufrag of a STUN request, else this one.
    std::size_t ownerOf(BytesView data, const Endpoint& remote) {
      if (engine.workers.size() == 1) return index;
      {
        std::shared_lock lock(engine.routesMutex);
        if (auto it = engine.addressOwner.find(remote); it != engine.addressOwner.end()) return it->second;
      }
      if (auto ufrag = ice::recipientUfrag(data)) {
        std::shared_lock lock(engine.routesMutex);
        if (auto u = engine.ufragOwner.find(*ufrag); u != engine.ufragOwner.end()) return u->second;
      }
      return index;
    }

    void receive() {
      socket.async_receive_from(asio::buffer(buf), from, [this](boost::system::error_code ec, std::size_t n) {
        if (ec == asio::error::operation_aborted || !socket.is_open()) return;
        if (!ec) {
          ++received;
          const BytesView data(buf.data(), n);
          const Endpoint remote = fromAsio(from);
          const std::size_t owner = ownerOf(data, remote);
          if (owner == index) {
            shard->handleDatagram(data, remote, Clock::now());
            flush();
          } else {
            ++posts;
            Worker& w = *engine.workers[owner];
            asio::post(w.io, [&w, bytes = Bytes(data.begin(), data.end()), remote] {
              w.shard->handleDatagram(bytes, remote, Clock::now());
              w.flush();
            });
          }
        }
        receive();
      });
    }

    void tick() {
      timer.expires_after(engine.config.tickInterval);
      timer.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        shard->tick(Clock::now());
        flush();
        EngineStats s;
        s.total = shard->stats();
        s.datagramsReceived = received;
        s.datagramsSent = sent;
        s.sendErrors = sendErrors;
        s.crossWorkerPosts = posts;
        {
          std::lock_guard lock(statsMutex);
          snapshot = s;
        }
        tick();
      });
    }
  };

  Worker& workerForStage(const std::string& stageId, bool create) {
    std::lock_guard lock(stagesMutex);
    auto it = stageWorker.find(stageId);
    if (it != stageWorker.end()) return *workers[it->second];
    const std::size_t w = nextWorker++ % workers.size();
    if (create) stageWorker[stageId] = w;
    return *workers[w];
  }
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}

Engine::~Engine() { stop(); }

Result<std::unique_ptr<Engine>> Engine::create(EngineConfig config) {
  std::unique_ptr<Engine> e(new Engine());
  auto& impl = *e->impl_;
  if (config.workers == 0) config.workers = std::max(1U, std::thread::hardware_concurrency());
  impl.config = std::move(config);
  if (!impl.config.sfu.certificate) {
    auto cert = dtls::Certificate::generate();
    if (!cert) return Error("CERTIFICATE_FAILED", cert.error().message);
    impl.config.sfu.certificate = *cert;
  }
  // Bind every worker's socket to the same address and port (SO_REUSEPORT); the first picks the port when 0.
  Endpoint bindTo = impl.config.udp;
  for (std::size_t i = 0; i < impl.config.workers; ++i) {
    impl.workers.push_back(std::make_unique<Impl::Worker>(impl, i));
    auto& w = *impl.workers.back();
    boost::system::error_code ec;
    const auto ep = toAsio(bindTo);
    w.socket.open(ep.protocol(), ec);
    if (!ec) {
      int one = 1;
      ::setsockopt(w.socket.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      w.socket.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(impl.config.socketBufferBytes)), ec);
      w.socket.set_option(asio::socket_base::send_buffer_size(static_cast<int>(impl.config.socketBufferBytes)), ec);
      ec.clear();
      w.socket.bind(ep, ec);
    }
    if (ec) return Error("UDP_BIND_FAILED", "cannot bind UDP " + bindTo.toString() + ": " + ec.message());
    w.socket.non_blocking(true, ec);
    if (i == 0) {
      bindTo = fromAsio(w.socket.local_endpoint());
      impl.bound = bindTo;
    }
  }
  // Host candidates (RFC 8839 §5.1): the bound address, or the announced ones.
  if (impl.config.sfu.candidates.empty()) {
    std::vector<std::string> addrs = impl.config.announcedAddresses;
    if (addrs.empty()) {
      addrs = isUnspecified(impl.bound) ? interfaceAddresses(impl.bound.v6) : std::vector<std::string>{impl.bound.ip()};
    }
    std::uint32_t localPref = 65535;
    int foundation = 1;
    for (const auto& a : addrs) {
      sdp::Candidate c;
      c.foundation = std::to_string(foundation++);
      c.component = 1;
      c.transport = "udp";
      // RFC 8445 §5.1.2.1: type preference 126 for host candidates.
      c.priority = (126U << 24) | (localPref-- << 8) | (256U - 1U);
      c.address = a;
      c.port = impl.bound.port;
      c.type = "host";
      impl.config.sfu.candidates.push_back(c);
    }
  }
  return e;
}

void Engine::start() {
  auto& impl = *impl_;
  if (impl.started.exchange(true)) return;
  for (auto& w : impl.workers) {
    w->receive();
    w->tick();
    w->thread = std::thread([&w = *w] {
      pthread_setname_np(pthread_self(), ("media-" + std::to_string(w.index)).c_str());
      w.io.run();
    });
  }
  spdlog::info("media: {} worker(s) on udp {}", impl.workers.size(), impl.bound.toString());
}

void Engine::stop() {
  auto& impl = *impl_;
  if (impl.stopped.exchange(true)) return;
  for (auto& w : impl.workers) {
    asio::post(w->io, [&w = *w] {
      w.shard->closeAll();
      w.flush();
      w.timer.cancel();
      boost::system::error_code ec;
      w.socket.close(ec);
      w.io.stop();
    });
  }
  for (auto& w : impl.workers) {
    if (w->thread.joinable()) {
      w->thread.join();
    } else {
      w->shard->closeAll();
    }
  }
}

Endpoint Engine::udpEndpoint() const { return impl_->bound; }
std::size_t Engine::workerCount() const { return impl_->workers.size(); }
const sfu::SfuConfig& Engine::sfuConfig() const { return impl_->config.sfu; }

void Engine::publish(const std::string& stageId, std::string offer,
                     std::function<void(Result<sfu::CreatedSession>)> done) {
  auto& w = impl_->workerForStage(stageId, true);
  asio::post(w.io, [&w, stageId, offer = std::move(offer), done = std::move(done)] {
    done(w.shard->publish(stageId, offer, Clock::now()));
    w.flush();
  });
}

void Engine::subscribe(const std::string& stageId, std::string offer,
                       std::function<void(Result<sfu::CreatedSession>)> done) {
  auto& w = impl_->workerForStage(stageId, false);
  asio::post(w.io, [&w, stageId, offer = std::move(offer), done = std::move(done)] {
    done(w.shard->subscribe(stageId, offer, Clock::now()));
    w.flush();
  });
}

void Engine::remove(const std::string& stageId, const std::string& sessionId, std::function<void(Status)> done) {
  auto& w = impl_->workerForStage(stageId, false);
  asio::post(w.io, [&w, stageId, sessionId, done = std::move(done)] {
    done(w.shard->remove(stageId, sessionId));
    w.flush();
  });
}

void Engine::patch(const std::string& stageId, const std::string& sessionId, std::string ifMatch, std::string fragment,
                   std::function<void(Result<sfu::PatchResult>)> done) {
  auto& w = impl_->workerForStage(stageId, false);
  asio::post(w.io, [&w, stageId, sessionId, ifMatch = std::move(ifMatch), fragment = std::move(fragment),
                    done = std::move(done)] {
    done(w.shard->patch(stageId, sessionId, ifMatch, fragment, Clock::now()));
    w.flush();
  });
}

void Engine::createStage(const std::string& stageId, const std::string& originId, std::function<void()> done) {
  auto& impl = *impl_;
  auto& target = impl.workerForStage(stageId, true);
  if (originId.empty() || originId == stageId) {
    asio::post(target.io, [&target, stageId, done = std::move(done)] {
      target.shard->ensureStage(stageId);
      if (done) done();
    });
    return;
  }
  auto& origin = impl.workerForStage(originId, true);
  asio::post(target.io, [&impl, &target, &origin, stageId, originId, done = std::move(done)]() mutable {
    target.shard->ensureStage(stageId);
    // On the origin's worker: take what the origin has now and link the stage in the same step, so that every
    // packet after the snapshot is posted to the stage after the snapshot itself.
    asio::post(origin.io, [&impl, &target, &origin, stageId, originId, done = std::move(done)]() mutable {
      auto snapshot = origin.shard->relaySnapshot(originId);
      {
        std::unique_lock lock(impl.relayMutex);
        auto& targets = impl.relayTargets[originId];
        if (std::find(targets.begin(), targets.end(), stageId) == targets.end()) targets.push_back(stageId);
        impl.relayOrigin[stageId] = originId;
      }
      asio::post(target.io, [&target, stageId, snapshot = std::move(snapshot), done = std::move(done)] {
        const TimePoint now = Clock::now();
        for (const auto& snap : snapshot) {
          target.shard->relayAttach(stageId, snap.kind, snap.codec);
          if (snap.senderReport) target.shard->relaySenderReport(stageId, snap.kind, *snap.senderReport);
          for (const auto& p : snap.gop) target.shard->relayPacket(stageId, snap.kind, p, now);
        }
        target.flush();
        if (done) done();
      });
    });
  });
}

void Engine::deleteStage(const std::string& stageId, std::function<void(bool)> done) {
  auto& impl = *impl_;
  {
    std::unique_lock lock(impl.relayMutex);
    if (auto it = impl.relayOrigin.find(stageId); it != impl.relayOrigin.end()) {
      auto t = impl.relayTargets.find(it->second);
      if (t != impl.relayTargets.end()) {
        std::erase(t->second, stageId);
        if (t->second.empty()) impl.relayTargets.erase(t);
      }
      impl.relayOrigin.erase(it);
    }
  }
  auto& w = impl.workerForStage(stageId, false);
  asio::post(w.io, [&w, stageId, done = std::move(done)] {
    const bool existed = w.shard->dropStage(stageId);
    w.flush();
    if (done) done(existed);
  });
}

void Engine::attachSource(const std::string& stageId, const std::string& kind, const sdp::Codec& codec,
                          bool keyframesOnRequest) {
  auto& w = impl_->workerForStage(stageId, false);
  asio::post(w.io, [&w, stageId, kind, codec, keyframesOnRequest] {
    w.shard->sourceAttach(stageId, kind, codec, keyframesOnRequest);
    w.flush();
  });
}

void Engine::pushSourcePacket(const std::string& stageId, const std::string& kind, sfu::SharedPacket packet) {
  auto& w = impl_->workerForStage(stageId, false);
  asio::post(w.io, [&w, stageId, kind, packet = std::move(packet)] {
    w.shard->relayPacket(stageId, kind, packet, Clock::now());
    w.flush();
  });
}

void Engine::detachSource(const std::string& stageId, const std::string& kind) {
  auto& w = impl_->workerForStage(stageId, false);
  asio::post(w.io, [&w, stageId, kind] { w.shard->relayDetach(stageId, kind); });
}

void Engine::setSourceKeyframeHandler(std::function<void(const std::string& stageId)> fn) {
  std::lock_guard lock(impl_->sessionEndedMutex);
  impl_->sourceKeyframeWanted = std::move(fn);
}

void Engine::setSessionEndedHandler(SessionEndedFn fn) {
  std::lock_guard lock(impl_->sessionEndedMutex);
  impl_->sessionEnded = std::move(fn);
}

EngineStats Engine::stats() const {
  EngineStats total;
  for (const auto& w : impl_->workers) {
    std::lock_guard lock(w->statsMutex);
    const auto& s = w->snapshot;
    total.datagramsReceived += s.datagramsReceived;
    total.datagramsSent += s.datagramsSent;
    total.sendErrors += s.sendErrors;
    total.crossWorkerPosts += s.crossWorkerPosts;
    total.total += s.total;
  }
  return total;
}

}  // namespace stagecast::engine
