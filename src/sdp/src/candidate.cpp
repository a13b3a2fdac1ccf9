// ICE candidate attribute (RFC 8839 §5.1):
//   candidate-attribute = "candidate" ":" foundation SP component-id SP transport SP priority SP
//                         connection-address SP port SP "typ" SP cand-type
//                         [SP rel-addr] [SP rel-port] *(SP cand-extension)
// rel-addr/rel-port ("raddr"/"rport") and RFC 6544 "tcptype" have the same "name value" shape as the
// extensions, so all trailing pairs are read alike; tcptype goes to its own field.
#include "stagecast/sdp/session_description.hpp"

#include "text_util.hpp"

namespace stagecast::sdp {

namespace {
Error candidateError(const std::string& why) { return Error{"SDP_MALFORMED", "candidate: " + why}; }
}  // namespace

Result<Candidate> Candidate::parse(std::string_view value) {
  value = detail::trim(value);
  if (value.starts_with("a=")) value.remove_prefix(2);
  if (value.starts_with("candidate:")) value.remove_prefix(10);
  auto t = detail::tokens(value);
  if (t.size() < 8) return candidateError("expected at least 8 fields");
  Candidate c;
  c.foundation = std::string(t[0]);
  auto component = detail::parseUint<std::uint32_t>(t[1]);
  if (!component) return candidateError("bad component id");
  c.component = *component;
  c.transport = detail::toLower(t[2]);
  auto priority = detail::parseUint<std::uint32_t>(t[3]);
  if (!priority) return candidateError("bad priority");
  c.priority = *priority;
  c.address = std::string(t[4]);
  auto port = detail::parseUint<std::uint16_t>(t[5]);
  if (!port) return candidateError("bad port");
  c.port = *port;
  if (t[6] != "typ") return candidateError("expected \"typ\"");
  c.type = std::string(t[7]);
  if ((t.size() - 8) % 2 != 0) return candidateError("extension without value");
  for (std::size_t i = 8; i + 1 < t.size(); i += 2) {
    if (t[i] == "tcptype") {
      c.tcpType = std::string(t[i + 1]);
    } else {
      c.extensions[std::string(t[i])] = std::string(t[i + 1]);
    }
  }
  return c;
}

std::string Candidate::toString() const {
  std::string out = "candidate:" + foundation + " " + std::to_string(component) + " " + transport + " " +
                    std::to_string(priority) + " " + address + " " + std::to_string(port) + " typ " + type;
  // RFC 8839 §5.1 order: rel-addr, rel-port, then extensions (tcptype first, RFC 6544 §4.5).
  auto raddr = extensions.find("raddr");
  if (raddr != extensions.end()) out += " raddr " + raddr->second;
  auto rport = extensions.find("rport");
  if (rport != extensions.end()) out += " rport " + rport->second;
  if (!tcpType.empty()) out += " tcptype " + tcpType;
  for (const auto& [key, value] : extensions) {
    if (key == "raddr" || key == "rport") continue;
    out += " " + key + " " + value;
  }
  return out;
}

}  // namespace stagecast::sdp
