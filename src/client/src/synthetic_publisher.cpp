#include "stagecast/client/synthetic_publisher.hpp"

#include <boost/asio/post.hpp>

namespace stagecast::client {

namespace asio = boost::asio;

namespace {
constexpr Duration kWaitForConnect = milliseconds(5);
}  // namespace

SyntheticPublisher::SyntheticPublisher(Private, asio::io_context& io, std::shared_ptr<NativePeer> peer,
                                       SyntheticPublisherOptions options)
    : peer_(std::move(peer)),
      options_(std::move(options)),
      timer_(io),
      video_(options_.videoSource),
      audio_(options_.audioSource) {}

std::shared_ptr<SyntheticPublisher> SyntheticPublisher::create(asio::io_context& io, std::shared_ptr<NativePeer> peer,
                                                               SyntheticPublisherOptions options) {
  auto self = std::make_shared<SyntheticPublisher>(Private{}, io, std::move(peer), std::move(options));
  asio::post(io, [self] {
    std::weak_ptr<SyntheticPublisher> weak = self;
    self->peer_->setKeyframeRequestHandler([weak] {
      if (auto s = weak.lock()) s->video_.requestKeyframe();
    });
    self->tick();
  });
  return self;
}

void SyntheticPublisher::stop() {
  stopped_ = true;
  timer_.cancel();
}

void SyntheticPublisher::arm(TimePoint at) {
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->stopped_) return;
    self->tick();
  });
}

void SyntheticPublisher::tick() {
  if (stopped_ || peer_->stopped()) return;
  const TimePoint now = Clock::now();
  if (!peer_->connected()) {
    arm(now + kWaitForConnect);  // media flows once DTLS is done
    return;
  }
  if (!nextVideo_) nextVideo_ = now;
  if (!nextAudio_) nextAudio_ = now;
  if (options_.video && now >= *nextVideo_) {
    auto packets = video_.nextFrame();
    for (const auto& p : packets) (void)peer_->sendRtp(MediaKind::Video, p.payload, p.marker, p.timestamp);
    if (options_.onVideoFrame) options_.onVideoFrame(video_.framesProduced() - 1, packets);
    *nextVideo_ += video_.frameInterval();
    if (*nextVideo_ < now - seconds(1)) *nextVideo_ = now;  // far behind (stalled loop): do not burst
  }
  if (options_.audio && now >= *nextAudio_) {
    auto p = audio_.nextPacket();
    (void)peer_->sendRtp(MediaKind::Audio, p.payload, p.marker, p.timestamp);
    if (options_.onAudioPacket) options_.onAudioPacket(p);
    *nextAudio_ += SyntheticAudioSource::packetInterval();
    if (*nextAudio_ < now - seconds(1)) *nextAudio_ = now;
  }
  TimePoint next = TimePoint::max();
  if (options_.video) next = std::min(next, *nextVideo_);
  if (options_.audio) next = std::min(next, *nextAudio_);
  if (next == TimePoint::max()) return;
  arm(next);
}

}  // namespace stagecast::client
