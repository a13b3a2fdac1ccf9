#pragma once
// Logging goes to stderr through spdlog. Never log secrets (passwords, tokens, keys, ICE pwd).
#include <spdlog/spdlog.h>

namespace stagecast::log {

// Configures the default logger: stderr, level from "trace|debug|info|warn|error|off".
void init(const std::string& level);

}  // namespace stagecast::log
