#pragma once
// The one place where error codes become HTTP statuses.
#include "stagecast/common/error.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::api {

int httpStatusFor(const std::string& code);
http::Response errorResponse(const Error& error);

}  // namespace stagecast::api
