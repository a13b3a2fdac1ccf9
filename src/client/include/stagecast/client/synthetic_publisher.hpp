#pragma once
// Drives a publisher NativePeer from synthetic sources on the peer's io_context: a video frame every 1/fps and an
// Opus packet every 20 ms, paced on an absolute schedule from the moment the peer connects. Answers the server's
// keyframe requests by making the next frame a keyframe.
//
// Threading: create() may be called on any thread (the work starts on the io_context); every other member on the
// io_context's thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "stagecast/client/native_peer.hpp"
#include "stagecast/client/synthetic_source.hpp"

namespace stagecast::client {

struct SyntheticPublisherOptions {
  bool audio = true;
  bool video = true;
  VideoSourceOptions videoSource;
  AudioSourceOptions audioSource;
  // Called after each video frame was sent (frame number, its packets) and each audio packet.
  std::function<void(std::uint32_t frame, const std::vector<SyntheticPacket>&)> onVideoFrame;
  std::function<void(const SyntheticPacket&)> onAudioPacket;
};

class SyntheticPublisher final : public std::enable_shared_from_this<SyntheticPublisher> {
 public:
  static std::shared_ptr<SyntheticPublisher> create(boost::asio::io_context& io, std::shared_ptr<NativePeer> peer,
                                                    SyntheticPublisherOptions options);

  // Stops producing (the peer stays up).
  void stop();
  [[nodiscard]] bool stopped() const { return stopped_; }
  [[nodiscard]] const SyntheticVideoSource& video() const { return video_; }
  [[nodiscard]] const SyntheticAudioSource& audio() const { return audio_; }
  [[nodiscard]] NativePeer& peer() { return *peer_; }

 private:
  struct Private {};

 public:
  SyntheticPublisher(Private, boost::asio::io_context& io, std::shared_ptr<NativePeer> peer,
                     SyntheticPublisherOptions options);

 private:
  void tick();
  void arm(TimePoint at);

  std::shared_ptr<NativePeer> peer_;
  SyntheticPublisherOptions options_;
  boost::asio::steady_timer timer_;
  SyntheticVideoSource video_;
  SyntheticAudioSource audio_;
  std::optional<TimePoint> nextVideo_;
  std::optional<TimePoint> nextAudio_;
  bool stopped_ = false;
};

}  // namespace stagecast::client
