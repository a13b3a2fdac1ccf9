#pragma once
// Request bodies that are JSON objects: the parsed document, or only some top-level string members read without
// building a document. Failures are INVALID_REQUEST errors whose message names the body or the member.
#include <cstddef>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "stagecast/common/error.hpp"
#include "stagecast/common/json_members.hpp"

namespace stagecast::api {

// The whole object (for bodies with nested or non-string members).
Result<nlohmann::json> jsonObjectBody(std::string_view body, std::size_t limit);

// A string member of a parsed object: required unless `optional` (then missing or null gives ""); a member of
// another type is always an error, and so is an empty required one.
Result<std::string> stringMember(const nlohmann::json& object, const char* name, bool optional = false);

// Top-level string members of an object body, read by the common layer's member reader without building a
// document (the hot API calls carry nothing else): the same outcomes as jsonObjectBody followed by stringMember.
// Only the members named at parse time are kept; a repeated member counts with its last value, as in a document.
class StringMembers {
 public:
  static Result<StringMembers> parse(std::string_view body, std::initializer_list<const char*> wanted,
                                     std::size_t limit);
  // `name` must be one of the wanted members.
  [[nodiscard]] Result<std::string> get(const char* name, bool optional = false) const;

 private:
  std::vector<json::Member> members_;
};

}  // namespace stagecast::api
