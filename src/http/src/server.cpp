// HTTP/1.1 server on Boost.Beast. One Session per connection, each on its own strand (its "strand" below: with
// ServerOptions::oneThreadPerLoop the connection's loop itself, which one thread runs); the Core (shared by the
// Server and its connections) owns the acceptor and the set of live connections. A Session whose request is
// a WebSocket upgrade hands its socket to a WsConnection on the same strand, which takes its place in the set.
#include <algorithm>
#include <array>
#include <atomic>
#include <sys/socket.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <variant>

#include <spdlog/spdlog.h>

#include "stagecast/common/text.hpp"
#include "stagecast/http/response_head.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

namespace {

// After an error response that closes the connection we half-close and read (and discard) what the client
// is still sending for a short while, so that the kernel does not answer unread data with a reset that would
// destroy the response before the client reads it.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kMaxLingerBytes = 4 * 1024 * 1024;
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr const char* kDefaultAllowHeaders = "Authorization, Content-Type, If-Match";
constexpr const char* kAcceptPatch = "application/trickle-ice-sdpfrag";
// Time allowed for the 101 response to be written and for the closing handshake; then the socket is closed.
constexpr std::chrono::seconds kWebSocketCloseTimeout{5};
constexpr std::size_t kMaxWebSocketKeyBytes = 24;        // base64 of the 16-byte nonce (RFC 6455 §4.1)
constexpr std::size_t kMaxCloseReasonBytes = 123;        // a control frame carries at most 125 bytes
constexpr std::size_t kKeptReadBufferBytes = 16 * 1024;  // a larger read buffer is released after its message
constexpr std::size_t kKeptHeadBytes = 4 * 1024;          // a larger response head buffer is released after use

// Permessage-deflate is compiled out: notifications are small and compression costs CPU per connection.
using WsStream = websocket::stream<beast::tcp_stream, false>;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

Endpoint toEndpoint(const tcp::endpoint& ep) {
  auto address = ep.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  if (address.is_v4()) return Endpoint::v4(address.to_v4().to_uint(), ep.port());
  Endpoint e;
  e.v6 = true;
  const auto bytes = address.to_v6().to_bytes();
  std::copy(bytes.begin(), bytes.end(), e.addr.begin());
  e.port = ep.port();
  return e;
}

tcp::endpoint toAsio(const Endpoint& e) {
  if (e.v6) {
    net::ip::address_v6::bytes_type bytes{};
    std::copy(e.addr.begin(), e.addr.end(), bytes.begin());
    return {net::ip::address_v6(bytes), e.port};
  }
  net::ip::address_v4::bytes_type bytes{e.addr[0], e.addr[1], e.addr[2], e.addr[3]};
  return {net::ip::address_v4(bytes), e.port};
}

// Responses that must not carry a body nor Content-Length (RFC 9110 §8.6, §15.3.5, §15.4.5).
bool bodyForbidden(int status) { return status < 200 || status == 204 || status == 304; }

// "GET, POST, OPTIONS": the router's methods, HEAD when GET is served (answered by the GET route), OPTIONS.
std::string allowedMethods(std::vector<std::string> methods) {
  auto has = [&](const char* m) { return std::find(methods.begin(), methods.end(), m) != methods.end(); };
  if (has("GET") && !has("HEAD")) methods.emplace_back("HEAD");
  if (!has("OPTIONS")) methods.emplace_back("OPTIONS");
  std::string out;
  for (const auto& m : methods) {
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

// Splits an origin-form (or absolute-form) request target into a decoded path and decoded query parameters.
bool parseTarget(std::string_view target, std::string& path, std::map<std::string, std::string>& query) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
      auto slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      break;
    }
  }
  if (target.empty() || target.front() != '/') return false;
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  auto qmark = target.find('?');
  auto decoded = percentDecode(target.substr(0, qmark));
  if (!decoded) return false;
  path = std::move(*decoded);
  if (qmark == std::string_view::npos) return true;
  std::string_view rest = target.substr(qmark + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view piece = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (piece.empty()) continue;
    auto eq = piece.find('=');
    // application/x-www-form-urlencoded: '+' stands for a space.
    auto decodeComponent = [](std::string_view s) {
      std::string plus(s);
      std::replace(plus.begin(), plus.end(), '+', ' ');
      return percentDecode(plus);
    };
    auto key = decodeComponent(piece.substr(0, eq));
    auto value = decodeComponent(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
    if (!key || !value) return false;
    query.emplace(std::move(*key), std::move(*value));  // the first occurrence wins
  }
  return true;
}

// Close codes an endpoint may send (RFC 6455 §7.4.1, §7.4.2; 1012-1014 from the IANA registry).
bool sendableCloseCode(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

websocket::close_reason makeCloseReason(std::uint16_t code, std::string reason) {
  if (!sendableCloseCode(code)) {
    spdlog::warn("http: websocket close code {} may not be sent, using 1000", code);
    code = websocket::close_code::normal;
  }
  if (reason.size() > kMaxCloseReasonBytes) {
    std::size_t n = kMaxCloseReasonBytes;
    while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;  // whole UTF-8 sequences only
    reason.resize(n);
  }
  websocket::close_reason cr(code);
  cr.reason = beast::string_view(reason.data(), reason.size());
  return cr;
}

// A registered connection: a Session (HTTP) or a WsConnection.
class Connection {
 public:
  explicit Connection(net::any_io_executor executor) : executor_(std::move(executor)) {}
  virtual ~Connection() = default;
  // The connection's strand. Fixed for the connection's life, so any thread may read it.
  [[nodiscard]] const net::any_io_executor& executor() const { return executor_; }
  // On the connection's strand, for Server::stop().
  virtual void stop() = 0;
  // Whether the connection's current deadline (idle or slow I/O) has passed; checked by the server's sweep.
  [[nodiscard]] virtual bool expired(std::chrono::steady_clock::time_point now) const { return false; }

 private:
  const net::any_io_executor executor_;
};

// State shared by the Server and its connections; outlives the Server while connections are still closing.
class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(std::vector<net::io_context*> loops, Router& router, ServerOptions options)
      : loops_(std::move(loops)),
        router_(router),
        options_(std::move(options)),
        acceptor_(net::make_strand(*loops_.front())),
        retryTimer_(acceptor_.get_executor()),
        sweepTimer_(acceptor_.get_executor()) {}

  Status listen(const Endpoint& endpoint);
  void stop();
  void remove(const std::weak_ptr<Connection>& connection);
  // Puts `to` in the place of `from` (an upgrade). False once the server is stopping: `to` is not registered.
  bool adopt(const std::weak_ptr<Connection>& from, const std::shared_ptr<Connection>& to);
  [[nodiscard]] std::size_t connectionCount() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }
  [[nodiscard]] std::uint16_t port() const { return port_.load(); }
  // Counts a response sent with `status` (100-599; the writer makes sure of the range).
  void countResponse(int status) {
    responses_[static_cast<std::size_t>(status - 100)].fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::vector<std::pair<int, std::uint64_t>> responseCounts() const {
    std::vector<std::pair<int, std::uint64_t>> out;
    for (std::size_t i = 0; i < responses_.size(); ++i) {
      if (const auto n = responses_[i].load(std::memory_order_relaxed); n != 0) out.emplace_back(100 + i, n);
    }
    return out;
  }
  [[nodiscard]] const Router& router() const { return router_; }
  [[nodiscard]] const ServerOptions& options() const { return options_; }

 private:
  void accept();
  // Closes connections whose deadline passed. One timer for the whole server instead of one timer operation per
  // read and write: deadlines are plain atomics that each connection moves.
  void sweep();
  void onAccept(beast::error_code ec, tcp::socket socket);

  const std::vector<net::io_context*> loops_;  // connections are dealt out over these in turn
  std::size_t nextLoop_ = 0;                    // on the acceptor's strand
  Router& router_;
  const ServerOptions options_;
  tcp::acceptor acceptor_;  // used on its strand only (after listen)
  net::steady_timer retryTimer_;
  net::steady_timer sweepTimer_;
  std::atomic<std::uint16_t> port_{0};
  mutable std::mutex mutex_;
  bool listening_ = false;
  bool stopped_ = false;
  std::set<std::weak_ptr<Connection>, std::owner_less<std::weak_ptr<Connection>>> sessions_;
  std::array<std::atomic<std::uint64_t>, 500> responses_{};  // by status - 100
};

class WsConnection;
class Session;

// The session whose handler this thread is running (inline answers, see Session::route).
thread_local Session* tDispatching = nullptr;

class Session : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Core> core, Endpoint remote)
      : Connection(socket.get_executor()), socket_(std::move(socket)), core_(std::move(core)), remote_(remote) {}
  ~Session() override { core_->remove(weak_from_this()); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    net::post(socket_.get_executor(), [self = shared_from_this()] { self->readRequest(); });
  }
  void stop() override { close(); }
  [[nodiscard]] bool expired(std::chrono::steady_clock::time_point now) const override {
    return deadline_.load(std::memory_order_relaxed) <= now.time_since_epoch().count();
  }
  // On the strand: closes the socket; pending operations complete with errors and release the session.
  void close();
  // On the strand: the responder's delivery of the response to request number `seq`.
  void deliver(std::uint64_t seq, Response response);

 private:
  void readRequest();
  // Feeds the buffered bytes to the parser and reads more while it needs them (the steps of Beast's
  // http::async_read, without its composed operations): the header first, then the body.
  void parse();
  void onBytes(beast::error_code ec, std::size_t n);
  void onHeader();
  void readBody();
  void onRead();
  void onReadError(beast::error_code ec);
  void route();
  void upgrade(const WebSocketHandler& handler);
  void watchPeer();
  Responder makeResponder();
  // closeAfter: the connection's framing is lost (parse errors, limits); keep-alive is honoured otherwise.
  void sendError(int status, const std::string& code, const std::string& message, bool closeAfter);
  void write(Response response, bool closeAfter);
  void onWrite(bool closeAfter, beast::error_code ec);
  void linger();
  void onLinger(beast::error_code ec, std::size_t n);

  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  // The response being written: its head (status line and fields, serialized here) and its body. Kept until
  // the write completes; the head's buffer is reused by the connection's next response.
  std::string responseHead_;
  std::string responseBody_;
  std::optional<bhttp::request<bhttp::string_body>> upgradeRequest_;  // a WebSocket upgrade being routed
  std::shared_ptr<Core> core_;
  // While a handler holds the responder no I/O is pending, so the session keeps itself alive; the cycle ends
  // when the response is delivered or the connection closes (peer gone, stop()).
  std::shared_ptr<Session> self_;
  Endpoint remote_;
  Request request_;
  unsigned version_ = 11;
  bool keepAlive_ = false;
  bool head_ = false;
  bool awaiting_ = false;  // a handler owns the current request's responder
  // steady_clock ticks; max: no deadline (a handler is busy). Written on the strand, read by the sweep.
  std::atomic<std::int64_t> deadline_{std::numeric_limits<std::int64_t>::max()};
  void armDeadline(std::chrono::steady_clock::duration d) {
    deadline_.store((std::chrono::steady_clock::now() + d).time_since_epoch().count(), std::memory_order_relaxed);
  }
  void disarmDeadline() { deadline_.store(std::numeric_limits<std::int64_t>::max(), std::memory_order_relaxed); }
  std::optional<Response> inlineResponse_;  // answered during the handler call itself
  bool closed_ = false;    // also once the socket was handed to a WebSocket connection
  std::uint64_t seq_ = 0;
  std::size_t lingered_ = 0;
  std::array<char, 4096> lingerBuffer_{};
};

// A WebSocket connection. Its socket comes from the Session that read the upgrade request, on the same strand.
// Everything but send()/requestClose() runs on that strand. Outgoing messages wait in a queue guarded by a mutex
// (send() is called from any thread); one async_write runs at a time. The connection keeps itself alive through
// its pending operations only; callers hold a WsHandle, which refers to it weakly.
class WsConnection : public Connection, public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(std::shared_ptr<Core> core, net::any_io_executor executor, Endpoint remote)
      : Connection(std::move(executor)),
        core_(std::move(core)),
        remote_(remote),
        closeTimer_(this->executor()),
        maxQueuedBytes_(core_->options().maxWebSocketQueueBytes) {}
  ~WsConnection() override { core_->remove(weak_from_this()); }
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;

  void stop() override { closeOnStrand(makeCloseReason(websocket::close_code::going_away, "server stopping"), true); }

  // On the strand: the handler refused the upgrade; the handle it got stays inert.
  void reject();
  // On the strand: the handler accepted; answers the handshake. `registered` is false when the server is
  // stopping, in which case the connection closes at once.
  void start(beast::tcp_stream stream, bhttp::request<bhttp::string_body> request, WebSocketCallbacks callbacks,
             bool registered);

  // Any thread.
  void send(std::string text);
  void requestClose(websocket::close_reason reason);

 private:
  enum class State { Pending, Handshake, Open, Closing, Closed };

  void onAccept(beast::error_code ec);
  void read();
  void onRead(beast::error_code ec);
  void kick();
  void flush();
  void onWrite(beast::error_code ec);
  // Stops taking messages, tells the application, and sends a close frame once the queue is written (at once
  // when `discard` drops the queue). The socket is closed after kWebSocketCloseTimeout at the latest.
  void closeOnStrand(websocket::close_reason reason, bool discard);
  void startClose();
  // Closes the socket; the end of every path.
  void finish();
  void notifyClosed();

  std::shared_ptr<Core> core_;
  Endpoint remote_;
  std::optional<WsStream> ws_;
  std::optional<bhttp::request<bhttp::string_body>> request_;  // the upgrade request, until it is answered
  WebSocketCallbacks callbacks_;
  beast::flat_buffer readBuffer_;
  std::string writing_;  // the message being written
  net::steady_timer closeTimer_;
  State state_ = State::Pending;
  std::optional<websocket::close_reason> closeReason_;  // a close is due once the queue is written
  bool notified_ = false;                               // onClose has been called (or never will be)

  std::mutex mutex_;  // guards the members below; never held while calling out
  std::deque<std::string> queue_;
  std::size_t queuedBytes_ = 0;  // queue_ plus writing_
  const std::size_t maxQueuedBytes_;
  bool accepting_ = true;    // send() queues messages
  bool writerBusy_ = false;  // a flush is posted or a write is in progress
};

// What callers hold. Refers to the connection weakly, so that it neither keeps a closed connection alive nor
// dangles.
class WsHandle final : public WebSocket {
 public:
  WsHandle(const std::shared_ptr<WsConnection>& connection, Endpoint remote)
      : connection_(connection), remote_(remote) {}

  void send(std::string text) override {
    if (auto connection = connection_.lock()) connection->send(std::move(text));
  }
  void close(std::uint16_t code, std::string reason) override {
    if (auto connection = connection_.lock()) connection->requestClose(makeCloseReason(code, std::move(reason)));
  }
  [[nodiscard]] Endpoint remote() const override { return remote_; }

 private:
  std::weak_ptr<WsConnection> connection_;
  Endpoint remote_;
};

// ---- Core ------------------------------------------------------------------------------------------------

Status Core::listen(const Endpoint& endpoint) {
  std::lock_guard lock(mutex_);
  if (listening_ || stopped_) return Error("HTTP_BIND_FAILED", "server already listening or stopped");
  const auto ep = toAsio(endpoint);
  beast::error_code ec;
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return Error("HTTP_BIND_FAILED", std::string(what) + " " + endpoint.toString() + ": " + ec.message());
  };
  acceptor_.open(ep.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("reuse_address");
  acceptor_.bind(ep, ec);
  if (ec) return fail("bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  port_ = acceptor_.local_endpoint(ec).port();
  listening_ = true;
  spdlog::info("http: listening on {}", toEndpoint(acceptor_.local_endpoint(ec)).toString());
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    self->accept();
    self->sweep();
  });
  return {};
}

void Core::accept() {
  if (!acceptor_.is_open()) return;
  net::io_context& loop = *loops_[nextLoop_++ % loops_.size()];
  // A loop run by one thread already runs its handlers one at a time: a strand would only add a lock and a
  // queue per completion.
  const net::any_io_executor executor = options_.oneThreadPerLoop ? net::any_io_executor(loop.get_executor())
                                                                  : net::any_io_executor(net::make_strand(loop));
  acceptor_.async_accept(
      executor, [self = shared_from_this()](beast::error_code ec, tcp::socket s) { self->onAccept(ec, std::move(s)); });
}

void Core::onAccept(beast::error_code ec, tcp::socket socket) {
  if (ec) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    // E.g. EMFILE: back off instead of spinning.
    spdlog::warn("http: accept failed: {}", ec.message());
    retryTimer_.expires_after(kAcceptRetryDelay);
    retryTimer_.async_wait([self = shared_from_this()](beast::error_code waitEc) {
      if (!waitEc) self->accept();
    });
    return;
  }
  beast::error_code ignored;
  auto remote = socket.remote_endpoint(ignored);
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;  // the socket closes as it goes out of scope
    if (sessions_.size() >= options_.maxConnections) {
      spdlog::warn("http: connection limit ({}) reached, closing new connection", options_.maxConnections);
      socket.close(ignored);
    } else {
      session = std::make_shared<Session>(std::move(socket), shared_from_this(), toEndpoint(remote));
      sessions_.insert(session);
    }
  }
  if (session) session->start();
  accept();
}

void Core::sweep() {
  const auto interval = std::clamp<std::chrono::steady_clock::duration>(options_.idleTimeout / 4,
                                                                         std::chrono::milliseconds(50),
                                                                         std::chrono::seconds(1));
  sweepTimer_.expires_after(interval);
  sweepTimer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Connection>> late;
    {
      std::lock_guard lock(self->mutex_);
      if (self->stopped_) return;
      for (const auto& weak : self->sessions_) {
        if (auto c = weak.lock(); c && c->expired(now)) late.push_back(std::move(c));
      }
    }
    for (auto& c : late) net::post(c->executor(), [c] { c->stop(); });
    self->sweep();
  });
}

void Core::stop() {
  std::vector<std::weak_ptr<Connection>> open;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    open.assign(sessions_.begin(), sessions_.end());
  }
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor_.close(ignored);
    self->retryTimer_.cancel();
    self->sweepTimer_.cancel();
  });
  for (auto& weak : open) {
    if (auto connection = weak.lock()) net::post(connection->executor(), [connection] { connection->stop(); });
  }
}

void Core::remove(const std::weak_ptr<Connection>& connection) {
  std::lock_guard lock(mutex_);
  sessions_.erase(connection);
}

bool Core::adopt(const std::weak_ptr<Connection>& from, const std::shared_ptr<Connection>& to) {
  std::lock_guard lock(mutex_);
  if (stopped_) return false;
  sessions_.erase(from);
  sessions_.insert(to);
  return true;
}

// ---- Session ---------------------------------------------------------------------------------------------

void Session::close() {
  auto keep = std::move(self_);
  if (closed_) return;
  closed_ = true;
  awaiting_ = false;
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void Session::readRequest() {
  if (closed_) return;
  const auto& options = core_->options();
  head_ = false;
  keepAlive_ = false;
  version_ = 11;
  parser_.emplace();
  // Eager: a body that arrived with the header is parsed at once, without a second read operation.
  parser_->eager(true);
  parser_->body_limit(options.maxBodyBytes);
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(options.maxHeaderBytes, std::numeric_limits<std::uint32_t>::max())));
  armDeadline(options.idleTimeout);
  parse();  // a pipelined request may already be buffered
}

void Session::parse() {
  if (closed_) return;
  while (buffer_.size() != 0) {
    beast::error_code ec;
    const bool hadHeader = parser_->is_header_done();
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more || (!ec && used == 0)) break;
    if (ec) return onReadError(ec);
    if (!hadHeader && parser_->is_header_done()) return onHeader();  // once per request, as the header completes
    if (parser_->is_done()) return onRead();
  }
  // The parser needs more bytes. At most 64 KiB per read, and no more than the buffer may still take.
  const std::size_t room = std::min<std::size_t>(std::max<std::size_t>(buffer_.capacity() - buffer_.size(), 512),
                                                 buffer_.max_size() - buffer_.size());
  const std::size_t size = std::min<std::size_t>(room, 65536);
  if (size == 0) return onReadError(bhttp::error::buffer_overflow);
  socket_.async_read_some(buffer_.prepare(size),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->onBytes(ec, n); });
}

void Session::onBytes(beast::error_code ec, std::size_t n) {
  buffer_.commit(n);
  if (closed_) return;
  if (ec == net::error::eof) {
    // A request is never delimited by the end of the stream (RFC 9112 §6.3): a started one is cut short.
    if (!parser_->got_some()) return onReadError(bhttp::error::end_of_stream);
    ec = {};
    parser_->put_eof(ec);
    return onReadError(ec ? ec : beast::error_code(bhttp::error::partial_message));
  }
  if (ec) return onReadError(ec);
  parse();
}

void Session::onHeader() {
  const auto& req = parser_->get();
  if (req.version() >= 11 && !parser_->is_done() && iequals(sv(req[bhttp::field::expect]), "100-continue")) {
    net::async_write(socket_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](beast::error_code writeEc, std::size_t) {
                       if (writeEc) return self->close();
                       self->readBody();
                     });
    return;
  }
  readBody();
}

void Session::readBody() {
  if (closed_) return;
  if (parser_->is_done()) return onRead();
  parse();
}

void Session::onReadError(beast::error_code ec) {
  if (closed_) return;
  if (ec == bhttp::error::body_limit) {
    return sendError(413, "BODY_TOO_LARGE",
                     "request body exceeds " + std::to_string(core_->options().maxBodyBytes) + " bytes", true);
  }
  if (ec == bhttp::error::header_limit) {
    return sendError(431, "HEADERS_TOO_LARGE",
                     "request header exceeds " + std::to_string(core_->options().maxHeaderBytes) + " bytes", true);
  }
  const bool parseError = ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
                          ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
  if (parseError) return sendError(400, "BAD_REQUEST", "malformed request: " + ec.message(), true);
  spdlog::debug("http: {} read ended: {}", remote_.toString(), ec.message());
  // End of stream, idle timeout, reset, abort: nothing to answer.
  close();
}

void Session::onRead() {
  if (closed_) return;
  disarmDeadline();  // a handler may take its time; the write sets its own deadline
  auto message = parser_->release();
  parser_.reset();
  version_ = message.version();
  keepAlive_ = message.keep_alive();
  request_ = Request{};
  upgradeRequest_.reset();
  request_.method = std::string(sv(message.method_string()));
  head_ = request_.method == "HEAD";
  request_.remote = remote_;
  if (!parseTarget(sv(message.target()), request_.path, request_.query)) {
    return sendError(400, "BAD_REQUEST", "malformed request target", false);
  }
  for (const auto& field : message) request_.headers.emplace(sv(field.name_string()), sv(field.value()));
  request_.body = std::move(message.body());
  if (websocket::is_upgrade(message)) upgradeRequest_.emplace(std::move(message));
  route();
}

void Session::route() {
  const Router& router = core_->router();
  if (upgradeRequest_) {
    if (const WebSocketHandler* webSocket = router.matchWebSocket(request_)) return upgrade(*webSocket);
    upgradeRequest_.reset();  // no WebSocket here: an ordinary request (RFC 9110 §7.8 lets a server ignore Upgrade)
  }
  bool pathExists = false;
  const Handler* handler = router.match(request_, pathExists);
  if (handler == nullptr && request_.method == "HEAD" && pathExists) {
    // HEAD is answered by the GET route; the body is dropped when writing.
    request_.method = "GET";
    bool ignored = false;
    handler = router.match(request_, ignored);
    request_.method = "HEAD";
  }
  if (handler == nullptr) {
    if (!pathExists) {
      return sendError(404, "NOT_FOUND", "no route for " + request_.path, false);
    }
    if ((request_.method == "GET" || request_.method == "HEAD") && router.matchWebSocket(request_) != nullptr) {
      auto response = Response::error(426, "UPGRADE_REQUIRED", request_.path + " is a WebSocket endpoint");
      response.headers.emplace("Upgrade", "websocket");  // RFC 9110 §15.5.22
      return write(std::move(response), !keepAlive_);
    }
    const auto allow = allowedMethods(router.methodsFor(request_.path));
    if (request_.method == "OPTIONS") {
      // CORS preflight (Fetch standard) and WHIP (RFC 9725 §4.3) discovery.
      Response response;
      response.status = 204;
      auto requested = request_.header("Access-Control-Request-Headers");
      response.headers.emplace("Allow", allow);
      response.headers.emplace("Access-Control-Allow-Methods", allow);
      response.headers.emplace("Access-Control-Allow-Headers",
                               requested && !requested->empty() ? *requested : kDefaultAllowHeaders);
      response.headers.emplace("Access-Control-Max-Age", "86400");
      response.headers.emplace("Accept-Patch", kAcceptPatch);
      return write(std::move(response), !keepAlive_);
    }
    auto response = Response::error(405, "METHOD_NOT_ALLOWED", request_.method + " not allowed on " + request_.path);
    response.headers.emplace("Allow", allow);
    return write(std::move(response), !keepAlive_);
  }

  awaiting_ = true;
  ++seq_;
  auto responder = makeResponder();
  // A handler that answers before it returns (most API calls) is answered inline: no post back to the strand,
  // no peer watch. The responder recognises that case by the thread's current dispatch.
  inlineResponse_.reset();
  tDispatching = this;
  try {
    (*handler)(request_, responder);
  } catch (const std::exception& e) {
    spdlog::error("http: handler for {} {} threw: {}", request_.method, request_.path, e.what());
    responder(Response::error(500, "INTERNAL_ERROR", "internal server error"));
  } catch (...) {
    spdlog::error("http: handler for {} {} threw a non-standard exception", request_.method, request_.path);
    responder(Response::error(500, "INTERNAL_ERROR", "internal server error"));
  }
  tDispatching = nullptr;
  if (inlineResponse_) {
    awaiting_ = false;
    Response response = std::move(*inlineResponse_);
    inlineResponse_.reset();
    return write(std::move(response), !keepAlive_);
  }
  // The handler answers later, from any thread: keep the session alive until then and notice a peer that leaves.
  self_ = shared_from_this();
  watchPeer();
}

void Session::upgrade(const WebSocketHandler& handler) {
  const auto& req = *upgradeRequest_;
  // The checks of Beast's accept, made here so that a handler only sees handshakes that can complete.
  const auto key = req[bhttp::field::sec_websocket_key];
  if (req.version() != 11 || req.find(bhttp::field::host) == req.end() || key.empty() ||
      key.size() > kMaxWebSocketKeyBytes) {
    upgradeRequest_.reset();
    return sendError(400, "BAD_REQUEST", "invalid WebSocket handshake", false);
  }
  if (req[bhttp::field::sec_websocket_version] != "13") {
    upgradeRequest_.reset();
    auto response = Response::error(426, "UNSUPPORTED_WEBSOCKET_VERSION", "only WebSocket version 13 is supported");
    response.headers.emplace("Sec-WebSocket-Version", "13");  // RFC 6455 §4.4
    return write(std::move(response), !keepAlive_);
  }
  if (buffer_.size() != 0) {
    // Frames sent before the handshake response (RFC 6455 §4.1 forbids it) would be lost in the hand-over.
    upgradeRequest_.reset();
    return sendError(400, "BAD_REQUEST", "data sent before the WebSocket handshake completed", true);
  }

  auto connection = std::make_shared<WsConnection>(core_, executor(), remote_);
  std::variant<Response, WebSocketCallbacks> decision;
  try {
    decision = handler(request_, std::make_shared<WsHandle>(connection, remote_));
  } catch (const std::exception& e) {
    spdlog::error("http: websocket handler for {} threw: {}", request_.path, e.what());
    decision = Response::error(500, "INTERNAL_ERROR", "internal server error");
  } catch (...) {
    spdlog::error("http: websocket handler for {} threw a non-standard exception", request_.path);
    decision = Response::error(500, "INTERNAL_ERROR", "internal server error");
  }
  if (auto* response = std::get_if<Response>(&decision)) {
    connection->reject();
    upgradeRequest_.reset();
    if (response->status < 200) {
      spdlog::error("http: websocket handler for {} refused with status {}", request_.path, response->status);
      *response = Response::error(500, "INTERNAL_ERROR", "internal server error");
    }
    return write(std::move(*response), !keepAlive_);
  }
  closed_ = true;  // the socket belongs to the WebSocket connection from here on
  const bool registered = core_->adopt(weak_from_this(), connection);
  connection->start(beast::tcp_stream(std::move(socket_)), std::move(*upgradeRequest_), std::get<WebSocketCallbacks>(std::move(decision)),
                    registered);
  upgradeRequest_.reset();
}

Responder Session::makeResponder() {
  struct State {
    std::atomic<bool> used{false};
    std::weak_ptr<Session> session;
    Session* raw = nullptr;  // compared with tDispatching only, never dereferenced from another thread
    net::any_io_executor executor;
    std::uint64_t seq = 0;
  };
  auto state = std::make_shared<State>();
  state->session = weak_from_this();
  state->raw = this;
  state->executor = socket_.get_executor();
  state->seq = seq_;
  return [state](Response response) {
    if (state->used.exchange(true)) {
      spdlog::warn("http: responder called more than once; response ignored");
      return;
    }
    if (tDispatching == state->raw) {  // inside the handler call, on the session's strand
      state->raw->inlineResponse_.emplace(std::move(response));
      return;
    }
    if (state->session.expired()) return;  // connection gone: drop silently
    net::post(state->executor, [weak = state->session, seq = state->seq, response = std::move(response)]() mutable {
      if (auto session = weak.lock()) session->deliver(seq, std::move(response));
    });
  };
}

// Notices a client that goes away while its handler is busy, so that the session and its late response can
// be dropped. Pipelined data also wakes the wait; it is left for the next read.
void Session::watchPeer() {
  socket_.async_wait(tcp::socket::wait_read, [weak = weak_from_this(), seq = seq_](beast::error_code ec) {
    auto self = weak.lock();
    if (!self || ec || self->closed_ || !self->awaiting_ || seq != self->seq_) return;
    // Readiness is only a hint (with several loop threads a stale edge can wake the wait): peek to tell an
    // orderly close or an error from pipelined data or nothing at all.
    char probe = 0;
    const ssize_t n = ::recv(self->socket_.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return;  // pipelined data: left for the next read
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      self->watchPeer();  // spurious wake-up: keep watching
      return;
    }
    spdlog::debug("http: {} went away before its response", self->remote_.toString());
    self->close();
  });
}

void Session::deliver(std::uint64_t seq, Response response) {
  if (closed_ || !awaiting_ || seq != seq_) return;
  auto keep = std::move(self_);
  awaiting_ = false;
  write(std::move(response), !keepAlive_);
}

void Session::sendError(int status, const std::string& code, const std::string& message, bool closeAfter) {
  write(Response::error(status, code, message), closeAfter || !keepAlive_);
}

void Session::write(Response response, bool closeAfter) {
  const auto& options = core_->options();
  if (response.status < 100 || response.status > 599) {
    spdlog::error("http: handler for {} {} returned invalid status {}", request_.method, request_.path,
                  response.status);
    response = Response::error(500, "INTERNAL_ERROR", "internal server error");
  }
  core_->countResponse(response.status);
  ResponseFraming framing;
  framing.version = version_;
  framing.keepAlive = !closeAfter;
  if (!bodyForbidden(response.status)) {
    framing.contentLength = response.body.size();
    if (!head_) responseBody_ = std::move(response.body);
  }
  responseHead_.clear();
  if (const auto dropped = appendResponseHead(responseHead_, response.status, response.headers, options, framing)) {
    spdlog::warn("http: dropped {} malformed response header(s) of {} {}", dropped, request_.method, request_.path);
  }
  armDeadline(options.idleTimeout);
  // Head and body in one gathered write: one send for the whole response.
  const std::array<net::const_buffer, 2> buffers{net::buffer(responseHead_), net::buffer(responseBody_)};
  net::async_write(socket_, buffers, [self = shared_from_this(), closeAfter](beast::error_code ec, std::size_t) {
    self->onWrite(closeAfter, ec);
  });
}

void Session::onWrite(bool closeAfter, beast::error_code ec) {
  responseBody_ = std::string();
  if (responseHead_.capacity() > kKeptHeadBytes) responseHead_ = std::string();
  if (closed_) return;
  if (ec) return close();
  if (closeAfter) return linger();
  readRequest();
}

void Session::linger() {
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  armDeadline(kLingerTime);
  lingered_ = 0;
  socket_.async_read_some(net::buffer(lingerBuffer_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->onLinger(ec, n); });
}

void Session::onLinger(beast::error_code ec, std::size_t n) {
  lingered_ += n;
  if (ec || closed_ || lingered_ > kMaxLingerBytes) return close();
  socket_.async_read_some(
      net::buffer(lingerBuffer_),
      [self = shared_from_this()](beast::error_code readEc, std::size_t m) { self->onLinger(readEc, m); });
}

// ---- WsConnection ----------------------------------------------------------------------------------------

void WsConnection::reject() {
  state_ = State::Closed;
  notified_ = true;
  std::lock_guard lock(mutex_);
  accepting_ = false;
  queue_.clear();
  queuedBytes_ = 0;
}

void WsConnection::start(beast::tcp_stream stream, bhttp::request<bhttp::string_body> request,
                         WebSocketCallbacks callbacks, bool registered) {
  const auto& options = core_->options();
  callbacks_ = std::move(callbacks);
  ws_.emplace(std::move(stream));
  request_.emplace(std::move(request));
  state_ = State::Handshake;
  if (!registered) return finish();  // the server is stopping

  auto& lowest = beast::get_lowest_layer(*ws_);
  lowest.expires_never();  // the websocket stream keeps its own time
  // Notifications are small and often come in bursts: without this, Nagle's algorithm holds each one back until
  // the previous one is acknowledged, which a delayed ACK can make take tens of milliseconds.
  beast::error_code ignored;
  lowest.socket().set_option(tcp::no_delay(true), ignored);
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = kWebSocketCloseTimeout;
  if (options.webSocketPingInterval.count() > 0) {
    // Beast pings after half the idle timeout without a message and gives up after the other half.
    timeouts.idle_timeout = 2 * options.webSocketPingInterval;
    timeouts.keep_alive_pings = true;
  } else {
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
  }
  ws_->set_option(timeouts);
  ws_->set_option(websocket::stream_base::decorator(
      [name = options.serverName](websocket::response_type& res) { res.set(bhttp::field::server, name); }));
  ws_->read_message_max(options.maxWebSocketMessageBytes);
  ws_->text(true);
  ws_->async_accept(*request_, [self = shared_from_this()](beast::error_code ec) { self->onAccept(ec); });
}

void WsConnection::onAccept(beast::error_code ec) {
  request_.reset();
  if (state_ != State::Handshake) return;
  if (ec) {
    spdlog::debug("http: websocket handshake with {} failed: {}", remote_.toString(), ec.message());
    return finish();
  }
  state_ = State::Open;
  core_->countResponse(101);
  spdlog::debug("http: websocket open with {}", remote_.toString());
  read();
  kick();  // messages queued during the handshake, or a close requested meanwhile
}

void WsConnection::read() {
  ws_->async_read(readBuffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
}

void WsConnection::onRead(beast::error_code ec) {
  if (ec) {
    if (ec == websocket::error::closed) {
      spdlog::debug("http: websocket {} closed by peer ({})", remote_.toString(), ws_->reason().code);
    } else if (ec != net::error::operation_aborted) {
      spdlog::debug("http: websocket {} read ended: {}", remote_.toString(), ec.message());
    }
    // While our own close is in progress its completion finishes the connection.
    if (state_ != State::Closing) finish();
    return;
  }
  if (!ws_->got_text()) {
    readBuffer_.clear();
    closeOnStrand(makeCloseReason(websocket::close_code::unknown_data, "binary messages are not supported"), true);
    return read();  // the closing handshake needs a pending read
  }
  if (!notified_ && !closeReason_ && callbacks_.onMessage) {
    const auto data = readBuffer_.cdata();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    try {
      callbacks_.onMessage(text);
    } catch (const std::exception& e) {
      spdlog::error("http: websocket message handler threw: {}", e.what());
      closeOnStrand(makeCloseReason(websocket::close_code::internal_error, "internal server error"), true);
    } catch (...) {
      spdlog::error("http: websocket message handler threw a non-standard exception");
      closeOnStrand(makeCloseReason(websocket::close_code::internal_error, "internal server error"), true);
    }
  }
  readBuffer_.clear();
  if (readBuffer_.capacity() > kKeptReadBufferBytes) readBuffer_.shrink_to_fit();
  if (state_ == State::Closed) return;
  read();
}

void WsConnection::send(std::string text) {
  std::unique_lock lock(mutex_);
  if (!accepting_) return;
  if (text.size() > maxQueuedBytes_ - queuedBytes_) {  // queuedBytes_ never exceeds the limit
    accepting_ = false;
    lock.unlock();
    spdlog::info("http: websocket {} is too slow (more than {} bytes unsent), closing", remote_.toString(),
                 maxQueuedBytes_);
    net::post(executor(), [self = shared_from_this()] {
      self->closeOnStrand(makeCloseReason(websocket::close_code::try_again_later, "too slow"), true);
    });
    return;
  }
  queuedBytes_ += text.size();
  queue_.push_back(std::move(text));
  if (writerBusy_) return;
  writerBusy_ = true;
  lock.unlock();
  net::post(executor(), [self = shared_from_this()] { self->flush(); });
}

void WsConnection::requestClose(websocket::close_reason reason) {
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;  // from now on, as seen by the caller's thread
  }
  net::post(executor(), [self = shared_from_this(), reason] { self->closeOnStrand(reason, false); });
}

void WsConnection::kick() {
  {
    std::lock_guard lock(mutex_);
    if (writerBusy_) return;  // the running flush sees the new state
    writerBusy_ = true;
  }
  flush();
}

// Runs with writerBusy_ set; clears it when there is nothing (more) to write.
void WsConnection::flush() {
  std::unique_lock lock(mutex_);
  if (state_ != State::Open || queue_.empty()) {
    writerBusy_ = false;
    lock.unlock();
    if (state_ == State::Open && closeReason_) startClose();
    return;
  }
  writing_ = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  ws_->async_write(net::buffer(writing_),
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onWrite(ec); });
}

void WsConnection::onWrite(beast::error_code ec) {
  {
    std::lock_guard lock(mutex_);
    queuedBytes_ -= writing_.size();
  }
  std::string().swap(writing_);
  if (ec) {
    spdlog::debug("http: websocket {} write failed: {}", remote_.toString(), ec.message());
    {
      std::lock_guard lock(mutex_);
      writerBusy_ = false;
    }
    if (state_ != State::Closing) finish();
    return;
  }
  flush();
}

void WsConnection::closeOnStrand(websocket::close_reason reason, bool discard) {
  if (state_ == State::Pending || state_ == State::Closing || state_ == State::Closed || closeReason_) return;
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    if (discard) {
      for (const auto& message : queue_) queuedBytes_ -= message.size();
      queue_.clear();
    }
  }
  closeReason_ = std::move(reason);
  notifyClosed();
  closeTimer_.expires_after(kWebSocketCloseTimeout);
  closeTimer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ == State::Closed) return;
    spdlog::debug("http: websocket {} did not close in time", self->remote_.toString());
    self->finish();
  });
  if (state_ == State::Open) kick();  // the close frame follows what is still queued
}

void WsConnection::startClose() {
  state_ = State::Closing;
  ws_->async_close(*closeReason_, [self = shared_from_this()](beast::error_code ec) {
    if (ec && ec != net::error::operation_aborted) {
      spdlog::debug("http: websocket {} close: {}", self->remote_.toString(), ec.message());
    }
    self->finish();
  });
}

void WsConnection::finish() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  closeTimer_.cancel();
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    queue_.clear();
  }
  if (ws_) {
    auto& stream = beast::get_lowest_layer(*ws_);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
  }
  notifyClosed();
}

void WsConnection::notifyClosed() {
  if (notified_) return;
  notified_ = true;
  auto callbacks = std::move(callbacks_);
  callbacks_ = {};
  if (!callbacks.onClose) return;
  try {
    callbacks.onClose();
  } catch (const std::exception& e) {
    spdlog::error("http: websocket close handler threw: {}", e.what());
  } catch (...) {
    spdlog::error("http: websocket close handler threw a non-standard exception");
  }
}

}  // namespace

// ---- Server ----------------------------------------------------------------------------------------------

struct Server::Impl : Core {
  using Core::Core;
};

Server::Server(boost::asio::io_context& io, Router& router, ServerOptions options)
    : Server(std::vector<boost::asio::io_context*>{&io}, router, std::move(options)) {}

Server::Server(std::vector<boost::asio::io_context*> loops, Router& router, ServerOptions options) {
  if (loops.empty()) throw std::invalid_argument("http::Server needs at least one io_context");
  impl_ = std::make_shared<Impl>(std::move(loops), router, std::move(options));
}

Server::~Server() { impl_->stop(); }

Status Server::listen(const Endpoint& endpoint) { return impl_->listen(endpoint); }

std::uint16_t Server::port() const { return impl_->port(); }

void Server::stop() { impl_->stop(); }

std::size_t Server::connectionCount() const { return impl_->connectionCount(); }

std::vector<std::pair<int, std::uint64_t>> Server::responseCounts() const { return impl_->responseCounts(); }

}  // namespace stagecast::http
