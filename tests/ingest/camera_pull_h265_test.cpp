// CameraPull of an H.265 camera (GStreamer's RTSP server with x265, tests/fixtures/rtsp_camera.py --video h265):
// the probe reports hevc, and the pull forwards the video untranscoded as RFC 7798 payloads whose reassembled NAL
// units give every IRAP picture its VPS, SPS and PPS and decode with libavcodec. Skipped when the GStreamer RTSP
// server bindings are not installed.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "camera_fixture.hpp"
#include "h265_depacketizer.hpp"
#include "hevc_decoder.hpp"
#include "stagecast/ingest/camera_pull.hpp"
#include "stagecast/ingest/h265_packetizer.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"
#include "stagecast/rtp/codec_info.hpp"

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

struct VideoPayload {
  Bytes data;
  bool marker = false;
  std::uint32_t timestamp = 0;
  bool keyframeStart = false;
};

// Keeps the stream infos and the video payloads; tests wait on it for a condition (no sleeps).
class VideoSink : public PullSink {
 public:
  void onStreamInfo(const PullStreamInfo& info) override {
    const std::lock_guard lock(mutex_);
    infos_.push_back(info);
    changed_.notify_all();
  }
  void onRtpPayload(MediaKind kind, const Bytes& payload, bool marker, std::uint32_t ts, bool keyframe) override {
    const std::lock_guard lock(mutex_);
    if (kind == MediaKind::Video) {
      video_.push_back({payload, marker, ts, keyframe});
      accessUnits_ += marker ? 1 : 0;
    } else {
      ++audio_;
    }
    changed_.notify_all();
  }
  bool waitForAccessUnits(std::size_t n, std::size_t audio = 0, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return accessUnits_ >= n && audio_ >= audio; });
  }
  std::vector<PullStreamInfo> infos() const {
    const std::lock_guard lock(mutex_);
    return infos_;
  }
  std::vector<VideoPayload> video() const {
    const std::lock_guard lock(mutex_);
    return video_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<PullStreamInfo> infos_;
  std::vector<VideoPayload> video_;
  std::size_t accessUnits_ = 0;
  std::size_t audio_ = 0;
};

struct AccessUnit {
  std::uint32_t timestamp = 0;
  bool keyframeStart = false;
  std::vector<Bytes> units;
};

// Groups the payloads into access units at the markers and depacketizes each; checks the RTP-level rules on the
// way (one timestamp per access unit, the keyframe flag only on a first payload and as the SFU reads it).
std::vector<AccessUnit> accessUnitsOf(const std::vector<VideoPayload>& payloads) {
  std::vector<AccessUnit> out;
  std::vector<BytesView> current;
  AccessUnit unit;
  for (const auto& p : payloads) {
    if (current.empty()) {
      unit = AccessUnit{p.timestamp, p.keyframeStart, {}};
      EXPECT_EQ(rtp::isKeyframeStart(rtp::VideoCodec::H265, p.data), p.keyframeStart) << "access unit " << out.size();
    } else {
      EXPECT_FALSE(p.keyframeStart);
      EXPECT_EQ(p.timestamp, unit.timestamp) << "timestamp changed inside access unit " << out.size();
    }
    current.emplace_back(p.data);
    if (!p.marker) continue;
    auto d = stagecast::ingest::testing::depacketizeH265(current);
    EXPECT_TRUE(d.error.empty()) << d.error << " in access unit " << out.size();
    unit.units = std::move(d.units);
    out.push_back(std::move(unit));
    current.clear();
  }
  return out;
}

}  // namespace

TEST(CameraPullH265, ProbeReportsHevc) {
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h265", "--width", "320", "--height", "240", "--fps", "25");
  auto r = probe(addressOf(camera), 5s, false);
  ASSERT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  ASSERT_EQ(r->streams.size(), 1u);
  EXPECT_EQ(r->streams[0].kind, "video");
  EXPECT_EQ(r->streams[0].codec, "hevc");
  EXPECT_EQ(r->streams[0].profile, "Main");
}

TEST(CameraPullH265, ForwardsRfc7798PayloadsThatDecode) {
  using stagecast::ingest::testing::hasIrap;
  using stagecast::ingest::testing::hasNalType;
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h265", "--width", "320", "--height", "240", "--fps", "25", "--gop-seconds", "1",
               "--audio", "pcma");
  VideoSink sink;
  PullOptions options;
  options.initialBackoff = 50ms;
  CameraPull pull(addressOf(camera), options, sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitForAccessUnits(60, 40)) << "video frames " << pull.stats().videoFrames;
  EXPECT_EQ(pull.stats().state, PullState::Streaming);
  pull.stop();
  const PullStats stats = pull.stats();  // after the last payload: counts what the sink got
  EXPECT_FALSE(stats.lastError.has_value());

  const auto infos = sink.infos();
  ASSERT_EQ(infos.size(), 1u);
  const PullVideoInfo& info = infos[0].video;
  EXPECT_EQ(info.codec, "H265");
  EXPECT_TRUE(info.isH265());
  EXPECT_EQ(info.clockRate, 90000u);
  EXPECT_EQ(info.profileSpace, 0);
  EXPECT_EQ(info.profileId, 1);  // Main
  EXPECT_EQ(info.tierFlag, 0);
  EXPECT_GT(info.levelId, 0);
  EXPECT_EQ(info.fmtp(), "level-id=" + std::to_string(info.levelId) + ";profile-id=1;tier-flag=0;tx-mode=SRST");
  ASSERT_TRUE(infos[0].audio.has_value());
  EXPECT_EQ(infos[0].audio->codec, "PCMA");

  const auto payloads = sink.video();
  for (const auto& p : payloads) EXPECT_LE(p.data.size(), options.mtu);
  const auto units = accessUnitsOf(payloads);
  ASSERT_GE(units.size(), 60u);

  // The first access unit is an IRAP picture with its parameter sets; so is every keyframe after it.
  const AccessUnit& first = units.front();
  EXPECT_TRUE(first.keyframeStart);
  EXPECT_TRUE(hasNalType(first.units, h265::nal::kVps));
  EXPECT_TRUE(hasNalType(first.units, h265::nal::kSps));
  EXPECT_TRUE(hasNalType(first.units, h265::nal::kPps));
  EXPECT_TRUE(hasIrap(first.units));
  std::size_t keyframes = 0;
  for (const auto& u : units) {
    EXPECT_EQ(u.keyframeStart, hasIrap(u.units));
    EXPECT_FALSE(hasNalType(u.units, h265::nal::kAud)) << "access unit delimiters are not forwarded";
    if (!hasIrap(u.units)) continue;
    ++keyframes;
    EXPECT_TRUE(hasNalType(u.units, h265::nal::kVps) && hasNalType(u.units, h265::nal::kSps) &&
                hasNalType(u.units, h265::nal::kPps));
    // VPS, SPS, PPS ahead of the picture's slices.
    const auto firstIrap =
        std::find_if(u.units.begin(), u.units.end(), [](const Bytes& n) { return h265::isIrap(h265::nalType(n[0])); });
    const auto pps = std::find_if(u.units.begin(), u.units.end(),
                                  [](const Bytes& n) { return h265::nalType(n[0]) == h265::nal::kPps; });
    EXPECT_LT(pps - u.units.begin(), firstIrap - u.units.begin());
  }
  EXPECT_GE(keyframes, 2u) << "a one-second GOP over " << units.size() << " frames";
  EXPECT_EQ(stats.keyframes, keyframes);
  EXPECT_EQ(stats.videoFrames, units.size());

  // The SPS says what the stream info says.
  for (const auto& n : first.units) {
    if (h265::nalType(n[0]) != h265::nal::kSps) continue;
    const auto ptl = h265::profileTierLevelOfSps(n);
    ASSERT_TRUE(ptl.has_value());
    EXPECT_EQ(ptl->profileId, info.profileId);
    EXPECT_EQ(ptl->levelId, info.levelId);
  }

  // 25 frames per second on the 90 kHz clock.
  std::size_t regular = 0;
  for (std::size_t i = 1; i < units.size(); ++i) {
    const auto d = static_cast<std::int32_t>(units[i].timestamp - units[i - 1].timestamp);
    EXPECT_GT(d, 0) << "at access unit " << i;
    if (std::abs(d - 3600) <= 360) ++regular;
  }
  EXPECT_GE(regular * 10, (units.size() - 1) * 9);

  // libavcodec decodes every access unit, starting from the first, at the camera's size; its reading of the
  // SPS agrees with the fmtp.
  stagecast::ingest::testing::HevcDecoder decoder;
  ASSERT_TRUE(decoder.ready());
  for (std::size_t i = 0; i < units.size(); ++i) {
    EXPECT_GE(decoder.decode(stagecast::ingest::testing::annexBOf(units[i].units)), 0) << "access unit " << i;
  }
  decoder.finish();
  EXPECT_EQ(decoder.frames(), static_cast<int>(units.size()));
  EXPECT_EQ(decoder.width(), 320);
  EXPECT_EQ(decoder.height(), 240);
  EXPECT_EQ(decoder.profile(), info.profileId);
  EXPECT_EQ(decoder.level(), info.levelId);
}

TEST(CameraPullH265, AnIrapPictureAloneDecodes) {
  // What a viewer joining at a keyframe gets: an IRAP access unit from the middle of the stream decodes by itself.
  using stagecast::ingest::testing::hasIrap;
  RtspCamera camera;
  START_CAMERA(camera, "--video", "h265", "--width", "256", "--height", "144", "--fps", "30", "--gop-seconds", "0.5");
  VideoSink sink;
  CameraPull pull(addressOf(camera), PullOptions{}, sink);
  ASSERT_TRUE(pull.start().ok());
  ASSERT_TRUE(sink.waitForAccessUnits(40));
  pull.stop();
  const auto units = accessUnitsOf(sink.video());
  std::vector<std::size_t> keyframes;
  for (std::size_t i = 0; i < units.size(); ++i) {
    if (hasIrap(units[i].units)) keyframes.push_back(i);
  }
  ASSERT_GE(keyframes.size(), 2u);
  stagecast::ingest::testing::HevcDecoder decoder;
  ASSERT_TRUE(decoder.ready());
  EXPECT_EQ(decoder.decode(stagecast::ingest::testing::annexBOf(units[keyframes[1]].units)) + decoder.finish(), 1);
  EXPECT_EQ(decoder.width(), 256);
  EXPECT_EQ(decoder.height(), 144);
  // A P picture alone does not: the check above could fail.
  stagecast::ingest::testing::HevcDecoder cold;
  const std::size_t p = keyframes[1] + 1;
  ASSERT_LT(p, units.size());
  EXPECT_LE(cold.decode(stagecast::ingest::testing::annexBOf(units[p].units)) + cold.finish(), 0);
}
