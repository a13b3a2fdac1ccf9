#pragma once
// Outbound SRTP/SRTCP protection on OpenSSL 3 EVP (AES-NI), used by every Direction::Outbound SrtpSession.
// Inbound (unprotect, with the RFC 3711 §3.3.2 replay list) stays on libsrtp2.
//
//   AES_CM_128_HMAC_SHA1_80  RFC 3711 §4.1.1 (AES-CM), §4.2.1 (HMAC-SHA1, 80-bit tag), §3.4 (SRTCP)
//   AEAD_AES_128_GCM         RFC 7714 §8 (SRTP), §9 (SRTCP), §11 (key derivation), 16-octet tag
//
// Keys are derived once (RFC 3711 §4.3.1, key_derivation_rate 0) and the cipher / digest contexts are keyed
// once (HMAC-SHA1 pads pre-hashed once); a packet only re-initialises the IV, so protect() allocates nothing.
#include <openssl/evp.h>
#include <openssl/sha.h>  // SHA_CTX: see hmacSha1_80 in the .cpp for why not EVP_MD / EVP_MAC

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/error.hpp"
#include "stagecast/srtp/srtp_session.hpp"

namespace stagecast::srtp::detail {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;
using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherDeleter>;

// RFC 3711 §4.3.1 key derivation with the AES-CM PRF (§4.3.3) and key_derivation_rate 0 (r = 0):
// x = (label || 0^48) XOR master_salt, output = AES-CM keystream(master_key, IV = x * 2^16), first `out.size()`
// bytes. `masterSalt` is 14 bytes; for AEAD_AES_128_GCM the caller pads the 12-byte salt (RFC 7714 §11).
// Exposed for tests.
bool deriveSessionKey(BytesView masterKey, BytesView masterSalt14, std::uint8_t label, std::span<std::uint8_t> out);

// Sender-side packet index of RTP sequence number `seq` given the highest index sent so far (RFC 3711 §3.3.1:
// the ROC counts wraps of SEQ). A sequence number far behind the highest one (a retransmission from before a
// wrap) gets the previous ROC, as in the receiver's estimate of RFC 3711 Appendix A; while the highest index is
// still within the first half of ROC 0 the ROC is 0. Exposed for tests.
std::uint64_t estimateIndex(std::uint64_t highestIndex, std::uint16_t seq);

class OutboundProtector {
 public:
  static Result<std::unique_ptr<OutboundProtector>> create(Profile profile, BytesView keySalt);
  ~OutboundProtector();
  OutboundProtector(const OutboundProtector&) = delete;
  OutboundProtector& operator=(const OutboundProtector&) = delete;

  // In place; on error the size is unchanged (the content too unless a cipher call itself failed).
  Status protectRtp(Bytes& packet);
  Status protectRtcp(Bytes& packet);

 private:
  OutboundProtector() = default;

  // One keyed transform: SRTP and SRTCP each have their own session keys (RFC 3711 §4.3.2 labels).
  struct Transform {
    CipherCtxPtr cipher;                  // AES-128-CTR or AES-128-GCM, key set once
    std::array<std::uint8_t, 14> salt{};  // session salt: 14 bytes (AES-CM) or 12 (GCM)
    SHA_CTX innerPad{};                   // HMAC-SHA1 (RFC 2104) state after (K XOR ipad), AES-CM only
    SHA_CTX outerPad{};                   // state after (K XOR opad)
  };

  // Per-SSRC sender state (RFC 3711 §3.2.1 cryptographic context, one per SSRC).
  struct Stream {
    std::uint64_t highestIndex = 0;  // ROC * 2^16 + SEQ of the highest RTP packet protected
    std::uint32_t rtcpIndex = 0;     // last SRTCP index used (RFC 3711 §3.3.2: first packet gets 1)
  };

  Status initTransform(Transform& t, BytesView masterKey, BytesView masterSalt14, std::uint8_t encLabel,
                       std::uint8_t authLabel, std::uint8_t saltLabel);
  bool hmacSha1_80(const Transform& t, BytesView message, BytesView suffix, std::uint8_t* tag);
  bool aesCm(const Transform& t, const std::array<std::uint8_t, 16>& iv, std::uint8_t* data, std::size_t len);
  bool aesGcm(const Transform& t, const std::array<std::uint8_t, 12>& iv, BytesView aad1, BytesView aad2,
              std::uint8_t* data, std::size_t len, std::uint8_t* tag);
  Stream& stream(std::uint32_t ssrc);

  Profile profile_ = Profile::Aes128CmSha1_80;
  CipherPtr ctr_;  // fetched once (explicit fetch: no per-use method-store lookup)
  CipherPtr gcm_;
  Transform rtp_;
  Transform rtcp_;
  // A peer sends a handful of SSRCs (audio, video, RTX, RTCP): a flat list beats a hash map here.
  std::vector<std::pair<std::uint32_t, Stream>> streams_;
};

}  // namespace stagecast::srtp::detail
