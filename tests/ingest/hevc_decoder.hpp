#pragma once
// Test helper: libavcodec's HEVC decoder, to prove that what was received decodes.
#include <algorithm>
#include <memory>

#include "stagecast/common/bytes.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
}

namespace stagecast::ingest::testing {

// libavcodec's HEVC decoder, one access unit (Annex B) at a time, single-threaded and without delay.
class HevcDecoder {
 public:
  HevcDecoder() {
    const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_HEVC);
    if (codec == nullptr) return;
    ctx_.reset(avcodec_alloc_context3(codec));
    packet_.reset(av_packet_alloc());
    frame_.reset(av_frame_alloc());
    if (!ctx_ || !packet_ || !frame_) return;
    ctx_->thread_count = 1;
    ctx_->flags |= AV_CODEC_FLAG_LOW_DELAY;
    ready_ = avcodec_open2(ctx_.get(), codec, nullptr) == 0;
  }

  [[nodiscard]] bool ready() const { return ready_; }

  // Decodes one access unit; returns the frames it produced (0 when it did not decode), or -1 on an error.
  int decode(const Bytes& accessUnit) {
    if (!ready_ || av_new_packet(packet_.get(), static_cast<int>(accessUnit.size())) != 0) return -1;
    std::copy(accessUnit.begin(), accessUnit.end(), packet_->data);
    const int rc = avcodec_send_packet(ctx_.get(), packet_.get());
    av_packet_unref(packet_.get());
    if (rc < 0) return -1;
    return drain();
  }
  // Flushes delayed frames.
  int finish() {
    if (!ready_ || avcodec_send_packet(ctx_.get(), nullptr) < 0) return 0;
    return drain();
  }

  [[nodiscard]] int width() const { return width_; }
  [[nodiscard]] int height() const { return height_; }
  [[nodiscard]] int frames() const { return frames_; }
  // general_profile_idc and general_level_idc as the decoder read them from the SPS.
  [[nodiscard]] int profile() const { return ready_ ? ctx_->profile : -1; }
  [[nodiscard]] int level() const { return ready_ ? ctx_->level : -1; }

 private:
  int drain() {
    int n = 0;
    while (avcodec_receive_frame(ctx_.get(), frame_.get()) == 0) {
      ++n;
      width_ = frame_->width;
      height_ = frame_->height;
      if (frame_->decode_error_flags != 0) --n;
      av_frame_unref(frame_.get());
    }
    frames_ += n;
    return n;
  }

  struct ContextDeleter {
    void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
  };
  struct PacketDeleter {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
  };
  struct FrameDeleter {
    void operator()(AVFrame* f) const { av_frame_free(&f); }
  };
  std::unique_ptr<AVCodecContext, ContextDeleter> ctx_;
  std::unique_ptr<AVPacket, PacketDeleter> packet_;
  std::unique_ptr<AVFrame, FrameDeleter> frame_;
  bool ready_ = false;
  int width_ = 0;
  int height_ = 0;
  int frames_ = 0;
};

}  // namespace stagecast::ingest::testing
