// SDP writer: RFC 8866 §5 line order with CRLF endings; attribute order follows what browsers emit
// (RFC 8829 §5.2.1 / §5.3.1 list the attributes of offers and answers).
#include <string>

#include "stagecast/sdp/session_description.hpp"

namespace stagecast::sdp {

namespace {

std::string_view setupName(SetupRole r) {
  switch (r) {
    case SetupRole::ActPass:
      return "actpass";
    case SetupRole::Active:
      return "active";
    case SetupRole::Passive:
      return "passive";
    case SetupRole::HoldConn:
      return "holdconn";
  }
  return "actpass";
}

class Writer {
 public:
  void line(std::string_view type, std::string_view value) {
    out_.append(type);
    out_.append(value);
    out_.append("\r\n");
  }
  void attr(std::string_view name) { line("a=", name); }
  void attr(std::string_view name, std::string_view value) {
    out_.append("a=");
    out_.append(name);
    out_.push_back(':');
    out_.append(value);
    out_.append("\r\n");
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out.push_back(' ');
    out += s;
  }
  return out;
}

void writeMedia(Writer& w, const MediaSection& m) {
  // RFC 8866 §5.14. Formats default to the codec payload types when the model was built without them.
  std::string mline = m.kind + " " + std::to_string(m.port) + " " + m.protocol;
  if (!m.formats.empty()) {
    for (const auto& f : m.formats) mline += " " + f;
  } else {
    for (const auto& c : m.codecs) mline += " " + std::to_string(c.payloadType);
  }
  w.line("m=", mline);
  w.line("c=", m.connection);
  if (!m.mid.empty()) w.attr("mid", m.mid);
  if (m.iceUfrag) w.attr("ice-ufrag", *m.iceUfrag);
  if (m.icePwd) w.attr("ice-pwd", *m.icePwd);
  if (!m.iceOptions.empty()) w.attr("ice-options", joined(m.iceOptions));
  if (m.fingerprint) w.attr("fingerprint", m.fingerprint->algorithm + " " + m.fingerprint->value);
  if (m.setup) w.attr("setup", setupName(*m.setup));
  w.attr(toString(m.direction));
  if (m.rtcpMux) w.attr("rtcp-mux");
  if (m.rtcpRsize) w.attr("rtcp-rsize");
  for (const auto& msid : m.msids) w.attr("msid", msid);
  for (const auto& c : m.codecs) {
    std::string pt = std::to_string(c.payloadType);
    if (!c.name.empty()) {
      std::string map = pt + " " + c.name + "/" + std::to_string(c.clockRate);
      if (c.channels != 0) map += "/" + std::to_string(c.channels);
      w.attr("rtpmap", map);
    }
    for (const auto& fb : c.rtcpFeedback) w.attr("rtcp-fb", pt + " " + fb);
    if (!c.fmtp.empty()) w.attr("fmtp", pt + " " + c.fmtp);
  }
  for (const auto& e : m.extmaps) {
    std::string id = std::to_string(e.id);
    if (e.direction) id += "/" + std::string(toString(*e.direction));
    w.attr("extmap", id + " " + e.uri);
  }
  for (const auto& g : m.ssrcGroups) {
    std::string v = g.semantics;
    for (auto s : g.ssrcs) v += " " + std::to_string(s);
    w.attr("ssrc-group", v);
  }
  for (const auto& s : m.ssrcs) {
    std::string id = std::to_string(s.ssrc);
    // RFC 5576 §6.1: cname is mandatory for every SSRC; an empty one is written so the SSRC survives.
    if (!s.cname.empty() || s.msid.empty()) w.attr("ssrc", id + " cname:" + s.cname);
    if (!s.msid.empty()) w.attr("ssrc", id + " msid:" + s.msid);
  }
  for (const auto& r : m.rids) {
    std::string v = r.id + (r.direction == Direction::RecvOnly ? " recv" : " send");
    if (!r.params.empty()) v += " " + r.params;
    w.attr("rid", v);
  }
  if (m.simulcast) w.attr("simulcast", *m.simulcast);
  if (m.sctpPort) w.attr("sctp-port", std::to_string(*m.sctpPort));
  if (m.maxMessageSize) w.attr("max-message-size", std::to_string(*m.maxMessageSize));
  for (const auto& c : m.candidates) w.attr(c.toString());
  if (m.endOfCandidates) w.attr("end-of-candidates");
  for (const auto& a : m.otherAttributes) w.attr(a);
}

}  // namespace

std::string serialize(const SessionDescription& sdp) {
  Writer w;
  w.line("v=", "0");
  w.line("o=", sdp.originUsername + " " + std::to_string(sdp.sessionId) + " " + std::to_string(sdp.sessionVersion) +
                   " " + sdp.originAddress);
  w.line("s=", sdp.sessionName);
  w.line("t=", "0 0");
  for (const auto& g : sdp.groups) {
    std::string v = g.semantics;
    for (const auto& mid : g.mids) v += " " + mid;
    w.attr("group", v);
  }
  if (sdp.iceLite) w.attr("ice-lite");
  if (!sdp.msidSemantic.empty()) w.attr("msid-semantic", " " + sdp.msidSemantic);
  if (sdp.extmapAllowMixed) w.attr("extmap-allow-mixed");
  if (sdp.fingerprint) w.attr("fingerprint", sdp.fingerprint->algorithm + " " + sdp.fingerprint->value);
  if (sdp.iceUfrag) w.attr("ice-ufrag", *sdp.iceUfrag);
  if (sdp.icePwd) w.attr("ice-pwd", *sdp.icePwd);
  if (!sdp.iceOptions.empty()) w.attr("ice-options", joined(sdp.iceOptions));
  if (sdp.setup) w.attr("setup", setupName(*sdp.setup));
  for (const auto& a : sdp.otherAttributes) w.attr(a);
  for (const auto& m : sdp.media) writeMedia(w, m);
  return w.take();
}

}  // namespace stagecast::sdp
