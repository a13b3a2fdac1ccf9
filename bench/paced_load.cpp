// Open-loop, paced HTTP/1.1 load generator for the control-plane API (by default viewer heartbeats,
// POST /api/viewer/heartbeat, the same requests bench/heartbeat.lua makes wrk send).
//
// Why open loop: a closed-loop tool such as wrk sends the next request on a connection only when the previous
// answer has arrived, so the load it offers adapts to the server. When the server stalls, the tool stops sending
// and the requests that would have been sent during the stall are never measured ("coordinated omission"); at
// saturation its percentiles mostly measure its own queue. It cannot answer "what is the p99 latency when clients
// offer a fixed 50,000 requests/s?". This tool offers a FIXED rate: every request has a scheduled send time, fixed
// in advance, and its latency is measured from that scheduled time to the complete answer (the wrk2 correction).
// A stalled server or a load generator that falls behind therefore makes the latency worse, never better.
//
// Pacing: connection c (0 <= c < C, over all threads) sends request k at start + (c + k * C) / RATE seconds, so
// each connection has one request due every C / RATE seconds and the connections are spread evenly over that
// interval. A connection has at most one request in flight (keep-alive, no pipelining): a request whose
// predecessor's answer is late is sent as soon as that answer arrives, and its latency still counts from its
// scheduled time. Due times are waited for with nanosecond precision (epoll_pwait2, or a timerfd armed with an
// absolute CLOCK_MONOTONIC time where epoll_pwait2 is missing) and a timer slack of --slack-us (default 100 µs):
// the kernel may end a wait up to that much late, so that one wake-up sends several due requests; that lateness
// counts in the latency, which is measured from the scheduled time. With --spin a thread never sleeps: it polls
// its sockets and the clock in a loop (a core of its own per thread), so neither its sends nor its receipt of
// answers wait for a wake-up, and the server's answers need not wake it. The schedule stops at warmup + duration:
// nothing is sent after that, answers still in flight are awaited for up to 1 s.
//
// Each thread owns CONNECTIONS / THREADS connections and its own epoll instance. The requests are formatted once
// at start, one per viewer of --viewers (one "userId stageArn" line per viewer, as bench/join_10k.py --out
// writes); each thread cycles through the list from its own starting point.
//
//   paced_load --port PORT --viewers FILE [--host 127.0.0.1] [--rate 50000] [--connections 64] [--threads 1]
//              [--duration 10] [--warmup 2] [--api-key bench-key] [--label heartbeat]
//              [--path /api/viewer/heartbeat] [--slack-us 100] [--spin]
//
// Output (LABEL is --label, UNIT is LABEL + "s"; times in ms):
//   LABEL: N requests in S s = R UNIT/s (offered RATE/s); latency p50 X ms, p99 Y ms, p99.9 Z ms, max M ms
//   LABEL: service time p50 X ms, p99 Y ms; L requests sent more than 1 ms late
//   LABEL: B answers with status >= 400, E socket errors, C connections[, K reconnects]
//   LABEL: whole run, warm-up included: W requests sent, A answered
//   [LABEL: explanation of a failure, one line each]
//   LABEL: PASS | FAIL
// N counts the answers to the requests scheduled within the measured window (after the warmup), whatever their
// status; S is the window's length. The latency is from the scheduled send time to the complete answer, the
// service time from the actual send to the complete answer. A request counts as late when it was sent more than
// 1 ms after its scheduled time (the server's answer to its predecessor was late, or the generator was behind).
// Answers with status >= 400, socket errors (a refused or closed connection, a failed send or receive, an answer
// that cannot be parsed, an answer missing 1 s after the end) are counted over the whole run, warmup included; a
// request in flight on a connection that fails is an error, not a latency sample, and the connection reconnects.
// Answers are parsed by Beast's HTTP parser (bodies by Content-Length or chunked); an answer whose body would end
// only when the server closes the connection counts as unparseable (a socket error).
// FAIL when there is any error, no answer at all, or fewer answers than 99 % of the offered rate times the window
// (then the server or the generator could not keep up and the latency figures do not describe the offered load).
// Exit status: 0 PASS, 1 FAIL, 2 bad usage (bad option, unreadable or empty viewers file).
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <queue>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define PACED_HAVE_EPOLL_PWAIT2 1
#endif

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

using Nanos = int64_t;
constexpr Nanos kSecond = 1'000'000'000;
constexpr Nanos kMilli = 1'000'000;
constexpr Nanos kReconnectBackoff = 100 * kMilli;  // between attempts after a failed reconnect
constexpr Nanos kDrain = kSecond;                  // how long answers in flight are awaited after the end
constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kMaxBody = 16 * 1024 * 1024;
constexpr size_t kReadChunk = 16 * 1024;

Nanos nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos(ts.tv_sec) * kSecond + ts.tv_nsec;
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP/1.1 answer parsing

enum class Parse { kIncomplete, kComplete, kBad };

struct Answer {
  int status = 0;
  size_t size = 0;  // bytes of the whole answer: head and body
  bool close = false;
};

// Parses the answer at the start of [p, p + n) with Beast's response parser (a fresh one per call: answers are
// small and nearly always arrive whole). On kBad, *why says what is wrong.
Parse parseAnswer(const char* p, size_t n, Answer& answer, std::string* why) {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.eager(true);
  parser.header_limit(kMaxHead);
  parser.body_limit(kMaxBody);
  size_t used = 0;
  while (!parser.is_done()) {
    beast::error_code ec;
    const size_t took = parser.put(boost::asio::buffer(p + used, n - used), ec);
    used += took;
    if (ec == bhttp::error::need_more) return Parse::kIncomplete;
    if (ec) {
      *why = "unparseable answer: " + ec.message();
      return Parse::kBad;
    }
    if (parser.is_header_done() && parser.need_eof()) {
      // The body would end when the server closes the connection: not a keep-alive answer.
      *why = "answer without Content-Length or chunked encoding";
      return Parse::kBad;
    }
    if (took == 0 && !parser.is_done()) return Parse::kIncomplete;
  }
  answer.status = static_cast<int>(parser.get().result_int());
  answer.close = !parser.get().keep_alive();
  answer.size = used;
  return Parse::kComplete;
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration and requests

struct Config {
  std::string host = "127.0.0.1";
  int port = 0;
  double rate = 50000;
  int connections = 64;
  int threads = 1;
  double duration = 10;
  double warmup = 2;
  std::string viewers;
  std::string apiKey = "bench-key";
  std::string label = "heartbeat";
  std::string path = "/api/viewer/heartbeat";
  double slackUs = 100;
  bool spin = false;
};

// All requests, formatted once, back to back in one buffer.
struct Requests {
  std::string bytes;
  std::vector<size_t> offset{0};  // request i is bytes[offset[i], offset[i + 1])
  size_t size() const { return offset.size() - 1; }
  const char* data(size_t i) const { return bytes.data() + offset[i]; }
  size_t length(size_t i) const { return offset[i + 1] - offset[i]; }
};

std::string jsonString(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

// Reads "userId stageArn" lines (blank or malformed lines are skipped, like bench/heartbeat.lua does).
bool loadRequests(const Config& cfg, Requests& requests, std::string& error) {
  std::ifstream in(cfg.viewers);
  if (!in) {
    error = "cannot read the viewers file " + cfg.viewers + ": " + std::strerror(errno);
    return false;
  }
  std::string host = cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host;
  std::string headStart = "POST " + cfg.path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(cfg.port) +
                          "\r\nx-api-key: " + cfg.apiKey + "\r\nContent-Type: application/json\r\nContent-Length: ";
  std::string line, user, arn, extra;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    if (!(fields >> user >> arn) || (fields >> extra)) continue;
    std::string body = "{\"userId\":\"" + jsonString(user) + "\",\"stageArn\":\"" + jsonString(arn) + "\"}";
    requests.bytes += headStart;
    requests.bytes += std::to_string(body.size());
    requests.bytes += "\r\n\r\n";
    requests.bytes += body;
    requests.offset.push_back(requests.bytes.size());
  }
  if (in.bad()) {
    error = "error reading the viewers file " + cfg.viewers;
    return false;
  }
  if (requests.size() == 0) {
    error = "no \"userId stageArn\" lines in the viewers file " + cfg.viewers;
    return false;
  }
  return true;
}

// Opens a non-blocking TCP socket with TCP_NODELAY and starts connecting it. Returns -1 (errno set) on failure;
// *done tells whether the connection is already established.
int openConnection(const sockaddr_storage& addr, socklen_t addrLen, bool* done) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), addrLen) == 0) {
    *done = true;
    return fd;
  }
  if (errno == EINPROGRESS) {
    *done = false;
    return fd;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return -1;
}

// ---------------------------------------------------------------------------------------------------------------
// One load thread

struct Stats {
  std::vector<uint32_t> latencyUs;  // scheduled send -> complete answer, measured requests
  std::vector<uint32_t> serviceUs;  // actual send -> complete answer, measured requests
  uint64_t answered = 0;            // answers to measured requests, any status
  uint64_t sent = 0;                // measured requests sent
  uint64_t sentAll = 0;             // requests sent, whole run (warm-up included)
  uint64_t answeredAll = 0;         // complete final answers, whole run, any status
  uint64_t late = 0;                // measured requests sent more than 1 ms after their scheduled time
  uint64_t errorAnswers = 0;        // status >= 400, whole run
  uint64_t socketErrors = 0;        // whole run, including unparseable and missing answers
  uint64_t unparseable = 0;
  uint64_t missing = 0;  // answers not arrived kDrain after the end
  uint64_t reconnects = 0;
  Nanos maxBehind = 0;  // largest delay of a send after its scheduled time, whole run
  std::string firstParseError;
};

struct Schedule {
  Nanos start = 0;           // CLOCK_MONOTONIC time of the first request of connection 0
  Nanos measure = 0;         // requests scheduled at or after this are recorded ...
  Nanos end = 0;             // ... and those before this; nothing is sent at or after it
  double interval = 0;       // ns between consecutive requests over all connections (1e9 / rate)
  uint64_t connections = 0;  // over all threads
  Nanos slack = 1;           // timer slack: how late the kernel may end a wait, so that wake-ups are shared
  bool spin = false;         // poll without sleeping (a core of its own for each thread)
};

class Worker {
 public:
  Worker(const Schedule& schedule, const Requests& requests, const sockaddr_storage& addr, socklen_t addrLen,
         size_t firstViewer)
      : schedule_(schedule), requests_(requests), addr_(addr), addrLen_(addrLen), viewer_(firstViewer) {}

  // Takes a connected socket; globalIndex is its connection number over all threads (its schedule's offset).
  void addConnection(int fd, uint64_t globalIndex) {
    Conn c;
    c.fd = fd;
    c.global = globalIndex;
    c.state = Conn::kIdle;
    conns_.push_back(std::move(c));
  }

  void reserve(size_t samples) {
    stats_.latencyUs.reserve(samples);
    stats_.serviceUs.reserve(samples);
  }

  Stats& stats() { return stats_; }

  void run() {
    prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(std::max<Nanos>(schedule_.slack, 1)), 0UL, 0UL, 0UL);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
      std::perror("epoll_create1");
      std::exit(1);
    }
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      watch(i, EPOLL_CTL_ADD, EPOLLIN);
      push(i, due(conns_[i]));
    }
    std::vector<epoll_event> events(256);
    for (;;) {
      Nanos now = nowNs();
      while (!heap_.empty() && heap_.top().when <= now) {
        Entry e = heap_.top();
        heap_.pop();
        Conn& c = conns_[e.conn];
        if (e.gen != c.gen || now >= schedule_.end) continue;
        if (c.state == Conn::kIdle) {
          sendNext(e.conn);
        } else if (c.state == Conn::kDown) {
          reconnect(e.conn, now);
        }
        now = nowNs();
      }
      Nanos deadline;
      if (now >= schedule_.end) {
        if (busy_ == 0 || now >= schedule_.end + kDrain) break;
        deadline = schedule_.end + kDrain;
      } else {
        deadline = heap_.empty() ? schedule_.end : std::min(heap_.top().when, schedule_.end);
      }
      int n = wait(events.data(), static_cast<int>(events.size()), deadline);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::perror("epoll_wait");
        std::exit(1);
      }
      for (int i = 0; i < n; ++i) {
        uint32_t id = events[i].data.u32;
        if (id == kTimerId) {
          uint64_t expirations;
          [[maybe_unused]] ssize_t r = read(timer_, &expirations, sizeof expirations);
          armed_ = -1;
        } else {
          onEvent(id, events[i].events);
        }
      }
    }
    for (Conn& c : conns_) {
      if (c.state == Conn::kBusy) {
        ++stats_.missing;
        ++stats_.socketErrors;
      }
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
    }
    close(epoll_);
    if (timer_ >= 0) close(timer_);
  }

 private:
  static constexpr uint32_t kTimerId = UINT32_MAX;

  struct Conn {
    enum State : uint8_t { kDown, kConnecting, kIdle, kBusy };
    int fd = -1;
    State state = kDown;
    bool outWatched = false;        // EPOLLOUT registered (connecting or a partial send)
    uint32_t gen = 0;               // invalidates older heap entries of this connection
    uint32_t failures = 0;          // failures since the last complete answer
    uint64_t global = 0;            // connection number over all threads
    uint64_t k = 0;                 // index of the next request in this connection's schedule
    Nanos scheduled = 0;            // of the request in flight
    Nanos sent = 0;                 // of the request in flight
    const char* pending = nullptr;  // rest of a partial send
    size_t pendingLen = 0;
    std::vector<char> buf;
    size_t used = 0;
  };

  struct Entry {
    Nanos when;
    uint32_t conn;
    uint32_t gen;
    bool operator>(const Entry& o) const { return when > o.when; }
  };

  Nanos due(const Conn& c) const {
    double slot = static_cast<double>(c.global + c.k * schedule_.connections);
    return schedule_.start + std::llround(slot * schedule_.interval);
  }

  void push(uint32_t i, Nanos when) { heap_.push(Entry{when, i, ++conns_[i].gen}); }

  void watch(uint32_t i, int op, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = i;
    if (epoll_ctl(epoll_, op, conns_[i].fd, &ev) < 0) {
      std::perror("epoll_ctl");
      std::exit(1);
    }
  }

  bool measured(Nanos scheduled) const { return scheduled >= schedule_.measure && scheduled < schedule_.end; }

  // Waits for socket events until DEADLINE (absolute CLOCK_MONOTONIC ns).
  int wait(epoll_event* events, int max, Nanos deadline) {
    if (schedule_.spin) return epoll_wait(epoll_, events, max, 0);
#ifdef PACED_HAVE_EPOLL_PWAIT2
    if (usePwait2_) {
      Nanos timeout = std::max<Nanos>(0, deadline - nowNs());
      timespec ts{static_cast<time_t>(timeout / kSecond), static_cast<long>(timeout % kSecond)};
      int n = epoll_pwait2(epoll_, events, max, &ts, nullptr);
      if (n >= 0 || errno != ENOSYS) return n;
      usePwait2_ = false;  // kernel older than 5.11: fall back to a timerfd
    }
#endif
    if (timer_ < 0) {
      timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
      if (timer_ < 0) return -1;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = kTimerId;
      if (epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &ev) < 0) return -1;
    }
    if (deadline != armed_) {
      itimerspec its{};
      its.it_value.tv_sec = static_cast<time_t>(deadline / kSecond);
      its.it_value.tv_nsec = static_cast<long>(deadline % kSecond);
      if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
      if (timerfd_settime(timer_, TFD_TIMER_ABSTIME, &its, nullptr) < 0) return -1;
      armed_ = deadline;
    }
    return epoll_wait(epoll_, events, max, -1);
  }

  void sendNext(uint32_t i) {
    Conn& c = conns_[i];
    c.scheduled = due(c);
    ++c.k;
    const char* data = requests_.data(viewer_);
    size_t len = requests_.length(viewer_);
    if (++viewer_ == requests_.size()) viewer_ = 0;
    c.sent = nowNs();
    const Nanos behind = c.sent - c.scheduled;
    if (behind > stats_.maxBehind) stats_.maxBehind = behind;
    if (measured(c.scheduled)) {
      ++stats_.sent;
      if (behind > kMilli) ++stats_.late;
    }
    ++stats_.sentAll;
    c.state = Conn::kBusy;
    ++busy_;
    ssize_t r = send(c.fd, data, len, MSG_NOSIGNAL);
    if (r == static_cast<ssize_t>(len)) return;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      fail(i, c.sent);
      return;
    }
    size_t done = r > 0 ? static_cast<size_t>(r) : 0;
    c.pending = data + done;
    c.pendingLen = len - done;
    c.outWatched = true;
    watch(i, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
  }

  void continueSend(uint32_t i) {
    Conn& c = conns_[i];
    ssize_t r = send(c.fd, c.pending, c.pendingLen, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail(i, nowNs());
      return;
    }
    c.pending += r;
    c.pendingLen -= static_cast<size_t>(r);
    if (c.pendingLen == 0) {
      c.pending = nullptr;
      c.outWatched = false;
      watch(i, EPOLL_CTL_MOD, EPOLLIN);
    }
  }

  void reconnect(uint32_t i, Nanos now) {
    Conn& c = conns_[i];
    ++stats_.reconnects;
    bool done = false;
    c.fd = openConnection(addr_, addrLen_, &done);
    if (c.fd < 0) {
      fail(i, now);
      return;
    }
    c.used = 0;
    if (done) {
      connected(i);
    } else {
      c.state = Conn::kConnecting;
      c.outWatched = true;
      watch(i, EPOLL_CTL_ADD, EPOLLOUT);
    }
  }

  void connected(uint32_t i) {
    Conn& c = conns_[i];
    c.state = Conn::kIdle;
    if (c.outWatched) {
      c.outWatched = false;
      watch(i, EPOLL_CTL_MOD, EPOLLIN);
    } else {
      watch(i, EPOLL_CTL_ADD, EPOLLIN);
    }
    push(i, due(c));
  }

  // A socket error, a closed connection or an unusable answer: the request in flight (if any) is an error; the
  // connection reconnects, at once the first time, then after a back-off until an answer arrives again.
  void fail(uint32_t i, Nanos now) {
    Conn& c = conns_[i];
    ++stats_.socketErrors;
    if (c.state == Conn::kBusy) --busy_;
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    c.state = Conn::kDown;
    c.outWatched = false;
    c.pending = nullptr;
    c.pendingLen = 0;
    c.used = 0;
    push(i, c.failures++ == 0 ? now : now + kReconnectBackoff);
  }

  void unparseable(uint32_t i, const std::string& why) {
    ++stats_.unparseable;
    if (stats_.firstParseError.empty()) stats_.firstParseError = why;
    fail(i, nowNs());
  }

  void onEvent(uint32_t i, uint32_t events) {
    Conn& c = conns_[i];
    if (c.state == Conn::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err != 0) {
        fail(i, nowNs());
      } else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        connected(i);
      }
      return;
    }
    if (c.state == Conn::kDown) return;
    if ((events & EPOLLOUT) && c.pendingLen > 0) {
      continueSend(i);
      if (c.state == Conn::kDown) return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) onReadable(i);
  }

  void onReadable(uint32_t i) {
    Conn& c = conns_[i];
    if (c.buf.size() - c.used < kReadChunk / 4) c.buf.resize(std::max(c.buf.size() * 2, c.used + kReadChunk));
    ssize_t r = recv(c.fd, c.buf.data() + c.used, c.buf.size() - c.used, 0);
    Nanos t = nowNs();
    if (r == 0) {
      fail(i, t);
      return;
    }
    if (r < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail(i, t);
      return;
    }
    c.used += static_cast<size_t>(r);
    for (;;) {
      if (c.state != Conn::kBusy) {
        unparseable(i, "bytes from the server while no request was outstanding");
        return;
      }
      if (c.pendingLen > 0) {
        unparseable(i, "an answer before the request was completely sent");
        return;
      }
      Answer answer;
      std::string why;
      Parse p = parseAnswer(c.buf.data(), c.used, answer, &why);
      if (p == Parse::kIncomplete) return;
      if (p == Parse::kBad) {
        unparseable(i, why);
        return;
      }
      c.used -= answer.size;
      if (c.used > 0) std::memmove(c.buf.data(), c.buf.data() + answer.size, c.used);
      if (answer.status < 200) {  // interim answer (100 Continue): the final one follows
        if (c.used == 0) return;
        continue;
      }
      complete(i, answer, t);
      return;
    }
  }

  void complete(uint32_t i, const Answer& answer, Nanos t) {
    Conn& c = conns_[i];
    --busy_;
    c.state = Conn::kIdle;
    c.failures = 0;
    ++stats_.answeredAll;
    if (answer.status >= 400) ++stats_.errorAnswers;
    if (measured(c.scheduled)) {
      ++stats_.answered;
      stats_.latencyUs.push_back(micros(t - c.scheduled));
      stats_.serviceUs.push_back(micros(t - c.sent));
    }
    if (c.used > 0) {
      // Defensive: one request was in flight, so anything after its answer is not an answer to us.
      unparseable(i, "extra bytes after an answer");
      return;
    }
    if (answer.close) {
      // The server ends the connection after this answer: not an error; open a new one for the next request.
      close(c.fd);
      c.fd = -1;
      c.state = Conn::kDown;
      push(i, t);
      return;
    }
    push(i, due(c));
  }

  static uint32_t micros(Nanos ns) {
    Nanos us = (std::max<Nanos>(ns, 0) + 500) / 1000;
    return static_cast<uint32_t>(std::min<Nanos>(us, UINT32_MAX));
  }

  const Schedule& schedule_;
  const Requests& requests_;
  const sockaddr_storage addr_;
  const socklen_t addrLen_;
  size_t viewer_;  // next request to send (cycles through the viewers)
  std::vector<Conn> conns_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;  // idle or down connections
  uint64_t busy_ = 0;                                                         // connections with a request in flight
  int epoll_ = -1;
  int timer_ = -1;
  Nanos armed_ = -1;
  bool usePwait2_ = true;
  Stats stats_;
};

// ---------------------------------------------------------------------------------------------------------------
// Report

double percentileMs(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  size_t index = std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1);
  return sorted[index] / 1000.0;
}

std::string formatRate(double rate) {
  char buf[64];
  if (rate == std::floor(rate)) {
    std::snprintf(buf, sizeof buf, "%.0f", rate);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", rate);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  const CLI::Validator positive(
      [](std::string& value) {
        char* end = nullptr;
        double v = std::strtod(value.c_str(), &end);
        return end != value.c_str() && *end == '\0' && v > 0 && std::isfinite(v) ? std::string()
                                                                                 : "must be a number above 0";
      },
      "POSITIVE");
  CLI::App app{
      "Open-loop, paced HTTP/1.1 load generator: viewer heartbeats at a fixed rate, latency from the "
      "scheduled send time (corrected for coordinated omission)."};
  app.add_option("--host", cfg.host, "server address")->capture_default_str();
  app.add_option("--port", cfg.port, "server HTTP port")->required()->check(CLI::Range(1, 65535));
  app.add_option("--rate", cfg.rate, "requests per second offered, over all connections")
      ->capture_default_str()
      ->check(positive);
  app.add_option("--connections", cfg.connections, "keep-alive connections, one request in flight each")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--threads", cfg.threads, "threads; each owns connections/threads connections and an epoll")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--duration", cfg.duration, "seconds measured")->capture_default_str()->check(positive);
  app.add_option("--warmup", cfg.warmup, "seconds sent before the measurement, not recorded")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--viewers", cfg.viewers, "file of \"userId stageArn\" lines, one per viewer")->required();
  app.add_option("--api-key", cfg.apiKey, "x-api-key header")->capture_default_str();
  app.add_option("--label", cfg.label, "prefix of the output lines; the rate's unit is LABEL + \"s\"")
      ->capture_default_str();
  app.add_option("--path", cfg.path, "request path")->capture_default_str();
  app.add_flag("--spin", cfg.spin,
               "never sleep: poll for answers and due times in a loop (each thread then takes a whole core; its "
               "wake-ups no longer delay sends and answers)");
  app.add_option("--slack-us", cfg.slackUs,
                 "how late a wait for the next due time may end (µs), so that one wake-up sends several requests; "
                 "lateness counts in the latency")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (cfg.threads > cfg.connections) {
    std::fprintf(stderr, "paced_load: --threads (%d) must not exceed --connections (%d)\n", cfg.threads,
                 cfg.connections);
    return 2;
  }

  Requests requests;
  std::string error;
  if (!loadRequests(cfg, requests, error)) {
    std::fprintf(stderr, "paced_load: %s\n", error.c_str());
    return 2;
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(cfg.port);
  if (int rc = getaddrinfo(cfg.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    std::fprintf(stderr, "paced_load: cannot resolve %s: %s\n", cfg.host.c_str(), gai_strerror(rc));
    return 2;
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
  socklen_t addrLen = found->ai_addrlen;
  freeaddrinfo(found);

  std::signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // inherited by the threads, which also set it themselves

  // Connect every connection before the schedule starts.
  std::vector<int> fds;
  for (int i = 0; i < cfg.connections; ++i) {
    bool done = false;
    int fd = openConnection(addr, addrLen, &done);
    if (fd >= 0 && !done) {
      pollfd pfd{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&pfd, 1, 5000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        close(fd);
        fd = -1;
        errno = err != 0 ? err : ETIMEDOUT;
      }
    }
    if (fd < 0) {
      std::printf("%s: cannot connect to %s:%d: %s\n%s: FAIL\n", cfg.label.c_str(), cfg.host.c_str(), cfg.port,
                  std::strerror(errno), cfg.label.c_str());
      for (int f : fds) close(f);
      return 1;
    }
    fds.push_back(fd);
  }

  Schedule schedule;
  schedule.interval = 1e9 / cfg.rate;
  schedule.connections = static_cast<uint64_t>(cfg.connections);
  schedule.slack = std::llround(cfg.slackUs * 1e3);
  schedule.spin = cfg.spin;
  schedule.start = nowNs() + 50 * kMilli;  // time for the threads to start
  schedule.measure = schedule.start + std::llround(cfg.warmup * 1e9);
  schedule.end = schedule.measure + std::llround(cfg.duration * 1e9);

  // Thread t owns connections t, t + threads, t + 2 * threads, ...: its connections' schedules interleave with
  // the other threads', and it starts at its own place in the viewer list.
  const double expected = cfg.rate * cfg.duration;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < cfg.threads; ++t) {
    size_t firstViewer = requests.size() * static_cast<size_t>(t) / static_cast<size_t>(cfg.threads);
    auto w = std::make_unique<Worker>(schedule, requests, addr, addrLen, firstViewer);
    for (int c = t; c < cfg.connections; c += cfg.threads) w->addConnection(fds[c], static_cast<uint64_t>(c));
    w->reserve(static_cast<size_t>(std::min(expected / cfg.threads * 1.02 + 1024, 16e6)));
    workers.push_back(std::move(w));
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& th : threads) th.join();

  Stats total;
  for (auto& w : workers) {
    Stats& s = w->stats();
    total.latencyUs.insert(total.latencyUs.end(), s.latencyUs.begin(), s.latencyUs.end());
    total.serviceUs.insert(total.serviceUs.end(), s.serviceUs.begin(), s.serviceUs.end());
    total.answered += s.answered;
    total.sent += s.sent;
    total.sentAll += s.sentAll;
    total.answeredAll += s.answeredAll;
    total.late += s.late;
    total.errorAnswers += s.errorAnswers;
    total.socketErrors += s.socketErrors;
    total.unparseable += s.unparseable;
    total.missing += s.missing;
    total.reconnects += s.reconnects;
    total.maxBehind = std::max(total.maxBehind, s.maxBehind);
    if (total.firstParseError.empty()) total.firstParseError = s.firstParseError;
    std::vector<uint32_t>().swap(s.latencyUs);
    std::vector<uint32_t>().swap(s.serviceUs);
  }
  std::sort(total.latencyUs.begin(), total.latencyUs.end());
  std::sort(total.serviceUs.begin(), total.serviceUs.end());

  const char* label = cfg.label.c_str();
  const double achieved = static_cast<double>(total.answered) / cfg.duration;
  const std::string offered = formatRate(cfg.rate);
  std::printf(
      "%s: %llu requests in %.2f s = %.0f %ss/s (offered %s/s); latency p50 %.3f ms, p99 %.3f ms, "
      "p99.9 %.3f ms, max %.3f ms\n",
      label, static_cast<unsigned long long>(total.answered), cfg.duration, achieved, label, offered.c_str(),
      percentileMs(total.latencyUs, 50), percentileMs(total.latencyUs, 99), percentileMs(total.latencyUs, 99.9),
      percentileMs(total.latencyUs, 100));
  std::printf("%s: service time p50 %.3f ms, p99 %.3f ms; %llu requests sent more than 1 ms late\n", label,
              percentileMs(total.serviceUs, 50), percentileMs(total.serviceUs, 99),
              static_cast<unsigned long long>(total.late));
  std::printf("%s: %llu answers with status >= 400, %llu socket errors, %d connections", label,
              static_cast<unsigned long long>(total.errorAnswers), static_cast<unsigned long long>(total.socketErrors),
              cfg.connections);
  if (total.reconnects > 0) std::printf(", %llu reconnects", static_cast<unsigned long long>(total.reconnects));
  std::printf("\n");
  std::printf("%s: whole run, warm-up included: %llu requests sent, %llu answered\n", label,
              static_cast<unsigned long long>(total.sentAll), static_cast<unsigned long long>(total.answeredAll));

  bool pass = true;
  if (total.unparseable > 0) {
    std::printf("%s: %llu answers could not be parsed (first: %s); counted as socket errors\n", label,
                static_cast<unsigned long long>(total.unparseable), total.firstParseError.c_str());
  }
  if (total.missing > 0) {
    std::printf("%s: %llu answers had not arrived 1 s after the end; counted as socket errors\n", label,
                static_cast<unsigned long long>(total.missing));
  }
  if (total.errorAnswers > 0 || total.socketErrors > 0) pass = false;
  if (total.answered == 0) {
    std::printf("%s: no answers to requests scheduled in the measured window\n", label);
    pass = false;
  }
  if (achieved < 0.99 * cfg.rate) {
    std::printf(
        "%s: achieved %.0f/s is below 99 %% of the offered %s/s: of about %.0f requests scheduled in the measured "
        "window, %llu were sent (sends up to %.3f s behind schedule) and %llu answered; requests failed, or the "
        "server or this load generator could not keep up, so the latency figures do not describe the offered "
        "load\n",
        label, achieved, offered.c_str(), expected, static_cast<unsigned long long>(total.sent),
        static_cast<double>(total.maxBehind) / 1e9, static_cast<unsigned long long>(total.answered));
    pass = false;
  }
  std::printf("%s: %s\n", label, pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
