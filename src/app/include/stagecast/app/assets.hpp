#pragma once
// Web pages and the browser SDK, embedded in the binary at build time.
#include <string_view>
#include <vector>

namespace stagecast::app {

struct Asset {
  std::string_view path;  // "/index.html"
  std::string_view contentType;
  std::string_view body;
};

const std::vector<Asset>& assets();

}  // namespace stagecast::app
