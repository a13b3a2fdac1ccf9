#pragma once
// Test harness: a client and a server DtlsTransport wired together in memory. Datagrams are queued (as a
// network would) and delivered by pump(), optionally dropped by a filter.
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "stagecast/common/clock.hpp"
#include "stagecast/dtls/certificate.hpp"
#include "stagecast/dtls/dtls_transport.hpp"

namespace stagecast::dtls::testing {

struct RecordingListener : DtlsListener {
  std::deque<Bytes> outbox;
  std::vector<Bytes> sent;  // every datagram ever emitted
  std::optional<SrtpKeyMaterial> keys;
  std::optional<Error> failure;
  int connectedCount = 0;
  int failedCount = 0;
  int closedCount = 0;
  std::vector<Bytes> received;

  void onDtlsSend(BytesView datagram) override {
    outbox.emplace_back(datagram.begin(), datagram.end());
    sent.emplace_back(datagram.begin(), datagram.end());
  }
  void onDtlsConnected(const SrtpKeyMaterial& k) override {
    keys = k;
    ++connectedCount;
  }
  void onDtlsFailed(const Error& e) override {
    failure = e;
    ++failedCount;
  }
  void onDtlsClosed() override { ++closedCount; }
  void onDtlsApplicationData(BytesView data) override { received.emplace_back(data.begin(), data.end()); }
};

struct PairOptions {
  bool clientPreferGcm = true;
  bool clientOfferGcm = true;
  bool serverPreferGcm = true;
  bool serverOfferGcm = true;
};

class DtlsPair {
 public:
  // Filter: (fromClient, index of the datagram in that direction, datagram) -> true to drop it.
  using DropFilter = std::function<bool(bool, std::size_t, const Bytes&)>;

  explicit DtlsPair(PairOptions o = {})
      : clientCert(Certificate::generate("client").value()),
        serverCert(Certificate::generate("server").value()),
        client(clientCert, Role::Client, clientListener, o.clientPreferGcm, o.clientOfferGcm),
        server(serverCert, Role::Server, serverListener, o.serverPreferGcm, o.serverOfferGcm) {}

  void exchangeFingerprints() {
    client.setRemoteFingerprint("sha-256", serverCert->fingerprintSha256());
    server.setRemoteFingerprint("sha-256", clientCert->fingerprintSha256());
  }

  void start() {
    server.start(Clock::now());
    client.start(Clock::now());
  }

  // Delivers queued datagrams until both directions are quiet.
  void pump() {
    for (int guard = 0; guard < 1000; ++guard) {
      if (clientListener.outbox.empty() && serverListener.outbox.empty()) return;
      while (!clientListener.outbox.empty()) {
        Bytes d = std::move(clientListener.outbox.front());
        clientListener.outbox.pop_front();
        const std::size_t index = clientIndex++;
        if (drop && drop(true, index, d)) continue;
        server.handleDatagram(d, Clock::now());
      }
      while (!serverListener.outbox.empty()) {
        Bytes d = std::move(serverListener.outbox.front());
        serverListener.outbox.pop_front();
        const std::size_t index = serverIndex++;
        if (drop && drop(false, index, d)) continue;
        client.handleDatagram(d, Clock::now());
      }
    }
  }

  [[nodiscard]] bool bothConnected() const {
    return client.state() == DtlsState::Connected && server.state() == DtlsState::Connected;
  }

  // Pumps and fires retransmission timers on the real clock (OpenSSL keeps its own) until both sides are
  // connected, either fails, or `limit` passes.
  void runUntilSettled(std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    const auto end = Clock::now() + limit;
    pump();
    while (Clock::now() < end) {
      if (bothConnected() || client.state() == DtlsState::Failed || server.state() == DtlsState::Failed) return;
      std::optional<TimePoint> next;
      for (auto t : {client.nextTimeout(), server.nextTimeout()}) {
        if (t && (!next || *t < *next)) next = t;
      }
      const auto wakeAt = std::min(next.value_or(Clock::now() + std::chrono::milliseconds(20)), end);
      std::this_thread::sleep_until(wakeAt);
      client.handleTimeout(Clock::now());
      server.handleTimeout(Clock::now());
      pump();
    }
  }

  std::shared_ptr<Certificate> clientCert;
  std::shared_ptr<Certificate> serverCert;
  RecordingListener clientListener;
  RecordingListener serverListener;
  DtlsTransport client;
  DtlsTransport server;
  DropFilter drop;
  std::size_t clientIndex = 0;
  std::size_t serverIndex = 0;
};

}  // namespace stagecast::dtls::testing
