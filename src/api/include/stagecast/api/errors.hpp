#pragma once
// The one place where error codes become HTTP statuses.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "stagecast/common/error.hpp"
#include "stagecast/http/server.hpp"

namespace stagecast::api {

int httpStatusFor(const std::string& code);
// The JSON error answer {"success": false, "error": {"code", "message"}} with the code's status; counted.
http::Response errorResponse(const Error& error);

// Error codes answered by errorResponse() that the status table does not know are counted under this one.
inline constexpr const char* kOtherErrorCode = "OTHER";
// Error answers so far by code: every known code (zero if never answered), sorted, then kOtherErrorCode.
std::vector<std::pair<std::string, std::uint64_t>> errorCounts();

}  // namespace stagecast::api
