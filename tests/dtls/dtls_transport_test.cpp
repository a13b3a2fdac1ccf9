#include "stagecast/dtls/dtls_transport.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <string>

#include "dtls_pair.hpp"

namespace stagecast::dtls {
namespace {

using testing::DtlsPair;
using testing::PairOptions;

// RFC 6347 §4.1 record header: type(1) version(2) epoch(2) seq(6) length(2).
constexpr std::size_t kHeader = 13;

// Returns the number of whole records in a datagram, or -1 if it does not split exactly into records.
int countRecords(const Bytes& d) {
  std::size_t pos = 0;
  int n = 0;
  while (pos < d.size()) {
    if (d.size() - pos < kHeader) return -1;
    const std::size_t len = (std::size_t{d[pos + 11]} << 8) | d[pos + 12];
    if (d.size() - pos < kHeader + len) return -1;
    if (d[pos] < 20 || d[pos] > 63) return -1;  // RFC 7983 demultiplexing range
    pos += kHeader + len;
    ++n;
  }
  return n;
}

void expectKeysMatch(const DtlsPair& p, SrtpProfile profile, std::size_t keySaltLen) {
  ASSERT_TRUE(p.clientListener.keys.has_value());
  ASSERT_TRUE(p.serverListener.keys.has_value());
  const auto& c = *p.clientListener.keys;
  const auto& s = *p.serverListener.keys;
  EXPECT_EQ(c.profile, profile);
  EXPECT_EQ(s.profile, profile);
  EXPECT_EQ(c.localKeySalt.size(), keySaltLen);
  EXPECT_EQ(c.remoteKeySalt.size(), keySaltLen);
  EXPECT_EQ(c.localKeySalt, s.remoteKeySalt);
  EXPECT_EQ(c.remoteKeySalt, s.localKeySalt);
  EXPECT_NE(c.localKeySalt, c.remoteKeySalt);
}

TEST(DtlsTransport, HandshakeCompletesWithGcmAndMatchingKeys) {
  DtlsPair p;
  p.exchangeFingerprints();
  EXPECT_EQ(p.client.state(), DtlsState::New);
  p.start();
  EXPECT_EQ(p.client.state(), DtlsState::Connecting);
  EXPECT_EQ(p.server.state(), DtlsState::Connecting);
  EXPECT_TRUE(p.client.nextTimeout().has_value());  // ClientHello retransmission armed
  p.pump();
  ASSERT_TRUE(p.bothConnected());
  EXPECT_EQ(p.clientListener.connectedCount, 1);
  EXPECT_EQ(p.serverListener.connectedCount, 1);
  EXPECT_EQ(p.clientListener.failedCount, 0);
  EXPECT_EQ(p.serverListener.failedCount, 0);
  // RFC 7714 §12: 16-byte key + 12-byte salt.
  expectKeysMatch(p, SrtpProfile::AeadAes128Gcm, 28);
  EXPECT_EQ(p.client.role(), Role::Client);
  EXPECT_EQ(p.server.role(), Role::Server);
  EXPECT_FALSE(p.client.nextTimeout().has_value());
}

TEST(DtlsTransport, EveryDatagramHoldsWholeRecordsWithinMtu) {
  DtlsPair p;
  p.exchangeFingerprints();
  p.start();
  p.pump();
  ASSERT_TRUE(p.bothConnected());
  for (const auto* l : {&p.clientListener, &p.serverListener}) {
    ASSERT_FALSE(l->sent.empty());
    for (const Bytes& d : l->sent) {
      EXPECT_LE(d.size(), DtlsTransport::kMaxDatagramSize);
      EXPECT_GT(countRecords(d), 0);
    }
  }
  // The first client datagram is a handshake record carrying a ClientHello, DTLS 1.2 record-layer version
  // 0xFEFD or the 0xFEFF compatibility value (RFC 6347 §4.1).
  const Bytes& hello = p.clientListener.sent.front();
  EXPECT_EQ(hello[0], 22);
  EXPECT_EQ(hello[1], 0xFE);
  EXPECT_EQ(hello[kHeader], 1);  // HandshakeType client_hello
}

TEST(DtlsTransport, AesCmWhenClientOffersOnlyAesCm) {
  PairOptions o;
  o.clientOfferGcm = false;
  DtlsPair p(o);
  p.exchangeFingerprints();
  p.start();
  p.pump();
  ASSERT_TRUE(p.bothConnected());
  // RFC 5764 §4.1.2: 16-byte key + 14-byte salt.
  expectKeysMatch(p, SrtpProfile::Aes128CmSha1_80, 30);
}

TEST(DtlsTransport, AesCmWhenServerOffersOnlyAesCm) {
  PairOptions o;
  o.serverOfferGcm = false;
  DtlsPair p(o);
  p.exchangeFingerprints();
  p.start();
  p.pump();
  ASSERT_TRUE(p.bothConnected());
  expectKeysMatch(p, SrtpProfile::Aes128CmSha1_80, 30);
}

TEST(DtlsTransport, ServerPreferenceDecidesTheProfile) {
  {
    PairOptions o;
    o.clientPreferGcm = false;  // offers AES-CM first, GCM second
    DtlsPair p(o);
    p.exchangeFingerprints();
    p.start();
    p.pump();
    ASSERT_TRUE(p.bothConnected());
    expectKeysMatch(p, SrtpProfile::AeadAes128Gcm, 28);
  }
  {
    PairOptions o;
    o.serverPreferGcm = false;
    DtlsPair p(o);
    p.exchangeFingerprints();
    p.start();
    p.pump();
    ASSERT_TRUE(p.bothConnected());
    expectKeysMatch(p, SrtpProfile::Aes128CmSha1_80, 30);
  }
}

TEST(DtlsTransport, FingerprintComparisonIsCaseInsensitive) {
  DtlsPair p;
  std::string lower = p.serverCert->fingerprintSha256();
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  p.client.setRemoteFingerprint("SHA-256", lower);
  p.server.setRemoteFingerprint("sha-256", p.clientCert->fingerprintSha256());
  p.start();
  p.pump();
  EXPECT_TRUE(p.bothConnected());
}

TEST(DtlsTransport, OtherFingerprintAlgorithmsAreHonoured) {
  DtlsPair p;
  p.client.setRemoteFingerprint("sha-384", fingerprintOf(p.serverCert->x509(), "sha-384").value());
  p.server.setRemoteFingerprint("sha-1", fingerprintOf(p.clientCert->x509(), "sha-1").value());
  p.start();
  p.pump();
  EXPECT_TRUE(p.bothConnected());
}

TEST(DtlsTransport, FingerprintMismatchFails) {
  DtlsPair p;
  auto other = Certificate::generate("impostor").value();
  p.client.setRemoteFingerprint("sha-256", other->fingerprintSha256());
  p.server.setRemoteFingerprint("sha-256", p.clientCert->fingerprintSha256());
  p.start();
  p.pump();
  EXPECT_EQ(p.client.state(), DtlsState::Failed);
  ASSERT_TRUE(p.clientListener.failure.has_value());
  EXPECT_EQ(p.clientListener.failure->code, "DTLS_FINGERPRINT_MISMATCH");
  EXPECT_EQ(p.clientListener.failedCount, 1);
  EXPECT_EQ(p.clientListener.connectedCount, 0);
  EXPECT_FALSE(p.clientListener.keys.has_value());
  EXPECT_FALSE(p.client.nextTimeout().has_value());
  // The client rejected the certificate during the handshake: the server got a fatal bad_certificate alert.
  EXPECT_EQ(p.server.state(), DtlsState::Failed);
  ASSERT_TRUE(p.serverListener.failure.has_value());
  EXPECT_NE(p.serverListener.failure->message.find("bad certificate"), std::string::npos)
      << p.serverListener.failure->message;
  EXPECT_EQ(p.serverListener.connectedCount, 0);
  // Nothing can be sent over a failed transport.
  EXPECT_FALSE(p.client.send(asBytes("x")).ok());
}

TEST(DtlsTransport, ServerRejectsClientCertificateWithWrongFingerprint) {
  DtlsPair p;
  auto other = Certificate::generate("impostor").value();
  p.client.setRemoteFingerprint("sha-256", p.serverCert->fingerprintSha256());
  p.server.setRemoteFingerprint("sha-256", other->fingerprintSha256());
  p.start();
  p.pump();
  EXPECT_EQ(p.server.state(), DtlsState::Failed);
  ASSERT_TRUE(p.serverListener.failure.has_value());
  EXPECT_EQ(p.serverListener.failure->code, "DTLS_FINGERPRINT_MISMATCH");
  EXPECT_FALSE(p.serverListener.keys.has_value());
}

TEST(DtlsTransport, FingerprintSetAfterHandshakeCompletesConnection) {
  DtlsPair p;
  p.client.setRemoteFingerprint("sha-256", p.serverCert->fingerprintSha256());
  p.start();
  p.pump();
  EXPECT_EQ(p.client.state(), DtlsState::Connected);
  EXPECT_EQ(p.server.state(), DtlsState::Connecting);  // handshake done, fingerprint unknown
  EXPECT_EQ(p.serverListener.connectedCount, 0);
  p.server.setRemoteFingerprint("sha-256", p.clientCert->fingerprintSha256());
  EXPECT_TRUE(p.bothConnected());
  expectKeysMatch(p, SrtpProfile::AeadAes128Gcm, 28);
}

TEST(DtlsTransport, LostServerFlightIsRetransmitted) {
  DtlsPair p;
  p.exchangeFingerprints();
  // Drop the server's first flight (ServerHello .. ServerHelloDone): the client must resend its ClientHello
  // when its timer fires (RFC 6347 §4.2.4) and the server answers again.
  p.drop = [](bool fromClient, std::size_t index, const Bytes&) { return !fromClient && index == 0; };
  p.start();
  p.pump();
  EXPECT_FALSE(p.bothConnected());
  ASSERT_TRUE(p.client.nextTimeout().has_value());
  const auto began = Clock::now();
  p.runUntilSettled();
  EXPECT_TRUE(p.bothConnected());
  EXPECT_GE(Clock::now() - began, std::chrono::milliseconds(500));  // waited for OpenSSL's ~1 s timer
  expectKeysMatch(p, SrtpProfile::AeadAes128Gcm, 28);
}

TEST(DtlsTransport, LostFinalServerFlightIsRecovered) {
  DtlsPair p;
  p.exchangeFingerprints();
  // Drop everything the server sends after its first flight, once: that is its ChangeCipherSpec + Finished.
  // The server is already done; the client's retransmitted flight makes the server resend its last flight.
  std::size_t firstFlightDatagrams = 0;
  bool dropped = false;
  p.drop = [&](bool fromClient, std::size_t index, const Bytes& d) {
    if (fromClient) return false;
    if (d[0] == 22 && d[3] == 0 && d[4] == 0) {  // epoch 0 handshake: first flight
      ++firstFlightDatagrams;
      return false;
    }
    if (!dropped) {
      dropped = true;
      return true;
    }
    return false;
  };
  p.start();
  p.pump();
  EXPECT_TRUE(dropped);
  EXPECT_GT(firstFlightDatagrams, 0U);
  EXPECT_EQ(p.server.state(), DtlsState::Connected);
  EXPECT_EQ(p.client.state(), DtlsState::Connecting);
  p.runUntilSettled();
  EXPECT_TRUE(p.bothConnected());
  expectKeysMatch(p, SrtpProfile::AeadAes128Gcm, 28);
}

TEST(DtlsTransport, GarbageDatagramsAreHarmless) {
  DtlsPair p;
  p.exchangeFingerprints();
  std::mt19937 rng(1234);
  auto garbage = [&](std::size_t n, bool dtlsLike) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (dtlsLike && n > 0) b[0] = static_cast<std::uint8_t>(20 + rng() % 44);
    if (dtlsLike && n >= 3) {
      b[1] = 0xFE;
      b[2] = 0xFD;
    }
    return b;
  };
  auto spray = [&](DtlsTransport& t) {
    for (std::size_t n : {0, 1, 12, 13, 14, 25, 100, 300, 1200, 1500, 9000}) {
      t.handleDatagram(garbage(n, true), Clock::now());
      t.handleDatagram(garbage(n, false), Clock::now());
    }
  };
  // Before start (server auto-starts on input), during, and after the handshake.
  spray(p.server);
  spray(p.client);
  p.start();
  spray(p.server);
  spray(p.client);
  p.clientListener.outbox.clear();  // whatever the garbage provoked (ignored, typically nothing)
  p.serverListener.outbox.clear();
  p.client.handleTimeout(Clock::now());
  // A fresh ClientHello still completes the handshake (possibly after a retransmission).
  p.runUntilSettled();
  ASSERT_TRUE(p.bothConnected());
  spray(p.server);
  spray(p.client);
  p.pump();
  EXPECT_TRUE(p.bothConnected());
  EXPECT_EQ(p.clientListener.failedCount + p.serverListener.failedCount, 0);
  ASSERT_TRUE(p.client.send(asBytes("still alive")).ok());
  p.pump();
  ASSERT_EQ(p.serverListener.received.size(), 1U);
}

TEST(DtlsTransport, ApplicationDataRoundTrip) {
  DtlsPair p;
  p.exchangeFingerprints();
  EXPECT_FALSE(p.client.send(asBytes("early")).ok());  // not connected yet
  p.start();
  p.pump();
  ASSERT_TRUE(p.bothConnected());
  ASSERT_TRUE(p.client.send(asBytes("hello server")).ok());
  ASSERT_TRUE(p.server.send(asBytes("hello client")).ok());
  Bytes big(1100);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i);
  ASSERT_TRUE(p.client.send(big).ok());
  p.pump();
  ASSERT_EQ(p.serverListener.received.size(), 2U);
  EXPECT_EQ(asString(p.serverListener.received[0]), "hello server");
  EXPECT_EQ(p.serverListener.received[1], big);
  ASSERT_EQ(p.clientListener.received.size(), 1U);
  EXPECT_EQ(asString(p.clientListener.received[0]), "hello client");
  // Application data records are encrypted: the plaintext does not appear on the wire.
  const Bytes& wire = p.clientListener.sent.back();
  EXPECT_EQ(wire[0], 23);  // application_data
  EXPECT_LE(wire.size(), DtlsTransport::kMaxDatagramSize);
  EXPECT_EQ(std::search(wire.begin(), wire.end(), big.begin(), big.begin() + 32), wire.end());
}

TEST(DtlsTransport, SeveralRecordsInOneDatagramAreAllDelivered) {
  DtlsPair p;
  p.exchangeFingerprints();
  p.start();
  p.pump();
  ASSERT_TRUE(p.bothConnected());
  ASSERT_TRUE(p.server.send(asBytes("a")).ok());
  ASSERT_TRUE(p.server.send(asBytes("b")).ok());
  ASSERT_EQ(p.serverListener.outbox.size(), 2U);
  Bytes combined = p.serverListener.outbox[0];
  combined.insert(combined.end(), p.serverListener.outbox[1].begin(), p.serverListener.outbox[1].end());
  p.serverListener.outbox.clear();
  p.client.handleDatagram(combined, Clock::now());
  ASSERT_EQ(p.clientListener.received.size(), 2U);
  EXPECT_EQ(asString(p.clientListener.received[0]), "a");
  EXPECT_EQ(asString(p.clientListener.received[1]), "b");
}

TEST(DtlsTransport, CloseNotifyClosesPeer) {
  DtlsPair p;
  p.exchangeFingerprints();
  p.start();
  p.pump();
  ASSERT_TRUE(p.bothConnected());
  p.client.close();
  EXPECT_EQ(p.client.state(), DtlsState::Closed);
  EXPECT_EQ(p.clientListener.closedCount, 0);  // only a received close_notify is reported
  p.pump();
  EXPECT_EQ(p.server.state(), DtlsState::Closed);
  EXPECT_EQ(p.serverListener.closedCount, 1);
  EXPECT_EQ(p.serverListener.failedCount, 0);
  EXPECT_FALSE(p.server.send(asBytes("late")).ok());
  EXPECT_FALSE(p.server.nextTimeout().has_value());
}

TEST(DtlsTransport, FatalAlertFailsHandshake) {
  DtlsPair p;
  p.exchangeFingerprints();
  p.client.start(Clock::now());
  p.clientListener.outbox.clear();
  // An epoch-0 fatal handshake_failure alert (RFC 5246 §7.2), as a server refusing us would send.
  const Bytes alert = {21, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40};
  p.client.handleDatagram(alert, Clock::now());
  EXPECT_EQ(p.client.state(), DtlsState::Failed);
  ASSERT_TRUE(p.clientListener.failure.has_value());
  EXPECT_EQ(p.clientListener.failure->code, "DTLS_HANDSHAKE_FAILED");
  EXPECT_FALSE(p.clientListener.failure->message.empty());
  EXPECT_FALSE(p.client.nextTimeout().has_value());
}

TEST(DtlsTransport, ServerStartsOnEarlyClientHello) {
  DtlsPair p;
  p.exchangeFingerprints();
  p.client.start(Clock::now());  // the server never had start() called
  p.pump();
  EXPECT_TRUE(p.bothConnected());
}

TEST(DtlsTransport, TimerDeadlineIsRelativeToInjectedNow) {
  DtlsPair p;
  p.exchangeFingerprints();
  const TimePoint fake = TimePoint{} + std::chrono::hours(1);
  p.client.start(fake);
  ASSERT_TRUE(p.client.nextTimeout().has_value());
  const auto delta = *p.client.nextTimeout() - fake;
  EXPECT_GT(delta, std::chrono::milliseconds(0));
  EXPECT_LE(delta, std::chrono::seconds(1));
  // Firing early per OpenSSL's clock retransmits nothing and re-arms relative to the new `now`.
  const std::size_t before = p.clientListener.sent.size();
  p.client.handleTimeout(fake + std::chrono::seconds(2));
  EXPECT_EQ(p.clientListener.sent.size(), before);
  ASSERT_TRUE(p.client.nextTimeout().has_value());
  EXPECT_GT(*p.client.nextTimeout(), fake + std::chrono::seconds(2));
}

}  // namespace
}  // namespace stagecast::dtls
