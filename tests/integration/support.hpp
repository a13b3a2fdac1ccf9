#pragma once
// Helpers for in-process end-to-end tests: a server on ephemeral loopback ports, a client io_context on its own
// thread, bounded waits, and a recorder that checks received payloads.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "stagecast/app/server.hpp"
#include "stagecast/client/native_peer.hpp"
#include "stagecast/client/synthetic_publisher.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/rtp/codec_info.hpp"

namespace stagecast::itest {

using namespace stagecast::client;

// Polls `pred` until it holds or `timeout` passes (the poll interval bounds latency, never replaces the wait).
template <class Pred>
bool waitFor(Pred pred, Duration timeout, Duration poll = milliseconds(5)) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(poll);
  }
  return true;
}

// The client side: one io_context on one thread, as a benchmark would run hundreds of clients.
class ClientLoop {
 public:
  ClientLoop() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~ClientLoop() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }
  // Runs `f` on the loop's thread and returns its result.
  template <class F>
  auto call(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return fut.get();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

constexpr const char* kApiKey = "integration-test-key";

// A server config on ephemeral loopback ports, with a scratch data directory (signing key) per test process.
// Media tokens are off unless a test turns them on: most tests here are about the media plane.
inline app::ServerConfig testConfig() {
  static const std::string dataDir = [] {
    auto dir = std::filesystem::temp_directory_path() / ("stagecast-itest-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir.string();
  }();
  app::ServerConfig cfg;
  cfg.http = "127.0.0.1:0";
  cfg.udp = "127.0.0.1:0";
  cfg.workers = 1;
  cfg.logLevel = "warn";
  cfg.dataDir = dataDir;
  cfg.apiKeys = {kApiKey};
  cfg.mediaAuth = false;
  cfg.httpThreads = 2;
  return cfg;
}

inline std::unique_ptr<app::Server> startServer(int consentTimeoutSeconds = 30, std::size_t workers = 1) {
  app::ServerConfig cfg = testConfig();
  cfg.workers = workers;
  cfg.logLevel = "warn";
  cfg.consentTimeoutSeconds = consentTimeoutSeconds;
  spdlog::set_level(spdlog::level::warn);
  auto s = app::Server::create(cfg);
  if (!s) {
    ADD_FAILURE() << "server: " << s.error().code << " " << s.error().message;
    return nullptr;
  }
  auto server = std::move(s).value();
  if (auto st = server->start(); !st) ADD_FAILURE() << "start: " << st.error().message;
  return server;
}

inline std::shared_ptr<dtls::Certificate> clientCertificate() {
  static std::shared_ptr<dtls::Certificate> cert = [] {
    auto c = dtls::Certificate::generate("stagecast-test-client");
    return c ? std::move(c).value() : nullptr;
  }();
  return cert;
}

struct Rec {
  std::int64_t ext = 0;
  std::uint32_t ssrc = 0;
  std::uint32_t timestamp = 0;
  bool marker = false;
  bool keyStart = false;
  bool retransmission = false;
  std::optional<PayloadTag> tag;
};

// Collects what a viewer receives (callbacks on the loop thread; reads from the test thread).
class Recorder {
 public:
  explicit Recorder(VideoCodecKind codec = VideoCodecKind::H264) : codec_(codec) {}

  void onRtp(const ReceivedPacket& p) {
    Rec r;
    r.ext = p.extendedSequence;
    r.ssrc = p.ssrc;
    r.timestamp = p.timestamp;
    r.marker = p.marker;
    r.retransmission = p.retransmission;
    r.tag = inspectPayload(p.kind, codec_, p.payload);
    if (p.kind == MediaKind::Video) {
      r.keyStart = rtp::isKeyframeStart(codec_ == VideoCodecKind::H264 ? rtp::VideoCodec::H264 : rtp::VideoCodec::VP8,
                                        p.payload);
    }
    std::lock_guard lock(mu_);
    (p.kind == MediaKind::Audio ? audio_ : video_).push_back(r);
    if (!r.tag) ++corrupt_;
  }
  std::function<void(const ReceivedPacket&)> handler() {
    return [this](const ReceivedPacket& p) { onRtp(p); };
  }

  std::vector<Rec> packets(MediaKind k) const {
    std::lock_guard lock(mu_);
    return k == MediaKind::Audio ? audio_ : video_;
  }
  std::size_t count(MediaKind k) const {
    std::lock_guard lock(mu_);
    return k == MediaKind::Audio ? audio_.size() : video_.size();
  }
  std::size_t corrupt() const {
    std::lock_guard lock(mu_);
    return corrupt_;
  }
  // Whether a payload with this stream id and frame (last packet of it for video) has arrived.
  bool has(MediaKind k, std::uint16_t stream, std::uint32_t frame) const {
    std::lock_guard lock(mu_);
    for (const auto& r : k == MediaKind::Audio ? audio_ : video_) {
      if (r.tag && r.tag->streamId == stream && r.tag->frame == frame && r.tag->index + 1 == r.tag->count) return true;
    }
    return false;
  }

 private:
  VideoCodecKind codec_;
  mutable std::mutex mu_;
  std::vector<Rec> audio_;
  std::vector<Rec> video_;
  std::size_t corrupt_ = 0;
};

struct StreamCheck {
  bool ok = true;
  std::string why;
  std::map<std::uint16_t, std::pair<std::uint32_t, std::uint32_t>> frames;  // stream id → first, last frame
  std::size_t packets = 0;
  std::optional<Rec> first;
};

// Sorts by sequence number and checks: no gap in the sequence numbers, every payload intact, payloads in order
// (frame by frame, packet by packet; audio counter by counter), one SSRC, the marker on each frame's last packet.
// A change of stream id (publisher replaced) may cut a frame; the new stream must start on a keyframe.
inline StreamCheck checkStream(std::vector<Rec> recs, MediaKind kind) {
  StreamCheck c;
  auto fail = [&c](const std::string& why) {
    if (c.ok) c.why = why;
    c.ok = false;
  };
  std::sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) { return a.ext < b.ext; });
  c.packets = recs.size();
  if (recs.empty()) {
    fail("no packets");
    return c;
  }
  c.first = recs.front();
  for (std::size_t i = 0; i < recs.size(); ++i) {
    const Rec& r = recs[i];
    std::ostringstream at;
    at << toString(kind) << " packet #" << i << " (ext seq " << r.ext << ")";
    if (!r.tag) {
      fail(at.str() + ": payload corrupt or unknown");
      continue;
    }
    auto [range, fresh] = c.frames.try_emplace(r.tag->streamId, r.tag->frame, r.tag->frame);
    range->second.first = std::min(range->second.first, r.tag->frame);
    range->second.second = std::max(range->second.second, r.tag->frame);
    if (r.ssrc != recs.front().ssrc) fail(at.str() + ": SSRC changed");
    if (kind == MediaKind::Video && r.marker != (r.tag->index + 1 == r.tag->count)) fail(at.str() + ": marker");
    if (i == 0) continue;
    const Rec& p = recs[i - 1];
    if (r.ext != p.ext + 1) fail(at.str() + ": sequence gap after " + std::to_string(p.ext));
    if (!p.tag) continue;
    if (r.tag->streamId != p.tag->streamId) {
      if (kind == MediaKind::Video && !r.tag->keyframe) fail(at.str() + ": new stream does not start on a keyframe");
      continue;
    }
    const PayloadTag& a = *p.tag;
    const PayloadTag& b = *r.tag;
    const bool next = (b.frame == a.frame && b.index == a.index + 1) ||
                      (b.frame == a.frame + 1 && b.index == 0 && a.index + 1 == a.count);
    if (!next) {
      fail(at.str() + ": out of order: frame " + std::to_string(a.frame) + "/" + std::to_string(a.index) + " then " +
           std::to_string(b.frame) + "/" + std::to_string(b.index));
    }
    if (b.frame == a.frame && r.timestamp != p.timestamp) fail(at.str() + ": timestamp changed within a frame");
  }
  return c;
}

inline std::size_t openFds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

inline std::size_t rssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

}  // namespace stagecast::itest
