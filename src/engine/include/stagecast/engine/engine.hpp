#pragma once
// The media engine: one worker thread per core, each with its own io_context, UDP socket (all bound to the
// same port with SO_REUSEPORT) and sfu::Shard. A stage is pinned to one worker; datagrams that the kernel
// delivers to another worker's socket are posted to the owner. Commands (publish, subscribe, patch, delete)
// are posted to the stage's worker and complete there.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stagecast/common/clock.hpp"
#include "stagecast/common/endpoint.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/sfu/config.hpp"
#include "stagecast/sfu/shard.hpp"

namespace stagecast::engine {

struct EngineConfig {
  Endpoint udp;                                 // address and port of the media socket (port 0: ephemeral)
  std::size_t workers = 0;                      // 0: one per core
  sfu::SfuConfig sfu;                           // candidates are filled by the engine when empty
  std::vector<std::string> announcedAddresses;  // public addresses put into candidates (NAT)
  Duration tickInterval = milliseconds(10);
  std::size_t socketBufferBytes = 4 * 1024 * 1024;
};

struct EngineStats {
  sfu::ShardStats total;
  std::uint64_t datagramsReceived = 0;
  std::uint64_t datagramsSent = 0;
  std::uint64_t sendErrors = 0;
  std::uint64_t crossWorkerPosts = 0;
};

class Engine {
 public:
  using SessionEndedFn = std::function<void(const std::string& stageId, const std::string& sessionId, const Error&)>;

  // Binds the sockets. Errors: "UDP_BIND_FAILED", "CERTIFICATE_FAILED".
  static Result<std::unique_ptr<Engine>> create(EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();
  // Ends every session (DTLS close_notify), stops the workers and joins them. Idempotent.
  void stop();

  [[nodiscard]] Endpoint udpEndpoint() const;
  [[nodiscard]] std::size_t workerCount() const;
  [[nodiscard]] const sfu::SfuConfig& sfuConfig() const;

  // Completion callbacks run on the stage's worker thread.
  void publish(const std::string& stageId, std::string offer, std::function<void(Result<sfu::CreatedSession>)> done);
  void subscribe(const std::string& stageId, std::string offer, std::function<void(Result<sfu::CreatedSession>)> done);
  void remove(const std::string& stageId, const std::string& sessionId, std::function<void(Status)> done);
  void patch(const std::string& stageId, const std::string& sessionId, std::string ifMatch, std::string fragment,
             std::function<void(Result<sfu::PatchResult>)> done);

  // Creates a stage that is kept while empty (a channel's stage). With an `originId`, the stage relays that
  // stage's own publisher: the channel's broadcaster publishes once, into the origin, and every stage that
  // relays it gets the media (the current keyframe group at once). `done` runs on the stage's worker.
  void createStage(const std::string& stageId, const std::string& originId, std::function<void()> done);
  // Ends every session of the stage and removes it and its relay link. `done(existed)` runs on its worker.
  void deleteStage(const std::string& stageId, std::function<void(bool existed)> done);

  // A source that is not a WebRTC publisher (a camera pull) feeding a stage made with createStage(): plain RTP
  // packets in the source's own numbering, as a publisher would send them. Thread-safe; posted to the stage's
  // worker in call order. `keyframesOnRequest`: whether the source can answer a keyframe request (another node's
  // broadcast can, through setSourceKeyframeHandler; an RTSP camera cannot, so its viewers always start from the
  // cached keyframe group).
  void attachSource(const std::string& stageId, const std::string& kind, const sdp::Codec& codec,
                    bool keyframesOnRequest = true);
  void pushSourcePacket(const std::string& stageId, const std::string& kind, sfu::SharedPacket packet);
  void detachSource(const std::string& stageId, const std::string& kind);
  // A stage fed by a source is an origin: stages created with it as `originId` relay what the source sends.
  // Viewers of such stages asking for a keyframe call `fn(stageId)` on a worker thread (keep it short; post).
  void setSourceKeyframeHandler(std::function<void(const std::string& stageId)> fn);

  // Called on a worker thread when a session ends by itself (peer failure, consent expiry, replaced).
  void setSessionEndedHandler(SessionEndedFn fn);

  // A snapshot, refreshed by every worker at each tick.
  [[nodiscard]] EngineStats stats() const;

 private:
  Engine();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stagecast::engine
