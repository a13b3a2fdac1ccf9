#pragma once
// What a document parser (nlohmann::json) makes of a text, in the member reader's terms: the oracle of its tests
// and of its fuzz target. One known difference is left out: nlohmann::json takes a NUL byte where a token may
// start as the end of the text (so "{}\0junk" parses), where RFC 8259 makes the text malformed, as the reader
// does. authoritative() is false for texts holding a NUL byte.
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>

#include "stagecast/common/json_members.hpp"

namespace stagecast::json::oracle {

inline bool authoritative(std::string_view text) { return text.find('\0') == std::string_view::npos; }

inline ScanResult scan(std::string_view text, std::span<Member> members) {
  for (auto& m : members) {
    m.kind = MemberKind::Missing;
    m.value.clear();
  }
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return ScanResult::Malformed;
  if (!doc.is_object()) return ScanResult::NotObject;
  for (auto& m : members) {
    auto it = doc.find(std::string(m.name));
    if (it == doc.end()) continue;
    if (it->is_null()) {
      m.kind = MemberKind::Null;
    } else if (it->is_string()) {
      m.kind = MemberKind::String;
      m.value = it->get<std::string>();
    } else {
      m.kind = MemberKind::Other;
    }
  }
  return ScanResult::Object;
}

}  // namespace stagecast::json::oracle
