#include "stagecast/cluster/channel_pulls.hpp"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <map>
#include <mutex>
#include <thread>

#include "stagecast/client/native_peer.hpp"
#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/rtp/rtp_packet.hpp"
#include "stagecast/sdp/session_description.hpp"

namespace stagecast::cluster {

namespace asio = boost::asio;

std::optional<std::pair<std::string, std::uint16_t>> parseNodeUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() <= kScheme.size() || url.compare(0, kScheme.size(), kScheme) != 0) return std::nullopt;
  std::string_view rest(url);
  rest.remove_prefix(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // RFC 3986 §3.2.2: an IPv6 literal in brackets
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') return std::nullopt;
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535 ||
      host.find_first_of("/?#@ ") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::pair<std::string, std::uint16_t>{std::string(host), static_cast<std::uint16_t>(value)};
}

namespace {

// The codec the origin answered for a kind (the first one that is not a repair format), if it accepted it.
std::optional<sdp::Codec> answeredCodec(const sdp::SessionDescription& answer, const std::string& kind) {
  for (const auto& m : answer.media) {
    if (m.kind != kind || m.port == 0) continue;
    for (const auto& c : m.codecs) {
      if (!c.isRtx() && c.name != "red" && c.name != "ulpfec" && c.name != "flexfec-03") return c;
    }
  }
  return std::nullopt;
}

}  // namespace

struct ChannelPulls::Impl : std::enable_shared_from_this<Impl> {
  Impl(engine::Engine& e, const auth::TokenSigner& s, ChannelPullOptions o)
      : engine(e), signer(s), options(std::move(o)) {}

  // Where a pull's WHEP resource lives, and the token that may delete it.
  struct Target {
    std::string host;
    std::uint16_t port = 0;
    std::string token;
  };

  struct Pull {
    control::OriginRecord origin;
    Target target;
    std::uint64_t generation = 0;  // bumps on every (re)connect attempt; stale completions are dropped
    std::shared_ptr<client::NativePeer> peer;
    bool connecting = false;
    int failures = 0;
    std::unique_ptr<asio::steady_timer> retry;
    std::map<client::MediaKind, sdp::Codec> codecs;
  };

  engine::Engine& engine;
  const auth::TokenSigner& signer;
  const ChannelPullOptions options;

  asio::io_context io{1};        // pulls: peers, timers and this map
  asio::io_context connector{1};  // blocking WHEP exchanges
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> ioWork;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> connectorWork;
  std::thread ioThread;
  std::thread connectorThread;
  std::map<std::string, Pull> pulls;  // by channel id; io thread only
  std::uint64_t nextGeneration = 0;
  Bytes scratch;
  std::shared_ptr<dtls::Certificate> certificate;

  mutable std::mutex statsMutex;
  ChannelPullStats counters;
  std::atomic<bool> stopping{false};

  void start() {
    ioWork.emplace(io.get_executor());
    connectorWork.emplace(connector.get_executor());
    ioThread = std::thread([this] {
      pthread_setname_np(pthread_self(), "pulls");
      io.run();
    });
    connectorThread = std::thread([this] {
      pthread_setname_np(pthread_self(), "pull-connect");
      connector.run();
    });
  }

  void stop() {
    stopping = true;
    // End every pull on its own thread, then let both loops run dry.
    asio::post(io, [this] {
      std::vector<std::string> ids;
      for (const auto& [id, p] : pulls) ids.push_back(id);
      for (const auto& id : ids) end(id, "node stopping");
      ioWork.reset();
    });
    if (ioThread.joinable()) ioThread.join();
    connectorWork.reset();
    if (connectorThread.joinable()) connectorThread.join();
  }

  // --- io thread ---

  void apply(const std::string& channelId, const std::optional<control::OriginRecord>& remote) {
    auto it = pulls.find(channelId);
    if (!remote) {
      if (it != pulls.end()) end(channelId, "no longer wanted");
      return;
    }
    if (it != pulls.end()) {
      if (it->second.origin.nodeId == remote->nodeId && it->second.origin.url == remote->url) return;
      end(channelId, "the broadcast moved to node " + remote->nodeId);
    }
    Pull& p = pulls[channelId];
    p.origin = *remote;
    {
      std::lock_guard lock(statsMutex);
      counters.pulls = pulls.size();
    }
    spdlog::info("channel {}: pulling the broadcast from node {} ({})", channelId, remote->nodeId, remote->url);
    // The channel's own stage on this node is the origin of its local stages; the pull feeds it.
    engine.createStage(channelId, "", nullptr);
    connect(channelId);
  }

  void end(const std::string& channelId, const std::string& why) {
    auto it = pulls.find(channelId);
    if (it == pulls.end()) return;
    Pull& p = it->second;
    if (p.retry) p.retry->cancel();
    if (p.peer) hangUp(p.peer, p.target);
    for (const auto& [kind, codec] : p.codecs) {
      engine.detachSource(channelId, kind == client::MediaKind::Video ? "video" : "audio");
    }
    spdlog::info("channel {}: pull from node {} ended: {}", channelId, p.origin.nodeId, why);
    pulls.erase(it);
    std::lock_guard lock(statsMutex);
    counters.pulls = pulls.size();
    counters.connected = connectedCount();
  }

  std::size_t connectedCount() const {
    std::size_t n = 0;
    for (const auto& [id, p] : pulls) n += p.peer && !p.peer->stopped() ? 1 : 0;
    return n;
  }

  // DTLS close_notify now (io thread); the DELETE of the WHEP resource (RFC 9725 §4.3) on the connector thread.
  void hangUp(const std::shared_ptr<client::NativePeer>& peer, const Target& target) {
    peer->close();
    asio::post(connector, [peer, target, timeout = options.httpTimeout] { deleteResource(*peer, target, timeout); });
  }

  static void deleteResource(const client::NativePeer& peer, const Target& target, std::chrono::milliseconds timeout) {
    client::HttpRequest req;
    req.method = "DELETE";
    req.target = peer.resourceUrl();
    req.headers.emplace_back("Authorization", "Bearer " + target.token);
    auto r = client::HttpClient(target.host, target.port, timeout).send(req);
    if (!r) spdlog::debug("pull: DELETE {} failed: {}", req.target, r.error().message);
  }

  void connect(const std::string& channelId) {
    auto it = pulls.find(channelId);
    if (it == pulls.end() || stopping) return;
    Pull& p = it->second;
    auto where = parseNodeUrl(p.origin.url);
    if (!where) {
      spdlog::warn("channel {}: node {} announced an unusable URL '{}'", channelId, p.origin.nodeId, p.origin.url);
      failed(channelId, p.generation);
      return;
    }
    auto token = mintToken(channelId);
    if (!token) {
      spdlog::warn("channel {}: no token for the pull: {}", channelId, token.error().message);
      failed(channelId, p.generation);
      return;
    }
    if (p.peer) {  // a connection being replaced is ended, never left running beside the new one
      hangUp(p.peer, p.target);
      p.peer.reset();
    }
    p.target = Target{where->first, where->second, *token};
    p.connecting = true;
    const std::uint64_t generation = p.generation = ++nextGeneration;
    client::NativePeerOptions o;
    o.role = client::Role::Viewer;
    o.host = where->first;
    o.httpPort = where->second;
    o.stage = channelId;
    o.bearerToken = *token;
    o.httpTimeout = options.httpTimeout;
    o.certificate = certificate;
    std::weak_ptr<Impl> weak = shared_from_this();
    o.onRtp = [weak, channelId](const client::ReceivedPacket& rp) {
      if (auto self = weak.lock()) self->forward(channelId, rp);
    };
    asio::post(connector, [weak, channelId, generation, o, target = p.target]() mutable {
      auto self = weak.lock();
      if (!self || self->stopping) return;
      // The origin's broadcaster sends one video codec: offer every one it may be, the origin answers with its.
      o.videoCodec = client::VideoCodecKind::H264;
      o.moreVideoCodecs = {client::VideoCodecKind::VP8};
      // A pull discarded below is closed on purpose: only a kept one reports its end.
      auto kept = std::make_shared<std::atomic<bool>>(true);
      o.onClosed = [weak, channelId, generation, kept](const Error& e) {
        auto s = weak.lock();
        if (!s || !*kept) return;
        spdlog::warn("channel {}: pull connection lost: {} ({})", channelId, e.code, e.message);
        s->failed(channelId, generation);
      };
      auto peer = client::NativePeer::connect(self->io, o);
      if (peer) {
        auto answer = sdp::parse((*peer)->answerSdp());
        if (!answer || !answeredCodec(*answer, "video")) {
          *kept = false;  // before the DELETE: the origin's close_notify may come back at once
          deleteResource(**peer, target, self->options.httpTimeout);
          asio::post(self->io, [p = *peer] { p->close(); });
          peer = Error("NO_COMMON_CODEC", "the origin did not accept the offered video codecs");
        }
      }
      asio::post(self->io, [weak, channelId, generation, target, peer = std::move(peer)]() mutable {
        if (auto s = weak.lock()) s->connected(channelId, generation, target, std::move(peer));
      });
    });
  }

  void connected(const std::string& channelId, std::uint64_t generation, const Target& target,
                 Result<std::shared_ptr<client::NativePeer>> peer) {
    auto it = pulls.find(channelId);
    if (it == pulls.end() || it->second.generation != generation) {
      if (peer) hangUp(*peer, target);  // the pull was ended or restarted meanwhile
      return;
    }
    Pull& p = it->second;
    p.connecting = false;
    if (!peer) {
      spdlog::warn("channel {}: pull from node {} failed: {} ({})", channelId, p.origin.nodeId, peer.error().code,
                   peer.error().message);
      failed(channelId, generation);
      return;
    }
    p.peer = std::move(peer).value();
    p.failures = 0;
    auto answer = sdp::parse(p.peer->answerSdp());
    p.codecs.clear();
    if (answer) {
      for (auto kind : {client::MediaKind::Audio, client::MediaKind::Video}) {
        const std::string name = kind == client::MediaKind::Video ? "video" : "audio";
        if (auto c = answeredCodec(*answer, name)) {
          p.codecs[kind] = *c;
          // Attached again on every (re)connect: a new generation of the source, so viewers stay continuous.
          engine.attachSource(channelId, name, *c);
        }
      }
    }
    std::lock_guard lock(statsMutex);
    ++counters.connects;
    counters.connected = connectedCount();
  }

  void failed(const std::string& channelId, std::uint64_t generation) {
    auto it = pulls.find(channelId);
    if (it == pulls.end() || it->second.generation != generation || stopping) return;
    Pull& p = it->second;
    if (p.connecting) return;  // the attempt in flight reports its own outcome
    if (p.peer) {
      hangUp(p.peer, p.target);
      p.peer.reset();
    }
    p.connecting = false;
    ++p.failures;
    {
      std::lock_guard lock(statsMutex);
      ++counters.failures;
      counters.connected = connectedCount();
    }
    auto delay = options.retryMin * (1 << std::min(p.failures - 1, 6));
    if (delay > options.retryMax) delay = options.retryMax;
    if (!p.retry) p.retry = std::make_unique<asio::steady_timer>(io);
    p.retry->expires_after(delay);
    std::weak_ptr<Impl> weak = shared_from_this();
    p.retry->async_wait([weak, channelId, generation](boost::system::error_code ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self) return;
      auto it = self->pulls.find(channelId);
      if (it != self->pulls.end() && it->second.generation == generation) self->connect(channelId);
    });
  }

  void forward(const std::string& channelId, const client::ReceivedPacket& rp) {
    auto it = pulls.find(channelId);
    if (it == pulls.end()) return;
    auto codec = it->second.codecs.find(rp.kind);
    if (codec == it->second.codecs.end()) return;
    // Plain RTP as a publisher would send it (the origin's numbering; each viewer's is put in on the way out).
    rtp::RtpHeaderFields f{.marker = rp.marker,
                           .payloadType = codec->second.payloadType,
                           .sequenceNumber = rp.sequenceNumber,
                           .timestamp = rp.timestamp,
                           .ssrc = rp.ssrc};
    rtp::write(f, {}, rp.payload, scratch);
    engine.pushSourcePacket(channelId, rp.kind == client::MediaKind::Video ? "video" : "audio",
                            std::make_shared<const Bytes>(scratch));
    std::lock_guard lock(statsMutex);
    ++counters.packets;
  }

  void requestKeyframe(const std::string& channelId) {
    auto it = pulls.find(channelId);
    if (it != pulls.end() && it->second.peer && it->second.peer->connected()) it->second.peer->requestKeyframe();
  }

  Result<std::string> mintToken(const std::string& channelId) {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auth::Claims c;
    c.jti = "pull-" + crypto::randomId(16);
    c.topic = channelId;
    c.resource = "channel/" + channelId;
    c.userId = "node:" + options.nodeId;
    c.capabilities.allowSubscribe = true;
    c.iat = now;
    c.exp = now + options.tokenTtl.count();
    return signer.sign(c);
  }
};

ChannelPulls::ChannelPulls(engine::Engine& engine, const auth::TokenSigner& signer, ChannelPullOptions options)
    : impl_(std::make_shared<Impl>(engine, signer, std::move(options))) {
  auto cert = dtls::Certificate::generate();
  if (cert) impl_->certificate = std::move(cert).value();
  impl_->start();
}

ChannelPulls::~ChannelPulls() { impl_->stop(); }

void ChannelPulls::set(const std::string& channelId, const std::optional<control::OriginRecord>& remote) {
  std::weak_ptr<Impl> weak = impl_;
  asio::post(impl_->io, [weak, channelId, remote] {
    if (auto self = weak.lock()) self->apply(channelId, remote);
  });
}

void ChannelPulls::keyframeWanted(const std::string& stageId) {
  std::weak_ptr<Impl> weak = impl_;
  asio::post(impl_->io, [weak, stageId] {
    if (auto self = weak.lock()) self->requestKeyframe(stageId);
  });
}

ChannelPullStats ChannelPulls::stats() const {
  std::lock_guard lock(impl_->statsMutex);
  return impl_->counters;
}

}  // namespace stagecast::cluster
