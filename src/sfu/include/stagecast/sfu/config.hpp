#pragma once
// Settings shared by every stage of one worker.
#include <memory>
#include <string>
#include <vector>

#include "stagecast/common/clock.hpp"
#include "stagecast/dtls/certificate.hpp"
#include "stagecast/ice/ice_lite_agent.hpp"
#include "stagecast/sdp/negotiation.hpp"
#include "stagecast/sdp/session_description.hpp"

namespace stagecast::sfu {

struct SfuConfig {
  std::shared_ptr<dtls::Certificate> certificate;
  // Host candidates put into every answer (RFC 8839 §5.1), one per listening or announced address.
  std::vector<sdp::Candidate> candidates;
  std::vector<sdp::CodecCapability> audioCodecs;
  std::vector<sdp::CodecCapability> videoCodecs;
  ice::IceConfig ice;
  // At most one keyframe request per source in this interval (requests are merged).
  Duration keyframeRequestInterval = milliseconds(500);
  // Cap on the cached keyframe group; past it the cache is dropped until the next keyframe.
  std::size_t gopCacheMaxPackets = 4000;
  std::size_t gopCacheMaxBytes = 8 * 1024 * 1024;
  // A new viewer starts from the cached group only while it spans at most this much media time; otherwise it asks
  // for a fresh keyframe and falls back to the group after `keyframeWait` (OutgoingParams).
  Duration gopReplayMaxAge = seconds(2);
  Duration keyframeWait = seconds(1);
  // Packets kept per outgoing stream for answering NACKs (power of two).
  std::size_t retransmitBufferPackets = 1024;
  // Bitrate the publisher may use, signalled with REMB (draft-alvestrand-rmcat-remb).
  std::uint64_t publisherMaxBitrate = 4'000'000;
  Duration rtcpInterval = seconds(1);
  std::size_t maxSessionsPerStage = 5000;

  static std::vector<sdp::CodecCapability> defaultAudioCodecs();
  static std::vector<sdp::CodecCapability> defaultVideoCodecs();
};

}  // namespace stagecast::sfu
