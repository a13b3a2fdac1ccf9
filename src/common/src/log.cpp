#include "stagecast/common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace stagecast::log {

void init(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("stagecast");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace stagecast::log
