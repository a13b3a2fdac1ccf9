#pragma once
// STUN message codec (RFC 8489). Pure: no sockets, no clocks. Parsers never throw.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stagecast/common/bytes.hpp"
#include "stagecast/common/endpoint.hpp"
#include "stagecast/common/error.hpp"

namespace stagecast::stun {

constexpr std::uint32_t kMagicCookie = 0x2112A442;  // RFC 8489 §5
constexpr std::size_t kHeaderSize = 20;

// RFC 8489 §5: the class bits C1 C0.
enum class Class : std::uint8_t { Request = 0, Indication = 1, SuccessResponse = 2, ErrorResponse = 3 };
constexpr std::uint16_t kMethodBinding = 0x001;

// Attribute types (RFC 8489 §18.3, RFC 8445 §16.1).
namespace attr {
constexpr std::uint16_t kMappedAddress = 0x0001;
constexpr std::uint16_t kUsername = 0x0006;
constexpr std::uint16_t kMessageIntegrity = 0x0008;
constexpr std::uint16_t kErrorCode = 0x0009;
constexpr std::uint16_t kUnknownAttributes = 0x000A;
constexpr std::uint16_t kRealm = 0x0014;
constexpr std::uint16_t kNonce = 0x0015;
constexpr std::uint16_t kMessageIntegritySha256 = 0x001C;
constexpr std::uint16_t kXorMappedAddress = 0x0020;
constexpr std::uint16_t kPriority = 0x0024;
constexpr std::uint16_t kUseCandidate = 0x0025;
constexpr std::uint16_t kSoftware = 0x8022;
constexpr std::uint16_t kFingerprint = 0x8028;
constexpr std::uint16_t kIceControlled = 0x8029;
constexpr std::uint16_t kIceControlling = 0x802A;
}  // namespace attr

using TransactionId = std::array<std::uint8_t, 12>;

struct ErrorCodeAttr {
  int code = 0;  // 300..699
  std::string reason;
};

// A decoded STUN message. Only the attributes ICE needs are typed; others are kept raw.
struct Message {
  Class cls = Class::Request;
  std::uint16_t method = kMethodBinding;
  TransactionId transactionId{};

  std::optional<std::string> username;
  std::optional<std::string> realm;
  std::optional<std::string> nonce;
  std::optional<std::string> software;
  std::optional<std::uint32_t> priority;
  bool useCandidate = false;
  std::optional<std::uint64_t> iceControlling;
  std::optional<std::uint64_t> iceControlled;
  std::optional<Endpoint> xorMappedAddress;
  std::optional<Endpoint> mappedAddress;
  std::optional<ErrorCodeAttr> errorCode;
  std::vector<std::uint16_t> unknownAttributes;  // UNKNOWN-ATTRIBUTES content (error responses)

  // Filled by parse(): presence and byte offset (from message start) of the integrity attributes.
  bool hasMessageIntegrity = false;
  bool hasMessageIntegritySha256 = false;
  bool hasFingerprint = false;
  std::size_t messageIntegrityOffset = 0;
  std::size_t messageIntegritySha256Offset = 0;
  std::size_t fingerprintOffset = 0;
  // Comprehension-required (type < 0x8000) attributes this codec does not know (RFC 8489 §6.3.1).
  std::vector<std::uint16_t> unknownComprehensionRequired;
};

// Quick demultiplexing check (RFC 7983 §7, RFC 8489 §5): first two bits zero, magic cookie present,
// length a multiple of 4 and consistent with the datagram size.
bool looksLikeStun(BytesView datagram);

// Parses a whole STUN message. Fails on truncation, bad lengths, bad attribute values, a FINGERPRINT that
// does not match, or attributes after FINGERPRINT. Attributes after MESSAGE-INTEGRITY other than
// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are ignored (RFC 8489 §14.5).
Result<Message> parse(BytesView datagram);

// Verifies MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) of a parsed message against `key`.
// Short-term credentials: key = the password (SASLprep skipped: ICE passwords are ASCII).
// Long-term credentials: key = longTermKey(username, realm, password).
bool verifyMessageIntegrity(BytesView datagram, const Message& msg, BytesView key);
// Verifies MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6).
bool verifyMessageIntegritySha256(BytesView datagram, const Message& msg, BytesView key);
// MD5(username ":" realm ":" password) (RFC 8489 §9.2.2).
std::array<std::uint8_t, 16> longTermKey(std::string_view username, std::string_view realm, std::string_view password);

struct SerializeOptions {
  std::optional<Bytes> integrityKey;  // adds MESSAGE-INTEGRITY when set
  bool fingerprint = true;            // adds FINGERPRINT last
};

// Serializes with attributes in a fixed order: USERNAME, REALM, NONCE, ERROR-CODE, UNKNOWN-ATTRIBUTES,
// PRIORITY, USE-CANDIDATE, ICE-CONTROLLED, ICE-CONTROLLING, XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, SOFTWARE,
// then MESSAGE-INTEGRITY and FINGERPRINT. Values that parse() would reject are clamped so the output always
// parses: USERNAME to 513 bytes, REALM/NONCE/SOFTWARE/reason phrase to 763 bytes, the error code to 300..699,
// UNKNOWN-ATTRIBUTES to 1024 entries.
Bytes serialize(const Message& msg, const SerializeOptions& options);

// Helpers for building responses.
Message makeBindingSuccess(const TransactionId& tid, const Endpoint& mapped);
Message makeBindingError(const TransactionId& tid, int code, std::string reason);

}  // namespace stagecast::stun
