#pragma once
// Test helpers for the ingest layer: the fake RTSP camera (tests/fixtures/rtsp_camera.py) run as a child
// process, and in-process TCP endpoints that refuse or ignore connections.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#ifndef STAGECAST_FIXTURES_DIR
#error "STAGECAST_FIXTURES_DIR must name tests/fixtures"
#endif

namespace stagecast::ingest::testing {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Runs argv (argv[0] looked up on PATH) and returns its exit status, or -1 when it could not run.
inline int runQuietly(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A Python interpreter that can import GstRtspServer: $STAGECAST_FIXTURE_PYTHON, python3 on PATH, or Debian's
// system interpreter (python3-gi is installed for that one, which a virtualenv's python3 does not see).
inline std::optional<std::string> fixturePython() {
  static const std::optional<std::string> found = []() -> std::optional<std::string> {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("STAGECAST_FIXTURE_PYTHON"); env != nullptr && *env != '\0') {
      candidates.emplace_back(env);
    }
    candidates.emplace_back("python3");
    candidates.emplace_back("/usr/bin/python3");
    for (const auto& py : candidates) {
      if (runQuietly({py, "-c",
                      "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
                      "from gi.repository import Gst, GstRtspServer"}) == 0) {
        return py;
      }
    }
    return std::nullopt;
  }();
  return found;
}

// The fake camera. start() returns an empty string on success, otherwise why it failed.
class RtspCamera {
 public:
  RtspCamera() = default;
  RtspCamera(const RtspCamera&) = delete;
  RtspCamera& operator=(const RtspCamera&) = delete;
  ~RtspCamera() { stop(); }

  std::string start(const std::vector<std::string>& options,
                    std::chrono::milliseconds readyTimeout = std::chrono::seconds(20)) {
    const auto python = fixturePython();
    if (!python) {
      unavailable_ = true;
      return "no python3 with GStreamer's RTSP server bindings (python3-gi, gir1.2-gst-rtsp-server-1.0)";
    }
    std::vector<std::string> argv{*python, std::string(STAGECAST_FIXTURES_DIR) + "/rtsp_camera.py"};
    argv.insert(argv.end(), options.begin(), options.end());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
    Fd readEnd(fds[0]);
    Fd writeEnd(fds[1]);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) return "fork failed";
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec. The camera dies with the test process.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);
      dup2(writeEnd.fd, STDOUT_FILENO);
      execvp(args[0], args.data());
      _exit(127);
    }
    writeEnd.reset();
    pidfd_ = Fd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));

    // Read the READY line, with a deadline.
    const auto deadline = std::chrono::steady_clock::now() + readyTimeout;
    std::string out;
    while (out.find('\n') == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return "camera did not print READY in time";
      pollfd p{readEnd.fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(readEnd.fd, buf, sizeof(buf));
      if (n <= 0) {
        // Exit status 3: a GStreamer element or binding is missing on this machine.
        if (exitStatus(deadline) == 3) {
          unavailable_ = true;
          return "the RTSP test camera lacks a GStreamer element or binding (named on its stderr above)";
        }
        return "camera exited before READY (see its stderr above)";
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    const std::string line = out.substr(0, out.find('\n'));
    const std::string prefix = "READY rtsp://127.0.0.1:";
    if (line.rfind(prefix, 0) != 0) return "unexpected first line from the camera: " + line;
    const std::string rest = line.substr(prefix.size());
    port_ = static_cast<std::uint16_t>(std::stoi(rest.substr(0, rest.find('/'))));
    path_ = rest.substr(rest.find('/'));
    stdout_ = std::move(readEnd);  // kept open so the camera never writes into a closed pipe
    return {};
  }

  // SIGTERM, then SIGKILL if it has not exited within five seconds.
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    if (pidfd_.fd >= 0) {
      pollfd p{pidfd_.fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) kill(pid_, SIGKILL);
    }
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    pidfd_.reset();
    stdout_.reset();
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  // After a failed start(): true when the cause is missing software rather than a fault.
  [[nodiscard]] bool unavailable() const { return unavailable_; }

 private:
  // Waits (until the deadline) for the camera to exit; returns its exit status, or -1.
  int exitStatus(std::chrono::steady_clock::time_point deadline) {
    if (pidfd_.fd >= 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      pollfd p{pidfd_.fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(std::max<long long>(left, 0))) <= 0) return -1;
    }
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  bool unavailable_ = false;
  pid_t pid_ = -1;
  Fd pidfd_;
  Fd stdout_;
  std::uint16_t port_ = 0;
  std::string path_;
};

inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

inline std::uint16_t boundPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// A loopback port nothing listens on: bound to learn a free number, then closed.
inline std::uint16_t closedPort() {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  const sockaddr_in a = loopback(0);
  if (::bind(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) return 0;
  return boundPort(s.fd);
}

// Accepts connections and never sends a byte, keeping them open: a camera that hangs.
class SilentListener {
 public:
  SilentListener() : socket_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    const sockaddr_in a = loopback(0);
    if (::bind(socket_.fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0 || ::listen(socket_.fd, 16) != 0) {
      return;
    }
    port_ = boundPort(socket_.fd);
    acceptor_ = std::thread([this] {
      for (;;) {
        const int fd = ::accept4(socket_.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          return;  // shut down
        }
        const std::lock_guard lock(mutex_);
        accepted_.emplace_back(fd);
        acceptedChanged_.notify_all();
      }
    });
  }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  ~SilentListener() {
    if (acceptor_.joinable()) {
      ::shutdown(socket_.fd, SHUT_RDWR);  // wakes accept()
      acceptor_.join();
    }
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // Waits until `n` connections were accepted or the timeout passed; returns the count.
  std::size_t waitForAccepted(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    acceptedChanged_.wait_for(lock, timeout, [&] { return accepted_.size() >= n; });
    return accepted_.size();
  }

 private:
  Fd socket_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable acceptedChanged_;
  std::vector<Fd> accepted_;
  std::thread acceptor_;
};

}  // namespace stagecast::ingest::testing

// Starts a fixture camera in a test body: skips the test when GStreamer's RTSP server is not installed, fails it
// when the camera does not start.
#define START_CAMERA(camera, ...)                                    \
  do {                                                               \
    const std::string why = (camera).start({__VA_ARGS__});           \
    if (!why.empty() && (camera).unavailable()) GTEST_SKIP() << why; \
    ASSERT_TRUE(why.empty()) << why;                                 \
  } while (0)

