// Micro-benchmarks of participant tokens: ES384 sign and verify of a typical token.
#include <benchmark/benchmark.h>

#include "stagecast/auth/token.hpp"

using namespace stagecast;

namespace {

constexpr std::int64_t kNow = 1'700'000'000;

auth::Claims typicalClaims() {
  auth::Claims c;
  c.jti = "k3v9q2m8x1z7w4r6";
  c.resource = "stage/42";
  c.topic = "keynote";
  c.userId = "user-1234";
  c.attributes = {{"name", "Ada"}, {"role", "speaker"}};
  c.capabilities.allowPublish = true;
  c.capabilities.allowSubscribe = true;
  c.whipUrl = "https://media.example.test/whip/stage/42";
  c.iat = kNow;
  c.exp = kNow + 3600;
  return c;
}

void BM_TokenSign(benchmark::State& state) {
  const auth::TokenSigner signer(*auth::SigningKey::generate());
  const auth::Claims claims = typicalClaims();
  for (auto _ : state) benchmark::DoNotOptimize(signer.sign(claims));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenSign);

void BM_TokenVerify(benchmark::State& state) {
  const auto key = *auth::SigningKey::generate();
  const std::string token = *auth::TokenSigner(key).sign(typicalClaims());
  const auth::TokenVerifier verifier(key);
  for (auto _ : state) benchmark::DoNotOptimize(verifier.verify(token, kNow));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(token.size()) + "-byte token");
}
BENCHMARK(BM_TokenVerify);

// Rejection of a token with a bad signature costs the same as verification; garbage is cheap.
void BM_TokenRejectGarbage(benchmark::State& state) {
  const auth::TokenVerifier verifier(*auth::SigningKey::generate());
  const std::string garbage(600, 'A');
  for (auto _ : state) benchmark::DoNotOptimize(verifier.verify(garbage, kNow));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenRejectGarbage);

}  // namespace

BENCHMARK_MAIN();
