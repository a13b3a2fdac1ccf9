#pragma once
// Test fixture: a throwaway PostgreSQL server on 127.0.0.1, owned by the test process. A fresh cluster is made with
// initdb in a temporary directory (trust authentication, superuser "stagecast"), the server is started on a free
// port with its socket in that directory, considered ready once it logs so, and stopped by PID (fast shutdown) when
// the object is destroyed; the directory is then removed. Children are killed if the thread that started them
// exits first: start the server from a thread that outlives it, e.g. the test's main thread.
//
// PostgreSQL refuses to run as root. When the tests run as root, initdb and the server run as the unprivileged
// user "nobody" (the child drops its groups, gid and uid before exec) and the temporary directory is given to it.
//
// The binaries: $STAGECAST_POSTGRES_BIN if set, else the newest /usr/lib/postgresql/<version>/bin.
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stagecast::actionlog::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice of an ephemeral port).
inline std::uint16_t freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

inline std::filesystem::path findPostgresBinDir() {
  namespace fs = std::filesystem;
  if (const char* dir = std::getenv("STAGECAST_POSTGRES_BIN"); dir != nullptr && *dir != '\0') return dir;
  fs::path best;
  long bestVersion = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto bin = entry.path() / "bin";
    if (::access((bin / "postgres").c_str(), X_OK) != 0 || ::access((bin / "initdb").c_str(), X_OK) != 0) continue;
    char* end = nullptr;
    const long version = std::strtol(entry.path().filename().c_str(), &end, 10);
    if (version > bestVersion) {
      bestVersion = version;
      best = bin;
    }
  }
  return best;
}

class PostgresServer {
 public:
  static constexpr const char* kUser = "stagecast";

  // Returns nullptr with `why` set when PostgreSQL is not installed or did not start.
  static std::unique_ptr<PostgresServer> start(std::string& why) {
    const auto bin = findPostgresBinDir();
    if (bin.empty()) {
      why = "no PostgreSQL server binaries (set STAGECAST_POSTGRES_BIN)";
      return nullptr;
    }
    std::unique_ptr<PostgresServer> server(new PostgresServer(bin));
    if (!server->prepare(why) || !server->initdb(why)) return nullptr;
    for (int attempt = 0; attempt < 5; ++attempt) {  // the free port can be taken before the server binds it
      server->port_ = freeLoopbackPort();
      if (server->launch(why)) return server;
    }
    return nullptr;
  }

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  ~PostgresServer() {
    stop();
    if (!root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }

  [[nodiscard]] std::string connectionString(const std::string& database) const {
    return "dbname=" + database + " host=127.0.0.1 port=" + std::to_string(port_) + " user=" + kUser +
           " connect_timeout=5";
  }

  // `name` is made by the test (letters, digits, '_'): DDL takes no bound parameters.
  bool createDatabase(const std::string& name, std::string& why) const {
    try {
      soci::session session(soci::postgresql, connectionString("postgres"));
      session << "CREATE DATABASE " + name;
      return true;
    } catch (const std::exception& e) {
      why = e.what();
      return false;
    }
  }

  // Fast shutdown (clients are disconnected); waits until the server is gone.
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGINT);
      reap(pid_);
      pid_ = -1;
    }
    if (reader_.joinable()) reader_.join();
  }

  // Starts the stopped server again on the same port, with the same data.
  bool restart(std::string& why) { return launch(why); }

 private:
  explicit PostgresServer(std::filesystem::path bin) : bin_(std::move(bin)) {}

  static int reap(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  bool prepare(std::string& why) {
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("nobody");
      if (pw == nullptr) {
        why = "running as root and there is no user 'nobody' to run PostgreSQL as";
        return false;
      }
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      dropPrivileges_ = true;
    }
    auto pattern = (std::filesystem::temp_directory_path() / "stagecast-pg-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      why = "mkdtemp failed";
      return false;
    }
    root_ = pattern;
    if (dropPrivileges_ && ::chown(root_.c_str(), uid_, gid_) != 0) {
      why = "cannot give the temporary directory to 'nobody'";
      return false;
    }
    return true;
  }

  // Forks and execs `args` with stdout and stderr on `outFd`, as the unprivileged user when needed.
  pid_t spawn(std::vector<std::string> args, int outFd) const {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const bool drop = dropPrivileges_;
    const uid_t uid = uid_;
    const gid_t gid = gid_;
    const char* dir = root_.c_str();
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    // Child: raw system calls only until exec (the parent may have other threads).
    if (drop) {
      if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, gid, gid, gid) != 0 ||
          ::syscall(SYS_setresuid, uid, uid, uid) != 0) {
        ::_exit(126);
      }
    }
    // After the uid change: changing credentials clears the parent-death signal.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (::chdir(dir) != 0) ::_exit(127);
    ::dup2(outFd, STDOUT_FILENO);
    ::dup2(outFd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }

  bool initdb(std::string& why) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      why = "pipe failed";
      return false;
    }
    const pid_t pid = spawn({(bin_ / "initdb").string(), "-D", (root_ / "data").string(), "-A", "trust", "-U", kUser,
                             "-E", "UTF8", "--no-locale", "--no-sync"},
                            out[1]);
    ::close(out[1]);
    std::string log;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      log.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    if (pid < 0) {
      why = "fork failed";
      return false;
    }
    const int status = reap(pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      why = "initdb failed (status " + std::to_string(status) + "):\n" + log;
      return false;
    }
    return true;
  }

  bool launch(std::string& why) {
    if (port_ == 0) {
      why = "no free port";
      return false;
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      why = "pipe failed";
      return false;
    }
    {
      std::lock_guard lock(mutex_);
      log_.clear();
      ready_ = false;
      ended_ = false;
    }
    const pid_t pid = spawn({(bin_ / "postgres").string(), "-D", (root_ / "data").string(), "-k", root_.string(), "-h",
                             "127.0.0.1", "-p", std::to_string(port_), "-F", "-c", "max_connections=40", "-c",
                             "shared_buffers=16MB", "-c", "logging_collector=off"},
                            out[1]);
    ::close(out[1]);
    if (pid < 0) {
      ::close(out[0]);
      why = "fork failed";
      return false;
    }
    pid_ = pid;
    reader_ = std::thread([this, fd = out[0]] { readOutput(fd); });
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, std::chrono::seconds(30), [this] { return ready_ || ended_; }) || !ready_) {
      why = "postgres on port " + std::to_string(port_) + " did not start:\n" + log_;
      lock.unlock();
      ::kill(pid_, SIGKILL);
      reap(pid_);
      pid_ = -1;
      reader_.join();
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
      if (log_.find("database system is ready to accept connections") != std::string::npos) ready_ = true;
      changed_.notify_all();
    }
    ::close(fd);
    std::lock_guard lock(mutex_);
    ended_ = true;
    changed_.notify_all();
  }

  std::filesystem::path bin_;
  std::filesystem::path root_;  // data/ and the server's socket
  bool dropPrivileges_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string log_;
  bool ready_ = false;
  bool ended_ = false;
};

}  // namespace stagecast::actionlog::testing
