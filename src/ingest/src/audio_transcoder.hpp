#pragma once
// Internal to the ingest layer: a camera's compressed audio (AAC in practice; any codec libavcodec decodes) to
// Opus at 48 kHz in 20 ms frames, mono or stereo as the source, with libavcodec's libopus encoder and
// libswresample for the sample format, rate and channel conversion.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "libav_util.hpp"
#include "stagecast/common/bytes.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::ingest::detail {

class OpusTranscoder {
 public:
  static constexpr int kSampleRate = 48000;
  static constexpr int kFrameSamples = 960;  // 20 ms

  // One encoded Opus packet and its timestamp in 48 kHz samples on the input's timeline.
  using Output = std::function<void(BytesView packet, std::int64_t pts48k)>;

  // Errors: UNSUPPORTED_CODEC when the source does not decode or libopus is missing.
  static Result<std::unique_ptr<OpusTranscoder>> create(const AVCodecParameters* source, AVRational timeBase,
                                                        int bitrate);
  ~OpusTranscoder();
  OpusTranscoder(const OpusTranscoder&) = delete;
  OpusTranscoder& operator=(const OpusTranscoder&) = delete;

  // Decodes one packet of the source stream (pts in the time base given to create()) and emits every Opus frame
  // completed by it. Decoding errors drop the packet. Input timestamps that jump by more than 100 ms from the
  // running sample count (lost packets, a camera that restarts its clock) restart the output timeline there.
  void push(const AVPacket* packet, const Output& out);

  [[nodiscard]] int channels() const { return channels_; }

 private:
  OpusTranscoder() = default;
  void consume(const AVFrame* decoded, const Output& out);
  void encodeReady(const Output& out);
  bool resample(const AVFrame* decoded);
  void drainEncoder(const Output& out);

  AVRational timeBase_{1, kSampleRate};
  int channels_ = 2;
  CodecContextPtr decoder_;
  CodecContextPtr encoder_;
  SwrPtr resampler_;
  AudioFifoPtr fifo_;
  FramePtr decoded_;
  FramePtr converted_;
  FramePtr frame_;
  PacketPtr packet_;
  // Timeline: 48 kHz sample index of the first sample in the fifo; none until the first decoded frame.
  std::optional<std::int64_t> fifoStart_;
  std::deque<std::int64_t> pendingPts_;  // of the frames sent to the encoder, not yet received back
};

}  // namespace stagecast::ingest::detail
