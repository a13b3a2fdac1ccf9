#include "stagecast/api/errors.hpp"

#include <unordered_map>

namespace stagecast::api {

int httpStatusFor(const std::string& code) {
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
  };
  auto it = kStatus.find(code);
  return it == kStatus.end() ? 500 : it->second;
}

http::Response errorResponse(const Error& error) {
  return http::Response::error(httpStatusFor(error.code), error.code, error.message);
}

}  // namespace stagecast::api
