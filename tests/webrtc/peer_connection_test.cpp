// Two PeerConnections wired in memory — a controlling client and an ICE-lite server — with a virtual clock:
// ICE, DTLS, SRTP and RTP/RTCP demultiplexing without sockets.
#include "stagecast/webrtc/peer_connection.hpp"

#include <gtest/gtest.h>

#include <deque>

#include "stagecast/common/crypto.hpp"

using namespace stagecast;
using namespace stagecast::webrtc;

namespace {

const Endpoint kServerAddr = *Endpoint::fromString("127.0.0.1:8443");
const Endpoint kClientAddr = *Endpoint::fromString("127.0.0.1:40000");

struct Side : PeerListener {
  Endpoint self;
  std::deque<std::pair<Bytes, Endpoint>>* wire = nullptr;  // datagrams for the other side
  bool connected = false;
  std::optional<Error> closed;
  std::vector<Bytes> rtp;
  std::vector<Bytes> rtcp;
  std::vector<Endpoint> validated;
  void onPeerSend(BytesView d, const Endpoint& to) override { wire->emplace_back(Bytes(d.begin(), d.end()), self); }
  void onPeerAddressValidated(const Endpoint& r) override { validated.push_back(r); }
  void onPeerConnected(TimePoint) override { connected = true; }
  void onPeerRtp(const rtp::RtpPacket&, Bytes& p, TimePoint) override { rtp.push_back(p); }
  void onPeerRtcp(BytesView p, TimePoint) override { rtcp.emplace_back(p.begin(), p.end()); }
  void onPeerClosed(const Error& e) override { closed = e; }
};

class PeerPair : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c1 = dtls::Certificate::generate("client");
    auto c2 = dtls::Certificate::generate("server");
    ASSERT_TRUE(c1.ok() && c2.ok());
    clientCert = *c1;
    serverCert = *c2;
  }

  void create(const std::string& serverSeesFingerprint) {
    client.self = kClientAddr;
    client.wire = &toServer;
    server.self = kServerAddr;
    server.wire = &toClient;
    PeerConfig s;
    s.certificate = serverCert;
    s.localUfrag = "srvU";
    s.localPwd = "server-password-0123456789";
    s.remoteUfrag = "cliU";
    s.remotePwd = "client-password-0123456789";
    s.remoteFingerprint = serverSeesFingerprint;
    s.dtlsRole = dtls::Role::Server;
    PeerConfig c;
    c.certificate = clientCert;
    c.localUfrag = "cliU";
    c.localPwd = "client-password-0123456789";
    c.remoteUfrag = "srvU";
    c.remotePwd = "server-password-0123456789";
    c.remoteFingerprint = serverCert->fingerprintSha256();
    c.dtlsRole = dtls::Role::Client;
    c.iceControlling = true;
    c.remoteCandidate = kServerAddr;
    serverPeer = std::make_unique<PeerConnection>(s, server, now);
    clientPeer = std::make_unique<PeerConnection>(c, client, now);
    clientPeer->start(now);
  }

  // Delivers queued datagrams both ways and fires due timers until `done` or the virtual deadline.
  template <class Done>
  bool pump(Done done, Duration limit = seconds(20)) {
    const TimePoint end = now + limit;
    while (now < end) {
      while (!toServer.empty() || !toClient.empty()) {
        while (!toServer.empty()) {
          auto [d, from] = toServer.front();
          toServer.pop_front();
          serverPeer->handleDatagram(d, from, now);
        }
        while (!toClient.empty()) {
          auto [d, from] = toClient.front();
          toClient.pop_front();
          clientPeer->handleDatagram(d, from, now);
        }
      }
      if (done()) return true;
      now += milliseconds(10);
      if (now >= clientPeer->nextTimeout()) clientPeer->handleTimeout(now);
      if (now >= serverPeer->nextTimeout()) serverPeer->handleTimeout(now);
    }
    return done();
  }

  TimePoint now{seconds(100)};
  std::shared_ptr<dtls::Certificate> clientCert;
  std::shared_ptr<dtls::Certificate> serverCert;
  std::deque<std::pair<Bytes, Endpoint>> toServer;
  std::deque<std::pair<Bytes, Endpoint>> toClient;
  Side client;
  Side server;
  std::unique_ptr<PeerConnection> serverPeer;
  std::unique_ptr<PeerConnection> clientPeer;
};

Bytes rtpPacket(std::uint16_t seq, std::uint8_t fill) {
  Bytes out;
  Bytes payload(100, fill);
  rtp::write({.marker = true, .payloadType = 96, .sequenceNumber = seq, .timestamp = 1234, .ssrc = 42}, {}, payload,
             out);
  return out;
}

}  // namespace

TEST_F(PeerPair, ConnectsAndCarriesSrtpBothWays) {
  create(clientCert->fingerprintSha256());
  ASSERT_TRUE(pump([&] { return client.connected && server.connected; }));
  EXPECT_EQ(server.validated, std::vector<Endpoint>{kClientAddr});
  EXPECT_EQ(serverPeer->srtpProfile(), srtp::Profile::AeadAes128Gcm) << "GCM is preferred when both offer it";

  Bytes p = rtpPacket(7, 0xab);
  const Bytes original = p;
  ASSERT_TRUE(clientPeer->sendRtp(p).ok());
  EXPECT_NE(p, original) << "encrypted on the wire";
  ASSERT_TRUE(pump([&] { return !server.rtp.empty(); }, seconds(1)));
  EXPECT_EQ(server.rtp.at(0), original);

  Bytes pli{0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 42};
  const Bytes pliPlain = pli;
  ASSERT_TRUE(serverPeer->sendRtcp(pli).ok());
  ASSERT_TRUE(pump([&] { return !client.rtcp.empty(); }, seconds(1)));
  EXPECT_EQ(client.rtcp.at(0), pliPlain);
}

TEST_F(PeerPair, FingerprintMismatchClosesTheServerSide) {
  create("00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF");
  ASSERT_TRUE(pump([&] { return server.closed.has_value(); }));
  EXPECT_EQ(server.closed->code, "DTLS_FINGERPRINT_MISMATCH");
  EXPECT_FALSE(server.connected);
}

TEST_F(PeerPair, MediaFromUnvalidatedAddressIsDropped) {
  create(clientCert->fingerprintSha256());
  ASSERT_TRUE(pump([&] { return client.connected && server.connected; }));
  Bytes p = rtpPacket(8, 0x01);
  ASSERT_TRUE(clientPeer->sendRtp(p).ok());
  toServer.clear();
  const auto droppedBefore = serverPeer->stats().dropped;
  serverPeer->handleDatagram(p, *Endpoint::fromString("127.0.0.1:40001"), now);
  EXPECT_TRUE(server.rtp.empty());
  EXPECT_EQ(serverPeer->stats().dropped, droppedBefore + 1);
}

TEST_F(PeerPair, GarbageNeverCrashesAndIsCounted) {
  create(clientCert->fingerprintSha256());
  ASSERT_TRUE(pump([&] { return client.connected && server.connected; }));
  for (int i = 0; i < 2000; ++i) {
    Bytes junk(1 + crypto::randomU32() % 1400);
    crypto::randomBytes(junk.data(), junk.size());
    serverPeer->handleDatagram(junk, kClientAddr, now);
  }
  EXPECT_TRUE(server.rtp.empty());
  EXPECT_FALSE(server.closed.has_value()) << "junk from a validated address does not kill the session";
  EXPECT_GT(serverPeer->stats().srtpErrors + serverPeer->stats().dropped, 0U);
}

TEST_F(PeerPair, ConsentExpiresWhenTheClientGoesQuiet) {
  create(clientCert->fingerprintSha256());
  ASSERT_TRUE(pump([&] { return client.connected && server.connected; }));
  // The client vanishes: only the server's timers run from now on.
  const TimePoint vanished = now;
  while (!server.closed && now < vanished + seconds(40)) {
    now += milliseconds(100);
    if (now >= serverPeer->nextTimeout()) serverPeer->handleTimeout(now);
  }
  ASSERT_TRUE(server.closed.has_value());
  EXPECT_EQ(server.closed->code, "ICE_CONSENT_EXPIRED");
  EXPECT_LE(now - vanished, seconds(31));
}
