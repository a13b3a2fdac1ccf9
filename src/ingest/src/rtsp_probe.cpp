// In-process RTSP probe on libavformat/libavcodec/libswscale (FFmpeg 5.1 API). Error classification, logging
// and handle ownership are shared with the camera pull (libav_util).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <string>

#include "libav_util.hpp"
#include "stagecast/common/clock.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/common/text.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
}

namespace stagecast::ingest {

namespace {

using namespace detail;

// ---- deadline ----

struct Interrupt {
  TimePoint deadline;
  std::atomic<bool> fired{false};

  static int callback(void* opaque) {
    auto* self = static_cast<Interrupt*>(opaque);
    if (Clock::now() < self->deadline) return 0;
    self->fired.store(true, std::memory_order_relaxed);
    return 1;
  }
  [[nodiscard]] bool expired() const { return fired.load(std::memory_order_relaxed) || Clock::now() >= deadline; }
  [[nodiscard]] std::int64_t remainingMicros() const {
    const auto left = std::chrono::duration_cast<microseconds>(deadline - Clock::now()).count();
    return std::max<std::int64_t>(left, 1000);
  }
};

Error classify(int err, const Interrupt& interrupt, const CameraAddress& address, const std::string& where) {
  return classifyAvError(err, interrupt.fired.load(), address, where);
}

// ---- stream description ----

StreamInfo describe(AVFormatContext* fmt, AVStream* st) {
  const AVCodecParameters* par = st->codecpar;
  StreamInfo info;
  const char* kind = av_get_media_type_string(par->codec_type);
  info.kind = kind != nullptr ? kind : "unknown";
  info.codec = avcodec_get_name(par->codec_id);
  if (const char* profile = avcodec_profile_name(par->codec_id, par->profile)) info.profile = profile;
  if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
    info.width = par->width;
    info.height = par->height;
    const AVRational rate = av_guess_frame_rate(fmt, st, nullptr);
    if (rate.num > 0 && rate.den > 0) info.frameRate = av_q2d(rate);
  } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
    info.sampleRate = par->sample_rate;
    info.channels = par->ch_layout.nb_channels;
  }
  return info;
}

bool forwardable(const AVCodecParameters* par) {
  return par->codec_type == AVMEDIA_TYPE_VIDEO &&
         (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC);
}

// ---- snapshot ----

std::string encodeJpeg(const AVFrame* src) {
  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (encoder == nullptr || src->width <= 0 || src->height <= 0) return {};
  CodecContextPtr enc(avcodec_alloc_context3(encoder));
  if (!enc) return {};
  enc->width = src->width;
  enc->height = src->height;
  enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
  enc->color_range = AVCOL_RANGE_JPEG;
  enc->time_base = AVRational{1, 25};
  enc->thread_count = 1;
  enc->flags |= AV_CODEC_FLAG_QSCALE;
  enc->global_quality = FF_QP2LAMBDA * 3;  // qscale 3: good quality, modest size
  if (avcodec_open2(enc.get(), encoder, nullptr) < 0) return {};

  SwsPtr sws(sws_getContext(src->width, src->height, static_cast<AVPixelFormat>(src->format), src->width, src->height,
                            AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, nullptr, nullptr, nullptr));
  FramePtr dst(av_frame_alloc());
  if (!sws || !dst) return {};
  dst->format = AV_PIX_FMT_YUVJ420P;
  dst->width = src->width;
  dst->height = src->height;
  dst->color_range = AVCOL_RANGE_JPEG;
  if (av_frame_get_buffer(dst.get(), 0) < 0) return {};
  if (sws_scale(sws.get(), src->data, src->linesize, 0, src->height, dst->data, dst->linesize) != src->height) {
    return {};
  }
  dst->pts = 0;
  dst->quality = enc->global_quality;
  dst->pict_type = AV_PICTURE_TYPE_I;

  PacketPtr pkt(av_packet_alloc());
  if (!pkt || avcodec_send_frame(enc.get(), dst.get()) < 0 || avcodec_send_frame(enc.get(), nullptr) < 0) return {};
  if (avcodec_receive_packet(enc.get(), pkt.get()) < 0) return {};
  return {reinterpret_cast<const char*>(pkt->data), static_cast<std::size_t>(pkt->size)};
}

// Reads the video stream from its first keyframe on and encodes the first picture decoded from it. When the
// decoder had to patch that picture up (lost slices: error concealment), one more keyframe is tried before
// settling for it, time permitting. Packets buffered by avformat_find_stream_info() come first; the interrupt
// deadline ends the wait.
std::string snapshotFromFirstKeyframe(AVFormatContext* fmt, int videoIndex) {
  const AVCodecParameters* par = fmt->streams[videoIndex]->codecpar;
  const AVCodec* decoder = avcodec_find_decoder(par->codec_id);
  if (decoder == nullptr) return {};
  CodecContextPtr dec(avcodec_alloc_context3(decoder));
  if (!dec || avcodec_parameters_to_context(dec.get(), par) < 0) return {};
  dec->thread_count = 1;                  // no frame-thread delay; libav logs stay on this thread
  dec->flags |= AV_CODEC_FLAG_LOW_DELAY;  // output a picture as soon as it is decoded
  if (avcodec_open2(dec.get(), decoder, nullptr) < 0) return {};

  PacketPtr pkt(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  FramePtr patched;
  if (!pkt || !frame) return {};
  bool started = false;
  auto restart = [&] {
    av_frame_unref(frame.get());
    avcodec_flush_buffers(dec.get());
    started = false;
  };
  while (av_read_frame(fmt, pkt.get()) >= 0) {
    const bool use = pkt->stream_index == videoIndex && (started || (pkt->flags & AV_PKT_FLAG_KEY) != 0);
    if (!use) {
      av_packet_unref(pkt.get());
      continue;
    }
    started = true;
    const int sent = avcodec_send_packet(dec.get(), pkt.get());
    av_packet_unref(pkt.get());
    if (sent < 0 && sent != AVERROR(EAGAIN)) {
      spdlog::debug("probe: keyframe did not decode ({}), waiting for the next", avErrorText(sent));
      restart();
      continue;
    }
    const int received = avcodec_receive_frame(dec.get(), frame.get());
    if (received == AVERROR(EAGAIN)) continue;
    if (received < 0) {
      restart();
      continue;
    }
    if (frame->decode_error_flags == 0 && (frame->flags & AV_FRAME_FLAG_CORRUPT) == 0) {
      return encodeJpeg(frame.get());
    }
    if (patched) return encodeJpeg(patched.get());
    spdlog::debug("probe: keyframe decoded with errors (flags {:#x}), trying the next one", frame->decode_error_flags);
    patched.reset(av_frame_clone(frame.get()));
    restart();
  }
  return patched ? encodeJpeg(patched.get()) : std::string();
}

}  // namespace

Result<ProbeResult> probe(const CameraAddress& address, std::chrono::milliseconds timeout, bool snapshot) {
  const TimePoint start = Clock::now();
  auto url = buildRtspUrl(address);
  if (!url.ok()) return url.error();
  if (timeout.count() <= 0) return Error(probe_error::kInvalidRequest, "timeout: must be positive");
  initLibav();
  const PasswordScope secrets(address.password);

  Interrupt interrupt;
  interrupt.deadline = start + timeout;
  if (auto resolved = resolveHost(address); !resolved.ok()) return resolved.error();
  if (interrupt.expired()) return classify(AVERROR_EXIT, interrupt, address, "resolve");

  const AVInputFormat* rtsp = av_find_input_format("rtsp");
  if (rtsp == nullptr) return Error(probe_error::kProbeFailed, "libavformat was built without RTSP support");
  FormatContextPtr fmt(avformat_alloc_context());
  if (!fmt) return Error(probe_error::kProbeFailed, "out of memory");
  fmt->interrupt_callback.callback = &Interrupt::callback;
  fmt->interrupt_callback.opaque = &interrupt;
  // Reading to estimate the frame rate stops after half the time, leaving the rest for the snapshot.
  fmt->max_analyze_duration = std::chrono::duration_cast<microseconds>(timeout).count() / 2;

  DictionaryPtr options;
  setOption(options, "rtsp_transport", toLower(address.transport));
  setOption(options, "user_agent", "Stagecast");
  // Socket I/O timeout in microseconds ("stimeout" before FFmpeg 5; "timeout" meant something else then).
  const char* ioTimeout = rtspIoTimeoutOption(rtsp);
  setOption(options, ioTimeout, std::to_string(interrupt.remainingMicros()));

  {
    AVFormatContext* raw = fmt.release();
    AVDictionary* rawOptions = options.release();
    const int rc = avformat_open_input(&raw, url->c_str(), rtsp, &rawOptions);
    options.reset(rawOptions);
    fmt.reset(raw);  // null when the open failed (libavformat frees the context then)
    if (rc < 0) return classify(rc, interrupt, address, "open");
  }

  if (fmt->nb_streams == 0) {
    return Error(probe_error::kNotFound, redactedUrl(address) + ": the camera describes no stream");
  }
  int videoIndex = -1;
  std::string found;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* par = fmt->streams[i]->codecpar;
    if (videoIndex < 0 && forwardable(par)) videoIndex = static_cast<int>(i);
    const char* kind = av_get_media_type_string(par->codec_type);
    found += std::string(found.empty() ? "" : ", ") + (kind != nullptr ? kind : "unknown") + " " +
             avcodec_get_name(par->codec_id);
  }
  if (videoIndex < 0) {
    return Error(probe_error::kUnsupportedCodec,
                 redactedUrl(address) + ": no H.264 or H.265 video stream (found " + found + ")");
  }

  // Fills in what the session description leaves out (resolution, frame rate, audio format) by reading and
  // decoding the first packets, which stay buffered for the snapshot below.
  if (const int rc = avformat_find_stream_info(fmt.get(), nullptr); rc < 0) {
    spdlog::debug("probe {}: stream details incomplete: {}", redactedUrl(address), avErrorText(rc));
  }

  ProbeResult result;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) result.streams.push_back(describe(fmt.get(), fmt->streams[i]));
  if (snapshot) result.snapshotJpeg = snapshotFromFirstKeyframe(fmt.get(), videoIndex);
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return result;
}

}  // namespace stagecast::ingest
