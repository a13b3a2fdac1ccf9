#pragma once
// One RTSP pull of one IP camera, shared by all of its viewers: the camera's H.264 or H.265 video is packetized
// for RTP as it is (RFC 6184 / RFC 7798, no transcoding), G.711 audio is forwarded, AAC audio is transcoded once to
// Opus. The pull
// reconnects with exponential backoff when the camera drops or does not answer, and keeps the RTP timestamps of
// each medium increasing across reconnects. It knows nothing of the media engine: the owner passes a PullSink.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

namespace stagecast::ingest {

enum class MediaKind { Audio, Video };
const char* toString(MediaKind kind);

// connecting: opening the RTSP session (first time or after a backoff); streaming: packets are flowing;
// retrying: the session failed or ended and the next attempt waits out the backoff; stopped: stop() was called,
// or a failure that retrying cannot cure (AUTH_FAILED, AUTH_REQUIRED, UNSUPPORTED_CODEC, INVALID_REQUEST).
enum class PullState { Connecting, Streaming, Retrying, Stopped };
const char* toString(PullState state);

struct PullOptions {
  // Opening the session (connect, OPTIONS/DESCRIBE/SETUP/PLAY) must finish within this time.
  std::chrono::milliseconds connectTimeout{5000};
  // A session that delivers no packet for this long is dropped and retried (TIMEOUT).
  std::chrono::milliseconds readTimeout{5000};
  // Wait before the first retry; doubled after each failed attempt up to maxBackoff, back to initialBackoff
  // once a session streamed.
  std::chrono::milliseconds initialBackoff{250};
  std::chrono::milliseconds maxBackoff{5000};
  // Largest RTP payload, bytes (video FU-A fragmentation).
  std::size_t mtu = 1200;
  // G.711 payloads are cut into packets of this duration (20 ms = 160 samples, what WebRTC endpoints send);
  // 0 forwards the camera's packets as they come.
  int g711PacketMillis = 20;
  // Opus encoder bit rate for transcoded AAC, bits per second (per stream, mono or stereo).
  int opusBitrate = 64000;
};

struct PullVideoInfo {
  std::string codec = "H264";  // RTP encoding name: "H264" or "H265"
  std::uint32_t clockRate = 90000;
  // H.264: six hex digits from the SPS (profile_idc, constraint flags, level_idc) and the RFC 6184 mode
  // (non-interleaved).
  std::string profileLevelId;
  int packetizationMode = 1;
  // H.265: general_profile_space, general_tier_flag, general_profile_idc and general_level_idc from the SPS
  // (RFC 7798 §7.1 profile-space, tier-flag, profile-id, level-id); levelId 0 while unknown.
  int profileSpace = 0;
  int tierFlag = 0;
  int profileId = 0;
  int levelId = 0;
  int width = 0, height = 0;  // 0 when the session description does not say

  [[nodiscard]] bool isH265() const { return codec == "H265"; }
  // Whether the SPS was seen: the fmtp line is complete.
  [[nodiscard]] bool described() const { return isH265() ? levelId > 0 : !profileLevelId.empty(); }
  // fmtp line for SDP. H.264: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=..."; H.265
  // (RFC 7798 §7.1, one RTP stream, no DON): "level-id=..;profile-id=..;tier-flag=..;tx-mode=SRST", with
  // profile-space in front when it is not 0.
  [[nodiscard]] std::string fmtp() const;
};

struct PullAudioInfo {
  std::string codec;            // RTP encoding name: "PCMA", "PCMU" or "opus"
  std::uint32_t clockRate = 0;  // 8000, or 48000 for opus
  int channels = 1;             // as SDP says it: 1 for G.711, 2 for opus (RFC 7587 §7), whatever was encoded
  std::string sourceCodec;      // the camera's codec (libav name): pcm_alaw, pcm_mulaw, aac
  [[nodiscard]] bool transcoded() const { return codec == "opus"; }
};

struct PullStreamInfo {
  PullVideoInfo video;
  std::optional<PullAudioInfo> audio;  // none when the camera sends none, or a codec we do not forward
  std::string ignoredAudio;            // libav name of the camera's audio codec that is not forwarded, if any
};

// Called on the pull's thread, one call at a time, never after stop() returned. Implementations post the work
// to their own loop and return quickly: a slow sink delays the read loop.
class PullSink {
 public:
  virtual ~PullSink() = default;
  // At each (re)connect, before the session's first payload. The codecs may change between sessions.
  virtual void onStreamInfo(const PullStreamInfo& info) = 0;
  // One RTP payload (the RTP header is the caller's: sequence number, SSRC, payload type). `marker`: last
  // payload of a video access unit, or the first audio payload of a session (RFC 3551 §4.1). `rtpTimestamp` in
  // the clock rate announced by onStreamInfo. `keyframeStart`: first payload of an H.264 IDR access unit (which
  // carries SPS and PPS in front) or of an H.265 IRAP access unit (VPS, SPS and PPS in front).
  virtual void onRtpPayload(MediaKind kind, const Bytes& payload, bool marker, std::uint32_t rtpTimestamp,
                            bool keyframeStart) = 0;
  // Every state transition; `error` is why the pull is retrying or stopped (none for a stop() or streaming).
  virtual void onStateChange(PullState state, const std::optional<Error>& error) {}
};

struct PullStats {
  PullState state = PullState::Stopped;
  std::uint64_t videoFrames = 0;    // access units forwarded
  std::uint64_t keyframes = 0;      // of which IDR (H.264) or IRAP (H.265)
  std::uint64_t videoPayloads = 0;  // RTP payloads
  std::uint64_t audioPayloads = 0;
  std::uint64_t connects = 0;    // sessions that streamed
  std::uint64_t reconnects = 0;  // of which after an earlier one: connects - 1 once streaming was reached
  std::uint64_t failedAttempts = 0;
  std::optional<Error> lastError;  // probe_error codes; kept until the next error
  std::string ignoredAudio;        // libav name of an audio codec the camera sends and we do not forward
};

class CameraPull {
 public:
  // `sink` must outlive the pull (or at least its stop()).
  CameraPull(CameraAddress address, PullOptions options, PullSink& sink);
  ~CameraPull();  // stop()
  CameraPull(const CameraPull&) = delete;
  CameraPull& operator=(const CameraPull&) = delete;

  // start(), stop() and the destructor are for the owner's thread (one at a time); stats() from any thread.

  // Starts the pull thread. Errors (nothing started): INVALID_REQUEST for a bad address or options. Calling it
  // while running does nothing; after stop() it starts a new pull (statistics continue).
  Status start();
  // Interrupts any connect or read in progress and joins the thread, within about 100 ms (host name
  // resolution is the one step that cannot be interrupted). Idempotent; not from the sink's callbacks.
  void stop();

  [[nodiscard]] PullStats stats() const;
  [[nodiscard]] const CameraAddress& address() const { return address_; }

 private:
  class Session;
  void run();
  void setState(PullState state, const std::optional<Error>& error);
  void markStreaming();
  bool waitBackoff(std::chrono::milliseconds delay);

  const CameraAddress address_;
  const PullOptions options_;
  PullSink& sink_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopRequested_ = false;  // guarded by mutex_; mirrored in stopFlag_ for libav's interrupt callback
  bool running_ = false;        // guarded by mutex_: the thread has not finished run()
  std::atomic<bool> stopFlag_{false};
  PullStats stats_;
  std::thread thread_;
};

}  // namespace stagecast::ingest
