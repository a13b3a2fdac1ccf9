#include "audio_transcoder.hpp"

#include <algorithm>
#include <cstdlib>

#include "stagecast/common/log.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/mathematics.h>
#include <libavutil/samplefmt.h>
}

namespace stagecast::ingest::detail {

namespace {

constexpr AVRational kOutputTimeBase{1, OpusTranscoder::kSampleRate};
constexpr AVSampleFormat kEncoderFormat = AV_SAMPLE_FMT_FLT;  // interleaved float: libopus takes it as is
// Input timestamps further than this from the running sample count restart the timeline (100 ms).
constexpr std::int64_t kResyncSamples = OpusTranscoder::kSampleRate / 10;

Error unsupported(const std::string& what) { return {probe_error::kUnsupportedCodec, what}; }

}  // namespace

Result<std::unique_ptr<OpusTranscoder>> OpusTranscoder::create(const AVCodecParameters* source, AVRational timeBase,
                                                               int bitrate) {
  std::unique_ptr<OpusTranscoder> t(new OpusTranscoder());
  t->timeBase_ = timeBase;
  const char* sourceName = avcodec_get_name(source->codec_id);

  const AVCodec* decoder = avcodec_find_decoder(source->codec_id);
  if (decoder == nullptr) return unsupported(std::string("no decoder for ") + sourceName);
  t->decoder_.reset(avcodec_alloc_context3(decoder));
  if (!t->decoder_ || avcodec_parameters_to_context(t->decoder_.get(), source) < 0) {
    return unsupported(std::string("cannot set up the ") + sourceName + " decoder");
  }
  t->decoder_->pkt_timebase = timeBase;
  t->decoder_->thread_count = 1;  // libav logs stay on the pull thread
  if (const int rc = avcodec_open2(t->decoder_.get(), decoder, nullptr); rc < 0) {
    return unsupported(std::string("cannot open the ") + sourceName + " decoder: " + avErrorText(rc));
  }

  const AVCodec* encoder = avcodec_find_encoder_by_name("libopus");
  if (encoder == nullptr) return unsupported("libavcodec was built without libopus");
  t->channels_ = std::clamp(source->ch_layout.nb_channels, 1, 2);
  if (source->ch_layout.nb_channels <= 0) t->channels_ = 2;
  t->encoder_.reset(avcodec_alloc_context3(encoder));
  if (!t->encoder_) return unsupported("out of memory");
  AVCodecContext* enc = t->encoder_.get();
  av_channel_layout_default(&enc->ch_layout, t->channels_);
  enc->sample_rate = kSampleRate;
  enc->sample_fmt = kEncoderFormat;
  enc->bit_rate = bitrate;
  enc->time_base = kOutputTimeBase;
  enc->thread_count = 1;
  DictionaryPtr options;
  setOption(options, "frame_duration", "20");
  {
    AVDictionary* raw = options.release();
    const int rc = avcodec_open2(enc, encoder, &raw);
    options.reset(raw);
    if (rc < 0) return unsupported("cannot open the libopus encoder: " + avErrorText(rc));
  }
  if (enc->frame_size != kFrameSamples) {
    return unsupported("libopus encoder frame size " + std::to_string(enc->frame_size) + ", expected 960");
  }

  t->resampler_.reset(swr_alloc());
  t->fifo_.reset(av_audio_fifo_alloc(kEncoderFormat, t->channels_, kFrameSamples * 4));
  t->decoded_.reset(av_frame_alloc());
  t->converted_.reset(av_frame_alloc());
  t->frame_.reset(av_frame_alloc());
  t->packet_.reset(av_packet_alloc());
  if (!t->resampler_ || !t->fifo_ || !t->decoded_ || !t->converted_ || !t->frame_ || !t->packet_) {
    return unsupported("out of memory");
  }
  return t;
}

OpusTranscoder::~OpusTranscoder() = default;

void OpusTranscoder::push(const AVPacket* packet, const Output& out) {
  int rc = avcodec_send_packet(decoder_.get(), packet);
  if (rc < 0 && rc != AVERROR(EAGAIN)) {
    spdlog::debug("audio transcoder: packet dropped: {}", avErrorText(rc));
    return;
  }
  for (;;) {
    rc = avcodec_receive_frame(decoder_.get(), decoded_.get());
    if (rc < 0) break;  // EAGAIN: needs more input
    consume(decoded_.get(), out);
    av_frame_unref(decoded_.get());
  }
}

bool OpusTranscoder::resample(const AVFrame* decoded) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    av_frame_unref(converted_.get());
    converted_->format = kEncoderFormat;
    converted_->sample_rate = kSampleRate;
    av_channel_layout_copy(&converted_->ch_layout, &encoder_->ch_layout);
    const int rc = swr_convert_frame(resampler_.get(), converted_.get(), decoded);
    if (rc >= 0) return true;
    // The decoder's output format changed (or this is the first frame): reconfigure from the frames.
    swr_close(resampler_.get());
  }
  spdlog::debug("audio transcoder: cannot convert a {}-channel {} Hz frame", decoded->ch_layout.nb_channels,
                decoded->sample_rate);
  return false;
}

void OpusTranscoder::consume(const AVFrame* decoded, const Output& out) {
  const std::int64_t ts = decoded->best_effort_timestamp;
  const std::int64_t fifoSize = av_audio_fifo_size(fifo_.get());
  if (ts != AV_NOPTS_VALUE) {
    const std::int64_t t48 = av_rescale_q(ts, timeBase_, kOutputTimeBase);
    if (!fifoStart_ || std::llabs(t48 - (*fifoStart_ + fifoSize)) > kResyncSamples) {
      if (fifoStart_)
        spdlog::debug("audio transcoder: timeline restarts ({} samples off)", t48 - *fifoStart_ - fifoSize);
      av_audio_fifo_reset(fifo_.get());
      fifoStart_ = t48;
    }
  } else if (!fifoStart_) {
    fifoStart_ = 0;
  }
  if (!resample(decoded)) return;
  if (converted_->nb_samples > 0 &&
      av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(converted_->extended_data), converted_->nb_samples) <
          converted_->nb_samples) {
    return;
  }
  encodeReady(out);
}

void OpusTranscoder::encodeReady(const Output& out) {
  while (av_audio_fifo_size(fifo_.get()) >= kFrameSamples) {
    av_frame_unref(frame_.get());
    frame_->format = kEncoderFormat;
    frame_->sample_rate = kSampleRate;
    frame_->nb_samples = kFrameSamples;
    av_channel_layout_copy(&frame_->ch_layout, &encoder_->ch_layout);
    if (av_frame_get_buffer(frame_.get(), 0) < 0) return;
    if (av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(frame_->extended_data), kFrameSamples) <
        kFrameSamples) {
      return;
    }
    const std::int64_t pts = *fifoStart_;
    *fifoStart_ += kFrameSamples;
    frame_->pts = pts;
    if (const int rc = avcodec_send_frame(encoder_.get(), frame_.get()); rc < 0) {
      spdlog::debug("audio transcoder: encoder refused a frame: {}", avErrorText(rc));
      continue;
    }
    pendingPts_.push_back(pts);
    drainEncoder(out);
  }
}

void OpusTranscoder::drainEncoder(const Output& out) {
  while (avcodec_receive_packet(encoder_.get(), packet_.get()) == 0) {
    std::int64_t pts = packet_->pts;
    if (!pendingPts_.empty()) {
      pts = pendingPts_.front();
      pendingPts_.pop_front();
    }
    out(BytesView(packet_->data, static_cast<std::size_t>(packet_->size)), pts);
    av_packet_unref(packet_.get());
  }
}

}  // namespace stagecast::ingest::detail
