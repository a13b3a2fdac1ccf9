// How libavformat reports the failures we classify (rtsp.c, http.c, tcp.c):
//   - an RTSP reply status is turned into ff_http_averror(): 401 → AVERROR_HTTP_UNAUTHORIZED (also after the
//     retry with credentials), 403 → AVERROR_HTTP_FORBIDDEN, 404 → AVERROR_HTTP_NOT_FOUND, other 4xx →
//     AVERROR_HTTP_OTHER_4XX, 5xx → AVERROR_HTTP_SERVER_ERROR;
//   - connect() errors come back as AVERROR(errno): ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ...;
//   - the "timeout" option (socket I/O, microseconds) yields AVERROR(ETIMEDOUT), and an interrupt callback
//     makes any blocking step return AVERROR_EXIT.
#include "libav_util.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdarg>
#include <mutex>

#include "stagecast/common/log.hpp"
#include "stagecast/common/text.hpp"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
}

namespace stagecast::ingest::detail {

namespace {

// The password of the camera handled on this thread, masked in any libav line logged from it.
thread_local const std::string* tlsPassword = nullptr;

void replaceAll(std::string& s, const std::string& what, const std::string& with) {
  if (what.empty()) return;
  for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size())) {
    s.replace(pos, what.size(), with);
  }
}

void avLogToSpdlog(void* avcl, int level, const char* fmt, va_list args) {
  // Above INFO libav dumps whole RTSP requests, Authorization headers included: never forward those.
  if (level > AV_LOG_INFO) return;
  if (!spdlog::default_logger_raw()->should_log(spdlog::level::debug)) return;
  thread_local int printPrefix = 1;
  char line[1024];
  va_list copy;
  va_copy(copy, args);
  av_log_format_line2(avcl, level, fmt, copy, line, sizeof(line), &printPrefix);
  va_end(copy);
  std::string text = redactUrlsInText(line);
  if (tlsPassword != nullptr) replaceAll(text, *tlsPassword, "***");
  if (text.find("Authorization") != std::string::npos) return;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) spdlog::debug("libav: {}", text);
}

bool isAddressLiteral(const std::string& ip) {
  std::string bare = ip;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, bare.c_str(), buf) == 1 || inet_pton(AF_INET6, bare.c_str(), buf) == 1;
}

}  // namespace

std::string avErrorText(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

void setOption(DictionaryPtr& options, const char* key, const std::string& value) {
  AVDictionary* raw = options.release();
  av_dict_set(&raw, key, value.c_str(), 0);
  options.reset(raw);
}

void initLibav() {
  static std::once_flag once;
  std::call_once(once, [] {
    avformat_network_init();
    av_log_set_level(AV_LOG_INFO);
    av_log_set_callback(avLogToSpdlog);
  });
}

PasswordScope::PasswordScope(const std::string& password) : previous_(tlsPassword) {
  tlsPassword = password.empty() ? nullptr : &password;
}

PasswordScope::~PasswordScope() { tlsPassword = previous_; }

Error classifyAvError(int err, bool timedOut, const CameraAddress& address, const std::string& where) {
  const std::string url = redactedUrl(address);
  const bool credentials = !address.username.empty();
  spdlog::debug("rtsp {}: {} failed: {} ({})", url, where, avErrorText(err), err);
  if (timedOut || err == AVERROR_EXIT || err == AVERROR(ETIMEDOUT)) {
    return {probe_error::kTimeout, url + " did not answer in time (" + where + ")"};
  }
  switch (err) {
    case AVERROR_HTTP_UNAUTHORIZED:
    case AVERROR_HTTP_FORBIDDEN:
      if (credentials) return {probe_error::kAuthFailed, url + " rejected the username or password"};
      return {probe_error::kAuthRequired, url + " requires a username and password"};
    case AVERROR_HTTP_NOT_FOUND:
      return {probe_error::kNotFound, url + ": no such stream on the camera (404)"};
    case AVERROR_STREAM_NOT_FOUND:
      return {probe_error::kNotFound, url + ": the camera describes no stream"};
    case AVERROR(ECONNREFUSED):
      return {probe_error::kUnreachable, url + ": connection refused"};
    case AVERROR(EHOSTUNREACH):
    case AVERROR(EHOSTDOWN):
      return {probe_error::kUnreachable, url + ": host unreachable"};
    case AVERROR(ENETUNREACH):
    case AVERROR(ENETDOWN):
      return {probe_error::kUnreachable, url + ": network unreachable"};
    case AVERROR(EADDRNOTAVAIL):
      return {probe_error::kUnreachable, url + ": address not available"};
    case AVERROR(EPROTONOSUPPORT):  // SETUP answered 461 Unsupported Transport
      return {probe_error::kProbeFailed,
              url + " does not offer RTP over " + toLower(address.transport) + " (RTSP 461); try the other transport"};
    case AVERROR_HTTP_OTHER_4XX:
      return {probe_error::kProbeFailed, url + " refused the request (RTSP 4xx)"};
    case AVERROR_HTTP_SERVER_ERROR:
      return {probe_error::kProbeFailed, url + " reported an internal error (RTSP 5xx)"};
    default:
      return {probe_error::kProbeFailed, where + " " + url + ": " + avErrorText(err)};
  }
}

Status resolveHost(const CameraAddress& address) {
  if (isAddressLiteral(address.ip)) return {};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(address.ip.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return Error(probe_error::kUnreachable,
                 redactedUrl(address) + ": cannot resolve host name (" + gai_strerror(rc) + ")");
  }
  freeaddrinfo(found);
  return {};
}

const char* rtspIoTimeoutOption(const AVInputFormat* rtsp) {
  const AVClass* rtspClass = rtsp->priv_class;
  return av_opt_find(&rtspClass, "stimeout", nullptr, 0, AV_OPT_SEARCH_FAKE_OBJ) != nullptr ? "stimeout" : "timeout";
}

}  // namespace stagecast::ingest::detail
