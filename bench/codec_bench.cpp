// Micro-benchmarks of the per-packet forwarding path: RTP parse, per-viewer rewrite, SRTP protect.
#include <benchmark/benchmark.h>

#include "stagecast/common/crypto.hpp"
#include "stagecast/rtp/rtp_packet.hpp"
#include "stagecast/sfu/outgoing_stream.hpp"
#include "stagecast/srtp/libsrtp_session.hpp"
#include "stagecast/srtp/srtp_session.hpp"

using namespace stagecast;

namespace {

Bytes packet(std::size_t payloadSize) {
  Bytes payload(payloadSize, 0xab);
  payload[0] = 0x10;  // VP8 descriptor, start of partition
  Bytes out;
  rtp::write({.marker = false, .payloadType = 96, .sequenceNumber = 1, .timestamp = 1, .ssrc = 7}, {}, payload, out);
  return out;
}

void BM_RtpParse(benchmark::State& state) {
  const Bytes p = packet(1150);
  for (auto _ : state) benchmark::DoNotOptimize(rtp::parse(p));
}
BENCHMARK(BM_RtpParse);

void BM_ForwardRewrite(benchmark::State& state) {
  sfu::SourceTrack source("video", 4000, 8 << 20);
  source.attachPublisher({.payloadType = 96, .name = "VP8", .clockRate = 90000});
  std::size_t bytes = 0;
  sfu::OutgoingStream stream(
      {.ssrc = 1,
       .payloadType = 96,
       .midExtensionId = 1,
       .absSendTimeExtensionId = 2,
       .mid = "1",
       .clockRate = 90000,
       .video = true},
      [&](Bytes& p) { bytes += p.size(); }, [](TimePoint) {});
  stream.start(source, Clock::now());
  Bytes raw = packet(1150);
  raw[12] = 0x10;  // VP8: start of partition 0
  raw[13] = 0x00;  // keyframe (P bit clear), so the stream starts at once
  auto shared = std::make_shared<const Bytes>(raw);
  auto parsed = *rtp::parse(*shared);
  std::uint16_t seq = 0;
  for (auto _ : state) {
    parsed.sequenceNumber = seq++;
    stream.forward(parsed, shared, source.generation(), TimePoint{});
  }
  benchmark::DoNotOptimize(bytes);
}
BENCHMARK(BM_ForwardRewrite);

// Outbound SRTP protect of a 1150-byte payload. range(1): 0 = SrtpSession (OpenSSL EVP outbound path),
// 1 = the libsrtp2 reference session (the previous implementation), for before/after on the same machine.
void BM_SrtpProtect(benchmark::State& state) {
  const auto profile = static_cast<srtp::Profile>(state.range(0));
  const bool libsrtp = state.range(1) != 0;
  Bytes key(srtp::keySaltLength(profile));
  crypto::randomBytes(key.data(), key.size());
  auto session = libsrtp ? srtp::createLibsrtpSession(profile, key, srtp::Direction::Outbound)
                         : srtp::SrtpSession::create(profile, key, srtp::Direction::Outbound);
  Bytes base = packet(1150);
  Bytes p;
  p.reserve(1300);
  std::uint16_t seq = 0;
  for (auto _ : state) {
    p.assign(base.begin(), base.end());
    p[2] = static_cast<std::uint8_t>(seq >> 8);
    p[3] = static_cast<std::uint8_t>(seq++);
    benchmark::DoNotOptimize((*session)->protectRtp(p));
  }
  state.SetLabel(std::string(profile == srtp::Profile::AeadAes128Gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80") +
                 (libsrtp ? " libsrtp2" : " openssl"));
}
BENCHMARK(BM_SrtpProtect)
    ->Args({static_cast<int>(srtp::Profile::AeadAes128Gcm), 0})
    ->Args({static_cast<int>(srtp::Profile::AeadAes128Gcm), 1})
    ->Args({static_cast<int>(srtp::Profile::Aes128CmSha1_80), 0})
    ->Args({static_cast<int>(srtp::Profile::Aes128CmSha1_80), 1});

}  // namespace

BENCHMARK_MAIN();
