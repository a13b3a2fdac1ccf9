#include "stagecast/stun/message.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "stagecast/common/byte_reader.hpp"
#include "stagecast/common/byte_writer.hpp"
#include "stagecast/common/crypto.hpp"

namespace stagecast::stun {

namespace {

constexpr std::uint32_t kFingerprintXor = 0x5354554e;  // RFC 8489 §14.7
constexpr std::size_t kAttrHeaderSize = 4;
constexpr std::size_t kMessageIntegritySize = 20;    // RFC 8489 §14.5
constexpr std::size_t kFingerprintSize = 4;          // RFC 8489 §14.7
constexpr std::size_t kMaxUsernameBytes = 513;       // RFC 8489 §14.3
constexpr std::size_t kMaxTextBytes = 763;           // RFC 8489 §14.8-14.10, §14.14: < 128 chars, <= 763 bytes
constexpr std::size_t kMaxUnknownAttributes = 1024;  // keeps serialize() within the 16-bit length field
constexpr std::uint8_t kFamilyIpv4 = 0x01;           // RFC 8489 §14.1
constexpr std::uint8_t kFamilyIpv6 = 0x02;

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", static_cast<unsigned>(v));
  return buf;
}

const char* attrName(std::uint16_t type) {
  switch (type) {
    case attr::kMappedAddress:
      return "MAPPED-ADDRESS";
    case attr::kUsername:
      return "USERNAME";
    case attr::kMessageIntegrity:
      return "MESSAGE-INTEGRITY";
    case attr::kErrorCode:
      return "ERROR-CODE";
    case attr::kUnknownAttributes:
      return "UNKNOWN-ATTRIBUTES";
    case attr::kRealm:
      return "REALM";
    case attr::kNonce:
      return "NONCE";
    case attr::kMessageIntegritySha256:
      return "MESSAGE-INTEGRITY-SHA256";
    case attr::kXorMappedAddress:
      return "XOR-MAPPED-ADDRESS";
    case attr::kPriority:
      return "PRIORITY";
    case attr::kUseCandidate:
      return "USE-CANDIDATE";
    case attr::kSoftware:
      return "SOFTWARE";
    case attr::kFingerprint:
      return "FINGERPRINT";
    case attr::kIceControlled:
      return "ICE-CONTROLLED";
    case attr::kIceControlling:
      return "ICE-CONTROLLING";
    default:
      return "attribute";
  }
}

Error malformed(std::string message) { return Error{"STUN_MALFORMED", std::move(message)}; }

Error badLength(std::uint16_t type, std::size_t got, const char* expected) {
  return malformed(std::string(attrName(type)) + " (" + hex16(type) + ") has length " + std::to_string(got) +
                   ", expected " + expected);
}

// RFC 8489 §14: attribute values are padded to a multiple of 4 bytes.
constexpr std::size_t paddingFor(std::size_t len) { return (4 - (len % 4)) % 4; }

// RFC 8489 §5: the 14-bit type interleaves the method bits M0..M11 with the class bits C0 (bit 4) and C1
// (bit 8).
std::uint16_t encodeType(Class cls, std::uint16_t method) {
  const auto m = static_cast<std::uint16_t>(method & 0x0FFF);
  const auto c = static_cast<std::uint16_t>(cls);
  return static_cast<std::uint16_t>((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0x1) << 4) |
                                    ((c & 0x2) << 7));
}

void decodeType(std::uint16_t type, Class& cls, std::uint16_t& method) {
  method = static_cast<std::uint16_t>((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
  cls = static_cast<Class>(((type >> 4) & 0x1) | ((type >> 7) & 0x2));
}

// RFC 8489 §14.2: the XOR key is the magic cookie followed by the transaction ID.
std::array<std::uint8_t, 16> xorKey(const TransactionId& tid) {
  std::array<std::uint8_t, 16> key{};
  key[0] = static_cast<std::uint8_t>(kMagicCookie >> 24);
  key[1] = static_cast<std::uint8_t>(kMagicCookie >> 16);
  key[2] = static_cast<std::uint8_t>(kMagicCookie >> 8);
  key[3] = static_cast<std::uint8_t>(kMagicCookie);
  std::copy(tid.begin(), tid.end(), key.begin() + 4);
  return key;
}

// RFC 8489 §14.1 (MAPPED-ADDRESS) and §14.2 (XOR-MAPPED-ADDRESS).
Result<Endpoint> parseAddress(std::uint16_t type, BytesView value, bool xored, const TransactionId& tid) {
  ByteReader r(value);
  std::uint8_t reserved = 0;
  std::uint8_t family = 0;
  std::uint16_t port = 0;
  if (!r.readU8(reserved) || !r.readU8(family) || !r.readU16(port)) return badLength(type, value.size(), "8 or 20");
  Endpoint e;
  std::size_t addrLen = 0;
  if (family == kFamilyIpv4) {
    addrLen = 4;
  } else if (family == kFamilyIpv6) {
    addrLen = 16;
    e.v6 = true;
  } else {
    return malformed(std::string(attrName(type)) + " has unknown address family " + std::to_string(family));
  }
  if (r.remaining() != addrLen) return badLength(type, value.size(), e.v6 ? "20 for IPv6" : "8 for IPv4");
  BytesView addr;
  r.readBytes(addrLen, addr);
  std::copy(addr.begin(), addr.end(), e.addr.begin());
  e.port = port;
  if (xored) {
    // X-Port = port XOR the most significant 16 bits of the cookie; X-Address XOR cookie (|| tid for IPv6).
    e.port = static_cast<std::uint16_t>(port ^ (kMagicCookie >> 16));
    const auto key = xorKey(tid);
    for (std::size_t i = 0; i < addrLen; ++i) e.addr[i] ^= key[i];
  }
  return e;
}

void writeAddress(ByteWriter& w, std::uint16_t type, const Endpoint& e, bool xored, const TransactionId& tid) {
  const std::size_t addrLen = e.v6 ? 16 : 4;
  w.writeU16(type);
  w.writeU16(static_cast<std::uint16_t>(4 + addrLen));
  w.writeU8(0);
  w.writeU8(e.v6 ? kFamilyIpv6 : kFamilyIpv4);
  if (xored) {
    // RFC 8489 §14.2.
    w.writeU16(static_cast<std::uint16_t>(e.port ^ (kMagicCookie >> 16)));
    const auto key = xorKey(tid);
    for (std::size_t i = 0; i < addrLen; ++i) w.writeU8(static_cast<std::uint8_t>(e.addr[i] ^ key[i]));
  } else {
    w.writeU16(e.port);
    w.writeBytes(BytesView(e.addr.data(), addrLen));
  }
}

void writeAttr(ByteWriter& w, std::uint16_t type, BytesView value) {
  w.writeU16(type);
  w.writeU16(static_cast<std::uint16_t>(value.size()));
  w.writeBytes(value);
  w.writeZeros(paddingFor(value.size()));  // RFC 8489 §14: pad to a 4-byte boundary
}

void writeText(ByteWriter& w, std::uint16_t type, const std::string& s, std::size_t maxBytes) {
  writeAttr(w, type, asBytes(std::string_view(s).substr(0, maxBytes)));
}

void writeU32Attr(ByteWriter& w, std::uint16_t type, std::uint32_t v) {
  w.writeU16(type);
  w.writeU16(4);
  w.writeU32(v);
}

void writeU64Attr(ByteWriter& w, std::uint16_t type, std::uint64_t v) {
  w.writeU16(type);
  w.writeU16(8);
  w.writeU64(v);
}

// Copy of the message prefix [0, end) with the header length field set so that the message appears to end
// at `claimedEnd` (RFC 8489 §14.5, §14.6).
Bytes prefixWithLength(BytesView datagram, std::size_t end, std::size_t claimedEnd) {
  Bytes buf(datagram.begin(), datagram.begin() + static_cast<std::ptrdiff_t>(end));
  const std::size_t len = claimedEnd - kHeaderSize;
  buf[2] = static_cast<std::uint8_t>(len >> 8);
  buf[3] = static_cast<std::uint8_t>(len);
  return buf;
}

}  // namespace

bool looksLikeStun(BytesView datagram) {
  // RFC 7983 §7: first byte 0..3; RFC 8489 §5: magic cookie, 4-byte aligned length covering the datagram.
  ByteReader r(datagram);
  std::uint16_t type = 0;
  std::uint16_t length = 0;
  std::uint32_t cookie = 0;
  if (!r.readU16(type) || !r.readU16(length) || !r.readU32(cookie) || !r.skip(12)) return false;
  return (type & 0xC000) == 0 && cookie == kMagicCookie && length % 4 == 0 &&
         static_cast<std::size_t>(length) == datagram.size() - kHeaderSize;
}

Result<Message> parse(BytesView datagram) {
  ByteReader r(datagram);
  std::uint16_t type = 0;
  std::uint16_t length = 0;
  std::uint32_t cookie = 0;
  BytesView tid;
  // RFC 8489 §5: 20-byte header.
  if (!r.readU16(type) || !r.readU16(length) || !r.readU32(cookie) || !r.readBytes(12, tid)) {
    return malformed("datagram of " + std::to_string(datagram.size()) + " bytes is shorter than the 20-byte header");
  }
  if ((type & 0xC000) != 0) return malformed("the two most significant bits of the message type are not zero");
  if (cookie != kMagicCookie) return malformed("magic cookie mismatch");
  if (length % 4 != 0) return malformed("message length " + std::to_string(length) + " is not a multiple of 4");
  if (static_cast<std::size_t>(length) != r.remaining()) {
    return malformed("message length " + std::to_string(length) + " does not match the " +
                     std::to_string(r.remaining()) + " bytes after the header");
  }

  Message msg;
  decodeType(type, msg.cls, msg.method);
  std::copy(tid.begin(), tid.end(), msg.transactionId.begin());

  // Position state for RFC 8489 §14.5-14.7.
  bool afterIntegrity = false;        // MESSAGE-INTEGRITY seen: only MI-SHA256 and FINGERPRINT still count
  bool afterIntegritySha256 = false;  // MI-SHA256 seen: only FINGERPRINT still counts

  while (!r.empty()) {
    const std::size_t attrOffset = r.position();
    std::uint16_t attrType = 0;
    std::uint16_t attrLen = 0;
    if (!r.readU16(attrType) || !r.readU16(attrLen)) {
      return malformed("truncated attribute header at offset " + std::to_string(attrOffset));
    }
    BytesView value;
    if (!r.readBytes(attrLen, value)) {
      return malformed(std::string(attrName(attrType)) + " (" + hex16(attrType) + ") at offset " +
                       std::to_string(attrOffset) + " declares length " + std::to_string(attrLen) + " but only " +
                       std::to_string(r.remaining()) + " bytes remain");
    }
    // RFC 8489 §14: padding bytes are ignored but must be present.
    if (!r.skip(paddingFor(attrLen))) {
      return malformed(std::string(attrName(attrType)) + " (" + hex16(attrType) + ") at offset " +
                       std::to_string(attrOffset) + " is missing its padding");
    }

    // RFC 8489 §14.7: FINGERPRINT is the last attribute.
    if (msg.hasFingerprint) {
      return malformed(std::string(attrName(attrType)) + " (" + hex16(attrType) + ") follows FINGERPRINT");
    }

    if (attrType == attr::kFingerprint) {
      // RFC 8489 §14.7: CRC-32 of the message up to (excluding) this attribute, XOR 0x5354554e. The header
      // length already counts FINGERPRINT because it must be the last attribute.
      if (attrLen != kFingerprintSize) return badLength(attrType, attrLen, "4");
      ByteReader vr(value);
      std::uint32_t fp = 0;
      vr.readU32(fp);
      const std::uint32_t expected = crypto::crc32(datagram.first(attrOffset)) ^ kFingerprintXor;
      if (fp != expected) return malformed("FINGERPRINT mismatch");
      msg.hasFingerprint = true;
      msg.fingerprintOffset = attrOffset;
      continue;
    }

    // RFC 8489 §14.6: after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT is processed.
    if (afterIntegritySha256) continue;

    if (attrType == attr::kMessageIntegritySha256) {
      // RFC 8489 §14.6: 16..32 bytes, a multiple of 4 (truncated HMAC-SHA256).
      if (attrLen < 16 || attrLen > 32 || attrLen % 4 != 0) {
        return badLength(attrType, attrLen, "16..32 and a multiple of 4");
      }
      msg.hasMessageIntegritySha256 = true;
      msg.messageIntegritySha256Offset = attrOffset;
      afterIntegritySha256 = true;
      continue;
    }

    // RFC 8489 §14.5: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are processed.
    if (afterIntegrity) continue;

    switch (attrType) {
      case attr::kMessageIntegrity: {
        // RFC 8489 §14.5: 20-byte HMAC-SHA1.
        if (attrLen != kMessageIntegritySize) return badLength(attrType, attrLen, "20");
        msg.hasMessageIntegrity = true;
        msg.messageIntegrityOffset = attrOffset;
        afterIntegrity = true;
        break;
      }
      case attr::kUsername: {
        // RFC 8489 §14.3: fewer than 514 bytes.
        if (attrLen > kMaxUsernameBytes) return badLength(attrType, attrLen, "at most 513");
        if (!msg.username) msg.username = std::string(asString(value));
        break;
      }
      case attr::kRealm:
      case attr::kNonce:
      case attr::kSoftware: {
        // RFC 8489 §14.9 (REALM), §14.10 (NONCE), §14.14 (SOFTWARE): at most 763 bytes when decoding.
        if (attrLen > kMaxTextBytes) return badLength(attrType, attrLen, "at most 763");
        auto& field = attrType == attr::kRealm ? msg.realm : attrType == attr::kNonce ? msg.nonce : msg.software;
        if (!field) field = std::string(asString(value));
        break;
      }
      case attr::kErrorCode: {
        // RFC 8489 §14.8: 21 reserved bits, 3-bit class (3..6), 8-bit number (0..99), UTF-8 reason.
        ByteReader vr(value);
        std::uint16_t reserved = 0;
        std::uint8_t cls = 0;
        std::uint8_t number = 0;
        if (!vr.readU16(reserved) || !vr.readU8(cls) || !vr.readU8(number)) {
          return badLength(attrType, attrLen, "at least 4");
        }
        cls &= 0x07;  // the upper 5 bits of this byte are reserved and ignored
        if (cls < 3 || cls > 6) return malformed("ERROR-CODE class " + std::to_string(cls) + " is not in 3..6");
        if (number > 99) return malformed("ERROR-CODE number " + std::to_string(number) + " is not in 0..99");
        if (vr.remaining() > kMaxTextBytes) return malformed("ERROR-CODE reason phrase is longer than 763 bytes");
        if (!msg.errorCode) msg.errorCode = ErrorCodeAttr{cls * 100 + number, std::string(asString(vr.rest()))};
        break;
      }
      case attr::kUnknownAttributes: {
        // RFC 8489 §14.13: a list of 16-bit attribute types.
        if (attrLen % 2 != 0) return badLength(attrType, attrLen, "a multiple of 2");
        if (!msg.unknownAttributes.empty()) break;
        ByteReader vr(value);
        std::uint16_t t = 0;
        while (vr.readU16(t)) msg.unknownAttributes.push_back(t);
        break;
      }
      case attr::kMappedAddress:
      case attr::kXorMappedAddress: {
        const bool xored = attrType == attr::kXorMappedAddress;
        auto ep = parseAddress(attrType, value, xored, msg.transactionId);
        if (!ep) return ep.error();
        auto& field = xored ? msg.xorMappedAddress : msg.mappedAddress;
        if (!field) field = *ep;
        break;
      }
      case attr::kPriority: {
        // RFC 8445 §7.1.1, §16.1: 32-bit priority.
        if (attrLen != 4) return badLength(attrType, attrLen, "4");
        ByteReader vr(value);
        std::uint32_t p = 0;
        vr.readU32(p);
        if (!msg.priority) msg.priority = p;
        break;
      }
      case attr::kUseCandidate: {
        // RFC 8445 §7.1.2, §16.1: no value.
        if (attrLen != 0) return badLength(attrType, attrLen, "0");
        msg.useCandidate = true;
        break;
      }
      case attr::kIceControlled:
      case attr::kIceControlling: {
        // RFC 8445 §7.1.3, §16.1: 64-bit tiebreaker.
        if (attrLen != 8) return badLength(attrType, attrLen, "8");
        ByteReader vr(value);
        std::uint64_t tb = 0;
        vr.readU64(tb);
        auto& field = attrType == attr::kIceControlled ? msg.iceControlled : msg.iceControlling;
        if (!field) field = tb;
        break;
      }
      default: {
        // RFC 8489 §6.3.1: unknown comprehension-required attributes are reported to the caller, which
        // answers requests with 420; comprehension-optional ones are ignored.
        if (attrType < 0x8000 &&
            std::find(msg.unknownComprehensionRequired.begin(), msg.unknownComprehensionRequired.end(), attrType) ==
                msg.unknownComprehensionRequired.end()) {
          msg.unknownComprehensionRequired.push_back(attrType);
        }
        break;
      }
    }
  }
  return msg;
}

bool verifyMessageIntegrity(BytesView datagram, const Message& msg, BytesView key) {
  if (!msg.hasMessageIntegrity) return false;
  const std::size_t off = msg.messageIntegrityOffset;
  const std::size_t end = off + kAttrHeaderSize + kMessageIntegritySize;
  if (off < kHeaderSize || end > datagram.size()) return false;
  ByteReader r(datagram.subspan(off));
  std::uint16_t type = 0;
  std::uint16_t len = 0;
  if (!r.readU16(type) || !r.readU16(len) || type != attr::kMessageIntegrity || len != kMessageIntegritySize) {
    return false;
  }
  // RFC 8489 §14.5: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, with the header length counting
  // through the end of MESSAGE-INTEGRITY.
  const Bytes input = prefixWithLength(datagram, off, end);
  const auto mac = crypto::hmacSha1(key, input);
  return crypto::equalConstantTime(mac, datagram.subspan(off + kAttrHeaderSize, kMessageIntegritySize));
}

bool verifyMessageIntegritySha256(BytesView datagram, const Message& msg, BytesView key) {
  if (!msg.hasMessageIntegritySha256) return false;
  const std::size_t off = msg.messageIntegritySha256Offset;
  if (off < kHeaderSize || off + kAttrHeaderSize > datagram.size()) return false;
  ByteReader r(datagram.subspan(off));
  std::uint16_t type = 0;
  std::uint16_t len = 0;
  BytesView value;
  if (!r.readU16(type) || !r.readU16(len) || type != attr::kMessageIntegritySha256 || len < 16 || len > 32 ||
      len % 4 != 0 || !r.readBytes(len, value)) {
    return false;
  }
  // RFC 8489 §14.6: same construction as §14.5 with HMAC-SHA256, truncated to the attribute length.
  const Bytes input = prefixWithLength(datagram, off, off + kAttrHeaderSize + len);
  const auto mac = crypto::hmacSha256(key, input);
  return crypto::equalConstantTime(BytesView(mac.data(), len), value);
}

std::array<std::uint8_t, 16> longTermKey(std::string_view username, std::string_view realm, std::string_view password) {
  // RFC 8489 §9.2.2: key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password)).
  std::string material;
  material.reserve(username.size() + realm.size() + password.size() + 2);
  material.append(username).append(":").append(realm).append(":").append(password);
  return crypto::md5(asBytes(material));
}

Bytes serialize(const Message& msg, const SerializeOptions& options) {
  ByteWriter w(256);
  // RFC 8489 §5: header; the length is patched once the attributes are written.
  w.writeU16(encodeType(msg.cls, msg.method));
  w.writeU16(0);
  w.writeU32(kMagicCookie);
  w.writeBytes(msg.transactionId);

  if (msg.username) writeText(w, attr::kUsername, *msg.username, kMaxUsernameBytes);
  if (msg.realm) writeText(w, attr::kRealm, *msg.realm, kMaxTextBytes);
  if (msg.nonce) writeText(w, attr::kNonce, *msg.nonce, kMaxTextBytes);
  if (msg.errorCode) {
    // RFC 8489 §14.8: class = hundreds digit, number = code modulo 100.
    const int code = std::clamp(msg.errorCode->code, 300, 699);
    const std::string_view reason = std::string_view(msg.errorCode->reason).substr(0, kMaxTextBytes);
    w.writeU16(attr::kErrorCode);
    w.writeU16(static_cast<std::uint16_t>(4 + reason.size()));
    w.writeU16(0);
    w.writeU8(static_cast<std::uint8_t>(code / 100));
    w.writeU8(static_cast<std::uint8_t>(code % 100));
    w.writeBytes(asBytes(reason));
    w.writeZeros(paddingFor(reason.size()));
  }
  if (!msg.unknownAttributes.empty()) {
    // RFC 8489 §14.13.
    const std::size_t n = std::min(msg.unknownAttributes.size(), kMaxUnknownAttributes);
    w.writeU16(attr::kUnknownAttributes);
    w.writeU16(static_cast<std::uint16_t>(2 * n));
    for (std::size_t i = 0; i < n; ++i) w.writeU16(msg.unknownAttributes[i]);
    w.writeZeros(paddingFor(2 * n));
  }
  if (msg.priority) writeU32Attr(w, attr::kPriority, *msg.priority);
  if (msg.useCandidate) writeAttr(w, attr::kUseCandidate, {});
  if (msg.iceControlled) writeU64Attr(w, attr::kIceControlled, *msg.iceControlled);
  if (msg.iceControlling) writeU64Attr(w, attr::kIceControlling, *msg.iceControlling);
  if (msg.xorMappedAddress) writeAddress(w, attr::kXorMappedAddress, *msg.xorMappedAddress, true, msg.transactionId);
  if (msg.mappedAddress) writeAddress(w, attr::kMappedAddress, *msg.mappedAddress, false, msg.transactionId);
  if (msg.software) writeText(w, attr::kSoftware, *msg.software, kMaxTextBytes);

  if (options.integrityKey) {
    // RFC 8489 §14.5: the length covers MESSAGE-INTEGRITY while the HMAC is computed over what precedes it.
    w.patchU16(2, static_cast<std::uint16_t>(w.size() - kHeaderSize + kAttrHeaderSize + kMessageIntegritySize));
    const auto mac = crypto::hmacSha1(*options.integrityKey, w.bytes());
    w.writeU16(attr::kMessageIntegrity);
    w.writeU16(static_cast<std::uint16_t>(kMessageIntegritySize));
    w.writeBytes(mac);
  }
  if (options.fingerprint) {
    // RFC 8489 §14.7: the length covers FINGERPRINT; CRC-32 of what precedes it, XOR 0x5354554e.
    w.patchU16(2, static_cast<std::uint16_t>(w.size() - kHeaderSize + kAttrHeaderSize + kFingerprintSize));
    const std::uint32_t crc = crypto::crc32(w.bytes()) ^ kFingerprintXor;
    w.writeU16(attr::kFingerprint);
    w.writeU16(static_cast<std::uint16_t>(kFingerprintSize));
    w.writeU32(crc);
  }
  w.patchU16(2, static_cast<std::uint16_t>(w.size() - kHeaderSize));
  return w.take();
}

Message makeBindingSuccess(const TransactionId& tid, const Endpoint& mapped) {
  // RFC 8489 §7.3.1.1 / RFC 8445 §7.3.1.4: a Binding success response carries XOR-MAPPED-ADDRESS.
  Message m;
  m.cls = Class::SuccessResponse;
  m.method = kMethodBinding;
  m.transactionId = tid;
  m.xorMappedAddress = mapped;
  return m;
}

Message makeBindingError(const TransactionId& tid, int code, std::string reason) {
  // RFC 8489 §6.3.1.1: an error response carries ERROR-CODE.
  Message m;
  m.cls = Class::ErrorResponse;
  m.method = kMethodBinding;
  m.transactionId = tid;
  m.errorCode = ErrorCodeAttr{code, std::move(reason)};
  return m;
}

}  // namespace stagecast::stun
