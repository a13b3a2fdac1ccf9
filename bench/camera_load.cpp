// Camera preview load client: N light native viewers of camera previews, all on one thread, for
// bench/camera_preview.sh. It speaks either Stagecast's camera preview API (POST /api/cameras/preview/webrtc/offer
// with x-api-key) or the reference server's POST /offer (bench/camera_ref.py), so both are loaded by the same client.
//
// A viewer offers recvonly H.264 (or VP8) with its own host candidate (a full ICE agent answering needs one),
// connects as the controlling ICE agent (RFC 8445 §6.1.1), runs DTLS-SRTP in the role the answer gives it
// (RFC 5763 §5), and then counts RTP packets from their clear header (RFC 3711 §3.1) without decrypting or decoding:
// sequence gaps give loss (no NACKs are sent), marker bits give frames (RFC 6184 §5.1, RFC 7741 §4.1), and each
// frame's arrival time against its RTP timestamp gives its lateness.
//
// For each step (total viewers, spread round-robin over the cameras) it prints loss, frame rate per viewer,
// late frames and the server's CPU, and whether the step held: every viewer connected and received video,
// loss < --max-loss %, every viewer's frame rate >= --min-fps, late frames < --max-late %.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stagecast/client/http_client.hpp"
#include "stagecast/client/offer.hpp"
#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/rtp/rtp_packet.hpp"
#include "stagecast/sdp/session_description.hpp"
#include "stagecast/webrtc/peer_connection.hpp"

using namespace stagecast;
namespace asio = boost::asio;
using udp = asio::ip::udp;
using nlohmann::json;

namespace {

enum class Target { Stagecast, Reference };

struct Camera {
  std::string url;  // rtsp://host:port/path
  std::string host;
  std::uint16_t port = 554;
  std::string path = "/";
};

std::optional<Camera> parseCamera(const std::string& url) {
  const std::string scheme = "rtsp://";
  if (url.rfind(scheme, 0) != 0) return std::nullopt;
  Camera c;
  c.url = url;
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) c.path = rest.substr(slash);
  const auto colon = authority.rfind(':');
  c.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    const int port = std::atoi(authority.substr(colon + 1).c_str());
    if (port < 1 || port > 65535) return std::nullopt;
    c.port = static_cast<std::uint16_t>(port);
  }
  if (c.host.empty()) return std::nullopt;
  return c;
}

struct Signalling {
  Target target = Target::Stagecast;
  std::uint16_t httpPort = 0;
  std::string apiKey;
  client::VideoCodecKind codec = client::VideoCodecKind::H264;

  std::vector<std::pair<std::string, std::string>> headers() const {
    if (target == Target::Stagecast) return {{"x-api-key", apiKey}};
    return {};
  }
};

// Set once the client starts hanging up: the servers then close the sessions, which is not worth reporting.
std::atomic<bool> hangingUp{false};

double secondsOf(Duration d) { return std::chrono::duration<double>(d).count(); }

Endpoint toEndpoint(const udp::endpoint& ep) {
  if (ep.address().is_v4()) return Endpoint::v4(ep.address().to_v4().to_uint(), ep.port());
  return *Endpoint::fromIp(ep.address().to_string(), ep.port());
}

udp::endpoint toAsio(const Endpoint& e) {
  if (!e.v6) {
    const std::uint32_t ip = (std::uint32_t{e.addr[0]} << 24) | (std::uint32_t{e.addr[1]} << 16) |
                             (std::uint32_t{e.addr[2]} << 8) | e.addr[3];
    return {asio::ip::address_v4(ip), e.port};
  }
  asio::ip::address_v6::bytes_type b;
  std::copy(e.addr.begin(), e.addr.end(), b.begin());
  return {asio::ip::address_v6(b), e.port};
}

// One preview viewer. connect() runs on the calling thread; everything else on the io thread.
class Viewer final : public std::enable_shared_from_this<Viewer>, private webrtc::PeerListener {
 public:
  struct Counters {
    std::uint64_t packets = 0;
    std::int64_t highest = -1;  // extended sequence number (RFC 3550 Appendix A.1)
    std::uint64_t frames = 0;
  };

  Viewer(asio::io_context& io, std::shared_ptr<dtls::Certificate> cert)
      : socket_(io), timer_(io), cert_(std::move(cert)) {}

  // Offers, posts the offer, applies the answer and posts the start. Errors: the server's error code, HTTP_*,
  // ANSWER_INVALID, SOCKET_FAILED.
  static Result<std::shared_ptr<Viewer>> connect(asio::io_context& io, std::shared_ptr<dtls::Certificate> cert,
                                                 const Signalling& sig, const Camera& camera) {
    auto self = std::make_shared<Viewer>(io, std::move(cert));
    if (auto st = self->negotiate(sig, camera); !st) return st.error();
    asio::post(io, [self] { self->start(); });
    return self;
  }

  // --- io thread ---
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    timer_.cancel();
  }
  [[nodiscard]] bool receiving() const { return counters_.packets > 0 && !closed_; }
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] const Counters& counters() const { return counters_; }
  // Frame lateness: the delays (arrival - RTP time) of frames completed while recording, and the smallest delay
  // seen since the viewer started (the baseline a frame on time has).
  void record(bool on) {
    recording_ = on;
    if (on) delays_.clear();
  }
  [[nodiscard]] const std::vector<double>& delays() const { return delays_; }
  [[nodiscard]] double minDelay() const { return minDelay_; }

  // --- any thread ---
  [[nodiscard]] const std::string& sessionId() const { return sessionId_; }

 private:
  Status negotiate(const Signalling& sig, const Camera& camera) {
    boost::system::error_code ec;
    socket_.open(udp::v4(), ec);
    if (!ec) socket_.bind(udp::endpoint(asio::ip::address_v4::loopback(), 0), ec);
    if (ec) return Error("SOCKET_FAILED", ec.message());
    const auto local = socket_.local_endpoint(ec);
    if (ec) return Error("SOCKET_FAILED", ec.message());

    client::OfferOptions offer;
    offer.role = client::Role::Viewer;
    offer.audio = false;
    offer.video = true;
    offer.videoCodec = sig.codec;
    offer.iceUfrag = crypto::randomIceString(8);
    offer.icePwd = crypto::randomIceString(24);
    offer.fingerprint = cert_->fingerprintSha256();
    offer.cname = crypto::randomId(12);
    std::string sdp = client::buildOfferSdp(offer);
    // Our host candidate (RFC 8839 §5.1): an ICE-lite server ignores it, a full agent (the reference) needs a
    // candidate to check. The video section is the last one of the offer.
    if (sdp.empty() || sdp.back() != '\n') sdp += "\r\n";
    sdp += "a=candidate:1 1 udp 2130706431 127.0.0.1 " + std::to_string(local.port()) + " typ host\r\n";
    sdp += "a=end-of-candidates\r\n";

    client::HttpClient http("127.0.0.1", sig.httpPort, std::chrono::seconds(20));
    json body;
    std::string path;
    if (sig.target == Target::Stagecast) {
      path = "/api/cameras/preview/webrtc/offer";
      body = {{"ip", camera.host}, {"port", camera.port}, {"path", camera.path}, {"sdp", sdp}, {"type", "offer"}};
    } else {
      path = "/offer";
      body = {{"url", camera.url}, {"sdp", sdp}, {"type", "offer"}};
    }
    auto resp = http.post(path, body.dump(), "application/json", sig.headers());
    if (!resp) return resp.error();
    auto doc = json::parse(resp->body, nullptr, false);
    if (resp->status != 200 || !doc.is_object()) {
      std::string code = resp->errorCode();
      if (code.empty()) code = "HTTP_" + std::to_string(resp->status);
      return Error(code, "POST " + path + " answered " + std::to_string(resp->status) + ": " + resp->body);
    }
    const json data = sig.target == Target::Stagecast ? doc.value("data", json::object()) : doc;
    if (!data.is_object() || !data.contains("sdp") || !data["sdp"].is_string() || !data.contains("sessionId") ||
        !data["sessionId"].is_string()) {
      return Error("ANSWER_INVALID", "no sdp or sessionId in " + resp->body);
    }
    sessionId_ = data["sessionId"].get<std::string>();
    auto answer = sdp::parse(data["sdp"].get<std::string>());
    if (!answer) return Error("ANSWER_INVALID", answer.error().message);
    if (answer->media.empty()) return Error("ANSWER_INVALID", "answer without media");
    const sdp::MediaSection& first = answer->media.front();
    auto ufrag = answer->iceUfragFor(first);
    auto pwd = answer->icePwdFor(first);
    auto fp = answer->fingerprintFor(first);
    if (!ufrag || !pwd || !fp) return Error("ANSWER_INVALID", "answer without ICE credentials or fingerprint");
    std::optional<Endpoint> candidate;
    for (const auto& m : answer->media) {
      for (const auto& c : m.candidates) {
        if (!candidate && c.transport == "udp" && c.type == "host" && c.component == 1) {
          candidate = Endpoint::fromIp(c.address, c.port);
        }
      }
      if (m.kind != "video" || m.port == 0) continue;
      for (const auto& c : m.codecs) {
        if (c.isRtx()) continue;
        videoPt_ = c.payloadType;
        break;
      }
    }
    if (!candidate) return Error("ANSWER_INVALID", "answer without a UDP host candidate");

    webrtc::PeerConfig pc;
    pc.certificate = cert_;
    pc.localUfrag = offer.iceUfrag;
    pc.localPwd = offer.icePwd;
    pc.remoteUfrag = *ufrag;
    pc.remotePwd = *pwd;
    pc.remoteFingerprintAlgorithm = fp->algorithm;
    pc.remoteFingerprint = fp->value;
    // RFC 5763 §5: the answerer chose; "active" means it starts the handshake and we are the DTLS server.
    const auto setup = answer->setupFor(first).value_or(sdp::SetupRole::Passive);
    pc.dtlsRole = setup == sdp::SetupRole::Active ? dtls::Role::Server : dtls::Role::Client;
    pc.iceControlling = true;
    pc.remoteCandidate = *candidate;
    pc.iceClient.consentInterval = std::chrono::seconds(1);
    pc.dtlsTimeout = std::chrono::seconds(15);
    peer_ = std::make_unique<webrtc::PeerConnection>(pc, static_cast<webrtc::PeerListener&>(*this), Clock::now());
    return {};
  }

  void start() {
    if (stopped_) return;
    receive();
    peer_->start(Clock::now());
    schedule();
  }

  void receive() {
    socket_.async_receive_from(asio::buffer(rx_), from_,
                               [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                                 if (self->stopped_ || ec == asio::error::operation_aborted) return;
                                 if (!ec) self->onDatagram(n);
                                 self->receive();
                               });
  }

  void onDatagram(std::size_t size) {
    const BytesView d(rx_.data(), size);
    const TimePoint now = Clock::now();
    if (peer_->connected() && rtp::looksLikeRtpOrRtcp(d) && !rtp::looksLikeRtcp(d)) {
      // RFC 3711 §3.1: the header of an SRTP packet is the clear RTP header; count without decrypting.
      auto h = rtp::parse(d);
      if (h && h->payloadType == videoPt_) countPacket(*h, now);
      return;
    }
    peer_->handleDatagram(d, toEndpoint(from_), now);
    schedule();
  }

  void countPacket(const rtp::RtpPacket& h, TimePoint now) {
    // RFC 3550 Appendix A.1: extend the 16-bit sequence number; older packets and duplicates are not counted.
    std::int64_t ext = h.sequenceNumber;
    if (counters_.highest >= 0) {
      const auto last = static_cast<std::uint16_t>(counters_.highest & 0xFFFF);
      if (!rtp::seqNewer(h.sequenceNumber, last)) return;
      ext = counters_.highest + static_cast<std::uint16_t>(h.sequenceNumber - last);
    }
    counters_.highest = ext;
    ++counters_.packets;
    if (!h.marker) return;
    // A frame is complete with its marker bit. Unwrap the 32-bit 90 kHz timestamp and compare with arrival.
    if (!lastTs_) {
      tsExt_ = h.timestamp;
    } else {
      tsExt_ += static_cast<std::int32_t>(h.timestamp - *lastTs_);
    }
    lastTs_ = h.timestamp;
    ++counters_.frames;
    if (!epoch_) epoch_ = now;
    const double delay = secondsOf(now - *epoch_) - static_cast<double>(tsExt_) / 90000.0;
    minDelay_ = std::min(minDelay_, delay);
    if (recording_) delays_.push_back(delay);
  }

  void schedule() {
    if (stopped_) return;
    const TimePoint next = std::min(peer_->nextTimeout(), Clock::now() + std::chrono::seconds(5));
    if (timerArmed_ && next >= armedFor_) return;
    armedFor_ = next;
    timerArmed_ = true;
    timer_.expires_at(next);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted || self->stopped_) return;
      self->timerArmed_ = false;
      const TimePoint now = Clock::now();
      if (now >= self->peer_->nextTimeout()) self->peer_->handleTimeout(now);
      self->schedule();
    });
  }

  // webrtc::PeerListener
  void onPeerSend(BytesView datagram, const Endpoint& to) override {
    if (stopped_) return;
    boost::system::error_code ec;
    socket_.send_to(asio::buffer(datagram.data(), datagram.size()), toAsio(to), 0, ec);
  }
  void onPeerAddressValidated(const Endpoint&) override {}
  void onPeerConnected(TimePoint) override {}
  void onPeerRtp(const rtp::RtpPacket& parsed, Bytes&, TimePoint now) override {
    if (parsed.payloadType == videoPt_) countPacket(parsed, now);
  }
  void onPeerRtcp(BytesView, TimePoint) override {}
  void onPeerClosed(const Error& reason) override {
    closed_ = true;
    static int reported = 0;  // the io thread only
    if (!hangingUp.load() && ++reported <= 5)
      std::cerr << "viewer " << sessionId_ << " closed: " << reason.code << " " << reason.message << "\n";
  }

  udp::socket socket_;
  asio::steady_timer timer_;
  std::shared_ptr<dtls::Certificate> cert_;
  std::unique_ptr<webrtc::PeerConnection> peer_;
  udp::endpoint from_;
  std::array<std::uint8_t, 2048> rx_{};
  std::string sessionId_;
  std::uint8_t videoPt_ = 0;
  bool stopped_ = false;
  bool closed_ = false;
  bool timerArmed_ = false;
  TimePoint armedFor_ = TimePoint::max();
  Counters counters_;
  std::optional<std::uint32_t> lastTs_;
  std::int64_t tsExt_ = 0;
  std::optional<TimePoint> epoch_;
  double minDelay_ = 1e18;
  bool recording_ = false;
  std::vector<double> delays_;
};

struct ProcSample {
  double cpuSeconds = 0;
  double rssMb = 0;
};

ProcSample sampleProcess(int pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 > line.size()) return s;
  std::istringstream in(line.substr(paren + 2));  // fields after the command name, which may hold spaces
  std::vector<std::string> f;
  for (std::string field; in >> field;) f.push_back(field);
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (f.size() > 13) s.cpuSeconds = (std::stod(f[11]) + std::stod(f[12])) / tick;  // utime + stime, all threads
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rssMb = std::stod(line.substr(6)) / 1024.0;
  }
  return s;
}

template <class F>
auto onIo(asio::io_context& io, F fn) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto fut = task.get_future();
  asio::post(io, [&task] { task(); });
  return fut.get();
}

// The server's own count of pulls and preview sessions (-1 when unavailable).
std::pair<int, int> serverStats(const Signalling& sig) {
  client::HttpClient http("127.0.0.1", sig.httpPort, std::chrono::seconds(5));
  client::HttpRequest req;
  req.target = sig.target == Target::Stagecast ? "/api/cameras/preview/stats" : "/stats";
  req.headers = sig.headers();
  auto resp = http.send(req);
  if (!resp || resp->status != 200) return {-1, -1};
  auto doc = json::parse(resp->body, nullptr, false);
  if (!doc.is_object()) return {-1, -1};
  const json& d = sig.target == Target::Stagecast && doc.contains("data") ? doc["data"] : doc;
  auto count = [&d](const char* name) {
    if (!d.is_object() || !d.contains(name) || !d[name].is_number_integer()) return -1;
    return d[name].get<int>();
  };
  return {count("pulls"), count("sessions")};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"camera preview load client (Stagecast or the aiortc reference)"};
  std::string target = "stagecast";
  Signalling sig;
  int serverPid = 0;
  std::vector<std::string> cameraUrls;
  std::vector<int> steps{1, 10};
  double duration = 10;
  double settle = 2;
  double fps = 30;
  double minFpsRatio = 0.95;
  double maxLossPct = 0.1;
  double maxLatePct = 1.0;
  double lateMs = 200;
  std::string codec = "h264";
  bool keepGoing = false;
  cli.add_option("--target", target, "stagecast or ref")->check(CLI::IsMember({"stagecast", "ref"}));
  cli.add_option("--http-port", sig.httpPort, "server HTTP port")->required();
  cli.add_option("--api-key", sig.apiKey, "x-api-key (Stagecast)");
  cli.add_option("--server-pid", serverPid, "server process id (CPU, RSS)")->required();
  cli.add_option("--camera", cameraUrls, "rtsp:// URL; viewers are spread round-robin over the cameras")->required();
  cli.add_option("--steps", steps, "total viewers per step, ascending (0: no viewer, the idle server)")->delimiter(',');
  cli.add_option("--duration", duration, "seconds measured per step");
  cli.add_option("--settle", settle, "seconds between the last join and the measurement");
  cli.add_option("--fps", fps, "the camera's frame rate");
  cli.add_option("--min-fps-ratio", minFpsRatio, "a step holds if every viewer gets at least this share of --fps");
  cli.add_option("--max-loss", maxLossPct, "a step holds with less packet loss than this (%)");
  cli.add_option("--late-ms", lateMs, "a frame is late when it arrives this much later than the viewer's best");
  cli.add_option("--max-late", maxLatePct, "a step holds with fewer late frames than this (%)");
  cli.add_option("--codec", codec, "video codec offered")->check(CLI::IsMember({"h264", "vp8"}));
  cli.add_flag("--keep-going", keepGoing, "measure every step even after one did not hold");
  CLI11_PARSE(cli, argc, argv);
  log::init("error");
  sig.target = target == "ref" ? Target::Reference : Target::Stagecast;
  sig.codec = codec == "vp8" ? client::VideoCodecKind::VP8 : client::VideoCodecKind::H264;
  std::vector<Camera> cameras;
  for (const auto& u : cameraUrls) {
    auto c = parseCamera(u);
    if (!c) {
      std::cerr << "not an rtsp://host:port/path URL: " << u << "\n";
      return 2;
    }
    cameras.push_back(*c);
  }

  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  std::thread ioThread([&io] { io.run(); });
  auto cert = dtls::Certificate::generate("camera-load");
  if (!cert) {
    std::cerr << "certificate: " << cert.error().message << "\n";
    return 1;
  }

  std::vector<std::shared_ptr<Viewer>> viewers;
  std::printf("%-8s %-8s %-10s %-9s %-9s %-9s %-8s %-12s %-8s %-6s %-6s %-12s %-7s %s\n", "viewers", "cameras",
              "connected", "loss_%", "fps_min", "fps_avg", "late_%", "server_cpu_%", "rss_mb", "pulls", "holds",
              "client_cpu_%", "join_s", "excess_delay_ms_p50/p99/max");
  std::fflush(stdout);
  int exitStatus = 0;
  for (int n : steps) {
    int failures = 0;
    const auto joinStart = Clock::now();
    while (static_cast<int>(viewers.size()) < n) {
      const Camera& cam = cameras[viewers.size() % cameras.size()];
      auto v = Viewer::connect(io, *cert, sig, cam);
      if (!v) {
        std::cerr << "viewer " << viewers.size() << " (" << cam.url << "): " << v.error().code << " "
                  << v.error().message << "\n";
        if (++failures > 3) break;
        continue;
      }
      viewers.push_back(*v);
    }
    // Every viewer must receive video (a cold camera needs its RTSP setup and a keyframe first).
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    std::size_t receiving = 0;
    while (Clock::now() < deadline) {
      receiving = onIo(io, [&] {
        return static_cast<std::size_t>(
            std::count_if(viewers.begin(), viewers.end(), [](auto& v) { return v->receiving(); }));
      });
      if (receiving == viewers.size()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double joinSeconds = secondsOf(Clock::now() - joinStart);
    std::this_thread::sleep_for(std::chrono::duration<double>(settle));

    auto snapshot = [&] {
      return onIo(io, [&] {
        std::vector<Viewer::Counters> out;
        for (auto& v : viewers) out.push_back(v->counters());
        return out;
      });
    };
    onIo(io, [&] {
      for (auto& v : viewers) v->record(true);
      return 0;
    });
    const auto s0 = snapshot();
    const ProcSample p0 = sampleProcess(serverPid);
    const ProcSample c0 = sampleProcess(static_cast<int>(getpid()));
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(duration));
    const auto s1 = snapshot();
    const ProcSample p1 = sampleProcess(serverPid);
    const ProcSample c1 = sampleProcess(static_cast<int>(getpid()));
    const double secs = secondsOf(Clock::now() - t0);
    struct Late {
      std::uint64_t frames = 0;
      std::uint64_t late = 0;
      std::size_t closed = 0;
      std::vector<double> excessMs;  // per frame: its delay minus its viewer's smallest delay
    };
    Late late = onIo(io, [&] {
      Late l;
      for (auto& v : viewers) {
        v->record(false);
        if (v->closed()) ++l.closed;
        for (double d : v->delays()) {
          ++l.frames;
          const double excess = (d - v->minDelay()) * 1000.0;
          l.excessMs.push_back(excess);
          if (excess > lateMs) ++l.late;
        }
      }
      return l;
    });

    std::uint64_t received = 0;
    std::int64_t expected = 0;
    double fpsMin = viewers.empty() ? 0 : 1e9;
    double fpsSum = 0;
    for (std::size_t i = 0; i < s0.size(); ++i) {
      received += s1[i].packets - s0[i].packets;
      if (s0[i].highest >= 0) {
        expected += s1[i].highest - s0[i].highest;
      } else {
        expected += s1[i].highest + 1;  // started inside the window (counted from its first packet)
      }
      const double f = static_cast<double>(s1[i].frames - s0[i].frames) / secs;
      fpsMin = std::min(fpsMin, f);
      fpsSum += f;
    }
    const double loss =
        expected > 0 ? std::max(0.0, 100.0 * (1.0 - static_cast<double>(received) / static_cast<double>(expected)))
                     : (viewers.empty() ? 0.0 : 100.0);
    const double latePct = late.frames > 0 ? 100.0 * static_cast<double>(late.late) / late.frames : 0.0;
    const double cpuPct = 100.0 * (p1.cpuSeconds - p0.cpuSeconds) / secs;
    const auto [pulls, sessions] = serverStats(sig);
    (void)sessions;
    const bool holds = failures == 0 && receiving == viewers.size() && late.closed == 0 && loss < maxLossPct &&
                       (viewers.empty() || fpsMin >= fps * minFpsRatio) && latePct < maxLatePct;
    std::sort(late.excessMs.begin(), late.excessMs.end());
    auto excessAt = [&](double q) {
      if (late.excessMs.empty()) return 0.0;
      return late.excessMs[std::min(late.excessMs.size() - 1, static_cast<std::size_t>(q * late.excessMs.size()))];
    };
    std::printf(
        "%-8zu %-8zu %-10zu %-9.3f %-9.1f %-9.1f %-8.2f %-12.1f %-8.1f %-6d %-6s %-12.1f %-7.1f %.0f/%.0f/%.0f\n",
        viewers.size(), std::min(viewers.size(), cameras.size()), receiving, loss, viewers.empty() ? 0.0 : fpsMin,
        viewers.empty() ? 0.0 : fpsSum / static_cast<double>(viewers.size()), latePct, cpuPct, p1.rssMb, pulls,
        holds ? "yes" : "no", 100.0 * (c1.cpuSeconds - c0.cpuSeconds) / secs, joinSeconds, excessAt(0.5),
        excessAt(0.99), late.excessMs.empty() ? 0.0 : late.excessMs.back());
    std::fflush(stdout);
    if (!holds) {
      exitStatus = 3;
      if (!keepGoing) break;
    }
  }

  // Hang up (the servers free the sessions and, after their linger, the pulls), then stop.
  hangingUp.store(true);
  for (auto& v : viewers) {
    client::HttpClient http("127.0.0.1", sig.httpPort, std::chrono::seconds(5));
    const std::string path = sig.target == Target::Stagecast ? "/api/cameras/preview/webrtc/hangup" : "/hangup";
    (void)http.post(path, json{{"sessionId", v->sessionId()}}.dump(), "application/json", sig.headers());
  }
  onIo(io, [&] {
    for (auto& v : viewers) v->stop();
    return 0;
  });
  guard.reset();
  io.stop();
  ioThread.join();
  return exitStatus;
}
