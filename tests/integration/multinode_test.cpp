// Two nodes sharing one channel through one Redis (a real redis-server started here): the broadcaster publishes
// into node A, viewers watch on node B, and node B pulls the broadcast from A once for all its viewers.
#include "../control/redis_server.hpp"
#include "stagecast/common/crypto.hpp"
#include "support.hpp"

namespace stagecast::itest {
namespace {

constexpr Duration kConnect = seconds(10);

class Cluster : public ::testing::TestWithParam<VideoCodecKind> {
 protected:
  void SetUp() override {
    if (control::testing::findRedisServer().empty()) GTEST_SKIP() << "redis-server is not installed";
    std::string why;
    redis_ = control::testing::RedisServer::start({}, &why);
    ASSERT_NE(redis_, nullptr) << "redis-server did not start: " << why;
    const std::string prefix = "cluster-" + crypto::randomId(6) + ":";
    nodeA_ = startNode("node-a", prefix);
    ASSERT_NE(nodeA_, nullptr);
    nodeB_ = startNode("node-b", prefix);
    ASSERT_NE(nodeB_, nullptr);
    loop_ = std::make_unique<ClientLoop>();
  }

  void TearDown() override {
    if (loop_) {
      loop_->call([this] {
        for (auto& p : pumps_) p->stop();
        for (auto& p : peers_) p->stop();
        return 0;
      });
    }
    pumps_.clear();
    peers_.clear();
    loop_.reset();
    if (nodeB_) nodeB_->stop();
    if (nodeA_) nodeA_->stop();
  }

  std::unique_ptr<app::Server> startNode(const std::string& id, const std::string& prefix) {
    app::ServerConfig cfg = testConfig();  // one data directory: the nodes share the token-signing key
    cfg.store = "redis";
    cfg.redisPort = redis_->port();
    cfg.redisKeyPrefix = prefix;
    cfg.channels = {"show"};
    cfg.stageCapacity = 1;  // each viewer gets a stage of its own
    cfg.mediaAuth = true;
    cfg.nodeId = id;
    spdlog::set_level(spdlog::level::warn);
    auto s = app::Server::create(cfg);
    if (!s) {
      ADD_FAILURE() << id << ": " << s.error().code << " " << s.error().message;
      return nullptr;
    }
    auto server = std::move(s).value();
    if (auto st = server->start(); !st) {
      ADD_FAILURE() << id << " start: " << st.error().message;
      return nullptr;
    }
    return server;
  }

  NativePeerOptions options(app::Server& node, Role role, const std::string& stage, const std::string& token) {
    NativePeerOptions o;
    o.role = role;
    o.httpPort = node.httpPort();
    o.stage = stage;
    o.bearerToken = token;
    o.certificate = clientCertificate();
    return o;
  }

  std::shared_ptr<NativePeer> connect(NativePeerOptions o) {
    auto r = NativePeer::connect(loop_->io(), std::move(o));
    if (!r) {
      ADD_FAILURE() << "connect: " << r.error().code << " " << r.error().message;
      return nullptr;
    }
    peers_.push_back(r.value());
    return r.value();
  }

  // A viewer of the channel joining through node B's command layer and watching its stage on node B.
  struct Viewer {
    control::ViewerJoin join;
    std::shared_ptr<NativePeer> peer;
    Recorder* rec = nullptr;
  };
  Viewer watchOnB(const std::string& userId) {
    Viewer v;
    auto join = nodeB_->channels().joinViewer(userId, "show");
    if (!join) {
      ADD_FAILURE() << "join: " << join.error().code << " " << join.error().message;
      return v;
    }
    v.join = *join;
    // Node B mirrors the shared stage registry at its next sweep (a stage may have been made by node A).
    const bool mirrored = waitFor(
        [&] {
          auto view = nodeB_->channels().channel("show");
          return view && view->stages.size() >= 1 && nodeB_->channels().lastSweepTotals().first >= view->stages.size();
        },
        seconds(5));
    EXPECT_TRUE(mirrored);
    recorders_.push_back(std::make_unique<Recorder>(GetParam()));
    v.rec = recorders_.back().get();
    auto o = options(*nodeB_, Role::Viewer, v.join.stageId, v.join.token);
    o.onRtp = v.rec->handler();
    o.videoCodec = GetParam();
    v.peer = connect(o);
    return v;
  }

  NativePeerStats stats(const std::shared_ptr<NativePeer>& p) {
    return loop_->call([&p] { return p->stats(); });
  }

  std::unique_ptr<control::testing::RedisServer> redis_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  std::unique_ptr<app::Server> nodeA_;
  std::unique_ptr<app::Server> nodeB_;
  std::unique_ptr<ClientLoop> loop_;
  std::vector<std::shared_ptr<NativePeer>> peers_;
  std::vector<std::shared_ptr<SyntheticPublisher>> pumps_;
};

TEST_P(Cluster, ABroadcastPublishedOnOneNodeReachesViewersOnAnotherOncePerNode) {
  // The broadcaster publishes once, into the channel on node A, with the channel's publish token.
  auto listing = nodeA_->channels().broadcasterStages("show");
  ASSERT_TRUE(listing) << listing.error().message;
  auto pubOptions = options(*nodeA_, Role::Publisher, "show", listing->publishToken);
  pubOptions.videoCodec = GetParam();  // the pull finds the broadcaster's codec by itself
  auto pubPeer = connect(pubOptions);
  ASSERT_TRUE(pubPeer);
  auto lastFrame = std::make_shared<std::atomic<std::uint32_t>>(0);
  SyntheticPublisherOptions so;
  so.videoSource.streamId = 7;
  so.videoSource.codec = GetParam();
  so.videoSource.gop = seconds(1);
  so.videoSource.bitrate = 800'000;
  so.audioSource.streamId = 7;
  so.onVideoFrame = [lastFrame](std::uint32_t f, const auto&) { lastFrame->store(f); };
  auto pump = SyntheticPublisher::create(loop_->io(), pubPeer, so);
  pumps_.push_back(pump);
  ASSERT_TRUE(waitFor([&] { return lastFrame->load() >= 10; }, kConnect));

  // Two viewers on node B, in two stages (capacity 1).
  Viewer v1 = watchOnB("viewer-1");
  Viewer v2 = watchOnB("viewer-2");
  ASSERT_TRUE(v1.peer && v2.peer);
  EXPECT_NE(v1.join.stageId, v2.join.stageId);
  ASSERT_TRUE(waitFor([&] { return stats(v1.peer).video.firstKeyframeAt && stats(v2.peer).video.firstKeyframeAt; },
                      seconds(15)))
      << "the broadcast published on node A reaches the viewers on node B";
  EXPECT_TRUE(stats(v1.peer).video.firstPacketWasKeyframe);
  EXPECT_TRUE(stats(v2.peer).video.firstPacketWasKeyframe);

  // Node A serves node B once, whatever the number of viewers there; B has no publisher of its own.
  // (Engine stats are snapshots the workers refresh at each tick.)
  EXPECT_TRUE(waitFor([&] { return nodeB_->engine().stats().total.subscribers == 2; }, seconds(2)));
  EXPECT_TRUE(waitFor([&] { return nodeA_->engine().stats().total.subscribers == 1; }, seconds(2)));
  const auto a = nodeA_->engine().stats();
  const auto b = nodeB_->engine().stats();
  EXPECT_EQ(a.total.publishers, 1u);
  EXPECT_EQ(a.total.subscribers, 1u) << "one pull from node B";
  EXPECT_EQ(b.total.publishers, 0u);
  EXPECT_EQ(b.total.subscribers, 2u);

  // Node B's /metrics show the pull.
  auto metrics = HttpClient("127.0.0.1", nodeB_->httpPort(), seconds(5)).get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\nstagecast_node_pulls 1\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("\nstagecast_node_pulls_connected 1\n"), std::string::npos);
  EXPECT_EQ(metrics->body.find("\nstagecast_node_pull_packets_total 0\n"), std::string::npos);

  // Everything sent after the viewers started arrives intact and in order on node B.
  const std::uint32_t target = lastFrame->load() + 40;
  ASSERT_TRUE(waitFor([&] { return lastFrame->load() >= target; }, seconds(10)));
  const auto [last, lastAudio] = loop_->call([&pump] {
    pump->stop();
    return std::make_pair(pump->video().framesProduced() - 1, pump->audio().packetsProduced() - 1);
  });
  for (const Viewer* v : {&v1, &v2}) {
    ASSERT_TRUE(waitFor([&] { return v->rec->has(MediaKind::Video, 7, last) && v->rec->has(MediaKind::Audio, 7, lastAudio); },
                        seconds(5)))
        << v->join.userId << ": " << v->rec->count(MediaKind::Video) << " video and " << v->rec->count(MediaKind::Audio)
        << " audio packets, last frame " << last << " last audio " << lastAudio << ", corrupt " << v->rec->corrupt()
        << ", has video " << v->rec->has(MediaKind::Video, 7, last) << ", has audio "
        << v->rec->has(MediaKind::Audio, 7, lastAudio);
    auto video = checkStream(v->rec->packets(MediaKind::Video), MediaKind::Video);
    auto audio = checkStream(v->rec->packets(MediaKind::Audio), MediaKind::Audio);
    EXPECT_TRUE(video.ok) << v->join.userId << ": " << video.why;
    EXPECT_TRUE(audio.ok) << v->join.userId << ": " << audio.why;
    EXPECT_EQ(v->rec->corrupt(), 0u);
  }

  // Counts are shared: node A sees node B's viewers.
  auto seen = nodeA_->channels().channel("show");
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->total, 2u);

  // Once node B's viewers are gone, the pull stops (after its linger) and node A serves nobody.
  for (const Viewer* v : {&v1, &v2}) {
    ASSERT_TRUE(nodeB_->channels().leave(v->join.userId, v->join.stageArn));
  }
  EXPECT_TRUE(waitFor([&] { return nodeB_->engine().stats().total.subscribers == 0; }, seconds(5)));
  EXPECT_TRUE(waitFor([&] { return nodeA_->engine().stats().total.subscribers == 0; }, seconds(15)))
      << "node B stopped pulling";
}

INSTANTIATE_TEST_SUITE_P(Codecs, Cluster, ::testing::Values(VideoCodecKind::H264, VideoCodecKind::VP8),
                         [](const auto& info) { return info.param == VideoCodecKind::H264 ? "H264" : "VP8"; });

}  // namespace
}  // namespace stagecast::itest
