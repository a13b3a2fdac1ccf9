#pragma once
// Synthetic media for tests and benchmarks: RTP payloads shaped like real H.264 (RFC 6184), VP8 (RFC 7741) and
// Opus (RFC 7587) packetization, whose bytes carry a verifiable tag (stream id, frame number, packet index within
// the frame, packet count of the frame, a deterministic filler and a CRC-32) so a receiver can check integrity
// and order without a decoder.
#include <cstdint>
#include <optional>
#include <vector>

#include "stagecast/client/offer.hpp"
#include "stagecast/common/bytes.hpp"
#include "stagecast/common/clock.hpp"

namespace stagecast::client {

struct SyntheticPacket {
  MediaKind kind = MediaKind::Video;
  Bytes payload;
  bool marker = false;
  std::uint32_t timestamp = 0;
  bool keyframeStart = false;  // first packet of a keyframe
};

// What a payload says about itself.
struct PayloadTag {
  std::uint16_t streamId = 0;
  std::uint32_t frame = 0;  // video frame number / audio packet counter
  std::uint16_t index = 0;  // packet index within the frame
  std::uint16_t count = 0;  // packets in the frame
  bool keyframe = false;
};

struct VideoSourceOptions {
  VideoCodecKind codec = VideoCodecKind::H264;
  int fps = 30;
  Duration gop = seconds(1);          // keyframe interval
  std::uint64_t bitrate = 1'000'000;  // bits per second, on average
  std::size_t maxPacketSize = 1200;   // RTP header (12) + payload
  std::uint16_t streamId = 1;
  std::uint32_t initialTimestamp = 0;  // 0: random (RFC 3550 §5.1)
};

class SyntheticVideoSource {
 public:
  explicit SyntheticVideoSource(VideoSourceOptions options);

  // The packets of the next frame (marker on the last one, 90 kHz timestamps).
  std::vector<SyntheticPacket> nextFrame();
  // The next frame is a keyframe (PLI/FIR from the receiver, RFC 4585 §6.3.1).
  void requestKeyframe() { keyframeRequested_ = true; }

  [[nodiscard]] Duration frameInterval() const;
  [[nodiscard]] std::uint32_t framesProduced() const { return frame_; }
  [[nodiscard]] std::uint32_t keyframesProduced() const { return keyframes_; }
  [[nodiscard]] const VideoSourceOptions& options() const { return options_; }

 private:
  VideoSourceOptions options_;
  std::uint32_t frame_ = 0;
  std::uint32_t lastKeyframe_ = 0;
  std::uint32_t keyframes_ = 0;
  bool keyframeRequested_ = true;  // the first frame is a keyframe
  std::uint32_t timestamp0_;
};

struct AudioSourceOptions {
  std::size_t payloadSize = 80;  // ~32 kbit/s at 50 packets/s
  std::uint16_t streamId = 1;
  std::uint32_t initialTimestamp = 0;  // 0: random
};

// Opus at 20 ms per packet, 48 kHz RTP clock (RFC 7587 §4.1).
class SyntheticAudioSource {
 public:
  explicit SyntheticAudioSource(AudioSourceOptions options);
  SyntheticPacket nextPacket();
  [[nodiscard]] static Duration packetInterval() { return milliseconds(20); }
  [[nodiscard]] std::uint32_t packetsProduced() const { return counter_; }

 private:
  AudioSourceOptions options_;
  std::uint32_t counter_ = 0;
  std::uint32_t timestamp0_;
};

// Checks a received payload: finds the tag behind the codec's payload headers and verifies its CRC.
// nullopt when the payload is not one of ours or was corrupted.
std::optional<PayloadTag> inspectPayload(MediaKind kind, VideoCodecKind codec, BytesView payload);

}  // namespace stagecast::client
