#include "stagecast/api/camera_preview.hpp"

#include <condition_variable>
#include <future>

#include "stagecast/common/crypto.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/common/text.hpp"
#include "stagecast/rtp/rtp_packet.hpp"
#include "stagecast/sdp/negotiation.hpp"

namespace stagecast::api {

namespace {

using SdpCodec = sdp::Codec;

std::string labelOf(const ingest::CameraAddress& a) { return a.ip + ":" + std::to_string(a.port) + a.path; }

// "Main profile, Main tier, level 3.1" from RFC 7798 §7.1 parameters (level-id is 30 × the level).
std::string describeH265(const sdp::H265Params& p) {
  static const char* const kProfiles[] = {"", "Main", "Main 10", "Main Still Picture"};
  std::string s = p.profileId >= 1 && p.profileId <= 3 ? std::string(kProfiles[p.profileId]) + " profile"
                                                       : "profile " + std::to_string(p.profileId);
  s += p.tierFlag != 0 ? ", High tier, level " : ", Main tier, level ";
  s += std::to_string(p.levelId / 30);
  if (p.levelId % 30 != 0) s += "." + std::to_string(p.levelId % 30 / 3);
  return s;
}

// Video is forwarded as the camera sends it: a viewer of an H.265 camera must offer to receive H.265 at the
// camera's profile, tier and level (RFC 7798 §7.2.2), or the answer would carry no video. The error says why.
std::optional<Error> refuseH265Viewer(const sdp::Codec& camera, const std::string& offerSdp) {
  auto offer = sdp::parse(offerSdp);
  if (!offer) return std::nullopt;  // the engine reports what is wrong with the SDP
  sdp::CodecCapability cap;
  cap.name = camera.name;
  cap.clockRate = camera.clockRate;
  auto params = sdp::parseH265Params(camera);
  if (params) cap.h265 = *params;
  std::string offered;
  bool offersH265 = false;
  for (const auto& m : offer->media) {
    if (m.kind != "video" || (m.direction != sdp::Direction::RecvOnly && m.direction != sdp::Direction::SendRecv)) {
      continue;
    }
    for (const auto& c : m.codecs) {
      if (c.isRtx() || iequals(c.name, "red") || iequals(c.name, "ulpfec")) continue;
      if (offered.find(c.name) == std::string::npos) offered += (offered.empty() ? "" : ", ") + c.name;
      if (!iequals(c.name, "H265")) continue;
      offersH265 = true;
      if (sdp::h265Matches(cap, c, true)) return std::nullopt;
    }
  }
  if (!offersH265) {
    return Error("UNSUPPORTED_CODEC", "the camera sends H.265 video and the browser did not offer H.265 (it offers " +
                                          (offered.empty() ? std::string("no video") : offered) + ")");
  }
  return Error("UNSUPPORTED_CODEC", "the camera sends H.265 video (" + (params ? describeH265(*params) : "") +
                                        ") and the browser's H.265 offer cannot receive it");
}

}  // namespace

// One camera: its pull, and the sink that turns the pull's payloads into RTP packets for its stage.
struct CameraPreviews::Camera final : ingest::PullSink {
  Camera(engine::Engine& e, std::string stage, const ingest::CameraAddress& address)
      : engine(e), stageId(std::move(stage)), pull(address, ingest::PullOptions{}, *this) {}
  ~Camera() override { pull.stop(); }

  engine::Engine& engine;
  const std::string stageId;
  ingest::CameraPull pull;
  std::size_t viewers = 0;
  bool warm = false;  // kept pulled while nobody watches (guarded by CameraPreviews::mutex_)
  std::chrono::steady_clock::time_point idleSince = std::chrono::steady_clock::now();

  // Stream description state, waited on by offer().
  std::mutex mutex;
  std::condition_variable described;
  bool hasInfo = false;
  std::optional<Error> failure;
  sdp::Codec videoCodec;  // as attached to the stage (guarded by mutex)

  // RTP numbering of this camera (PullSink calls come from the pull thread only).
  std::uint32_t videoSsrc = crypto::randomU32();
  std::uint32_t audioSsrc = crypto::randomU32();
  std::uint16_t videoSeq = static_cast<std::uint16_t>(crypto::randomU32());
  std::uint16_t audioSeq = static_cast<std::uint16_t>(crypto::randomU32());
  std::uint8_t audioPt = 0;
  bool hasAudio = false;
  Bytes scratch;

  void onStreamInfo(const ingest::PullStreamInfo& info) override {
    sdp::Codec video;
    video.payloadType = 96;
    video.name = info.video.codec;
    video.clockRate = info.video.clockRate;
    video.fmtp = info.video.fmtp();
    // RTSP has no keyframe request: a viewer starts from the cached group, however old (up to the cache's bounds).
    engine.attachSource(stageId, "video", video, false);
    hasAudio = info.audio.has_value();
    if (info.audio) {
      sdp::Codec audio;
      audio.name = info.audio->codec;
      audio.clockRate = info.audio->clockRate;
      audio.channels = static_cast<std::uint8_t>(info.audio->channels);
      // RFC 3551 static types for G.711; a dynamic one for Opus (the viewer's own is put in on the way out).
      audio.payloadType = info.audio->codec == "PCMU" ? 0 : info.audio->codec == "PCMA" ? 8 : 111;
      audioPt = audio.payloadType;
      engine.attachSource(stageId, "audio", audio);
    } else {
      engine.detachSource(stageId, "audio");
    }
    std::lock_guard lock(mutex);
    videoCodec = video;
    hasInfo = true;
    failure.reset();
    described.notify_all();
  }

  void onRtpPayload(ingest::MediaKind kind, const Bytes& payload, bool marker, std::uint32_t ts, bool) override {
    const bool video = kind == ingest::MediaKind::Video;
    if (!video && !hasAudio) return;
    rtp::RtpHeaderFields f{.marker = marker,
                           .payloadType = video ? std::uint8_t{96} : audioPt,
                           .sequenceNumber = video ? videoSeq++ : audioSeq++,
                           .timestamp = ts,
                           .ssrc = video ? videoSsrc : audioSsrc};
    rtp::write(f, {}, payload, scratch);
    engine.pushSourcePacket(stageId, video ? "video" : "audio", std::make_shared<const Bytes>(scratch));
  }

  void onStateChange(ingest::PullState state, const std::optional<Error>& error) override {
    if (!error) return;
    std::lock_guard lock(mutex);
    if (!hasInfo || state == ingest::PullState::Stopped) {
      failure = error;
      described.notify_all();
    }
  }
};

CameraPreviews::CameraPreviews(engine::Engine& engine, CameraPreviewOptions options, actionlog::ActionLog* log)
    : engine_(engine), options_(options), log_(log) {}

CameraPreviews::~CameraPreviews() {
  std::map<std::string, std::shared_ptr<Camera>> cameras;
  {
    std::lock_guard lock(mutex_);
    cameras.swap(cameras_);
    sessions_.clear();
  }
  cameras.clear();  // stops the pulls
}

Result<PreviewAnswer> CameraPreviews::offer(const ingest::CameraAddress& address, std::string sdp,
                                            const std::string& client) {
  const auto t0 = std::chrono::steady_clock::now();
  auto url = ingest::buildRtspUrl(address);
  if (!url) return url.error();
  std::shared_ptr<Camera> camera;
  bool fresh = false;
  {
    std::lock_guard lock(mutex_);
    auto& slot = cameras_[*url];
    if (!slot) {
      slot = std::make_shared<Camera>(engine_, "camera-" + std::to_string(++nextStage_) + "-" + crypto::randomId(6),
                                      address);
      fresh = true;
    }
    camera = slot;
    ++camera->viewers;  // held while the offer is in progress, so a sweep does not stop the pull
  }
  auto release = [&] {
    std::lock_guard lock(mutex_);
    if (--camera->viewers == 0) camera->idleSince = std::chrono::steady_clock::now();
  };
  if (fresh) {
    if (auto st = startPull(*camera); !st) {
      release();
      return st.error();
    }
  }
  SdpCodec video;  // the camera's, as attached to its stage (`sdp` here is the viewer's offer)
  {
    // The viewer must be offered the camera's codecs: wait until the camera has described its streams.
    std::unique_lock lock(camera->mutex);
    const bool ready = camera->described.wait_for(lock, options_.streamInfoTimeout,
                                                  [&] { return camera->hasInfo || camera->failure.has_value(); });
    if (!camera->hasInfo) {
      Error e = camera->failure.value_or(Error("TIMEOUT", "the camera did not describe its streams in time"));
      (void)ready;
      lock.unlock();
      release();
      if (log_ != nullptr) log_->record({0, 0, actionlog::actions::kOffer, e.code, labelOf(address), client, "", 0, e.message});
      return e;
    }
    video = camera->videoCodec;
  }
  if (iequals(video.name, "H265")) {
    if (auto refused = refuseH265Viewer(video, sdp)) {
      release();
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      if (log_ != nullptr) {
        log_->record(
            {0, 0, actionlog::actions::kOffer, refused->code, labelOf(address), client, "", ms, refused->message});
      }
      return *refused;
    }
  }
  std::promise<Result<sfu::CreatedSession>> answered;
  engine_.subscribe(camera->stageId, std::move(sdp),
                    [&answered](Result<sfu::CreatedSession> r) { answered.set_value(std::move(r)); });
  auto created = answered.get_future().get();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  if (!created) {
    release();
    if (log_ != nullptr) {
      log_->record({0, 0, actionlog::actions::kOffer, created.error().code, labelOf(address), client, "", ms,
                    created.error().message});
    }
    return created.error();
  }
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    sessions_[created->sessionId] =
        Session{*url, camera->stageId, labelOf(address), client, now, now + options_.sessionTtl};
  }
  if (log_ != nullptr) {
    log_->record({0, 0, actionlog::actions::kOffer, "OK", labelOf(address), client, created->sessionId, ms, ""});
  }
  return PreviewAnswer{created->sessionId, created->answerSdp, camera->stageId};
}

Status CameraPreviews::startPull(Camera& camera) {
  std::promise<void> created;
  engine_.createStage(camera.stageId, "", [&created] { created.set_value(); });
  created.get_future().wait();
  return camera.pull.start();
}

Status CameraPreviews::setWarm(const ingest::CameraAddress& address, bool warm) {
  auto url = ingest::buildRtspUrl(address);
  if (!url) return url.error();
  std::shared_ptr<Camera> camera;
  bool fresh = false;
  {
    std::lock_guard lock(mutex_);
    auto it = cameras_.find(*url);
    if (!warm) {
      if (it != cameras_.end() && it->second->warm) {
        it->second->warm = false;
        if (it->second->viewers == 0) it->second->idleSince = std::chrono::steady_clock::now();
      }
      return {};
    }
    auto& slot = cameras_[*url];
    if (!slot) {
      slot = std::make_shared<Camera>(engine_, "camera-" + std::to_string(++nextStage_) + "-" + crypto::randomId(6),
                                      address);
      fresh = true;
    }
    slot->warm = true;
    camera = slot;
  }
  if (!fresh) return {};
  if (auto st = startPull(*camera); !st) {
    std::lock_guard lock(mutex_);
    camera->warm = false;  // the sweep stops it once it is idle
    return st.error();
  }
  return {};
}

void CameraPreviews::endSession(const std::string& sessionId, const char* action, const std::string& result,
                                const std::string& detail) {
  Session s;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(sessionId);
    if (it == sessions_.end()) return;
    s = it->second;
    sessions_.erase(it);
    if (auto c = cameras_.find(s.cameraKey); c != cameras_.end()) {
      if (--c->second->viewers == 0) c->second->idleSince = std::chrono::steady_clock::now();
    }
  }
  engine_.remove(s.stageId, sessionId, [](Status) {});
  if (log_ != nullptr) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - s.started).count();
    log_->record({0, 0, action, result, s.camera, s.client, sessionId, ms, detail});
  }
}

Status CameraPreviews::hangup(const std::string& sessionId, const std::string& client) {
  {
    std::lock_guard lock(mutex_);
    if (sessions_.count(sessionId) == 0) return Error("SESSION_NOT_FOUND", "no such preview session");
  }
  endSession(sessionId, actionlog::actions::kHangup, "OK");
  return {};
}

Result<std::int64_t> CameraPreviews::extend(const std::string& sessionId) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return Error("SESSION_NOT_FOUND", "no such preview session");
  it->second.expires = std::chrono::steady_clock::now() + options_.sessionTtl;
  return static_cast<std::int64_t>(options_.sessionTtl.count());
}

void CameraPreviews::sessionEnded(const std::string& stageId, const std::string& sessionId, const Error& reason) {
  if (stageId.rfind("camera-", 0) != 0) return;
  if (reason.code == "PEER_CLOSED") {
    // The browser closed its peer connection (DTLS close_notify, RFC 5246 §7.2.1): an ordinary end, such as a
    // closed page, not a failure.
    endSession(sessionId, actionlog::actions::kHangup, reason.code);
    return;
  }
  endSession(sessionId, actionlog::actions::kError, reason.code.empty() ? "SESSION_FAILED" : reason.code,
             reason.message);
}

void CameraPreviews::sweep() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::string> expired;
  std::vector<std::shared_ptr<Camera>> stopping;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, s] : sessions_) {
      if (now >= s.expires) expired.push_back(id);
    }
  }
  for (const auto& id : expired) endSession(id, actionlog::actions::kTimeout, "TTL_EXPIRED");
  {
    std::lock_guard lock(mutex_);
    for (auto it = cameras_.begin(); it != cameras_.end();) {
      if (it->second->viewers == 0 && !it->second->warm && now - it->second->idleSince >= options_.linger) {
        stopping.push_back(it->second);
        it = cameras_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : stopping) {
    const std::string stage = c->stageId;
    c.reset();  // stops the pull (joins its thread)
    engine_.deleteStage(stage, nullptr);
  }
}

CameraPreviews::Stats CameraPreviews::stats() const {
  std::lock_guard lock(mutex_);
  Stats s{cameras_.size(), sessions_.size(), 0};
  for (const auto& [url, c] : cameras_) s.warm += c->warm ? 1 : 0;
  return s;
}

}  // namespace stagecast::api
