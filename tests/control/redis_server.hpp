#pragma once
// Test fixture: a private redis-server on 127.0.0.1, without persistence, owned by the test process. It is started
// on a free port (or a given one, to restart a server in place), considered ready once it logs that it accepts
// connections and answers PING, and stopped by PID when the object is destroyed. The server is also killed if the
// thread that started it exits first (so a crashed test does not leave it behind): start it from a thread that
// outlives it, e.g. the test's main thread.
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace stagecast::control::testing {

// The redis-server executable: the first one on PATH, else /usr/bin/redis-server; empty when there is none.
inline std::string findRedisServer() {
  std::vector<std::string> candidates;
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest(path);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const auto dir = rest.substr(0, colon);
      if (!dir.empty()) candidates.push_back(std::string(dir) + "/redis-server");
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  candidates.emplace_back("/usr/bin/redis-server");
  for (const auto& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return {};
}

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice of an ephemeral port).
inline std::uint16_t freeLocalPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

struct RedisServerOptions {
  std::string password;    // --requirepass when not empty
  std::uint16_t port = 0;  // 0: a free port
};

class RedisServer {
 public:
  using Options = RedisServerOptions;

  // Returns nullptr when redis-server is not installed (`error` stays empty) or did not start (`error` says why).
  static std::unique_ptr<RedisServer> start(const Options& options = {}, std::string* error = nullptr) {
    const std::string binary = findRedisServer();
    if (binary.empty()) return nullptr;
    std::string why;
    // An ephemeral port can be taken between freeLocalPort() and the server's bind: try a few.
    const int attempts = options.port == 0 ? 5 : 1;
    for (int i = 0; i < attempts; ++i) {
      const std::uint16_t port = options.port != 0 ? options.port : freeLocalPort();
      std::unique_ptr<RedisServer> server(new RedisServer(port, options.password));
      if (server->launch(binary, why)) return server;
    }
    if (error != nullptr) *error = why;
    return nullptr;
  }

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer() { terminate(SIGTERM); }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& password() const { return password_; }

  // Ends the server abruptly (like a crash) and waits until it is gone.
  void kill() { terminate(SIGKILL); }

 private:
  RedisServer(std::uint16_t port, std::string password) : port_(port), password_(std::move(password)) {}

  bool launch(const std::string& binary, std::string& why) {
    if (port_ == 0) {
      why = "no free port";
      return false;
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      why = "pipe failed";
      return false;
    }
    const std::string portText = std::to_string(port_);
    std::vector<std::string> args = {binary, "--port",       portText, "--bind",      "127.0.0.1", "--save",
                                     "",     "--appendonly", "no",     "--daemonize", "no"};
    if (!password_.empty()) {
      args.emplace_back("--requirepass");
      args.push_back(password_);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(out[0]);
      ::close(out[1]);
      why = "fork failed";
      return false;
    }
    if (pid == 0) {
      // Child: only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    pid_ = pid;
    reader_ = std::thread([this, fd = out[0]] { readOutput(fd); });

    // Ready when the server says so (or gone when its output ends), within a deadline.
    {
      std::unique_lock lock(mutex_);
      if (!changed_.wait_for(lock, std::chrono::seconds(20), [this] { return ready_ || ended_; }) || !ready_) {
        why = "redis-server on port " + portText + " did not start:\n" + log_;
        lock.unlock();
        terminate(SIGKILL);
        return false;
      }
    }
    if (!answersPing()) {
      why = "redis-server on port " + portText + " does not answer PING";
      terminate(SIGKILL);
      return false;
    }
    return true;
  }

  void readOutput(int fd) {
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard lock(mutex_);
      log_.append(buffer, static_cast<std::size_t>(n));
      if (log_.find("Ready to accept connections") != std::string::npos) ready_ = true;
      changed_.notify_all();
    }
    ::close(fd);
    std::lock_guard lock(mutex_);
    ended_ = true;
    changed_.notify_all();
  }

  [[nodiscard]] bool answersPing() const {
    const timeval tv{5, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr) return false;
    bool ok = false;
    if (c->err == 0) {
      // Any answer counts: with a password the server answers NOAUTH.
      auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = reply != nullptr;
      if (reply != nullptr) freeReplyObject(reply);
    }
    redisFree(c);
    return ok;
  }

  void terminate(int signal) {
    if (pid_ > 0) {
      ::kill(pid_, signal);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    if (reader_.joinable()) reader_.join();  // the output ends with the process
  }

  std::uint16_t port_;
  std::string password_;
  pid_t pid_ = -1;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string log_;
  bool ready_ = false;
  bool ended_ = false;
};

}  // namespace stagecast::control::testing
