#pragma once
// Server settings: embedded defaults, then the config file (JSON), then command-line flags.
#include <string>
#include <vector>

#include "stagecast/api/media_api.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::app {

struct ServerConfig {
  std::string http = "127.0.0.1:8080";
  std::string udp = "0.0.0.0:8443";  // all interfaces: browsers ignore loopback ICE candidates
  std::size_t workers = 0;           // 0: one per core
  std::vector<std::string> announcedAddresses;
  std::vector<api::IceServerLink> iceServers;
  std::string logLevel = "info";
  std::uint64_t publisherMaxBitrate = 4'000'000;
  std::size_t maxBodyBytes = 256 * 1024;
  int consentTimeoutSeconds = 30;
};

// Reads a JSON config file over `config`. Unknown keys are errors (typos must not pass silently).
Status loadConfigFile(const std::string& path, ServerConfig& config);

}  // namespace stagecast::app
