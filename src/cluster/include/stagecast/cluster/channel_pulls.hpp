#pragma once
// Broadcasts between nodes. A channel's broadcaster publishes (WHIP) into one node, the channel's origin; another
// node whose viewers watch the channel pulls the broadcast from the origin as a WHEP viewer of the origin's
// channel stage and feeds it into its own engine as an external source of the same channel stage, so every
// stage of the channel on this node relays it as if the broadcaster were here. One pull per channel per node,
// whatever the number of viewers.
//
// The command layer decides (ChannelService::sweep → MediaPlane::channelFeed) which channel to pull from where;
// this class only carries it out. It owns one thread with its own io_context for the pulls' sockets and timers,
// and one thread for the blocking WHEP exchanges, so neither the HTTP loops nor the media workers ever wait.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "stagecast/auth/token.hpp"
#include "stagecast/control/store.hpp"
#include "stagecast/engine/engine.hpp"

namespace stagecast::cluster {

struct ChannelPullOptions {
  std::string nodeId;  // named in the pull's token (user "node:<id>")
  std::chrono::seconds tokenTtl{3600};
  std::chrono::milliseconds httpTimeout{3000};
  std::chrono::milliseconds retryMin{500};   // reconnect backoff after a failure, doubling
  std::chrono::milliseconds retryMax{8000};
};

struct ChannelPullStats {
  std::size_t pulls = 0;        // channels being pulled
  std::size_t connected = 0;    // of which the media flows
  std::uint64_t connects = 0;   // successful WHEP exchanges
  std::uint64_t failures = 0;   // failed exchanges and lost connections
  std::uint64_t packets = 0;    // RTP packets fed into the engine
};

class ChannelPulls {
 public:
  ChannelPulls(engine::Engine& engine, const auth::TokenSigner& signer, ChannelPullOptions options);
  // Ends every pull (DTLS close_notify and a DELETE of the WHEP resource) and joins the threads.
  ~ChannelPulls();
  ChannelPulls(const ChannelPulls&) = delete;
  ChannelPulls& operator=(const ChannelPulls&) = delete;

  // Thread-safe, never blocks. `remote`: pull the channel from that origin (no-op when already doing so);
  // nullopt: stop pulling it.
  void set(const std::string& channelId, const std::optional<control::OriginRecord>& remote);
  // A viewer of a stage fed by `stageId` wants a keyframe (Engine::setSourceKeyframeHandler). Thread-safe.
  void keyframeWanted(const std::string& stageId);

  [[nodiscard]] ChannelPullStats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// "http://host:port" (an optional trailing slash) → host and port; nullopt when it is not that form.
std::optional<std::pair<std::string, std::uint16_t>> parseNodeUrl(const std::string& url);

}  // namespace stagecast::cluster
