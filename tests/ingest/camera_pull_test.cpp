// CameraPull against a real RTSP server (GStreamer's, tests/fixtures/rtsp_camera.py) and against sockets that
// refuse or ignore connections. The camera tests are skipped when the GStreamer RTSP server bindings are not
// installed.
#include "stagecast/ingest/camera_pull.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "camera_fixture.hpp"
#include "stagecast/ingest/h264_packetizer.hpp"
#include "stagecast/rtp/codec_info.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
}

using namespace stagecast;
using namespace stagecast::ingest;
using namespace std::chrono_literals;
using stagecast::ingest::testing::RtspCamera;

namespace {

CameraAddress addressOf(const RtspCamera& camera) {
  CameraAddress a;
  a.ip = "127.0.0.1";
  a.port = camera.port();
  a.path = camera.path();
  return a;
}

struct Payload {
  MediaKind kind;
  Bytes data;
  bool marker;
  std::uint32_t timestamp;
  bool keyframeStart;
  int session;  // index of the stream info announced before it
};

struct StateEvent {
  PullState state;
  std::optional<Error> error;
};

// Records everything; tests wait on it for conditions (no sleeps).
class RecordingSink : public PullSink {
 public:
  void onStreamInfo(const PullStreamInfo& info) override {
    const std::lock_guard lock(mutex_);
    infos_.push_back(info);
    changed_.notify_all();
  }
  void onRtpPayload(MediaKind kind, const Bytes& payload, bool marker, std::uint32_t ts, bool keyframe) override {
    const std::lock_guard lock(mutex_);
    payloads_.push_back({kind, payload, marker, ts, keyframe, static_cast<int>(infos_.size()) - 1});
    changed_.notify_all();
  }
  void onStateChange(PullState state, const std::optional<Error>& error) override {
    const std::lock_guard lock(mutex_);
    states_.push_back({state, error});
    changed_.notify_all();
  }

  // Waits until `done` (called under the lock) holds; false after the timeout.
  bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, done);
  }

  // Under the lock, from waitUntil predicates, or after the pull stopped.
  std::size_t count(MediaKind kind, int session = -1) const {
    return static_cast<std::size_t>(std::count_if(payloads_.begin(), payloads_.end(), [&](const Payload& p) {
      return p.kind == kind && (session < 0 || p.session == session) && (kind == MediaKind::Audio || p.marker);
    }));
  }
  std::size_t stateCount() const { return states_.size(); }
  bool reached(PullState state) const {
    return std::any_of(states_.begin(), states_.end(), [&](const StateEvent& e) { return e.state == state; });
  }

  std::vector<PullStreamInfo> infos() const {
    const std::lock_guard lock(mutex_);
    return infos_;
  }
  std::vector<Payload> payloads(MediaKind kind) const {
    const std::lock_guard lock(mutex_);
    std::vector<Payload> out;
    for (const auto& p : payloads_) {
      if (p.kind == kind) out.push_back(p);
    }
    return out;
  }
  std::vector<StateEvent> states() const {
    const std::lock_guard lock(mutex_);
    return states_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<PullStreamInfo> infos_;
  std::vector<Payload> payloads_;
  std::vector<StateEvent> states_;
};

// ---- RFC 6184 depacketization, for checking ----

struct AccessUnit {
  std::uint32_t timestamp = 0;
  bool keyframeStart = false;
  int session = 0;
  std::vector<Bytes> nalUnits;
  [[nodiscard]] bool has(std::uint8_t type) const {
    return std::any_of(nalUnits.begin(), nalUnits.end(),
                       [&](const Bytes& n) { return !n.empty() && h264::nalType(n[0]) == type; });
  }
  [[nodiscard]] Bytes annexB() const {
    Bytes out;
    for (const auto& n : nalUnits) {
      out.insert(out.end(), {0, 0, 0, 1});
      out.insert(out.end(), n.begin(), n.end());
    }
    return out;
  }
};

// Groups payloads into access units at the markers; checks that the timestamp only changes after a marker.
std::vector<AccessUnit> depacketize(const std::vector<Payload>& payloads) {
  std::vector<AccessUnit> units;
  AccessUnit current;
  bool open = false;
  Bytes fragment;
  for (const auto& p : payloads) {
    if (!open) {
      current = AccessUnit{p.timestamp, p.keyframeStart, p.session, {}};
      open = true;
      // The flag agrees with what the SFU reads from the payload itself.
      EXPECT_EQ(rtp::isKeyframeStart(rtp::VideoCodec::H264, p.data), p.keyframeStart);
    } else {
      EXPECT_FALSE(p.keyframeStart);
    }
    EXPECT_EQ(p.timestamp, current.timestamp) << "timestamp changed inside an access unit";
    EXPECT_FALSE(p.data.empty());
    if (p.data.empty()) continue;
    const std::uint8_t type = h264::nalType(p.data[0]);
    if (type >= 1 && type <= 23) {
      current.nalUnits.push_back(p.data);
    } else if (type == h264::nal::kStapA) {
      std::size_t pos = 1;
      while (pos + 2 <= p.data.size()) {
        const std::size_t size = (std::size_t{p.data[pos]} << 8) | p.data[pos + 1];
        pos += 2;
        EXPECT_LE(pos + size, p.data.size());
        if (pos + size > p.data.size()) break;
        current.nalUnits.emplace_back(p.data.begin() + static_cast<std::ptrdiff_t>(pos),
                                      p.data.begin() + static_cast<std::ptrdiff_t>(pos + size));
        pos += size;
      }
    } else if (type == h264::nal::kFuA) {
      EXPECT_GE(p.data.size(), 3u);
      const bool start = (p.data[1] & 0x80) != 0;
      const bool end = (p.data[1] & 0x40) != 0;
      if (start) fragment = {static_cast<std::uint8_t>((p.data[0] & 0xe0) | (p.data[1] & 0x1f))};
      fragment.insert(fragment.end(), p.data.begin() + 2, p.data.end());
      if (end) current.nalUnits.push_back(std::move(fragment));
    } else {
      ADD_FAILURE() << "unexpected payload type " << int{type};
    }
    if (p.marker) {
      units.push_back(std::move(current));
      open = false;
    }
  }
  return units;
}

std::string hexOf(const Bytes& sps) {
  char buf[7];
  std::snprintf(buf, sizeof(buf), "%02x%02x%02x", sps[1], sps[2], sps[3]);
  return buf;
}

// Decodes an Annex B access unit (with its parameter sets) with libavcodec; returns width x height or 0 x 0.
std::pair<int, int> decodeH264(const Bytes& accessUnit) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  std::pair<int, int> size{0, 0};
  ctx->thread_count = 1;
  ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
  if (avcodec_open2(ctx, codec, nullptr) == 0 && av_new_packet(pkt, static_cast<int>(accessUnit.size())) == 0) {
    std::copy(accessUnit.begin(), accessUnit.end(), pkt->data);
    if (avcodec_send_packet(ctx, pkt) == 0) {
      avcodec_send_packet(ctx, nullptr);
      if (avcodec_receive_frame(ctx, frame) == 0) size = {frame->width, frame->height};
    }
  }
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&ctx);
  return size;
}

std::int32_t delta(std::uint32_t later, std::uint32_t earlier) { return static_cast<std::int32_t>(later - earlier); }

// Consecutive access units `expected` ticks apart, give or take 10% (the camera's clock is the pipeline's).
void expectFrameSpacing(const std::vector<AccessUnit>& units, std::int32_t expected) {
  ASSERT_GE(units.size(), 3u);
  std::size_t close = 0;
  for (std::size_t i = 1; i < units.size(); ++i) {
    const std::int32_t d = delta(units[i].timestamp, units[i - 1].timestamp);
    EXPECT_GT(d, 0) << "at access unit " << i;
    if (std::abs(d - expected) <= expected / 10) ++close;
  }
  EXPECT_GE(close * 10, (units.size() - 1) * 9) << close << " of " << units.size() - 1 << " deltas near " << expected;
}

PullOptions fastOptions() {
  PullOptions o;
  o.initialBackoff = 50ms;
  o.maxBackoff = 400ms;
  return o;
}

void checkH264AndPcma(const CameraAddress& address, int fps, int width, int height) {
  RecordingSink sink;
  CameraPull pull(address, fastOptions(), sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return sink.count(MediaKind::Video) >= 30 && sink.count(MediaKind::Audio) >= 40; }))
      << "video " << pull.stats().videoFrames << ", audio " << pull.stats().audioPayloads;
  const PullStats stats = pull.stats();
  EXPECT_EQ(stats.state, PullState::Streaming);
  pull.stop();
  EXPECT_EQ(pull.stats().state, PullState::Stopped);

  const auto infos = sink.infos();
  ASSERT_EQ(infos.size(), 1u);
  const PullStreamInfo& info = infos[0];
  EXPECT_EQ(info.video.codec, "H264");
  EXPECT_EQ(info.video.clockRate, 90000u);
  EXPECT_EQ(info.video.packetizationMode, 1);
  ASSERT_EQ(info.video.profileLevelId.size(), 6u);
  EXPECT_EQ(info.video.profileLevelId.substr(0, 2), "42");  // Constrained Baseline: profile_idc 66 ...
  EXPECT_NE(std::stoi(info.video.profileLevelId.substr(2, 2), nullptr, 16) & 0x40, 0);  // ... constraint_set1
  EXPECT_NE(info.video.fmtp().find("packetization-mode=1;profile-level-id=" + info.video.profileLevelId),
            std::string::npos);
  ASSERT_TRUE(info.audio.has_value());
  EXPECT_EQ(info.audio->codec, "PCMA");
  EXPECT_EQ(info.audio->clockRate, 8000u);
  EXPECT_EQ(info.audio->channels, 1);
  EXPECT_TRUE(info.ignoredAudio.empty());

  const auto video = sink.payloads(MediaKind::Video);
  const auto units = depacketize(video);
  ASSERT_GE(units.size(), 30u);
  EXPECT_TRUE(video.front().keyframeStart);
  const AccessUnit& first = units.front();
  EXPECT_TRUE(first.keyframeStart);
  EXPECT_TRUE(first.has(h264::nal::kSps));
  EXPECT_TRUE(first.has(h264::nal::kPps));
  EXPECT_TRUE(first.has(h264::nal::kIdr));
  EXPECT_FALSE(first.has(h264::nal::kAud));
  for (const auto& n : first.nalUnits) {
    if (h264::nalType(n[0]) == h264::nal::kSps) {
      EXPECT_EQ(hexOf(n), info.video.profileLevelId);
    }
  }
  EXPECT_EQ(decodeH264(first.annexB()), std::make_pair(width, height));
  std::size_t keyframes = 0;
  for (const auto& u : units) {
    EXPECT_EQ(u.keyframeStart, u.has(h264::nal::kIdr));
    if (u.has(h264::nal::kIdr)) {
      ++keyframes;
      EXPECT_TRUE(u.has(h264::nal::kSps) && u.has(h264::nal::kPps));
    }
  }
  EXPECT_GE(keyframes, 1u);
  EXPECT_EQ(pull.stats().keyframes, keyframes);
  EXPECT_EQ(pull.stats().videoFrames, units.size());
  expectFrameSpacing(units, 90000 / fps);
  for (const auto& p : video) EXPECT_LE(p.data.size(), 1200u);

  // G.711 at 8 kHz: one byte per sample, cut into 20 ms packets; each timestamp follows the previous payload.
  const auto audio = sink.payloads(MediaKind::Audio);
  ASSERT_GE(audio.size(), 40u);
  EXPECT_TRUE(audio.front().marker);
  std::size_t full = 0;
  for (std::size_t i = 1; i < audio.size(); ++i) {
    EXPECT_FALSE(audio[i].marker);
    EXPECT_LE(audio[i].data.size(), 160u);
    if (audio[i].data.size() == 160) ++full;
    const std::int32_t d = delta(audio[i].timestamp, audio[i - 1].timestamp);
    // Within a camera packet exactly the size; between camera packets the camera's own spacing.
    EXPECT_GE(d, static_cast<std::int32_t>(audio[i - 1].data.size()) - 8) << "at " << i;
    EXPECT_LE(d, static_cast<std::int32_t>(audio[i - 1].data.size()) + 160) << "at " << i;
  }
  EXPECT_GE(full * 10, audio.size() * 8);
  EXPECT_EQ(stats.connects, 1u);
  EXPECT_EQ(stats.reconnects, 0u);
  EXPECT_EQ(stats.failedAttempts, 0u);
  EXPECT_GT(stats.videoPayloads, stats.videoFrames);
}

}  // namespace

TEST(CameraPull, H264AndPcmaCamera) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "480", "--height", "272", "--fps", "20", "--gop-seconds", "1",
               "--audio", "pcma");
  checkH264AndPcma(addressOf(camera), 20, 480, 272);
}

TEST(CameraPull, UdpTransport) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "480", "--height", "272", "--fps", "25", "--audio", "pcma");
  CameraAddress a = addressOf(camera);
  a.transport = "udp";
  checkH264AndPcma(a, 25, 480, 272);
}

TEST(CameraPull, G711ForwardedAsTheCameraPacketsIt) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "320", "--height", "240", "--audio", "pcma");
  RecordingSink sink;
  PullOptions options = fastOptions();
  options.g711PacketMillis = 0;
  CameraPull pull(addressOf(camera), options, sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return sink.count(MediaKind::Audio) >= 8; }));
  pull.stop();
  const auto audio = sink.payloads(MediaKind::Audio);
  for (std::size_t i = 1; i < audio.size(); ++i) {
    EXPECT_EQ(delta(audio[i].timestamp, audio[i - 1].timestamp), static_cast<std::int32_t>(audio[i - 1].data.size()))
        << "at " << i;
  }
}

TEST(CameraPull, AacTranscodedToOpus) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "320", "--height", "240", "--fps", "25", "--audio", "aac");
  RecordingSink sink;
  CameraPull pull(addressOf(camera), fastOptions(), sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return sink.count(MediaKind::Audio) >= 60 && sink.count(MediaKind::Video) >= 10; }));
  pull.stop();

  const auto infos = sink.infos();
  ASSERT_EQ(infos.size(), 1u);
  ASSERT_TRUE(infos[0].audio.has_value());
  EXPECT_EQ(infos[0].audio->codec, "opus");
  EXPECT_EQ(infos[0].audio->clockRate, 48000u);
  EXPECT_EQ(infos[0].audio->channels, 2);
  EXPECT_EQ(infos[0].audio->sourceCodec, "aac");
  EXPECT_TRUE(infos[0].audio->transcoded());

  const auto audio = sink.payloads(MediaKind::Audio);
  ASSERT_GE(audio.size(), 60u);
  for (std::size_t i = 1; i < audio.size(); ++i) {
    EXPECT_EQ(delta(audio[i].timestamp, audio[i - 1].timestamp), 960) << "at " << i;
  }

  // Decodable by libavcodec's own Opus decoder: 20 ms frames at 48 kHz.
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_OPUS);
  ASSERT_NE(codec, nullptr);
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  ctx->sample_rate = 48000;
  av_channel_layout_default(&ctx->ch_layout, 2);
  ASSERT_EQ(avcodec_open2(ctx, codec, nullptr), 0);
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  int decoded = 0;
  float peak = 0;
  for (std::size_t i = 0; i < 50; ++i) {
    ASSERT_EQ(av_new_packet(pkt, static_cast<int>(audio[i].data.size())), 0);
    std::copy(audio[i].data.begin(), audio[i].data.end(), pkt->data);
    ASSERT_EQ(avcodec_send_packet(ctx, pkt), 0) << "payload " << i;
    av_packet_unref(pkt);
    while (avcodec_receive_frame(ctx, frame) == 0) {
      ++decoded;
      EXPECT_EQ(frame->sample_rate, 48000);
      EXPECT_EQ(frame->nb_samples, 960);
      if (frame->format == AV_SAMPLE_FMT_FLTP) {
        for (int s = 0; s < frame->nb_samples; ++s) {
          peak = std::max(peak, std::abs(reinterpret_cast<const float*>(frame->data[0])[s]));
        }
      }
      av_frame_unref(frame);
    }
  }
  EXPECT_GE(decoded, 45);
  EXPECT_GT(peak, 0.05f) << "the camera's sine tone is audible after transcoding";
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&ctx);
}

TEST(CameraPull, ReconnectsWhenTheCameraRestarts) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "320", "--height", "240", "--fps", "25", "--audio", "pcma");
  const std::uint16_t port = camera.port();
  RecordingSink sink;
  CameraPull pull(addressOf(camera), fastOptions(), sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(
      sink.waitUntil([&] { return sink.count(MediaKind::Video, 0) >= 10 && sink.count(MediaKind::Audio, 0) >= 5; }));

  camera.stop();
  ASSERT_TRUE(sink.waitUntil([&] { return sink.reached(PullState::Retrying); }));
  EXPECT_EQ(pull.stats().state == PullState::Retrying || pull.stats().state == PullState::Connecting, true);
  START_CAMERA(camera, "--port", std::to_string(port), "--video", "h264", "--width", "320", "--height", "240", "--fps",
               "25", "--audio", "pcma");
  ASSERT_TRUE(sink.waitUntil([&] {
    return sink.count(MediaKind::Video, 1) >= 10 && sink.count(MediaKind::Audio, 1) >= 5;
  })) << "state "
      << toString(pull.stats().state);
  const PullStats stats = pull.stats();
  pull.stop();

  EXPECT_EQ(stats.state, PullState::Streaming);
  EXPECT_EQ(stats.connects, 2u);
  EXPECT_EQ(stats.reconnects, 1u);
  ASSERT_TRUE(stats.lastError.has_value());
  EXPECT_EQ(sink.infos().size(), 2u);

  // streaming → retrying (→ connecting → retrying ...) → connecting → streaming
  const auto states = sink.states();
  std::vector<PullState> seen;
  for (const auto& s : states) seen.push_back(s.state);
  const auto firstStreaming = std::find(seen.begin(), seen.end(), PullState::Streaming);
  ASSERT_NE(firstStreaming, seen.end());
  const auto retrying = std::find(firstStreaming, seen.end(), PullState::Retrying);
  ASSERT_NE(retrying, seen.end());
  EXPECT_NE(std::find(retrying, seen.end(), PullState::Streaming), seen.end());
  for (const auto& s : states) {
    if (s.state == PullState::Retrying) {
      EXPECT_TRUE(s.error.has_value());
    }
  }

  // Timestamps keep increasing across the reconnect, for both media.
  for (const MediaKind kind : {MediaKind::Video, MediaKind::Audio}) {
    const auto payloads = sink.payloads(kind);
    for (std::size_t i = 1; i < payloads.size(); ++i) {
      EXPECT_GE(delta(payloads[i].timestamp, payloads[i - 1].timestamp), 0) << toString(kind) << " at " << i;
    }
    const auto boundary =
        std::find_if(payloads.begin(), payloads.end(), [](const Payload& p) { return p.session == 1; });
    ASSERT_NE(boundary, payloads.end());
    ASSERT_NE(boundary, payloads.begin());
    EXPECT_GT(delta(boundary->timestamp, std::prev(boundary)->timestamp), 0) << toString(kind);
  }
  const auto units = depacketize(sink.payloads(MediaKind::Video));
  const auto resumed = std::find_if(units.begin(), units.end(), [](const AccessUnit& u) { return u.session == 1; });
  ASSERT_NE(resumed, units.end());
  EXPECT_TRUE(resumed->keyframeStart && resumed->has(h264::nal::kSps) && resumed->has(h264::nal::kIdr));
}

class CameraPullAuth : public ::testing::TestWithParam<std::string> {};

TEST_P(CameraPullAuth, RightPassword) {
  RtspCamera camera;
  START_CAMERA(camera, "--auth", GetParam(), "--user", "operator", "--password", "s3cret", "--width", "320", "--height",
               "240");
  CameraAddress a = addressOf(camera);
  a.username = "operator";
  a.password = "s3cret";
  RecordingSink sink;
  CameraPull pull(a, fastOptions(), sink);
  ASSERT_TRUE(pull.start().ok());
  EXPECT_TRUE(sink.waitUntil([&] { return sink.count(MediaKind::Video) >= 3; }));
}

TEST_P(CameraPullAuth, WrongPasswordIsNotRetried) {
  RtspCamera camera;
  START_CAMERA(camera, "--auth", GetParam(), "--user", "operator", "--password", "s3cret");
  CameraAddress a = addressOf(camera);
  a.username = "operator";
  a.password = "wrong-Pa55word";
  RecordingSink sink;
  CameraPull pull(a, fastOptions(), sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return sink.reached(PullState::Stopped); }));
  const PullStats stats = pull.stats();
  EXPECT_EQ(stats.state, PullState::Stopped);
  ASSERT_TRUE(stats.lastError.has_value());
  EXPECT_EQ(stats.lastError->code, "AUTH_FAILED") << stats.lastError->message;
  EXPECT_EQ(stats.lastError->message.find(a.password), std::string::npos);
  EXPECT_EQ(stats.failedAttempts, 1u);
  EXPECT_EQ(stats.connects, 0u);
  const auto states = sink.states();
  ASSERT_EQ(states.size(), 2u);  // connecting, stopped: no retry
  EXPECT_EQ(states[0].state, PullState::Connecting);
  EXPECT_EQ(states[1].state, PullState::Stopped);
  ASSERT_TRUE(states[1].error.has_value());
  EXPECT_EQ(states[1].error->code, "AUTH_FAILED");
  pull.stop();
  EXPECT_EQ(sink.states().size(), 2u);

  // start() after a failure that ended the pull tries again, once.
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return sink.stateCount() >= 4; }));
  EXPECT_EQ(pull.stats().failedAttempts, 2u);
  EXPECT_EQ(pull.stats().state, PullState::Stopped);
}

TEST_P(CameraPullAuth, NoCredentialsIsNotRetried) {
  RtspCamera camera;
  START_CAMERA(camera, "--auth", GetParam());
  RecordingSink sink;
  CameraPull pull(addressOf(camera), fastOptions(), sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return sink.reached(PullState::Stopped); }));
  ASSERT_TRUE(pull.stats().lastError.has_value());
  EXPECT_EQ(pull.stats().lastError->code, "AUTH_REQUIRED");
  EXPECT_FALSE(sink.reached(PullState::Retrying));
}

INSTANTIATE_TEST_SUITE_P(Methods, CameraPullAuth, ::testing::Values("basic", "digest"));

TEST(CameraPull, MjpegVideoIsUnsupported) {
  for (const std::string video : {"mjpeg"}) {  // H.265 is forwarded: camera_pull_h265_test.cpp
    RtspCamera camera;
    START_CAMERA(camera, "--video", video, "--width", "320", "--height", "240");
    RecordingSink sink;
    CameraPull pull(addressOf(camera), fastOptions(), sink);
    ASSERT_TRUE(pull.start().ok());
    ASSERT_TRUE(sink.waitUntil([&] { return sink.reached(PullState::Stopped); })) << video;
    ASSERT_TRUE(pull.stats().lastError.has_value());
    EXPECT_EQ(pull.stats().lastError->code, "UNSUPPORTED_CODEC") << video;
    EXPECT_FALSE(sink.reached(PullState::Retrying));
  }
}

TEST(CameraPull, WrongPathIsRetried) {
  RtspCamera camera;
  START_CAMERA(camera, "--path", "/stream");
  CameraAddress a = addressOf(camera);
  a.path = "/not-yet";
  RecordingSink sink;
  CameraPull pull(a, fastOptions(), sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return sink.reached(PullState::Retrying); }));
  pull.stop();
  ASSERT_TRUE(pull.stats().lastError.has_value());
  EXPECT_EQ(pull.stats().lastError->code, "NOT_FOUND");
}

TEST(CameraPull, ClosedPortIsRetriedWithBackoff) {
  CameraAddress a;
  a.ip = "127.0.0.1";
  a.port = stagecast::ingest::testing::closedPort();
  ASSERT_NE(a.port, 0);
  a.path = "/stream";
  RecordingSink sink;
  PullOptions options;
  options.initialBackoff = 20ms;
  options.maxBackoff = 80ms;
  CameraPull pull(a, options, sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return pull.stats().failedAttempts >= 4; }, 10s));
  const auto start = std::chrono::steady_clock::now();
  pull.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  const PullStats stats = pull.stats();
  EXPECT_EQ(stats.state, PullState::Stopped);
  ASSERT_TRUE(stats.lastError.has_value());
  EXPECT_EQ(stats.lastError->code, "UNREACHABLE");
  EXPECT_EQ(stats.connects, 0u);
  const auto states = sink.states();
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back().state, PullState::Stopped);
  EXPECT_FALSE(states.back().error.has_value());  // stopped by request
}

TEST(CameraPull, StopWhileTheCameraNeverAnswers) {
  stagecast::ingest::testing::SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  CameraAddress a;
  a.ip = "127.0.0.1";
  a.port = silent.port();
  a.path = "/stream";
  RecordingSink sink;
  PullOptions options;
  options.connectTimeout = 30s;
  CameraPull pull(a, options, sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_EQ(silent.waitForAccepted(1, 5s), 1u);
  EXPECT_EQ(pull.stats().state, PullState::Connecting);
  const auto start = std::chrono::steady_clock::now();
  pull.stop();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 1s);
  EXPECT_EQ(pull.stats().state, PullState::Stopped);
  EXPECT_FALSE(pull.stats().lastError.has_value());
}

TEST(CameraPull, SilentCameraTimesOutAndIsRetried) {
  stagecast::ingest::testing::SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  CameraAddress a;
  a.ip = "127.0.0.1";
  a.port = silent.port();
  a.path = "/stream";
  RecordingSink sink;
  PullOptions options = fastOptions();
  options.connectTimeout = 300ms;
  CameraPull pull(a, options, sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitUntil([&] { return sink.reached(PullState::Retrying); }, 5s));
  EXPECT_EQ(silent.waitForAccepted(2, 5s), 2u);  // a second attempt was made
  pull.stop();
  ASSERT_TRUE(pull.stats().lastError.has_value());
  EXPECT_EQ(pull.stats().lastError->code, "TIMEOUT");
}

TEST(CameraPull, DestructorStops) {
  stagecast::ingest::testing::SilentListener silent;
  CameraAddress a;
  a.ip = "127.0.0.1";
  a.port = silent.port();
  a.path = "/stream";
  RecordingSink sink;
  const auto start = std::chrono::steady_clock::now();
  {
    CameraPull pull(a, PullOptions{}, sink);
    ASSERT_TRUE(pull.start().ok());
    ASSERT_TRUE(pull.start().ok());  // already running: nothing happens
    ASSERT_EQ(silent.waitForAccepted(1, 5s), 1u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(silent.waitForAccepted(2, 0ms), 1u);
}

TEST(CameraPull, InvalidRequests) {
  RecordingSink sink;
  CameraAddress a;
  a.ip = "";
  EXPECT_EQ(CameraPull(a, PullOptions{}, sink).start().error().code, "INVALID_REQUEST");
  a.ip = "127.0.0.1";
  a.transport = "http";
  EXPECT_EQ(CameraPull(a, PullOptions{}, sink).start().error().code, "INVALID_REQUEST");
  a.transport = "tcp";
  PullOptions o;
  o.maxBackoff = 1ms;
  EXPECT_EQ(CameraPull(a, o, sink).start().error().code, "INVALID_REQUEST");
  o = PullOptions{};
  o.readTimeout = 0ms;
  EXPECT_EQ(CameraPull(a, o, sink).start().error().code, "INVALID_REQUEST");
  EXPECT_TRUE(sink.states().empty());
}
