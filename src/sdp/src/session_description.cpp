// Helpers of the SDP model (RFC 8866) that are not parsing or serialization.
#include "stagecast/sdp/session_description.hpp"

#include "text_util.hpp"

namespace stagecast::sdp {

std::string_view toString(Direction d) {
  // RFC 8866 §6.7.
  switch (d) {
    case Direction::SendRecv:
      return "sendrecv";
    case Direction::SendOnly:
      return "sendonly";
    case Direction::RecvOnly:
      return "recvonly";
    case Direction::Inactive:
      return "inactive";
  }
  return "sendrecv";
}

Direction reverse(Direction d) {
  // RFC 3264 §6.1: an answer to sendonly is recvonly and vice versa.
  switch (d) {
    case Direction::SendOnly:
      return Direction::RecvOnly;
    case Direction::RecvOnly:
      return Direction::SendOnly;
    default:
      return d;
  }
}

std::map<std::string, std::string> Codec::fmtpParams() const {
  // RFC 8866 §6.15 leaves the format to the codec; every WebRTC codec uses "key=value;key=value".
  std::map<std::string, std::string> out;
  std::string_view rest(fmtp);
  while (!rest.empty()) {
    std::size_t semi = rest.find(';');
    std::string_view item = detail::trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      out[detail::toLower(item)] = "";
    } else {
      out[detail::toLower(detail::trim(item.substr(0, eq)))] = std::string(detail::trim(item.substr(eq + 1)));
    }
  }
  return out;
}

bool Codec::isRtx() const { return detail::iequals(name, "rtx"); }

std::optional<std::uint8_t> Codec::rtxApt() const {
  // RFC 4588 §8.6: apt= names the associated original payload type.
  if (!isRtx()) return std::nullopt;
  auto params = fmtpParams();
  auto it = params.find("apt");
  if (it == params.end()) return std::nullopt;
  return detail::parsePayloadType(it->second);
}

const Codec* MediaSection::findCodec(std::uint8_t pt) const {
  for (const auto& c : codecs) {
    if (c.payloadType == pt) return &c;
  }
  return nullptr;
}

std::optional<std::uint8_t> MediaSection::extmapId(std::string_view uri) const {
  for (const auto& e : extmaps) {
    if (e.uri == uri) return e.id;
  }
  return std::nullopt;
}

// RFC 8839 §5.4 / RFC 8122 §5: media-level attributes override session-level ones.
std::optional<std::string> SessionDescription::iceUfragFor(const MediaSection& m) const {
  return m.iceUfrag ? m.iceUfrag : iceUfrag;
}

std::optional<std::string> SessionDescription::icePwdFor(const MediaSection& m) const {
  return m.icePwd ? m.icePwd : icePwd;
}

std::optional<Fingerprint> SessionDescription::fingerprintFor(const MediaSection& m) const {
  return m.fingerprint ? m.fingerprint : fingerprint;
}

std::optional<SetupRole> SessionDescription::setupFor(const MediaSection& m) const { return m.setup ? m.setup : setup; }

const Group* SessionDescription::bundleGroup() const {
  for (const auto& g : groups) {
    if (detail::iequals(g.semantics, "BUNDLE")) return &g;
  }
  return nullptr;
}

}  // namespace stagecast::sdp
