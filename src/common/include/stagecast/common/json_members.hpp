#pragma once
// Chosen top-level members of a JSON object text (RFC 8259), read without building a document: the kind of each
// wanted member and the decoded value of the string ones. The whole text is validated as a document parser would
// (grammar, string escapes and UTF-8, finite numbers), so an answer is only given for valid JSON.
// Written for the hot API calls, whose bodies hold a few strings; nlohmann::json parses everything else and is
// the oracle this reader is tested and fuzzed against.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace stagecast::json {

enum class MemberKind : std::uint8_t { Missing, Null, String, Other };

struct Member {
  std::string_view name;  // the member's name as it reads once decoded
  MemberKind kind = MemberKind::Missing;
  std::string value;  // the decoded string, when kind == String
};

enum class ScanResult : std::uint8_t { Object, NotObject, Malformed };

// Fills `members` (kinds and values) when the text is a valid JSON object. A member given twice counts with its
// last value, as it would in a document. Members nested deeper than the top level are not looked at.
// Never throws; the work is linear in the text and needs no recursion (nesting depth is bounded only by the
// text's length).
ScanResult scanObjectMembers(std::string_view text, std::span<Member> members);

}  // namespace stagecast::json
