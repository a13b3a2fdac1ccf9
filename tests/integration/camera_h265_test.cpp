// H.265 camera previews end to end: a real RTSP camera sending H.265 (GStreamer with x265, started by the test),
// the server's pull and stage, and native viewers signalling through /api/cameras/preview/webrtc/offer. A viewer
// that offers H.265 receives the camera's stream untranscoded: RFC 7798 packets that reassemble into access units
// libavcodec's HEVC decoder decodes, starting with an IRAP picture and its parameter sets; a viewer that joins
// later gets the cached keyframe group at once. A viewer that offers only H.264, or H.265 below the camera's
// level, gets 415 UNSUPPORTED_CODEC.
#include <nlohmann/json.hpp>

#include "../ingest/camera_fixture.hpp"
#include "../ingest/h265_depacketizer.hpp"
#include "../ingest/hevc_decoder.hpp"
#include "stagecast/client/http_client.hpp"
#include "stagecast/client/video_payload.hpp"
#include "stagecast/sdp/negotiation.hpp"
#include "support.hpp"

namespace stagecast::itest {
namespace {

using ingest::testing::RtspCamera;
using nlohmann::json;

struct VideoRec {
  std::int64_t ext = 0;
  std::uint32_t timestamp = 0;
  bool marker = false;
  Bytes payload;
  TimePoint at{};
};

// What a viewer received (callbacks on the loop thread; reads from the test thread).
class VideoRecorder {
 public:
  std::function<void(const ReceivedPacket&)> handler() {
    return [this](const ReceivedPacket& p) {
      if (p.kind != MediaKind::Video) return;
      std::lock_guard lock(mu_);
      packets_.push_back({p.extendedSequence, p.timestamp, p.marker, Bytes(p.payload.begin(), p.payload.end()), p.at});
      markers_ += p.marker ? 1 : 0;
    };
  }
  std::size_t markers() const {
    std::lock_guard lock(mu_);
    return markers_;
  }
  std::vector<VideoRec> packets() const {
    std::lock_guard lock(mu_);
    return packets_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<VideoRec> packets_;
  std::size_t markers_ = 0;
};

struct ReceivedUnit {
  std::uint32_t timestamp = 0;
  std::vector<Bytes> nalUnits;
  TimePoint lastAt{};
};

// Complete access units in sequence order (duplicates dropped, an unfinished last one left out); fails the test
// on a gap, a malformed payload or a timestamp change inside an access unit.
std::vector<ReceivedUnit> accessUnits(std::vector<VideoRec> recs) {
  std::sort(recs.begin(), recs.end(), [](const VideoRec& a, const VideoRec& b) { return a.ext < b.ext; });
  recs.erase(std::unique(recs.begin(), recs.end(), [](const VideoRec& a, const VideoRec& b) { return a.ext == b.ext; }),
             recs.end());
  std::vector<ReceivedUnit> out;
  std::vector<BytesView> current;
  std::uint32_t ts = 0;
  for (std::size_t i = 0; i < recs.size(); ++i) {
    if (i > 0) {
      EXPECT_EQ(recs[i].ext, recs[i - 1].ext + 1) << "sequence gap";
    }
    if (current.empty()) ts = recs[i].timestamp;
    EXPECT_EQ(recs[i].timestamp, ts) << "timestamp changed inside an access unit";
    current.emplace_back(recs[i].payload);
    if (!recs[i].marker) continue;
    auto d = ingest::testing::depacketizeH265(current);
    EXPECT_TRUE(d.error.empty()) << d.error << " in access unit " << out.size();
    out.push_back({ts, std::move(d.units), recs[i].at});
    current.clear();
  }
  return out;
}

// The outcome of one offer through the preview API.
struct Signalled {
  int status = 0;
  std::string sessionId;
  std::string errorMessage;
};

class CameraH265 : public ::testing::Test {
 protected:
  void SetUp() override {
    START_CAMERA(camera_, "--video", "h265", "--width", "320", "--height", "240", "--fps", "25", "--gop-seconds", "3");
    app::ServerConfig cfg = testConfig();
    cfg.probeTimeoutMs = 5000;
    cfg.actionLogBackend = "none";
    spdlog::set_level(spdlog::level::warn);
    auto s = app::Server::create(cfg);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(s).value();
    ASSERT_TRUE(server_->start());
  }
  void TearDown() override {
    for (auto& p : peers_) loop_.call([&p] { p->close(); });
    if (server_) server_->stop();
  }

  // A native viewer offering `codecs` (first preferred), signalling through the camera preview API.
  Result<std::shared_ptr<NativePeer>> preview(std::vector<VideoCodecKind> codecs, VideoRecorder* recorder,
                                              std::shared_ptr<Signalled> outcome, int h265LevelId = 180) {
    NativePeerOptions o;
    o.role = Role::Viewer;
    o.audio = false;
    o.videoCodec = codecs.front();
    o.moreVideoCodecs.assign(codecs.begin() + 1, codecs.end());
    o.h265LevelId = h265LevelId;
    o.certificate = clientCertificate();
    if (recorder != nullptr) o.onRtp = recorder->handler();
    const std::uint16_t httpPort = server_->httpPort();
    const json camera{{"ip", "127.0.0.1"}, {"port", camera_.port()}, {"path", camera_.path()}};
    o.signal = [httpPort, camera, outcome](const std::string& offer) -> Result<SignalledAnswer> {
      json body = camera;
      body["sdp"] = offer;
      body["type"] = "offer";
      HttpClient http("127.0.0.1", httpPort, seconds(15));
      auto r =
          http.post("/api/cameras/preview/webrtc/offer", body.dump(), "application/json", {{"x-api-key", kApiKey}});
      if (!r) return r.error();
      outcome->status = r->status;
      const json answer = json::parse(r->body, nullptr, false);
      if (r->status != 200) {
        outcome->errorMessage = answer["error"].value("message", "");
        return Error(answer["error"].value("code", "HTTP_" + std::to_string(r->status)), outcome->errorMessage);
      }
      outcome->sessionId = answer["data"]["sessionId"].get<std::string>();
      return SignalledAnswer{answer["data"]["sdp"].get<std::string>(), outcome->sessionId};
    };
    auto peer = NativePeer::connect(loop_.io(), std::move(o));
    if (peer) peers_.push_back(*peer);
    return peer;
  }

  json previewStats() {
    HttpRequest req;
    req.target = "/api/cameras/preview/stats";
    req.headers = {{"x-api-key", kApiKey}};
    auto r = HttpClient("127.0.0.1", server_->httpPort(), seconds(5)).send(req);
    return r && r->status == 200 ? json::parse(r->body)["data"] : json();
  }

  bool hangup(const std::string& sessionId) {
    auto r = HttpClient("127.0.0.1", server_->httpPort(), seconds(5))
                 .post("/api/cameras/preview/webrtc/hangup", json{{"sessionId", sessionId}}.dump(), "application/json",
                       {{"x-api-key", kApiKey}});
    return r && r->status == 200;
  }

  RtspCamera camera_;
  std::unique_ptr<app::Server> server_;
  ClientLoop loop_;
  std::vector<std::shared_ptr<NativePeer>> peers_;
};

TEST_F(CameraH265, ViewerOfferingH265ReceivesTheCameraStreamAndItDecodes) {
  // Offers H.264 first, then H.265, as a browser lists them: the camera's codec is the one answered.
  VideoRecorder first;
  auto outcome = std::make_shared<Signalled>();
  auto viewer = preview({VideoCodecKind::H264, VideoCodecKind::H265}, &first, outcome);
  ASSERT_TRUE(viewer) << viewer.error().code << ": " << viewer.error().message;
  EXPECT_EQ(outcome->status, 200);
  EXPECT_EQ((*viewer)->videoCodec(), VideoCodecKind::H265);
  auto answer = sdp::parse((*viewer)->answerSdp());
  ASSERT_TRUE(answer) << answer.error().message;
  ASSERT_EQ(answer->media.size(), 1u);  // the viewer asks for video only
  const sdp::MediaSection& video = answer->media.front();
  EXPECT_EQ(video.kind, "video");
  ASSERT_FALSE(video.codecs.empty());
  const sdp::Codec& answered = video.codecs.front();
  EXPECT_EQ(answered.name, "H265");
  EXPECT_EQ(answered.payloadType, pt::kH265);
  auto params = sdp::parseH265Params(answered);
  ASSERT_TRUE(params) << answered.fmtp;
  EXPECT_EQ(params->profileId, 1);
  EXPECT_EQ(params->txMode, "SRST");
  EXPECT_LE(params->levelId, 180);
  EXPECT_EQ((*viewer)->answerSdp().find("H264"), std::string::npos);

  ASSERT_TRUE(waitFor([&] { return first.markers() >= 50; }, seconds(20))) << first.markers() << " frames";
  const NativePeerStats stats = loop_.call([&] { return (*viewer)->stats(); });
  EXPECT_TRUE(stats.video.firstPacketWasKeyframe) << "the first packet a viewer gets begins a keyframe";
  const auto units = accessUnits(first.packets());
  ASSERT_GE(units.size(), 50u);
  EXPECT_TRUE(ingest::testing::hasNalType(units[0].nalUnits, ingest::h265::nal::kVps));
  EXPECT_TRUE(ingest::testing::hasNalType(units[0].nalUnits, ingest::h265::nal::kSps));
  EXPECT_TRUE(ingest::testing::hasNalType(units[0].nalUnits, ingest::h265::nal::kPps));
  EXPECT_TRUE(ingest::testing::hasIrap(units[0].nalUnits));

  // Every received access unit decodes, at the camera's size; the level answered is the stream's own.
  ingest::testing::HevcDecoder decoder;
  ASSERT_TRUE(decoder.ready());
  for (std::size_t i = 0; i < units.size(); ++i) {
    EXPECT_GE(decoder.decode(ingest::testing::annexBOf(units[i].nalUnits)), 0) << "access unit " << i;
  }
  decoder.finish();
  EXPECT_EQ(decoder.frames(), static_cast<int>(units.size()));
  EXPECT_EQ(decoder.width(), 320);
  EXPECT_EQ(decoder.height(), 240);
  EXPECT_EQ(decoder.level(), params->levelId);
  EXPECT_EQ(decoder.profile(), params->profileId);

  // A second viewer joins well inside a three-second GOP: the cached keyframe group reaches it at once, as a
  // burst, not one frame per 40 ms from the next IRAP picture.
  const auto lastIrapAt = [&first] {
    const auto all = accessUnits(first.packets());
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (ingest::testing::hasIrap(it->nalUnits)) return std::optional<TimePoint>(it->lastAt);
    }
    return std::optional<TimePoint>();
  };
  ASSERT_TRUE(waitFor(
      [&] {
        const auto at = lastIrapAt();
        return at && Clock::now() - *at >= milliseconds(800) && Clock::now() - *at <= milliseconds(1600);
      },
      seconds(10), milliseconds(20)));
  VideoRecorder second;
  auto outcome2 = std::make_shared<Signalled>();
  auto late = preview({VideoCodecKind::H265}, &second, outcome2);
  ASSERT_TRUE(late) << late.error().code << ": " << late.error().message;
  ASSERT_TRUE(waitFor([&] { return second.markers() >= 1; }, seconds(10)));
  const NativePeerStats lateStats = loop_.call([&] { return (*late)->stats(); });
  ASSERT_TRUE(lateStats.connectedAt && lateStats.video.firstPacketAt);
  EXPECT_TRUE(lateStats.video.firstPacketWasKeyframe);
  EXPECT_LT(*lateStats.video.firstPacketAt - *lateStats.connectedAt, milliseconds(1000));
  ASSERT_TRUE(waitFor([&] { return second.markers() >= 30; }, seconds(10)));
  const auto lateUnits = accessUnits(second.packets());
  ASSERT_FALSE(lateUnits.empty());
  EXPECT_TRUE(ingest::testing::hasIrap(lateUnits[0].nalUnits));
  std::size_t burst = 0;
  for (const auto& u : lateUnits) burst += u.lastAt - lateUnits[0].lastAt <= milliseconds(200) ? 1 : 0;
  EXPECT_GE(burst, 10u) << "the cached group (20 or more frames old) arrives together";
  ingest::testing::HevcDecoder lateDecoder;
  for (std::size_t i = 0; i < lateUnits.size(); ++i) {
    EXPECT_GE(lateDecoder.decode(ingest::testing::annexBOf(lateUnits[i].nalUnits)), 0) << "access unit " << i;
  }
  lateDecoder.finish();
  EXPECT_EQ(lateDecoder.frames(), static_cast<int>(lateUnits.size()));

  EXPECT_EQ(previewStats()["sessions"], 2);
  EXPECT_EQ(previewStats()["pulls"], 1) << "both previews share one pull";
  EXPECT_TRUE(hangup(outcome->sessionId));
  EXPECT_TRUE(hangup(outcome2->sessionId));
  EXPECT_EQ(previewStats()["sessions"], 0);
}

TEST_F(CameraH265, ViewerWithoutH265GetsUnsupportedCodec) {
  auto outcome = std::make_shared<Signalled>();
  auto viewer = preview({VideoCodecKind::H264}, nullptr, outcome);
  ASSERT_FALSE(viewer);
  EXPECT_EQ(viewer.error().code, "UNSUPPORTED_CODEC");
  EXPECT_EQ(outcome->status, 415);
  EXPECT_NE(outcome->errorMessage.find("H.265"), std::string::npos) << outcome->errorMessage;
  EXPECT_NE(outcome->errorMessage.find("did not offer"), std::string::npos) << outcome->errorMessage;
  EXPECT_NE(outcome->errorMessage.find("H264"), std::string::npos) << "names what was offered";

  // H.265 below the camera's level (level 1: 320x240 needs level 2 or more) is not enough either.
  auto lowLevel = std::make_shared<Signalled>();
  viewer = preview({VideoCodecKind::H265}, nullptr, lowLevel, 30);
  ASSERT_FALSE(viewer);
  EXPECT_EQ(viewer.error().code, "UNSUPPORTED_CODEC");
  EXPECT_EQ(lowLevel->status, 415);
  EXPECT_NE(lowLevel->errorMessage.find("Main profile"), std::string::npos) << lowLevel->errorMessage;
  EXPECT_NE(lowLevel->errorMessage.find("cannot receive"), std::string::npos) << lowLevel->errorMessage;

  // Refused offers leave no session behind; the camera's pull stays for the next viewer, which gets video.
  EXPECT_EQ(previewStats()["sessions"], 0);
  VideoRecorder recorder;
  auto ok = std::make_shared<Signalled>();
  viewer = preview({VideoCodecKind::H265}, &recorder, ok);
  ASSERT_TRUE(viewer) << viewer.error().code << ": " << viewer.error().message;
  EXPECT_TRUE(waitFor([&] { return recorder.markers() >= 5; }, seconds(20)));
  EXPECT_TRUE(hangup(ok->sessionId));
}

}  // namespace
}  // namespace stagecast::itest
