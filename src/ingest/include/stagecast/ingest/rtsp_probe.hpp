#pragma once
// Camera preview: open an IP camera's RTSP URL in-process (libavformat), list its streams, and decode the first
// video keyframe into a JPEG snapshot, classifying every failure with a stable code an operator can act on.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stagecast/common/error.hpp"

namespace stagecast::ingest {

// Error codes of this layer (Error::code).
namespace probe_error {
constexpr const char* kInvalidRequest = "INVALID_REQUEST";      // bad CameraAddress field; message names it
constexpr const char* kAuthRequired = "AUTH_REQUIRED";          // 401/403 and no credentials were given
constexpr const char* kAuthFailed = "AUTH_FAILED";              // 401/403 with credentials
constexpr const char* kTimeout = "TIMEOUT";                     // the deadline passed before the camera answered
constexpr const char* kUnreachable = "UNREACHABLE";             // refused, no route, host unreachable, unresolved
constexpr const char* kNotFound = "NOT_FOUND";                  // 404, or the description has no stream
constexpr const char* kUnsupportedCodec = "UNSUPPORTED_CODEC";  // no H.264/H.265 video stream to forward
constexpr const char* kProbeFailed = "PROBE_FAILED";            // anything else (libav's text in the message)
}  // namespace probe_error

struct CameraAddress {
  std::string ip;  // IPv4 or IPv6 literal (brackets optional), or a host name
  std::uint16_t port = 554;
  // "/Streaming/Channels/101"; a query is allowed ("/live?channel=1"), but libavformat takes the query words
  // tcp, udp, multicast and http for transport options and does not send them.
  std::string path = "/";
  std::string username;  // empty: no credentials
  std::string password;
  std::string transport = "tcp";  // RTP interleaved on the RTSP connection, or "udp"
};

// rtsp://[user[:password]@]host:port/path with the user and password percent-encoded (RFC 3986 §3.2.1,
// everything but unreserved characters). Errors: INVALID_REQUEST with a "field: reason" message.
Result<std::string> buildRtspUrl(const CameraAddress& address);
// The same URL for logs and operator messages: the password is replaced by "***" (and never encoded into the
// result), even when the address does not validate.
std::string redactedUrl(const CameraAddress& address);
// Masks the password of every "scheme://user:password@" in free text (log lines from libraries).
std::string redactUrlsInText(std::string_view text);

struct StreamInfo {
  std::string kind;     // "video" | "audio" | "data" | ...
  std::string codec;    // libav codec name: h264, hevc, mjpeg, pcm_alaw, pcm_mulaw, aac, opus, ...
  std::string profile;  // e.g. "Constrained Baseline", "Main", "LC"; empty when unknown
  int width = 0, height = 0;
  double frameRate = 0;  // frames per second; 0 when unknown
  int sampleRate = 0, channels = 0;
};

struct ProbeResult {
  std::vector<StreamInfo> streams;  // in the order of the camera's session description
  // JPEG (4:2:0, full range) of the first video keyframe, or of the next one when the first decoded with errors
  // and time remains; empty if no keyframe arrived within the timeout or snapshot was not asked for.
  std::string snapshotJpeg;
  std::chrono::milliseconds elapsed{0};
};

// Blocking (run it off the event loops); safe to call concurrently from several threads. `timeout` bounds the
// whole probe: connecting, the RTSP exchange, reading up to the first keyframe and encoding the snapshot (host
// name resolution is the one step libav cannot interrupt). Once the camera has described its streams, running
// out of time only leaves the snapshot empty. Errors: see probe_error (a non-positive timeout is
// INVALID_REQUEST); messages contain the redacted URL only. libav's own log lines go to spdlog at debug level,
// with passwords masked and request dumps (Authorization headers) dropped.
Result<ProbeResult> probe(const CameraAddress& address,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(5000), bool snapshot = true);

}  // namespace stagecast::ingest
