#pragma once
// The narrow ports through which the SFU talks to the outside (implemented by the engine layer).
#include <optional>
#include <string>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/endpoint.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/sfu/source_track.hpp"

namespace stagecast::sfu {

class DatagramSender {
 public:
  virtual ~DatagramSender() = default;
  virtual void sendDatagram(BytesView datagram, const Endpoint& to) = 0;
};

class Session;

// Where a stage registers which datagrams belong to which session (implemented by the Shard).
class RouteTable {
 public:
  virtual ~RouteTable() = default;
  virtual void addRoute(const Endpoint& remote, Session& session) = 0;
  virtual void removeRoute(const Endpoint& remote, Session& session) = 0;  // only if still routed to it
  virtual void addUfrag(const std::string& ufrag, Session& session) = 0;
  virtual void removeUfrag(const std::string& ufrag) = 0;
  virtual void sessionEnded(const std::string& stageId, const std::string& sessionId, const Error& reason) = 0;
};

// What a shard tells the engine (which owns the sockets shared by all workers).
class ShardObserver {
 public:
  virtual ~ShardObserver() = default;
  // Datagrams from `remote` belong to this shard from now on / no longer.
  virtual void onRouteAdded(const Endpoint& remote) = 0;
  virtual void onRouteRemoved(const Endpoint& remote) = 0;
  // STUN requests whose USERNAME starts with `ufrag` belong to this shard from now on / no longer.
  virtual void onUfragAdded(const std::string& ufrag) = 0;
  virtual void onUfragRemoved(const std::string& ufrag) = 0;
  // A session ended for a reason other than an explicit delete (peer failure, consent expiry, replaced).
  virtual void onSessionEnded(const std::string& stageId, const std::string& sessionId, const Error& reason) = 0;
  // The stage has no session left and was dropped by the shard.
  virtual void onStageClosed(const std::string& stageId) = 0;

  // Relaying: a stage's own publisher started / stopped feeding a source, sent a packet or a sender report.
  // The engine forwards these to the stages that relay this one (a channel's viewer stages).
  virtual void onSourceAttached(const std::string& stageId, const std::string& kind, const sdp::Codec& codec) {}
  virtual void onSourcePacket(const std::string& stageId, const std::string& kind, const SharedPacket& packet) {}
  virtual void onSourceSenderReport(const std::string& stageId, const std::string& kind,
                                    const SenderReportInfo& sr) {}
  virtual void onSourceDetached(const std::string& stageId, const std::string& kind) {}
  // A stage fed by a relay needs a keyframe from the origin's publisher.
  virtual void onKeyframeWanted(const std::string& stageId) {}
};

// What an origin stage hands to a stage that starts relaying it, so that its first viewer gets a picture at
// once: each live source's codec, cached keyframe group and latest sender report.
struct RelaySnapshot {
  std::string kind;
  sdp::Codec codec;
  std::vector<SharedPacket> gop;
  std::optional<SenderReportInfo> senderReport;
};

}  // namespace stagecast::sfu
