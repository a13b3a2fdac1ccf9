// CameraPull: one libavformat RTSP session at a time on a thread of its own, which owns every libav handle.
//
// Timestamps. libavformat gives each stream's packets a pts in that stream's RTP clock (1/90000 for video,
// 1/8000 for G.711, the AAC stream's rate), starting near zero and kept in step across streams by the camera's
// RTCP sender reports. Every pts is converted to ticks of 1/720000 s, which is exact for 90, 48 and 8 kHz, and
// shifted onto one pull timeline shared by all streams: the first session starts it at zero, and every later
// session continues it from where the previous one stopped plus the wall-clock time in between. Each medium's
// RTP timestamp is a random base plus the pull timeline in its clock rate, so timestamps keep increasing across
// reconnects and audio stays in step with video.
#include "stagecast/ingest/camera_pull.hpp"

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>
#include <vector>

#include "audio_transcoder.hpp"
#include "libav_util.hpp"
#include "stagecast/common/clock.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/common/text.hpp"
#include "stagecast/ingest/h264_packetizer.hpp"
#include "stagecast/ingest/h265_packetizer.hpp"

extern "C" {
#include <libavutil/mathematics.h>
}

namespace stagecast::ingest {

using namespace detail;

const char* toString(MediaKind kind) { return kind == MediaKind::Audio ? "audio" : "video"; }

const char* toString(PullState state) {
  switch (state) {
    case PullState::Connecting:
      return "connecting";
    case PullState::Streaming:
      return "streaming";
    case PullState::Retrying:
      return "retrying";
    case PullState::Stopped:
      return "stopped";
  }
  return "unknown";
}

std::string PullVideoInfo::fmtp() const {
  if (isH265()) {
    // RFC 7798 §7.1: profile-space and tier-flag default to 0; tx-mode SRST: one RTP stream.
    std::string line = profileSpace != 0 ? "profile-space=" + std::to_string(profileSpace) + ";" : std::string();
    line += "level-id=" + std::to_string(levelId) + ";profile-id=" + std::to_string(profileId) +
            ";tier-flag=" + std::to_string(tierFlag) + ";tx-mode=SRST";
    return line;
  }
  std::string line = "level-asymmetry-allowed=1;packetization-mode=" + std::to_string(packetizationMode);
  if (!profileLevelId.empty()) line += ";profile-level-id=" + profileLevelId;
  return line;
}

namespace {

constexpr std::int64_t kTicksPerSecond = 720000;  // a multiple of 90000, 48000 and 8000
constexpr AVRational kTickBase{1, static_cast<int>(kTicksPerSecond)};
constexpr int kG711Rate = 8000;

// Failures that the same request cannot cure: retrying a wrong password can lock the camera's account.
bool retryable(const Error& e) {
  return e.code != probe_error::kAuthFailed && e.code != probe_error::kAuthRequired &&
         e.code != probe_error::kUnsupportedCodec && e.code != probe_error::kInvalidRequest;
}

std::string profileLevelIdOf(BytesView sps) {
  if (sps.size() < 4) return {};
  char buf[7];
  std::snprintf(buf, sizeof(buf), "%02x%02x%02x", sps[1], sps[2], sps[3]);
  return buf;
}

BytesView spsIn(BytesView annexB) {
  for (const BytesView unit : h264::splitAnnexB(annexB)) {
    if (h264::nalType(unit[0]) == h264::nal::kSps) return unit;
  }
  return {};
}

bool isAvcc(const AVCodecParameters* par) { return par->extradata_size >= 7 && par->extradata[0] == 1; }

// An HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) rather than Annex B parameter sets.
bool isHvcc(const AVCodecParameters* par) { return par->extradata_size >= 23 && par->extradata[0] == 1; }

void setProfileTierLevel(PullVideoInfo& video, const h265::ProfileTierLevel& ptl) {
  video.profileSpace = ptl.profileSpace;
  video.tierFlag = ptl.tierFlag;
  video.profileId = ptl.profileId;
  video.levelId = ptl.levelId;
}

// What the forwarding path needs to know of one NAL unit of either codec.
struct UnitRole {
  bool keyframe = false;  // H.264 IDR slice, H.265 IRAP picture
  bool dropped = false;   // access unit delimiter or filler data: meaningless to a WebRTC receiver
  bool sps = false;
};

UnitRole roleOf(bool hevc, BytesView unit) {
  if (hevc) {
    const std::uint8_t type = h265::nalType(unit[0]);
    return {h265::isIrap(type), type == h265::nal::kAud || type == h265::nal::kFd, type == h265::nal::kSps};
  }
  constexpr std::uint8_t kFillerData = 12;
  const std::uint8_t type = h264::nalType(unit[0]);
  return {type == h264::nal::kIdr, type == h264::nal::kAud || type == kFillerData, type == h264::nal::kSps};
}

// The pull timeline (see the top of the file), shared by the sessions of one run of the pull thread.
class Timeline {
 public:
  Timeline() {
    std::random_device random;
    videoBase_ = random();
    audioBase_ = random();
  }

  void beginSession() { offset_.reset(); }

  // Ticks of a stream's pts (source timeline) on the pull timeline.
  std::int64_t map(std::int64_t sourceTicks) {
    const TimePoint now = Clock::now();
    if (!offset_) {
      if (!last_) {
        offset_ = -sourceTicks;
      } else {
        const auto gap = std::chrono::duration_cast<microseconds>(now - lastWall_).count();
        const std::int64_t gapTicks = std::max<std::int64_t>(gap * kTicksPerSecond / 1000000, 1);
        offset_ = *last_ + gapTicks - sourceTicks;
      }
    }
    const std::int64_t t = sourceTicks + *offset_;
    if (!last_ || t > *last_) {
      last_ = t;
      lastWall_ = now;
    }
    return t;
  }

  [[nodiscard]] std::uint32_t rtp(MediaKind kind, std::int64_t ticks, int clockRate) const {
    const std::int64_t units = ticks / (kTicksPerSecond / clockRate);
    return static_cast<std::uint32_t>((kind == MediaKind::Video ? videoBase_ : audioBase_) +
                                      static_cast<std::uint64_t>(units));
  }

 private:
  std::uint32_t videoBase_ = 0;
  std::uint32_t audioBase_ = 0;
  std::optional<std::int64_t> offset_;
  std::optional<std::int64_t> last_;
  TimePoint lastWall_{};
};

}  // namespace

// ---- one RTSP session ----

class CameraPull::Session {
 public:
  Session(CameraPull& owner, Timeline& timeline, const std::string& url)
      : owner_(owner),
        timeline_(timeline),
        url_(url),
        packetizer_(h264::PacketizerOptions{owner.options_.mtu}),
        hevcPacketizer_(h265::PacketizerOptions{.mtu = owner.options_.mtu}) {
    timeline_.beginSession();
  }

  // Runs until the session fails or stop() is requested; returns the failure (none on stop).
  std::optional<Error> run() {
    if (auto failed = open(); failed) return failed;
    if (owner_.stopFlag_.load() || !fmt_) return std::nullopt;  // stopped while opening
    for (;;) {
      arm(owner_.options_.readTimeout);
      const int rc = av_read_frame(fmt_.get(), packet_.get());
      if (owner_.stopFlag_.load()) return std::nullopt;
      if (rc == AVERROR_EOF) {
        return Error(probe_error::kProbeFailed, redactedUrl(owner_.address_) + ": the camera ended the stream");
      }
      if (rc < 0) return classifyAvError(rc, fired_, owner_.address_, "read");
      if (!streamed_) {
        streamed_ = true;
        owner_.markStreaming();
      }
      if (packet_->stream_index == videoIndex_) {
        onVideo(packet_.get());
      } else if (packet_->stream_index == audioIndex_) {
        onAudio(packet_.get());
      }
      av_packet_unref(packet_.get());
    }
  }

  [[nodiscard]] bool streamed() const { return streamed_; }

 private:
  enum class AudioPath { None, G711, Opus };

  static int interrupt(void* opaque) {
    auto* self = static_cast<Session*>(opaque);
    if (self->owner_.stopFlag_.load(std::memory_order_relaxed)) return 1;
    if (Clock::now() < self->deadline_) return 0;
    self->fired_ = true;
    return 1;
  }

  void arm(milliseconds timeout) {
    deadline_ = Clock::now() + timeout;
    fired_ = false;
  }

  std::optional<Error> open() {
    const CameraAddress& address = owner_.address_;
    if (auto resolved = resolveHost(address); !resolved.ok()) return resolved.error();
    if (owner_.stopFlag_.load()) return std::nullopt;
    const AVInputFormat* rtsp = av_find_input_format("rtsp");
    if (rtsp == nullptr) return Error(probe_error::kProbeFailed, "libavformat was built without RTSP support");
    fmt_.reset(avformat_alloc_context());
    packet_.reset(av_packet_alloc());
    if (!fmt_ || !packet_) return Error(probe_error::kProbeFailed, "out of memory");
    fmt_->interrupt_callback.callback = &Session::interrupt;
    fmt_->interrupt_callback.opaque = this;

    DictionaryPtr options;
    setOption(options, "rtsp_transport", toLower(address.transport));
    setOption(options, "user_agent", "Stagecast");
    const auto ioTimeout = std::max(owner_.options_.connectTimeout, owner_.options_.readTimeout);
    setOption(options, rtspIoTimeoutOption(rtsp),
              std::to_string(std::chrono::duration_cast<microseconds>(ioTimeout).count()));
    arm(owner_.options_.connectTimeout);
    {
      AVFormatContext* raw = fmt_.release();
      AVDictionary* rawOptions = options.release();
      const int rc = avformat_open_input(&raw, url_.c_str(), rtsp, &rawOptions);
      options.reset(rawOptions);
      fmt_.reset(raw);  // null when the open failed (libavformat frees the context then)
      if (owner_.stopFlag_.load()) return std::nullopt;
      if (rc < 0) return classifyAvError(rc, fired_, address, "open");
    }
    if (fmt_->nb_streams == 0) {
      return Error(probe_error::kNotFound, redactedUrl(address) + ": the camera describes no stream");
    }

    std::string found;
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      AVStream* st = fmt_->streams[i];
      const AVCodecParameters* par = st->codecpar;
      const char* kind = av_get_media_type_string(par->codec_type);
      found += std::string(found.empty() ? "" : ", ") + (kind != nullptr ? kind : "unknown") + " " +
               avcodec_get_name(par->codec_id);
      if (videoIndex_ < 0 && par->codec_type == AVMEDIA_TYPE_VIDEO &&
          (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC)) {
        videoIndex_ = static_cast<int>(i);
      } else if (audioPath_ == AudioPath::None && par->codec_type == AVMEDIA_TYPE_AUDIO) {
        setUpAudio(st, static_cast<int>(i));  // the first audio stream we can forward
      }
    }
    if (audioPath_ != AudioPath::None) info_.ignoredAudio.clear();
    if (videoIndex_ < 0) {
      return Error(probe_error::kUnsupportedCodec,
                   redactedUrl(address) + ": no H.264 or H.265 video stream (found " + found + ")");
    }
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      if (static_cast<int>(i) != videoIndex_ && static_cast<int>(i) != audioIndex_) {
        fmt_->streams[i]->discard = AVDISCARD_ALL;
      }
    }
    {
      const std::lock_guard lock(owner_.mutex_);
      owner_.stats_.ignoredAudio = info_.ignoredAudio;
    }
    return setUpVideo(fmt_->streams[videoIndex_]);
  }

  std::optional<Error> setUpVideo(AVStream* st) {
    const AVCodecParameters* par = st->codecpar;
    videoTimeBase_ = st->time_base;
    info_.video.width = par->width;
    info_.video.height = par->height;
    if (par->codec_id == AV_CODEC_ID_HEVC) return setUpHevc(st);
    if (isAvcc(par)) {
      // avcC extradata (not what RTSP gives, but possible): length-prefixed NAL units become Annex B, with the
      // parameter sets put in front of keyframes by the filter.
      info_.video.profileLevelId = profileLevelIdOf(BytesView(par->extradata + 0, 4));
      if (auto failed = setUpAnnexBFilter("h264_mp4toannexb", st)) return failed;
    } else if (par->extradata_size > 0) {
      // Annex B parameter sets from the session description (sprop-parameter-sets): primes the packetizer's
      // cache so that the first IDR carries them even when the camera sends them out of band only.
      const BytesView extradata(par->extradata, static_cast<std::size_t>(par->extradata_size));
      info_.video.profileLevelId = profileLevelIdOf(spsIn(extradata));
      (void)packetizer_.packetize(extradata);
    }
    announceIfReady();
    return std::nullopt;
  }

  std::optional<Error> setUpHevc(AVStream* st) {
    const AVCodecParameters* par = st->codecpar;
    hevc_ = true;
    info_.video.codec = "H265";
    // Parameter sets out of band (sprop-vps/sps/pps, as Annex B, or an hvcC record): prime the packetizer's
    // cache so that the first IRAP picture carries them even when the camera sends them out of band only; the
    // SPS gives profile, tier and level.
    if (par->extradata_size > 0) {
      const BytesView extradata(par->extradata, static_cast<std::size_t>(par->extradata_size));
      for (const Bytes& set : h265::parameterSetsOf(extradata)) {
        hevcPacketizer_.remember(set);
        if (const auto ptl = h265::profileTierLevelOfSps(set); ptl && !info_.video.described()) {
          setProfileTierLevel(info_.video, *ptl);
        }
      }
    }
    if (isHvcc(par)) {
      // Length-prefixed NAL units (not what RTSP gives, but possible) become Annex B.
      if (auto failed = setUpAnnexBFilter("hevc_mp4toannexb", st)) return failed;
    }
    announceIfReady();
    return std::nullopt;
  }

  // The bitstream filter `name` (h264_mp4toannexb, hevc_mp4toannexb) between the demuxer and the packetizer.
  std::optional<Error> setUpAnnexBFilter(const char* name, const AVStream* st) {
    const AVBitStreamFilter* filter = av_bsf_get_by_name(name);
    AVBSFContext* raw = nullptr;
    if (filter == nullptr || av_bsf_alloc(filter, &raw) < 0) {
      return Error(probe_error::kProbeFailed, std::string("libavcodec lacks the ") + name + " filter");
    }
    annexB_.reset(raw);
    annexB_->time_base_in = st->time_base;  // set before av_bsf_init(), as libavcodec asks
    if (avcodec_parameters_copy(annexB_->par_in, st->codecpar) < 0 || av_bsf_init(annexB_.get()) < 0) {
      return Error(probe_error::kProbeFailed, std::string("cannot set up the ") + name + " filter");
    }
    filtered_.reset(av_packet_alloc());
    return std::nullopt;
  }

  void setUpAudio(AVStream* st, int index) {
    const AVCodecParameters* par = st->codecpar;
    const std::string name = avcodec_get_name(par->codec_id);
    const int channels = par->ch_layout.nb_channels;
    if ((par->codec_id == AV_CODEC_ID_PCM_ALAW || par->codec_id == AV_CODEC_ID_PCM_MULAW) &&
        par->sample_rate == kG711Rate && channels <= 1) {
      audioIndex_ = index;
      audioPath_ = AudioPath::G711;
      audioTimeBase_ = st->time_base;
      info_.audio = PullAudioInfo{par->codec_id == AV_CODEC_ID_PCM_ALAW ? "PCMA" : "PCMU", kG711Rate, 1, name};
      return;
    }
    if (par->codec_id == AV_CODEC_ID_AAC) {
      auto transcoder = OpusTranscoder::create(par, st->time_base, owner_.options_.opusBitrate);
      if (transcoder.ok()) {
        audioIndex_ = index;
        audioPath_ = AudioPath::Opus;
        audioTimeBase_ = st->time_base;
        opus_ = std::move(transcoder.value());
        info_.audio = PullAudioInfo{"opus", OpusTranscoder::kSampleRate, 2, name};
        return;
      }
      spdlog::warn("camera {}: AAC audio not forwarded: {}", redactedUrl(owner_.address_), transcoder.error().message);
    }
    if (!info_.ignoredAudio.empty()) return;  // reports the first one
    info_.ignoredAudio = name + (par->sample_rate > 0 ? "/" + std::to_string(par->sample_rate) : std::string()) +
                         (channels > 0 ? "/" + std::to_string(channels) : std::string());
  }

  // The stream info goes out once the profile is known: from the session description, or else from the first
  // SPS in band. No payload precedes it.
  void announceIfReady() {
    if (announced_ || !info_.video.described()) return;
    announced_ = true;
    owner_.sink_.onStreamInfo(info_);
  }

  // ---- video ----

  void onVideo(AVPacket* packet) {
    if (!annexB_) {
      forwardAccessUnit(BytesView(packet->data, static_cast<std::size_t>(packet->size)), timestampOf(packet));
      return;
    }
    if (av_bsf_send_packet(annexB_.get(), packet) < 0) return;
    while (av_bsf_receive_packet(annexB_.get(), filtered_.get()) == 0) {
      forwardAccessUnit(BytesView(filtered_->data, static_cast<std::size_t>(filtered_->size)),
                        timestampOf(filtered_.get()));
      av_packet_unref(filtered_.get());
    }
  }

  static std::optional<std::int64_t> timestampOf(const AVPacket* packet) {
    if (packet->pts != AV_NOPTS_VALUE) return packet->pts;
    if (packet->dts != AV_NOPTS_VALUE) return packet->dts;
    return std::nullopt;
  }

  void forwardAccessUnit(BytesView accessUnit, std::optional<std::int64_t> pts) {
    // Access unit delimiters and filler data mean nothing to a WebRTC receiver: dropped. The first in-band SPS
    // gives the profile (and H.265 tier and level) when the session description did not.
    const std::vector<BytesView> units = h264::splitAnnexB(accessUnit);  // the same byte stream format for H.265
    bool keyframe = false;
    bool strip = false;
    for (const BytesView unit : units) {
      const UnitRole role = roleOf(hevc_, unit);
      keyframe = keyframe || role.keyframe;
      strip = strip || role.dropped;
      if (role.sps && !info_.video.described()) {
        if (!hevc_) {
          info_.video.profileLevelId = profileLevelIdOf(unit);
        } else if (const auto ptl = h265::profileTierLevelOfSps(unit)) {
          setProfileTierLevel(info_.video, *ptl);
        }
      }
    }
    announceIfReady();
    if (!announced_) return;
    if (!keyframeSeen_) {
      if (!keyframe) return;  // undecodable before the session's first IDR (H.265: IRAP) picture
      keyframeSeen_ = true;
    }
    Bytes rebuilt;
    if (strip) {
      static constexpr std::uint8_t kStartCode[] = {0, 0, 0, 1};
      for (const BytesView unit : units) {
        if (roleOf(hevc_, unit).dropped) continue;
        rebuilt.insert(rebuilt.end(), std::begin(kStartCode), std::end(kStartCode));
        rebuilt.insert(rebuilt.end(), unit.begin(), unit.end());
      }
      accessUnit = rebuilt;
    }

    std::int64_t sourceTicks = lastVideoTicks_.value_or(0);
    if (pts) sourceTicks = av_rescale_q(*pts, videoTimeBase_, kTickBase);
    lastVideoTicks_ = sourceTicks;
    const std::uint32_t ts = timeline_.rtp(MediaKind::Video, timeline_.map(sourceTicks), 90000);

    const std::size_t sent = hevc_ ? sendVideo(hevcPacketizer_.packetize(accessUnit), ts, keyframe)
                                   : sendVideo(packetizer_.packetize(accessUnit), ts, keyframe);
    if (sent == 0) return;
    const std::lock_guard lock(owner_.mutex_);
    owner_.stats_.videoFrames += 1;
    owner_.stats_.keyframes += keyframe ? 1 : 0;
    owner_.stats_.videoPayloads += sent;
  }

  // Hands one access unit's payloads (h264:: or h265::RtpPayload) to the sink; returns how many.
  template <class Payloads>
  std::size_t sendVideo(const Payloads& payloads, std::uint32_t ts, bool keyframe) {
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      owner_.sink_.onRtpPayload(MediaKind::Video, payloads[i].data, payloads[i].marker, ts, keyframe && i == 0);
    }
    return payloads.size();
  }

  // ---- audio ----

  void onAudio(AVPacket* packet) {
    if (!announced_) return;
    if (audioPath_ == AudioPath::G711) {
      forwardG711(packet);
    } else if (audioPath_ == AudioPath::Opus) {
      opus_->push(packet, [this](BytesView data, std::int64_t pts48k) {
        const std::int64_t ticks = timeline_.map(pts48k * (kTicksPerSecond / OpusTranscoder::kSampleRate));
        sendAudio(Bytes(data.begin(), data.end()), timeline_.rtp(MediaKind::Audio, ticks, OpusTranscoder::kSampleRate));
      });
    }
  }

  void forwardG711(const AVPacket* packet) {
    const BytesView data(packet->data, static_cast<std::size_t>(packet->size));
    if (data.empty()) return;
    const auto pts = timestampOf(packet);
    std::int64_t sourceTicks = nextAudioTicks_.value_or(0);
    if (pts) sourceTicks = av_rescale_q(*pts, audioTimeBase_, kTickBase);
    constexpr std::int64_t kTicksPerSample = kTicksPerSecond / kG711Rate;
    nextAudioTicks_ = sourceTicks + static_cast<std::int64_t>(data.size()) * kTicksPerSample;
    const std::int64_t start = timeline_.map(sourceTicks);
    const int millis = owner_.options_.g711PacketMillis;
    const std::size_t chunk = millis > 0 ? static_cast<std::size_t>(kG711Rate / 1000 * millis) : data.size();
    for (std::size_t offset = 0; offset < data.size(); offset += chunk) {
      const std::size_t length = std::min(chunk, data.size() - offset);
      const std::int64_t ticks = start + static_cast<std::int64_t>(offset) * kTicksPerSample;
      sendAudio(Bytes(data.begin() + static_cast<std::ptrdiff_t>(offset),
                      data.begin() + static_cast<std::ptrdiff_t>(offset + length)),
                timeline_.rtp(MediaKind::Audio, ticks, kG711Rate));
    }
  }

  void sendAudio(const Bytes& payload, std::uint32_t ts) {
    const bool marker = firstAudio_;
    firstAudio_ = false;
    owner_.sink_.onRtpPayload(MediaKind::Audio, payload, marker, ts, false);
    const std::lock_guard lock(owner_.mutex_);
    owner_.stats_.audioPayloads += 1;
  }

  CameraPull& owner_;
  Timeline& timeline_;
  const std::string& url_;
  TimePoint deadline_{};
  bool fired_ = false;
  bool streamed_ = false;
  bool announced_ = false;
  bool keyframeSeen_ = false;
  bool firstAudio_ = true;
  PullStreamInfo info_;

  bool hevc_ = false;  // the video is H.265
  h264::Packetizer packetizer_;
  h265::Packetizer hevcPacketizer_;
  BsfPtr annexB_;
  PacketPtr filtered_;
  std::unique_ptr<OpusTranscoder> opus_;
  PacketPtr packet_;
  FormatContextPtr fmt_;  // last: closed first

  int videoIndex_ = -1;
  int audioIndex_ = -1;
  AudioPath audioPath_ = AudioPath::None;
  AVRational videoTimeBase_{1, 90000};
  AVRational audioTimeBase_{1, kG711Rate};
  std::optional<std::int64_t> lastVideoTicks_;
  std::optional<std::int64_t> nextAudioTicks_;
};

// ---- CameraPull ----

CameraPull::CameraPull(CameraAddress address, PullOptions options, PullSink& sink)
    : address_(std::move(address)), options_(options), sink_(sink) {}

CameraPull::~CameraPull() { stop(); }

Status CameraPull::start() {
  if (auto url = buildRtspUrl(address_); !url.ok()) return url.error();
  const auto invalid = [](const std::string& what) { return Error(probe_error::kInvalidRequest, what); };
  if (options_.connectTimeout.count() <= 0) return invalid("connectTimeout: must be positive");
  if (options_.readTimeout.count() <= 0) return invalid("readTimeout: must be positive");
  if (options_.initialBackoff.count() <= 0) return invalid("initialBackoff: must be positive");
  if (options_.maxBackoff < options_.initialBackoff) return invalid("maxBackoff: less than initialBackoff");
  if (options_.g711PacketMillis < 0 || options_.g711PacketMillis > 1000) {
    return invalid("g711PacketMillis: must be 0..1000");
  }
  if (options_.opusBitrate < 6000 || options_.opusBitrate > 510000) return invalid("opusBitrate: 6000..510000");

  std::unique_lock lock(mutex_);
  if (running_) return {};
  if (thread_.joinable()) {
    // The previous run ended by itself (a failure that is not retried): collect it.
    lock.unlock();
    thread_.join();
    lock.lock();
  }
  initLibav();
  stopRequested_ = false;
  stopFlag_.store(false);
  running_ = true;
  stats_.state = PullState::Connecting;
  thread_ = std::thread([this] { run(); });
  return {};
}

void CameraPull::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopRequested_ = true;
    stopFlag_.store(true);
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

PullStats CameraPull::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void CameraPull::setState(PullState state, const std::optional<Error>& error) {
  {
    const std::lock_guard lock(mutex_);
    stats_.state = state;
    if (error) stats_.lastError = error;
  }
  if (error && state == PullState::Stopped) {
    spdlog::warn("camera {}: {} ({}: {})", redactedUrl(address_), toString(state), error->code, error->message);
  } else if (error) {
    spdlog::info("camera {}: {} ({}: {})", redactedUrl(address_), toString(state), error->code, error->message);
  } else {
    spdlog::debug("camera {}: {}", redactedUrl(address_), toString(state));
  }
  sink_.onStateChange(state, error);
}

void CameraPull::markStreaming() {
  {
    const std::lock_guard lock(mutex_);
    stats_.connects += 1;
    if (stats_.connects > 1) stats_.reconnects += 1;
  }
  setState(PullState::Streaming, std::nullopt);
}

bool CameraPull::waitBackoff(milliseconds delay) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, delay, [this] { return stopRequested_; });
}

void CameraPull::run() {
  const PasswordScope secrets(address_.password);
  const std::string url = buildRtspUrl(address_).value();  // validated by start()
  Timeline timeline;
  milliseconds backoff = options_.initialBackoff;
  std::optional<Error> finalError;
  while (!stopFlag_.load()) {
    setState(PullState::Connecting, std::nullopt);
    std::optional<Error> failure;
    bool streamed = false;
    {
      Session session(*this, timeline, url);
      failure = session.run();
      streamed = session.streamed();
    }  // closes the session (TEARDOWN) before waiting
    if (stopFlag_.load()) break;
    if (!failure) failure = Error(probe_error::kProbeFailed, redactedUrl(address_) + ": the session ended");
    if (streamed) backoff = options_.initialBackoff;
    if (!streamed) {
      const std::lock_guard lock(mutex_);
      stats_.failedAttempts += 1;
    }
    if (!retryable(*failure)) {
      finalError = failure;
      break;
    }
    setState(PullState::Retrying, failure);
    if (!waitBackoff(backoff)) break;
    backoff = std::min(backoff * 2, options_.maxBackoff);
  }
  setState(PullState::Stopped, finalError);
  const std::lock_guard lock(mutex_);
  running_ = false;
}

}  // namespace stagecast::ingest
