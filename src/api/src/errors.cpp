#include "stagecast/api/errors.hpp"

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace stagecast::api {

namespace {

const std::unordered_map<std::string, int>& statusTable() {
  static const std::unordered_map<std::string, int> kStatus = {
      {"BAD_REQUEST", 400},         {"SDP_MALFORMED", 400},
      {"SDP_UNSUPPORTED", 400},     {"INVALID_STAGE", 400},
      {"INVALID_SESSION", 400},     {"UNAUTHORIZED", 401},
      {"FORBIDDEN", 403},           {"NOT_FOUND", 404},
      {"STAGE_NOT_FOUND", 404},     {"SESSION_NOT_FOUND", 404},
      {"METHOD_NOT_ALLOWED", 405},  {"NO_COMMON_CODEC", 406},
      {"PRECONDITION_FAILED", 412}, {"SDP_TOO_LARGE", 413},
      {"BODY_TOO_LARGE", 413},      {"UNSUPPORTED_MEDIA_TYPE", 415},
      {"STAGE_FULL", 503},          {"SHUTTING_DOWN", 503},
      // live channels API
      {"INVALID_REQUEST", 400},     {"API_KEY_REQUIRED", 401},
      {"API_KEY_INVALID", 401},     {"MEDIA_SECRET_INVALID", 403},
      {"MEDIA_NODES_DISABLED", 403}, {"CHANNEL_NOT_FOUND", 404},
      {"VIEWER_NOT_FOUND", 404},    {"NODE_NOT_FOUND", 404},
      {"VIEWER_IN_OTHER_STAGE", 409}, {"STORE_UNAVAILABLE", 503},
      {"TOKEN_FAILED", 500},
      // participant tokens on WHIP/WHEP
      {"TOKEN_REQUIRED", 401},      {"TOKEN_MALFORMED", 401},
      {"TOKEN_ALG_UNSUPPORTED", 401}, {"TOKEN_BAD_SIGNATURE", 401},
      {"TOKEN_EXPIRED", 401},       {"TOKEN_NOT_YET_VALID", 401},
      {"TOKEN_WRONG_STAGE", 403},   {"TOKEN_CAPABILITY", 403},
      // camera probes and previews (the camera's answer, not the API caller's credentials)
      {"AUTH_REQUIRED", 401},       {"AUTH_FAILED", 403},
      {"UNREACHABLE", 502},         {"PROBE_FAILED", 502},
      {"TIMEOUT", 504},             {"UNSUPPORTED_CODEC", 415},
      {"ACTIONLOG_UNAVAILABLE", 503},
      // camera registry, camera tokens on /whep/camera/{id}
      {"CAMERA_NOT_FOUND", 404},    {"CAMERA_LIMIT_REACHED", 409},
      {"CAMERA_STORE_FAILED", 500}, {"CAMERA_STORE_CORRUPT", 500},
      {"TOKEN_WRONG_CAMERA", 403},
  };
  return kStatus;
}

// One counter per known code and one for any other. The map is complete before the first lookup and never
// changes, so counting takes no lock.
class ErrorCounters {
 public:
  ErrorCounters() {
    for (const auto& entry : statusTable()) counts_[entry.first];
  }
  void count(const std::string& code) {
    auto it = counts_.find(code);
    (it == counts_.end() ? other_ : it->second).fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> snapshot() const {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    out.reserve(counts_.size() + 1);
    for (const auto& [code, n] : counts_) out.emplace_back(code, n.load(std::memory_order_relaxed));
    std::sort(out.begin(), out.end());
    out.emplace_back(kOtherErrorCode, other_.load(std::memory_order_relaxed));
    return out;
  }

 private:
  std::unordered_map<std::string, std::atomic<std::uint64_t>> counts_;
  std::atomic<std::uint64_t> other_{0};
};

ErrorCounters& errorCounters() {
  static ErrorCounters counters;
  return counters;
}

}  // namespace

int httpStatusFor(const std::string& code) {
  const auto& table = statusTable();
  auto it = table.find(code);
  return it == table.end() ? 500 : it->second;
}

std::vector<std::pair<std::string, std::uint64_t>> errorCounts() { return errorCounters().snapshot(); }

http::Response errorResponse(const Error& error) {
  const int status = httpStatusFor(error.code);
  errorCounters().count(error.code);
  http::Response r = http::Response::json(
      status, nlohmann::json{{"success", false}, {"error", {{"code", error.code}, {"message", error.message}}}}.dump());
  // RFC 6750 §3: a Bearer challenge with every 401 of a token-protected resource.
  if (status == 401 && error.code.rfind("TOKEN_", 0) == 0) {
    r.headers.emplace("WWW-Authenticate", error.code == "TOKEN_REQUIRED" ? "Bearer realm=\"stagecast\""
                                                                          : "Bearer realm=\"stagecast\", error=\"invalid_token\"");
  }
  return r;
}

}  // namespace stagecast::api
