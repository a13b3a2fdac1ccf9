#include "srtp_outbound.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <algorithm>
#include <climits>
#include <cstring>

// SHA1_Init / SHA1_Update / SHA1_Final are deprecated since OpenSSL 3.0 but still the only SHA-1 interface that
// neither allocates nor walks the provider parameter layer per message (see hmacSha1_80).
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace stagecast::srtp::detail {

namespace {

// RFC 3711 §4.3.2 / §4.3.3 key derivation labels.
constexpr std::uint8_t kLabelRtpEncryption = 0x00;
constexpr std::uint8_t kLabelRtpAuth = 0x01;
constexpr std::uint8_t kLabelRtpSalt = 0x02;
constexpr std::uint8_t kLabelRtcpEncryption = 0x03;
constexpr std::uint8_t kLabelRtcpAuth = 0x04;
constexpr std::uint8_t kLabelRtcpSalt = 0x05;

constexpr std::size_t kMasterKeyLength = 16;  // AES-128
constexpr std::size_t kCmSaltLength = 14;     // RFC 3711 §8.2: 112-bit master / session salt
constexpr std::size_t kGcmSaltLength = 12;    // RFC 7714 §11 / §12: 96-bit master / session salt
constexpr std::size_t kAuthKeyLength = 20;    // RFC 3711 §5.2: n_a = 160 for HMAC-SHA1
constexpr std::size_t kCmTagLength = 10;      // RFC 3711 §5.2: n_tag = 80
constexpr std::size_t kGcmTagLength = 16;     // RFC 7714 §14.2: AEAD_AES_128_GCM, 16-octet tag
constexpr std::size_t kSrtcpIndexLength = 4;  // RFC 3711 §3.4: E (1 bit) || SRTCP index (31 bits)
constexpr std::uint32_t kMaxSrtcpIndex = 0x7fffffff;
constexpr std::uint32_t kEBit = 0x80000000;

constexpr std::size_t kMinRtpSize = 12;  // RFC 3550 §5.1 fixed header
constexpr std::size_t kMinRtcpSize = 8;  // RFC 3711 §3.4: first 8 octets stay in the clear
// RFC 3711 §4.1.1: at most 2^16 keystream blocks per packet (16-bit block counter); GCM (RFC 7714 §8.1) is
// bounded the same way in practice. Larger packets cannot occur on UDP anyway.
constexpr std::size_t kMaxEncryptedLength = std::size_t{1} << 20;

Error protectError(const char* message) { return {"SRTP_PROTECT_FAILED", message}; }

std::uint16_t readU16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t readU32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
void writeU32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
// XORs the big-endian value `v` into the `n` bytes ending before `end`.
void xorBigEndian(std::uint8_t* end, std::uint64_t v, int n) {
  for (int i = 1; i <= n; ++i, v >>= 8) end[-i] ^= static_cast<std::uint8_t>(v);
}

// RFC 3550 §5.1 / §5.3.1: length of the RTP header including CSRCs and the header extension; 0 if the packet
// is shorter than its header claims. RFC 3711 §3.1 / RFC 7714 §8.2: everything after it is the payload.
std::size_t rtpHeaderLength(const std::uint8_t* p, std::size_t len) {
  std::size_t n = kMinRtpSize + 4 * static_cast<std::size_t>(p[0] & 0x0f);
  if ((p[0] & 0x10) != 0) {  // X bit: 16-bit profile field, 16-bit length in 32-bit words, then the words
    if (len < n + 4) return 0;
    n += 4 + 4 * static_cast<std::size_t>(readU16(p + n + 2));
  }
  return len < n ? 0 : n;
}

}  // namespace

bool deriveSessionKey(BytesView masterKey, BytesView masterSalt14, std::uint8_t label, std::span<std::uint8_t> out) {
  if (masterKey.size() != kMasterKeyLength || masterSalt14.size() != kCmSaltLength) return false;
  // RFC 3711 §4.3.1: key_id = label || r (r = index DIV key_derivation_rate = 0, 48 bits), right-aligned with
  // the 112-bit master salt, so the label lands on salt octet 7. §4.3.3: IV = x * 2^16 (16-bit block counter).
  std::array<std::uint8_t, 16> iv{};
  std::copy(masterSalt14.begin(), masterSalt14.end(), iv.begin());
  iv[7] ^= label;
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ctr(), nullptr, masterKey.data(), iv.data()) != 1) {
    return false;
  }
  // The PRF output is the keystream itself: encrypt zeros.
  std::fill(out.begin(), out.end(), std::uint8_t{0});
  int outLen = 0;
  return EVP_EncryptUpdate(ctx.get(), out.data(), &outLen, out.data(), static_cast<int>(out.size())) == 1 &&
         static_cast<std::size_t>(outLen) == out.size();
}

std::uint64_t estimateIndex(std::uint64_t highestIndex, std::uint16_t seq) {
  if (highestIndex <= 0x8000) return seq;  // ROC 0: a sequence number "behind" cannot mean ROC -1
  const std::uint64_t roc = highestIndex >> 16;
  const std::uint32_t highSeq = static_cast<std::uint16_t>(highestIndex);
  std::uint64_t guess = roc;
  if (highSeq < 0x8000) {
    // seq far ahead of a low highest SEQ: sent before the last wrap (RFC 3711 Appendix A: v = ROC - 1).
    if (seq > highSeq && seq - highSeq > 0x8000) guess = roc - 1;
  } else if (highSeq - 0x8000 > seq) {
    guess = roc + 1;  // SEQ wrapped: RFC 3711 §3.3.1, the sender increments the ROC
  }
  return (guess << 16) | seq;
}

OutboundProtector::~OutboundProtector() {
  for (Transform* t : {&rtp_, &rtcp_}) {
    OPENSSL_cleanse(&t->innerPad, sizeof t->innerPad);
    OPENSSL_cleanse(&t->outerPad, sizeof t->outerPad);
  }
}

Result<std::unique_ptr<OutboundProtector>> OutboundProtector::create(Profile profile, BytesView keySalt) {
  const bool gcm = profile == Profile::AeadAes128Gcm;
  const std::size_t saltLength = gcm ? kGcmSaltLength : kCmSaltLength;
  if (keySalt.size() != kMasterKeyLength + saltLength) return Error{"SRTP_BAD_KEY", "bad master key||salt length"};

  std::unique_ptr<OutboundProtector> out(new OutboundProtector());
  out->profile_ = profile;
  out->ctr_.reset(EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr));
  out->gcm_.reset(EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr));
  if (!out->ctr_ || !out->gcm_) {
    return Error{"SRTP_CREATE_FAILED", "OpenSSL AES-128-CTR / AES-128-GCM unavailable"};
  }

  // RFC 7714 §11: the AES-CM PRF takes a 112-bit salt; the 96-bit GCM master salt is extended with two zero
  // octets on the right.
  std::array<std::uint8_t, kCmSaltLength> masterSalt{};
  std::copy(keySalt.begin() + kMasterKeyLength, keySalt.end(), masterSalt.begin());
  const BytesView masterKey = keySalt.first(kMasterKeyLength);
  Status st = out->initTransform(out->rtp_, masterKey, masterSalt, kLabelRtpEncryption, kLabelRtpAuth, kLabelRtpSalt);
  if (st.ok()) {
    st = out->initTransform(out->rtcp_, masterKey, masterSalt, kLabelRtcpEncryption, kLabelRtcpAuth, kLabelRtcpSalt);
  }
  OPENSSL_cleanse(masterSalt.data(), masterSalt.size());
  if (!st.ok()) return st.error();
  return out;
}

Status OutboundProtector::initTransform(Transform& t, BytesView masterKey, BytesView masterSalt14,
                                        std::uint8_t encLabel, std::uint8_t authLabel, std::uint8_t saltLabel) {
  const bool gcm = profile_ == Profile::AeadAes128Gcm;
  std::array<std::uint8_t, kMasterKeyLength> encKey{};
  std::array<std::uint8_t, kAuthKeyLength> authKey{};
  bool ok = deriveSessionKey(masterKey, masterSalt14, encLabel, encKey) &&
            deriveSessionKey(masterKey, masterSalt14, saltLabel,
                             std::span<std::uint8_t>(t.salt.data(), gcm ? kGcmSaltLength : kCmSaltLength));
  if (ok && !gcm) {
    // RFC 3711 §4.2.1 / RFC 2104 §2: the 20-byte auth key is shorter than the SHA-1 block, so K is zero padded;
    // the first compression of the inner (K XOR ipad) and outer (K XOR opad) hashes is done once here.
    ok = deriveSessionKey(masterKey, masterSalt14, authLabel, authKey);
    std::array<std::uint8_t, 64> ipad{};
    std::array<std::uint8_t, 64> opad{};
    ipad.fill(0x36);
    opad.fill(0x5c);
    for (std::size_t i = 0; i < authKey.size(); ++i) {
      ipad[i] ^= authKey[i];
      opad[i] ^= authKey[i];
    }
    ok = ok && SHA1_Init(&t.innerPad) == 1 && SHA1_Update(&t.innerPad, ipad.data(), ipad.size()) == 1 &&
         SHA1_Init(&t.outerPad) == 1 && SHA1_Update(&t.outerPad, opad.data(), opad.size()) == 1;
    OPENSSL_cleanse(ipad.data(), ipad.size());
    OPENSSL_cleanse(opad.data(), opad.size());
  }
  t.cipher.reset(EVP_CIPHER_CTX_new());
  ok = ok && t.cipher &&
       EVP_EncryptInit_ex(t.cipher.get(), gcm ? gcm_.get() : ctr_.get(), nullptr, encKey.data(), nullptr) == 1;
  // RFC 7714 §8.1: 96-bit IV (OpenSSL's GCM default, set explicitly anyway).
  if (ok && gcm) ok = EVP_CIPHER_CTX_ctrl(t.cipher.get(), EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1;
  OPENSSL_cleanse(encKey.data(), encKey.size());
  OPENSSL_cleanse(authKey.data(), authKey.size());
  if (!ok) return Error{"SRTP_CREATE_FAILED", "session key derivation / cipher setup failed"};
  return {};
}

OutboundProtector::Stream& OutboundProtector::stream(std::uint32_t ssrc) {
  for (auto& [id, st] : streams_) {
    if (id == ssrc) return st;
  }
  return streams_.emplace_back(ssrc, Stream{}).second;  // allocates only the first time an SSRC is seen
}

// RFC 3711 §4.2.1: HMAC-SHA1(auth key, message || suffix) truncated to 80 bits, continuing from the pre-hashed
// pads (RFC 2104 §2). Not EVP: on OpenSSL 3.0 every EVP_DigestInit_ex / EVP_MD_CTX_copy_ex / EVP_MAC_init frees
// and re-allocates the provider digest context (two mallocs per packet, measured), while SHA_CTX is a plain
// struct copied by value; the SHA-1 block function (SHA-NI / AVX2) is the same.
bool OutboundProtector::hmacSha1_80(const Transform& t, BytesView message, BytesView suffix, std::uint8_t* tag) {
  std::array<std::uint8_t, SHA_DIGEST_LENGTH> inner{};
  std::array<std::uint8_t, SHA_DIGEST_LENGTH> outer{};
  SHA_CTX c = t.innerPad;
  bool ok = SHA1_Update(&c, message.data(), message.size()) == 1 &&
            (suffix.empty() || SHA1_Update(&c, suffix.data(), suffix.size()) == 1) && SHA1_Final(inner.data(), &c) == 1;
  c = t.outerPad;
  ok = ok && SHA1_Update(&c, inner.data(), inner.size()) == 1 && SHA1_Final(outer.data(), &c) == 1;
  OPENSSL_cleanse(&c, sizeof c);
  if (ok) std::memcpy(tag, outer.data(), kCmTagLength);
  return ok;
}

// RFC 3711 §4.1.1: AES-128 in counter mode, in place. Only the IV changes per packet: EVP_EncryptInit_ex with
// a null cipher and key keeps the expanded key and resets the counter state.
bool OutboundProtector::aesCm(const Transform& t, const std::array<std::uint8_t, 16>& iv, std::uint8_t* data,
                              std::size_t len) {
  int outLen = 0;
  return EVP_EncryptInit_ex(t.cipher.get(), nullptr, nullptr, nullptr, iv.data()) == 1 &&
         (len == 0 || EVP_EncryptUpdate(t.cipher.get(), data, &outLen, data, static_cast<int>(len)) == 1);
}

// RFC 7714 §5 / §7: AES-GCM with AAD = aad1 || aad2, plaintext encrypted in place, 16-octet tag to `tag`.
// The tag is read with EVP_CIPHER_CTX_get_params rather than EVP_CIPHER_CTX_ctrl(EVP_CTRL_AEAD_GET_TAG): on
// OpenSSL 3 the ctrl is a translation layer to the same parameter call, and it also discards the context's
// cached IV length, which EVP_EncryptInit_ex then re-queries from the provider on every packet.
bool OutboundProtector::aesGcm(const Transform& t, const std::array<std::uint8_t, 12>& iv, BytesView aad1,
                               BytesView aad2, std::uint8_t* data, std::size_t len, std::uint8_t* tag) {
  EVP_CIPHER_CTX* c = t.cipher.get();
  int outLen = 0;
  OSSL_PARAM tagParam[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kGcmTagLength),
                           OSSL_PARAM_construct_end()};
  return EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv.data()) == 1 &&
         EVP_EncryptUpdate(c, nullptr, &outLen, aad1.data(), static_cast<int>(aad1.size())) == 1 &&
         (aad2.empty() || EVP_EncryptUpdate(c, nullptr, &outLen, aad2.data(), static_cast<int>(aad2.size())) == 1) &&
         (len == 0 || EVP_EncryptUpdate(c, data, &outLen, data, static_cast<int>(len)) == 1) &&
         EVP_EncryptFinal_ex(c, data + len, &outLen) == 1 && EVP_CIPHER_CTX_get_params(c, tagParam) == 1;
}

Status OutboundProtector::protectRtp(Bytes& packet) {
  const std::size_t len = packet.size();
  if (len < kMinRtpSize) return protectError("packet too short");
  const std::size_t headerLength = rtpHeaderLength(packet.data(), len);
  if (headerLength == 0) return protectError("RTP header longer than the packet");
  const std::size_t payloadLength = len - headerLength;
  if (payloadLength > kMaxEncryptedLength) return protectError("packet too long");

  const std::uint16_t seq = readU16(packet.data() + 2);
  const std::uint32_t ssrc = readU32(packet.data() + 8);
  Stream& s = stream(ssrc);
  // RFC 3711 §3.3.1: i = 2^16 * ROC + SEQ.
  const std::uint64_t index = estimateIndex(s.highestIndex, seq);
  const std::uint64_t roc = index >> 16;
  if (roc > 0xffffffffU) return protectError("ROC exhausted: rekey (RFC 3711 §9.2)");

  const bool gcm = profile_ == Profile::AeadAes128Gcm;
  const std::size_t tagLength = gcm ? kGcmTagLength : kCmTagLength;
  // Within the capacity the caller reserved (kMaxTrailer), this does not reallocate.
  packet.resize(len + tagLength);
  std::uint8_t* p = packet.data();
  bool ok = false;
  if (gcm) {
    // RFC 7714 §8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt (96 bits).
    std::array<std::uint8_t, 12> iv{};
    std::copy_n(rtp_.salt.begin(), kGcmSaltLength, iv.begin());
    xorBigEndian(iv.data() + 6, ssrc, 4);
    xorBigEndian(iv.data() + 12, index, 6);  // ROC || SEQ = the 48-bit index
    // RFC 7714 §8.2: AAD = the whole RTP header (CSRCs and extension included); tag follows the ciphertext.
    ok = aesGcm(rtp_, iv, BytesView(p, headerLength), {}, p + headerLength, payloadLength, p + len);
  } else {
    // RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).
    std::array<std::uint8_t, 16> iv{};
    std::copy_n(rtp_.salt.begin(), kCmSaltLength, iv.begin());
    xorBigEndian(iv.data() + 8, ssrc, 4);
    xorBigEndian(iv.data() + 14, index, 6);
    // RFC 3711 §4.2 / §3.1: tag = HMAC over the authenticated portion (header || encrypted payload) || ROC.
    std::array<std::uint8_t, 4> rocBytes{};
    writeU32(rocBytes.data(), static_cast<std::uint32_t>(roc));
    ok = aesCm(rtp_, iv, p + headerLength, payloadLength) && hmacSha1_80(rtp_, BytesView(p, len), rocBytes, p + len);
  }
  if (!ok) {
    packet.resize(len);
    return protectError("OpenSSL cipher failure");
  }
  s.highestIndex = std::max(s.highestIndex, index);
  return {};
}

Status OutboundProtector::protectRtcp(Bytes& packet) {
  const std::size_t len = packet.size();
  if (len < kMinRtcpSize) return protectError("packet too short");
  if (len - kMinRtcpSize > kMaxEncryptedLength) return protectError("packet too long");
  // RFC 3711 §3.4: the SSRC of the first packet of the compound packet selects the cryptographic context.
  const std::uint32_t ssrc = readU32(packet.data() + 4);
  Stream& s = stream(ssrc);
  if (s.rtcpIndex >= kMaxSrtcpIndex) return protectError("SRTCP index exhausted: rekey (RFC 3711 §9.2)");
  const std::uint32_t index = s.rtcpIndex + 1;
  // E = 1: the packet is encrypted (both profiles always encrypt SRTCP).
  std::array<std::uint8_t, kSrtcpIndexLength> trailer{};
  writeU32(trailer.data(), kEBit | index);

  const bool gcm = profile_ == Profile::AeadAes128Gcm;
  const std::size_t tagLength = gcm ? kGcmTagLength : kCmTagLength;
  packet.resize(len + kSrtcpIndexLength + tagLength);
  std::uint8_t* p = packet.data();
  std::uint8_t* encrypted = p + kMinRtcpSize;
  const std::size_t encryptedLength = len - kMinRtcpSize;
  bool ok = false;
  if (gcm) {
    // RFC 7714 §9.1: IV = (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt (96 bits).
    std::array<std::uint8_t, 12> iv{};
    std::copy_n(rtcp_.salt.begin(), kGcmSaltLength, iv.begin());
    xorBigEndian(iv.data() + 6, ssrc, 4);
    xorBigEndian(iv.data() + 12, index, 4);
    // RFC 7714 §9.2 / §17: AAD = first 8 octets || E || SRTCP index. Layout (§9.1 figure): header, ciphertext,
    // 16-octet tag, then E || SRTCP index.
    ok = aesGcm(rtcp_, iv, BytesView(p, kMinRtcpSize), trailer, encrypted, encryptedLength, p + len);
    if (ok) std::copy(trailer.begin(), trailer.end(), p + len + tagLength);
  } else {
    // RFC 3711 §3.4 / §4.1.1: IV as for SRTP with the SRTCP index in place of i.
    std::array<std::uint8_t, 16> iv{};
    std::copy_n(rtcp_.salt.begin(), kCmSaltLength, iv.begin());
    xorBigEndian(iv.data() + 8, ssrc, 4);
    xorBigEndian(iv.data() + 14, index, 6);
    // RFC 3711 §3.4: authenticated portion = header || encrypted portion || E || SRTCP index; tag appended.
    std::copy(trailer.begin(), trailer.end(), p + len);
    ok = aesCm(rtcp_, iv, encrypted, encryptedLength) &&
         hmacSha1_80(rtcp_, BytesView(p, len + kSrtcpIndexLength), {}, p + len + kSrtcpIndexLength);
  }
  if (!ok) {
    packet.resize(len);
    return protectError("OpenSSL cipher failure");
  }
  s.rtcpIndex = index;
  return {};
}

}  // namespace stagecast::srtp::detail
