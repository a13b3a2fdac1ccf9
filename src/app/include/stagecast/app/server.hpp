#pragma once
// The whole server in one object: media engine, HTTP API, embedded pages. Used by main() and by in-process
// integration tests.
#include <atomic>
#include <memory>

#include "stagecast/app/config.hpp"
#include "stagecast/auth/key.hpp"
#include "stagecast/control/channel_service.hpp"
#include "stagecast/engine/engine.hpp"

namespace stagecast::app {

class Server {
 public:
  static Result<std::unique_ptr<Server>> create(const ServerConfig& config);
  ~Server();

  // Starts the media workers and the HTTP thread; /health answers 200 once this returns.
  Status start();
  // Closes sessions, stops listening, joins threads. Idempotent.
  void stop();
  // Blocks until SIGINT/SIGTERM, then stops.
  void runUntilSignal();

  [[nodiscard]] std::uint16_t httpPort() const;
  [[nodiscard]] Endpoint udpEndpoint() const;
  [[nodiscard]] engine::Engine& engine();
  [[nodiscard]] control::ChannelService& channels();
  [[nodiscard]] const auth::SigningKey& signingKey() const;
  // The API keys in force (configured or generated).
  [[nodiscard]] const std::vector<std::string>& apiKeys() const;

 private:
  Server();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stagecast::app
