// Fan-out benchmark client: one synthetic publisher (H.264 + Opus) into a stage and N light native WHEP viewers
// (ICE + DTLS-SRTP; they count and sequence-check packets, no decoding), all on one thread. The server runs in
// its own process (see bench/fanout.sh, which pins the server and this program to different cores).
//
// For each subscriber count it reports: delivery loss without retransmission, egress packets/s, server CPU per
// forwarded packet, server RSS per subscriber; then time-to-first-frame of viewers joining mid-GOP.
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "stagecast/client/native_peer.hpp"
#include "stagecast/client/synthetic_publisher.hpp"
#include "stagecast/common/log.hpp"

using namespace stagecast;
using namespace stagecast::client;
namespace asio = boost::asio;

namespace {

struct ProcSample {
  double cpuSeconds = 0;
  double rssMb = 0;
};

ProcSample sampleProcess(int pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the command name (which may hold spaces) start after the last ')'.
  auto rest = line.substr(line.rfind(')') + 2);
  std::istringstream in(rest);
  std::string field;
  std::vector<std::string> f;
  while (in >> field) f.push_back(field);
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (f.size() > 13) s.cpuSeconds = (std::stod(f[11]) + std::stod(f[12])) / tick;  // utime + stime
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rssMb = std::stod(line.substr(6)) / 1024.0;
  }
  return s;
}

// Runs `fn` on the io thread and waits for it.
template <class F>
auto onIo(asio::io_context& io, F fn) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto fut = task.get_future();
  asio::post(io, [&task] { task(); });
  return fut.get();
}

struct ViewerSnapshot {
  std::uint64_t packets = 0;
  std::int64_t expected = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Stagecast fan-out benchmark client"};
  std::uint16_t httpPort = 8080;
  int serverPid = 0;
  std::vector<int> counts{100, 250, 500, 1000};
  double duration = 10;
  std::uint64_t bitrate = 2'500'000;
  int joinSamples = 20;
  std::string stage = "bench";
  cli.add_option("--http-port", httpPort, "server HTTP port")->required();
  cli.add_option("--server-pid", serverPid, "server process id (for CPU and RSS)")->required();
  cli.add_option("--subscribers", counts, "subscriber counts to measure, ascending")->delimiter(',');
  cli.add_option("--duration", duration, "seconds measured per step");
  cli.add_option("--bitrate", bitrate, "publisher video bitrate (bit/s)");
  cli.add_option("--join-samples", joinSamples, "viewers joining mid-GOP for time-to-first-frame");
  CLI11_PARSE(cli, argc, argv);
  log::init("warn");

  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  std::thread ioThread([&io] { io.run(); });
  auto cert = dtls::Certificate::generate();
  if (!cert) {
    std::cerr << "certificate: " << cert.error().message << "\n";
    return 1;
  }

  NativePeerOptions pubOpt;
  pubOpt.role = Role::Publisher;
  pubOpt.httpPort = httpPort;
  pubOpt.stage = stage;
  pubOpt.certificate = *cert;
  auto publisher = NativePeer::connect(io, pubOpt);
  if (!publisher) {
    std::cerr << "publisher: " << publisher.error().code << " " << publisher.error().message << "\n";
    return 1;
  }
  SyntheticPublisherOptions spo;
  spo.videoSource.bitrate = bitrate;
  spo.videoSource.fps = 30;
  spo.videoSource.gop = seconds(1);
  spo.videoSource.maxPacketSize = 1200;
  std::shared_ptr<SyntheticPublisher> source;
  onIo(io, [&] {
    source = SyntheticPublisher::create(io, *publisher, spo);
    return 0;
  });

  auto waitUntil = [&](auto pred, Duration timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (onIo(io, pred)) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  };
  if (!waitUntil([&] { return (*publisher)->connected(); }, seconds(10))) {
    std::cerr << "publisher did not connect\n";
    return 1;
  }
  std::this_thread::sleep_for(seconds(2));  // let the stage see a keyframe
  const ProcSample base = sampleProcess(serverPid);

  std::vector<std::shared_ptr<NativePeer>> viewers;
  auto connectViewer = [&](bool nacks) -> std::shared_ptr<NativePeer> {
    NativePeerOptions o;
    o.countOnly = !nacks;  // load viewers count packets; measured viewers decrypt and check
    o.role = Role::Viewer;
    o.httpPort = httpPort;
    o.stage = stage;
    o.certificate = *cert;
    o.sendNacks = nacks;
    auto v = NativePeer::connect(io, o);
    if (!v) {
      std::cerr << "viewer: " << v.error().code << " " << v.error().message << "\n";
      return nullptr;
    }
    return *v;
  };

  std::printf("%-12s %-10s %-14s %-14s %-16s %-12s %-14s\n", "subscribers", "loss_%", "egress_pkt/s", "server_cpu_%",
              "cpu_us_per_pkt", "rss_mb", "rss_kb_per_sub");
  for (int n : counts) {
    while (static_cast<int>(viewers.size()) < n) {
      auto v = connectViewer(false);
      if (!v) return 1;
      viewers.push_back(v);
    }
    if (!waitUntil(
            [&] {
              return std::all_of(viewers.begin(), viewers.end(), [](auto& v) { return v->stats().video.packets > 0; });
            },
            seconds(30))) {
      std::cerr << "not every viewer received video at n=" << n << "\n";
    }
    std::this_thread::sleep_for(seconds(1));
    auto snap = [&] {
      return onIo(io, [&] {
        std::vector<ViewerSnapshot> out;
        for (auto& v : viewers) {
          const auto& st = v->stats();
          out.push_back({st.video.packets + st.audio.packets, st.video.highestExtended + st.audio.highestExtended});
        }
        return out;
      });
    };
    const auto s0 = snap();
    const ProcSample p0 = sampleProcess(serverPid);
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(duration));
    const auto s1 = snap();
    const ProcSample p1 = sampleProcess(serverPid);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::uint64_t received = 0;
    std::int64_t expected = 0;
    for (std::size_t i = 0; i < s0.size(); ++i) {
      received += s1[i].packets - s0[i].packets;
      expected += s1[i].expected - s0[i].expected;
    }
    const double loss =
        expected > 0 ? 100.0 * (1.0 - static_cast<double>(received) / static_cast<double>(expected)) : 100.0;
    const double cpu = p1.cpuSeconds - p0.cpuSeconds;
    std::printf("%-12d %-10.3f %-14.0f %-14.1f %-16.2f %-12.1f %-14.1f\n", n, std::max(0.0, loss), received / secs,
                100.0 * cpu / secs, received > 0 ? 1e6 * cpu / static_cast<double>(received) : 0.0, p1.rssMb,
                1024.0 * (p1.rssMb - base.rssMb) / n);
    std::fflush(stdout);
  }

  // Time to first frame for viewers joining at random points of the GOP: from the WHEP request to the last
  // packet of the first (key)frame.
  std::vector<double> ttff;
  std::mt19937 rng(42);
  for (int i = 0; i < joinSamples; ++i) {
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(50, 950)(rng)));
    const auto t0 = Clock::now();
    auto v = connectViewer(true);
    if (!v) return 1;
    auto done = std::make_shared<std::atomic<bool>>(false);
    auto firstFrameAt = std::make_shared<TimePoint>();
    onIo(io, [&] {
      auto firstTs = std::make_shared<std::optional<std::uint32_t>>();
      v->setRtpHandler([done, firstFrameAt, firstTs](const ReceivedPacket& p) {
        if (p.kind != MediaKind::Video || *done) return;
        if (!*firstTs) *firstTs = p.timestamp;
        if (p.timestamp == **firstTs && p.marker) {
          *firstFrameAt = p.at;
          *done = true;
        }
      });
      return 0;
    });
    if (!waitUntil([&] { return done->load(); }, seconds(5))) {
      std::cerr << "viewer " << i << " got no first frame\n";
      continue;
    }
    const bool key = onIo(io, [&] { return v->stats().video.firstPacketWasKeyframe; });
    if (!key) std::cerr << "viewer " << i << " did not start on a keyframe\n";
    ttff.push_back(std::chrono::duration<double, std::milli>(*firstFrameAt - t0).count());
    (void)v->sendDelete();
    onIo(io, [&] {
      v->stop();
      return 0;
    });
  }
  std::sort(ttff.begin(), ttff.end());
  auto pct = [&](double q) {
    return ttff.empty() ? 0.0 : ttff[std::min(ttff.size() - 1, static_cast<std::size_t>(q * ttff.size()))];
  };
  std::printf("time_to_first_frame_ms samples=%zu p50=%.1f p95=%.1f max=%.1f\n", ttff.size(), pct(0.5), pct(0.95),
              ttff.empty() ? 0.0 : ttff.back());

  for (auto& v : viewers) (void)v->sendDelete();
  onIo(io, [&] {
    source->stop();
    for (auto& v : viewers) v->stop();
    (*publisher)->stop();
    return 0;
  });
  guard.reset();
  io.stop();
  ioThread.join();
  return 0;
}
