#include "stagecast/api/status_api.hpp"

#include "stagecast/api/errors.hpp"

#include <nlohmann/json.hpp>
#include <sstream>

namespace stagecast::api {

void registerStatusRoutes(http::Router& router, engine::Engine& engine, const std::atomic<bool>& ready,
                          control::ChannelService* service,
                          std::function<std::optional<cluster::ChannelPullStats>()> pulls,
                          std::function<std::vector<std::pair<int, std::uint64_t>>()> httpResponses) {
  router.add("GET", "/health", [&ready, &engine](http::Request&, http::Responder done) {
    nlohmann::json j;
    j["status"] = ready.load() ? "ok" : "starting";
    j["udp"] = engine.udpEndpoint().toString();
    j["workers"] = engine.workerCount();
    done(http::Response::json(ready.load() ? 200 : 503, j.dump()));
  });

  router.add("GET", "/metrics", [&engine, service, pulls, httpResponses](http::Request&, http::Responder done) {
    const auto s = engine.stats();
    std::ostringstream o;
    auto family = [&o](const char* name, const char* help, const char* type) {
      o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    };
    auto gauge = [&o, &family](const char* name, const char* help, std::uint64_t v) {
      family(name, help, "gauge");
      o << name << ' ' << v << '\n';
    };
    auto counter = [&o, &family](const char* name, const char* help, std::uint64_t v) {
      family(name, help, "counter");
      o << name << ' ' << v << '\n';
    };
    gauge("stagecast_stages", "Stages with at least one session.", s.total.stages);
    gauge("stagecast_publishers", "Publisher (WHIP) sessions.", s.total.publishers);
    gauge("stagecast_subscribers", "Viewer (WHEP) sessions.", s.total.subscribers);
    counter("stagecast_rtp_packets_received_total", "RTP packets received from publishers and viewers.",
            s.total.packetsIn);
    counter("stagecast_rtp_packets_sent_total", "RTP packets sent.", s.total.packetsOut);
    counter("stagecast_bytes_received_total", "UDP payload bytes received by sessions.", s.total.bytesIn);
    counter("stagecast_bytes_sent_total", "UDP payload bytes sent by sessions.", s.total.bytesOut);
    counter("stagecast_retransmissions_total", "RTP packets resent in answer to NACKs.", s.total.retransmitted);
    counter("stagecast_keyframe_requests_total", "PLIs sent to publishers after merging.", s.total.keyframeRequests);
    counter("stagecast_keyframe_cache_replays_total",
            "Viewers whose video started from the cached keyframe group rather than a new keyframe.",
            s.total.cachedGroupReplays);
    counter("stagecast_unrouted_datagrams_total", "Datagrams that matched no session.", s.total.unroutedDatagrams);
    counter("stagecast_sessions_ended_total", "Sessions that ended by failure, timeout or replacement.",
            s.total.sessionsEnded);
    counter("stagecast_udp_datagrams_received_total", "Datagrams read from the media sockets.", s.datagramsReceived);
    counter("stagecast_udp_datagrams_sent_total", "Datagrams written to the media sockets.", s.datagramsSent);
    counter("stagecast_udp_send_errors_total", "Datagrams the kernel refused (buffer full).", s.sendErrors);
    if (service != nullptr) {
      const auto [stages, viewers] = service->lastSweepTotals();
      const auto c = service->counters();
      gauge("stagecast_channel_stages", "Stages of all channels (registry, at the last sweep).", stages);
      gauge("stagecast_channel_viewers", "Viewers with a live heartbeat (at the last sweep).", viewers);
      counter("stagecast_viewer_joins_total", "Viewer tokens issued by /api/token/viewer.", c.viewerJoins);
      counter("stagecast_viewer_rejoins_total", "Viewer rejoins.", c.viewerRejoins);
      counter("stagecast_viewer_leaves_total", "Viewers who left.", c.viewerLeaves);
      counter("stagecast_viewers_expired_total", "Viewers removed after their heartbeats stopped.", c.viewersExpired);
      counter("stagecast_viewer_heartbeats_total", "Viewer heartbeats accepted.", c.heartbeats);
      counter("stagecast_tokens_issued_total", "Participant tokens signed.", c.tokensIssued);
      counter("stagecast_stages_created_total", "Stages created by this node.", c.stagesCreated);
      counter("stagecast_stages_deleted_total", "Empty stages deleted by this node.", c.stagesDeleted);
      counter("stagecast_viewer_sessions_ended_total", "WHEP sessions ended because their viewer left or timed out.",
              c.sessionsEndedForViewers);
      counter("stagecast_store_errors_total", "Failed store operations.", c.storeErrors);
    }
    if (auto p = pulls ? pulls() : std::nullopt) {
      gauge("stagecast_node_pulls", "Channels whose broadcast this node pulls from another node.", p->pulls);
      gauge("stagecast_node_pulls_connected", "Of those, pulls whose media flows.", p->connected);
      counter("stagecast_node_pull_connects_total", "Pulls connected (WHEP to the origin node).", p->connects);
      counter("stagecast_node_pull_failures_total", "Pull attempts that failed and pulls lost.", p->failures);
      counter("stagecast_node_pull_packets_total", "RTP packets pulled from other nodes.", p->packets);
    }
    if (httpResponses) {
      family("stagecast_http_responses_total", "HTTP responses sent, by status code (101: WebSocket handshakes).",
             "counter");
      for (const auto& [status, n] : httpResponses()) {
        o << "stagecast_http_responses_total{code=\"" << status << "\"} " << n << '\n';
      }
    }
    family("stagecast_api_errors_total", "Error answers by their stable error code.", "counter");
    for (const auto& [code, n] : errorCounts()) {
      o << "stagecast_api_errors_total{code=\"" << code << "\"} " << n << '\n';
    }
    done(http::Response::text(200, o.str(), "text/plain; version=0.0.4; charset=utf-8"));
  });
}

}  // namespace stagecast::api
