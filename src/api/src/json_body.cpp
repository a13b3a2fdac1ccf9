#include "stagecast/api/json_body.hpp"

namespace stagecast::api {

using Document = nlohmann::json;

namespace {

Error bodyError(const std::string& what) { return Error("INVALID_REQUEST", "body: " + what); }

Status checkSize(std::string_view body, std::size_t limit) {
  if (body.size() > limit) return bodyError("larger than " + std::to_string(limit) + " bytes");
  if (body.empty()) return bodyError("a JSON object is required");
  return {};
}

Result<std::string> memberOutcome(const char* name, json::MemberKind kind, const std::string* value, bool optional) {
  using Kind = json::MemberKind;
  if (kind == Kind::Missing || kind == Kind::Null) {
    if (optional) return std::string();
    return Error("INVALID_REQUEST", std::string(name) + ": is required");
  }
  if (kind != Kind::String) return Error("INVALID_REQUEST", std::string(name) + ": must be a string");
  if (value->empty() && !optional) return Error("INVALID_REQUEST", std::string(name) + ": must not be empty");
  return *value;
}

}  // namespace

Result<Document> jsonObjectBody(std::string_view body, std::size_t limit) {
  if (auto st = checkSize(body, limit); !st) return st.error();
  auto j = Document::parse(body, nullptr, false);
  if (j.is_discarded()) return bodyError("malformed JSON");
  if (!j.is_object()) return bodyError("must be a JSON object");
  return j;
}

Result<std::string> stringMember(const Document& object, const char* name, bool optional) {
  auto it = object.find(name);
  if (it == object.end()) return memberOutcome(name, json::MemberKind::Missing, nullptr, optional);
  if (it->is_null()) return memberOutcome(name, json::MemberKind::Null, nullptr, optional);
  if (!it->is_string()) return memberOutcome(name, json::MemberKind::Other, nullptr, optional);
  return memberOutcome(name, json::MemberKind::String, it->get_ptr<const std::string*>(), optional);
}

Result<StringMembers> StringMembers::parse(std::string_view body, std::initializer_list<const char*> wanted,
                                           std::size_t limit) {
  if (auto st = checkSize(body, limit); !st) return st.error();
  StringMembers out;
  out.members_.reserve(wanted.size());
  for (const char* name : wanted) out.members_.push_back(json::Member{name, json::MemberKind::Missing, {}});
  switch (json::scanObjectMembers(body, out.members_)) {
    case json::ScanResult::Object:
      return out;
    case json::ScanResult::NotObject:
      return bodyError("must be a JSON object");
    case json::ScanResult::Malformed:
      break;
  }
  return bodyError("malformed JSON");
}

Result<std::string> StringMembers::get(const char* name, bool optional) const {
  for (const auto& m : members_) {
    if (m.name == name) return memberOutcome(name, m.kind, &m.value, optional);
  }
  return Error("INTERNAL_ERROR", std::string(name) + ": not read from the body");
}

}  // namespace stagecast::api
