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
  std::size_t httpThreads = 2;  // HTTP loop threads

  // Live channels.
  std::string dataDir = "stagecast-data";  // the signing key and a generated API key live here
  std::string jwtKeyFile;                  // default: <dataDir>/jwt-es384.pem (created on first start)
  std::vector<std::string> apiKeys;        // none: one is generated into <dataDir>/api-key
  std::string mediaNodeSecret;             // none: media-node endpoints are disabled
  bool mediaAuth = true;                   // WHIP/WHEP need participant tokens
  std::string store = "memory";            // memory | redis
  std::string redisHost = "127.0.0.1";
  std::uint16_t redisPort = 6379;
  std::string redisPassword;
  std::string redisKeyPrefix = "stagecast:";
  std::size_t stageCapacity = 50;
  int stageGraceSeconds = 60;
  std::size_t minStages = 1;
  int viewerTimeoutSeconds = 60;
  int heartbeatIntervalSeconds = 30;
  std::vector<std::string> channels = {"main"};
  std::string publicBaseUrl;
  std::size_t notificationHistory = 1000;
  std::string nodeId;   // this node among several sharing a store; empty: a random id at each start
  std::string nodeUrl;  // HTTP base URL other nodes reach this one at; empty: the --http address (if not a wildcard)

  // Camera preview.
  std::string actionLogBackend = "sqlite3";  // sqlite3 | postgresql | none
  std::string actionLogConnection;           // sqlite3: file (default <dataDir>/actions.db); postgresql: libpq string
  int probeTimeoutMs = 5000;
  int previewTtlSeconds = 180;  // a preview ends after this unless the client extends it (keepalive)
  std::string cameraKeyFile;    // camera registry credentials key; default: <dataDir>/camera-secrets.key
};

// Reads a JSON config file over `config`. Unknown keys are errors (typos must not pass silently).
Status loadConfigFile(const std::string& path, ServerConfig& config);

}  // namespace stagecast::app
