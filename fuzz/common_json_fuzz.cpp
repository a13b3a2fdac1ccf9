// libFuzzer entry point for the JSON member reader: on every input it must give the same verdict (object, not an
// object, malformed) and the same members as a document parser (nlohmann::json), and never crash (texts with a
// NUL byte are only run, see json_oracle.hpp).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../tests/common/json_oracle.hpp"
#include "stagecast/common/json_members.hpp"

using namespace stagecast;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::array<json::Member, 3> fast{json::Member{"userId"}, json::Member{"stageArn"}, json::Member{""}};
  std::array<json::Member, 3> slow{json::Member{"userId"}, json::Member{"stageArn"}, json::Member{""}};
  const auto verdict = json::scanObjectMembers(text, fast);
  if (!json::oracle::authoritative(text)) return 0;  // the oracle stops at a NUL byte; the reader refuses it
  if (verdict != json::oracle::scan(text, slow)) std::abort();
  if (verdict != json::ScanResult::Object) return 0;
  for (std::size_t i = 0; i < fast.size(); ++i) {
    if (fast[i].kind != slow[i].kind || fast[i].value != slow[i].value) std::abort();
  }
  return 0;
}
