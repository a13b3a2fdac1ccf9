#pragma once
// Live camera previews over WebRTC without transcoding video (H.264 or H.265): one RTSP pull per camera
// (ingest::CameraPull), shared by every preview of that camera, feeds a stage of its own; each preview is a viewer
// session of that stage. A pull starts with the first preview and stops `linger` after the last one ends. Sessions
// end on hangup, on ICE/DTLS failure and when their TTL runs out.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "stagecast/actionlog/action_log.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/engine/engine.hpp"
#include "stagecast/ingest/camera_pull.hpp"
#include "stagecast/ingest/rtsp_probe.hpp"

namespace stagecast::api {

struct CameraPreviewOptions {
  std::chrono::milliseconds streamInfoTimeout{5000};  // the camera must describe its streams within this
  std::chrono::seconds sessionTtl{180};
  std::chrono::seconds linger{5};  // a pull with no preview left stops after this
};

struct PreviewAnswer {
  std::string sessionId;
  std::string sdp;
  std::string stageId;
};

class CameraPreviews {
 public:
  CameraPreviews(engine::Engine& engine, CameraPreviewOptions options, actionlog::ActionLog* log);
  ~CameraPreviews();

  // Blocking (waits for the camera's stream description): call it off the event loops.
  // Errors: the probe's codes (AUTH_REQUIRED, TIMEOUT, ...), SDP errors, NO_COMMON_CODEC; UNSUPPORTED_CODEC when
  // the camera sends H.265 and the offer cannot receive it (no H.265, or not at the camera's profile, tier and
  // level: RFC 7798 §7.2.2).
  Result<PreviewAnswer> offer(const ingest::CameraAddress& camera, std::string sdp, const std::string& client);
  // Errors: SESSION_NOT_FOUND.
  Status hangup(const std::string& sessionId, const std::string& client);
  // Restarts the session's TTL (the client is still watching). Returns the seconds left. Errors: SESSION_NOT_FOUND.
  Result<std::int64_t> extend(const std::string& sessionId);
  // The engine ended a session by itself. Recorded as hangup / PEER_CLOSED when the browser closed the connection
  // (a closed page), otherwise as error / the reason's code (ICE_CONSENT_EXPIRED, ICE_FAILED, DTLS_TIMEOUT, ...)
  // with its message as the detail.
  void sessionEnded(const std::string& stageId, const std::string& sessionId, const Error& reason);
  // A warm camera is pulled while nobody watches, so that a preview starts from its cached keyframe group at once
  // instead of waiting for the camera's next keyframe. setWarm(false) lets it stop like any other once idle.
  // Blocking when it starts a pull (call it off the event loops). Errors: the address's (INVALID_REQUEST).
  Status setWarm(const ingest::CameraAddress& camera, bool warm);
  // Ends sessions past their TTL and stops pulls nobody watches; call periodically.
  void sweep();

  struct Stats {
    std::size_t cameras = 0;   // running pulls
    std::size_t sessions = 0;  // previews
    std::size_t warm = 0;      // pulls kept while nobody watches
  };
  [[nodiscard]] Stats stats() const;

 private:
  struct Camera;
  struct Session {
    std::string cameraKey;
    std::string stageId;
    std::string camera;  // label for the log
    std::string client;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point expires;
  };
  void endSession(const std::string& sessionId, const char* action, const std::string& result,
                  const std::string& detail = {});
  // Creates the camera's stage and starts its pull (blocking until the stage exists).
  Status startPull(Camera& camera);

  engine::Engine& engine_;
  CameraPreviewOptions options_;
  actionlog::ActionLog* log_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Camera>> cameras_;  // by camera URL (with credentials; memory only)
  std::map<std::string, Session> sessions_;                 // by session id
  std::uint64_t nextStage_ = 0;
};

}  // namespace stagecast::api
