// probe() against a real RTSP server (GStreamer's, tests/fixtures/rtsp_camera.py) and against sockets that
// refuse or ignore connections. Skipped when the GStreamer RTSP server bindings are not installed.
#include "stagecast/ingest/rtsp_probe.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <future>
#include <sstream>
#include <thread>

#include "camera_fixture.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
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

const StreamInfo* findStream(const ProbeResult& r, const std::string& kind) {
  for (const auto& s : r.streams) {
    if (s.kind == kind) return &s;
  }
  return nullptr;
}

struct Picture {
  int width = 0;
  int height = 0;
};

// Decodes a JPEG with libavcodec's MJPEG decoder.
std::optional<Picture> decodeJpeg(const std::string& jpeg) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
  if (codec == nullptr) return std::nullopt;
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  std::optional<Picture> out;
  if (ctx != nullptr && pkt != nullptr && frame != nullptr && avcodec_open2(ctx, codec, nullptr) == 0 &&
      av_new_packet(pkt, static_cast<int>(jpeg.size())) == 0) {
    std::copy(jpeg.begin(), jpeg.end(), reinterpret_cast<char*>(pkt->data));
    if (avcodec_send_packet(ctx, pkt) == 0 && avcodec_receive_frame(ctx, frame) == 0) {
      out = Picture{frame->width, frame->height};
    }
  }
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&ctx);
  return out;
}

void expectJpegOf(const std::string& jpeg, int width, int height) {
  ASSERT_GE(jpeg.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(jpeg[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(jpeg[1]), 0xD8);  // SOI
  EXPECT_EQ(static_cast<unsigned char>(jpeg[jpeg.size() - 2]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(jpeg[jpeg.size() - 1]), 0xD9);  // EOI
  const auto picture = decodeJpeg(jpeg);
  ASSERT_TRUE(picture.has_value()) << "snapshot does not decode";
  EXPECT_EQ(picture->width, width);
  EXPECT_EQ(picture->height, height);
}

// Installs a debug-level logger writing into a string for the lifetime of the object.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return text_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream text_;
};

}  // namespace

TEST(RtspProbe, H264AndPcmaCamera) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "480", "--height", "272", "--fps", "20", "--gop-seconds", "1",
               "--audio", "pcma");
  auto r = probe(addressOf(camera), 5s);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  ASSERT_EQ(r->streams.size(), 2u);

  const StreamInfo* video = findStream(*r, "video");
  ASSERT_NE(video, nullptr);
  EXPECT_EQ(video->codec, "h264");
  EXPECT_EQ(video->width, 480);
  EXPECT_EQ(video->height, 272);
  EXPECT_NEAR(video->frameRate, 20.0, 0.5);
  EXPECT_EQ(video->profile, "Constrained Baseline");

  const StreamInfo* audio = findStream(*r, "audio");
  ASSERT_NE(audio, nullptr);
  EXPECT_EQ(audio->codec, "pcm_alaw");
  EXPECT_EQ(audio->sampleRate, 8000);
  EXPECT_EQ(audio->channels, 1);

  expectJpegOf(r->snapshotJpeg, 480, 272);
  EXPECT_GT(r->elapsed.count(), 0);
  EXPECT_LT(r->elapsed, 5s);
}

TEST(RtspProbe, H264AndAacCamera) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--audio", "aac");
  auto r = probe(addressOf(camera), 5s);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  const StreamInfo* audio = findStream(*r, "audio");
  ASSERT_NE(audio, nullptr);
  EXPECT_EQ(audio->codec, "aac");
  EXPECT_EQ(audio->sampleRate, 48000);
  EXPECT_EQ(audio->channels, 2);
  EXPECT_EQ(audio->profile, "LC");
  const StreamInfo* video = findStream(*r, "video");
  ASSERT_NE(video, nullptr);
  expectJpegOf(r->snapshotJpeg, video->width, video->height);
}

TEST(RtspProbe, HevcCamera) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h265", "--width", "320", "--height", "240");
  auto r = probe(addressOf(camera), 5s);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  ASSERT_EQ(r->streams.size(), 1u);
  EXPECT_EQ(r->streams[0].codec, "hevc");
  EXPECT_EQ(r->streams[0].profile, "Main");
  EXPECT_EQ(r->streams[0].width, 320);
  EXPECT_EQ(r->streams[0].height, 240);
  expectJpegOf(r->snapshotJpeg, 320, 240);
}

TEST(RtspProbe, UdpTransport) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "320", "--height", "240", "--audio", "pcma");
  CameraAddress a = addressOf(camera);
  a.transport = "udp";
  auto r = probe(a, 5s);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  ASSERT_EQ(r->streams.size(), 2u);
  expectJpegOf(r->snapshotJpeg, 320, 240);
}

TEST(RtspProbe, UdpAgainstTcpOnlyCameraFails) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--tcp-only");
  CameraAddress a = addressOf(camera);
  a.transport = "udp";
  auto r = probe(a, 3s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "PROBE_FAILED") << r.error().message;
  a.transport = "tcp";
  EXPECT_TRUE(probe(a, 5s, false).ok());
}

TEST(RtspProbe, WithoutSnapshot) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "320", "--height", "240");
  auto r = probe(addressOf(camera), 5s, false);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  EXPECT_TRUE(r->snapshotJpeg.empty());
  ASSERT_EQ(r->streams.size(), 1u);
  EXPECT_EQ(r->streams[0].width, 320);
}

class RtspProbeAuth : public ::testing::TestWithParam<std::string> {};

TEST_P(RtspProbeAuth, RightCredentials) {
  RtspCamera camera;
  START_CAMERA(camera, "--auth", GetParam(), "--user", "operator", "--password", "s3cret", "--width", "320", "--height",
               "240");
  CameraAddress a = addressOf(camera);
  a.username = "operator";
  a.password = "s3cret";
  auto r = probe(a, 5s);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  expectJpegOf(r->snapshotJpeg, 320, 240);
}

// Characters that are delimiters in a URL survive percent-encoding and libavformat's decoding.
TEST_P(RtspProbeAuth, PasswordWithUrlDelimiters) {
  const std::string password = "p@ss:w/rd %?#&+";
  RtspCamera camera;
  START_CAMERA(camera, "--auth", GetParam(), "--user", "cam.user", "--password", password);
  CameraAddress a = addressOf(camera);
  a.username = "cam.user";
  a.password = password;
  auto r = probe(a, 5s, false);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
}

TEST_P(RtspProbeAuth, NoCredentials) {
  RtspCamera camera;
  START_CAMERA(camera, "--auth", GetParam(), "--user", "operator", "--password", "s3cret");
  auto r = probe(addressOf(camera), 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "AUTH_REQUIRED") << r.error().message;
}

TEST_P(RtspProbeAuth, WrongPassword) {
  RtspCamera camera;
  START_CAMERA(camera, "--auth", GetParam(), "--user", "operator", "--password", "s3cret");
  CameraAddress a = addressOf(camera);
  a.username = "operator";
  a.password = "wrong-Pa55word";
  CapturedLog log;
  auto r = probe(a, 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "AUTH_FAILED") << r.error().message;
  EXPECT_EQ(r.error().message.find(a.password), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("operator:***@"), std::string::npos) << r.error().message;
  EXPECT_EQ(log.text().find(a.password), std::string::npos) << log.text();
}

TEST_P(RtspProbeAuth, WrongUser) {
  RtspCamera camera;
  START_CAMERA(camera, "--auth", GetParam(), "--user", "operator", "--password", "s3cret");
  CameraAddress a = addressOf(camera);
  a.username = "intruder";
  a.password = "s3cret";
  auto r = probe(a, 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "AUTH_FAILED") << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(Methods, RtspProbeAuth, ::testing::Values("basic", "digest"));

TEST(RtspProbe, WrongPathIsNotFound) {
  RtspCamera camera;
  START_CAMERA(camera, "--path", "/stream");
  CameraAddress a = addressOf(camera);
  a.path = "/no-such-stream";
  auto r = probe(a, 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "NOT_FOUND") << r.error().message;
}

TEST(RtspProbe, MjpegCameraIsUnsupported) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "mjpeg", "--audio", "pcma");
  auto r = probe(addressOf(camera), 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "UNSUPPORTED_CODEC") << r.error().message;
  EXPECT_NE(r.error().message.find("mjpeg"), std::string::npos) << r.error().message;
}

TEST(RtspProbe, AudioOnlyCameraIsUnsupported) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "none", "--audio", "pcma");
  auto r = probe(addressOf(camera), 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "UNSUPPORTED_CODEC") << r.error().message;
}

TEST(RtspProbe, ClosedPortIsUnreachable) {
  CameraAddress a;
  a.ip = "127.0.0.1";
  a.port = stagecast::ingest::testing::closedPort();
  ASSERT_NE(a.port, 0);
  a.path = "/stream";
  a.username = "admin";
  a.password = "never-shown";
  const auto start = std::chrono::steady_clock::now();
  auto r = probe(a, 5s);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "UNREACHABLE") << r.error().message;
  EXPECT_LT(took, 1s);
  EXPECT_EQ(r.error().message.find("never-shown"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("rtsp://admin:***@127.0.0.1:"), std::string::npos) << r.error().message;
}

TEST(RtspProbe, SilentServerTimesOut) {
  stagecast::ingest::testing::SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  CameraAddress a;
  a.ip = "127.0.0.1";
  a.port = silent.port();
  a.path = "/stream";
  const auto start = std::chrono::steady_clock::now();
  auto r = probe(a, 1s);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "TIMEOUT") << r.error().message;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(silent.waitForAccepted(1, 5s), 1u);  // the connection was made; the camera just never answered
}

TEST(RtspProbe, InvalidRequests) {
  CameraAddress a;
  a.ip = "";
  EXPECT_EQ(probe(a).error().code, "INVALID_REQUEST");
  a.ip = "127.0.0.1";
  a.port = 0;
  EXPECT_EQ(probe(a).error().code, "INVALID_REQUEST");
  a.port = 554;
  a.transport = "http";
  EXPECT_EQ(probe(a).error().code, "INVALID_REQUEST");
  a.transport = "tcp";
  a.path = "stream";
  EXPECT_EQ(probe(a).error().code, "INVALID_REQUEST");
  a.path = "/stream";
  EXPECT_EQ(probe(a, 0ms).error().code, "INVALID_REQUEST");
  a.ip = "camera;rm -rf";
  auto r = probe(a);
  EXPECT_EQ(r.error().code, "INVALID_REQUEST");
  EXPECT_EQ(r.error().message.rfind("ip:", 0), 0u) << r.error().message;
}

TEST(RtspProbe, ConcurrentProbes) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h264", "--width", "320", "--height", "240", "--audio", "pcma");
  const CameraAddress good = addressOf(camera);
  CameraAddress missing = good;
  missing.path = "/missing";
  std::vector<std::future<Result<ProbeResult>>> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(std::async(std::launch::async, [a = (i % 2 == 0 ? good : missing)] { return probe(a, 8s); }));
  }
  for (int i = 0; i < 4; ++i) {
    auto r = runs[i].get();
    if (i % 2 == 0) {
      ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
      expectJpegOf(r->snapshotJpeg, 320, 240);
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, "NOT_FOUND");
    }
  }
}
