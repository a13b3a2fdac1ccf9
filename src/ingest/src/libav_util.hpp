#pragma once
// Internal to the ingest layer: what the RTSP probe and the camera pull share on top of libav (FFmpeg 5.1 API):
// owned handles, one-time initialisation, libav's log routed to spdlog with secrets removed, and the
// classification of libav errors into the probe_error codes.
#include <memory>
#include <string>

#include "stagecast/common/error.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace stagecast::ingest::detail {

// ---- owned libav handles ----

struct FormatContextDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct AudioFifoDeleter {
  void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};
struct BsfDeleter {
  void operator()(AVBSFContext* b) const { av_bsf_free(&b); }
};
struct DictionaryDeleter {
  void operator()(AVDictionary* d) const { av_dict_free(&d); }
};
using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;
using AudioFifoPtr = std::unique_ptr<AVAudioFifo, AudioFifoDeleter>;
using BsfPtr = std::unique_ptr<AVBSFContext, BsfDeleter>;
using DictionaryPtr = std::unique_ptr<AVDictionary, DictionaryDeleter>;

std::string avErrorText(int err);
void setOption(DictionaryPtr& options, const char* key, const std::string& value);

// Network init and the log callback, once per process.
void initLibav();

// Masks `password` in every libav line logged from the current thread while the scope lives (libav logs from
// the thread that calls it; decoders and encoders here run with thread_count = 1 for that reason).
class PasswordScope {
 public:
  explicit PasswordScope(const std::string& password);
  ~PasswordScope();
  PasswordScope(const PasswordScope&) = delete;
  PasswordScope& operator=(const PasswordScope&) = delete;

 private:
  const std::string* previous_;
};

// A libav error from opening or reading `address` as a probe_error code with an operator message that names the
// redacted URL. `timedOut`: the caller's deadline fired (the interrupt callback returned 1 because of it).
Error classifyAvError(int err, bool timedOut, const CameraAddress& address, const std::string& where);

// Resolves a host name up front (address literals pass untouched): libavformat reports a failed lookup as a bare
// EIO. Not interruptible. Errors: UNREACHABLE.
Status resolveHost(const CameraAddress& address);

// The socket I/O timeout option of the RTSP demuxer ("stimeout" before FFmpeg 5, "timeout" since).
const char* rtspIoTimeoutOption(const AVInputFormat* rtsp);

}  // namespace stagecast::ingest::detail
