// SDP parser (RFC 8866 §5 grammar, §6 attributes) plus the WebRTC attributes of RFC 8829 §5.8.
// Never throws: numbers go through std::from_chars and every failure is an Error with the line number.
#include <array>
#include <string>

#include "stagecast/sdp/session_description.hpp"
#include "text_util.hpp"

namespace stagecast::sdp {

namespace {

using detail::firstToken;
using detail::parseUint;
using detail::tokens;
using detail::trim;

constexpr std::string_view kDefaultConnection = "IN IP4 0.0.0.0";

// One logical line of the input: "<type>=<value>", CR/LF and trailing blanks removed.
struct Line {
  std::size_t number = 0;
  char type = 0;
  std::string_view value;
};

// Walks `text` line by line (RFC 8866 §5: CRLF, but a lone LF is tolerated). Blank lines are skipped.
// Returns the error message of the first line that is not "<letter>=...", or calls fn for every line; fn returns
// an empty string on success or an error message.
template <class Fn>
std::optional<Error> forEachLine(std::string_view text, Fn&& fn) {
  std::size_t pos = 0;
  std::size_t number = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    // RFC 8866 §9: byte-string excludes NUL, CR and LF.
    if (raw.find('\r') != std::string_view::npos || raw.find('\0') != std::string_view::npos) {
      return Error{"SDP_MALFORMED", "line " + std::to_string(number) + ": control character in line"};
    }
    while (!raw.empty() && detail::isSpace(raw.back())) raw.remove_suffix(1);
    if (raw.empty()) continue;
    if (raw.size() < 2 || raw[1] != '=' || raw[0] < 'a' || raw[0] > 'z') {
      return Error{"SDP_MALFORMED", "line " + std::to_string(number) + ": expected <type>=<value>"};
    }
    std::string err = fn(Line{number, raw[0], raw.substr(2)});
    if (!err.empty()) return Error{"SDP_MALFORMED", "line " + std::to_string(number) + ": " + err};
  }
  return std::nullopt;
}

// RFC 8866 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...
std::string parseMediaLine(std::string_view value, MediaSection& m) {
  auto t = tokens(value);
  if (t.size() < 4) return "m= line needs <media> <port> <proto> <fmt>";
  m.kind = std::string(t[0]);
  std::string_view port = t[1];
  std::size_t slash = port.find('/');
  if (slash != std::string_view::npos) {
    if (!parseUint<std::uint16_t>(port.substr(slash + 1))) return "bad port count on m= line";
    port = port.substr(0, slash);
  }
  auto p = parseUint<std::uint16_t>(port);
  if (!p) return "bad port on m= line";
  m.port = *p;
  m.protocol = std::string(t[2]);
  // For RTP profiles the formats are payload type numbers (RFC 8866 §5.14, RFC 3551 §6).
  bool rtp = m.protocol.find("RTP/") != std::string::npos;
  std::array<bool, 128> seen{};
  for (std::size_t i = 3; i < t.size(); ++i) {
    m.formats.emplace_back(t[i]);
    if (!rtp) continue;
    auto pt = detail::parsePayloadType(t[i]);
    if (!pt) return "bad payload type \"" + std::string(t[i]) + "\" on m= line";
    if (seen[*pt]) return "duplicate payload type " + std::to_string(*pt) + " on m= line";
    seen[*pt] = true;
    Codec c;
    c.payloadType = *pt;
    m.codecs.push_back(std::move(c));
  }
  return {};
}

std::string parseFingerprint(std::string_view value, std::optional<Fingerprint>& out) {
  // RFC 8122 §5: fingerprint-attribute = "fingerprint" ":" hash-func SP fingerprint
  std::string_view rest;
  std::string_view alg = firstToken(value, rest);
  if (alg.empty() || rest.empty()) return "bad fingerprint";
  out = Fingerprint{detail::toLower(alg), detail::toUpper(rest)};
  return {};
}

std::string parseSetup(std::string_view value, std::optional<SetupRole>& out) {
  // RFC 4145 §4 (as updated by RFC 8842).
  value = trim(value);
  if (detail::iequals(value, "actpass")) {
    out = SetupRole::ActPass;
  } else if (detail::iequals(value, "active")) {
    out = SetupRole::Active;
  } else if (detail::iequals(value, "passive")) {
    out = SetupRole::Passive;
  } else if (detail::iequals(value, "holdconn")) {
    out = SetupRole::HoldConn;
  } else {
    return "bad setup value";
  }
  return {};
}

std::optional<Direction> parseDirection(std::string_view s) {
  if (s == "sendrecv") return Direction::SendRecv;
  if (s == "sendonly") return Direction::SendOnly;
  if (s == "recvonly") return Direction::RecvOnly;
  if (s == "inactive") return Direction::Inactive;
  return std::nullopt;
}

std::vector<std::string> tokenStrings(std::string_view value) {
  std::vector<std::string> out;
  for (auto t : tokens(value)) out.emplace_back(t);
  return out;
}

class Parser {
 public:
  Result<SessionDescription> run(std::string_view text) {
    auto err = forEachLine(text, [this](const Line& l) { return onLine(l); });
    if (err) return *err;
    if (!sawVersion_) return Error{"SDP_MALFORMED", "line 1: missing v= line"};
    finishMedia();
    return std::move(sdp_);
  }

 private:
  std::string onLine(const Line& l) {
    if (!sawVersion_) {
      // RFC 8866 §5.1: the first line is "v=0".
      if (l.type != 'v') return "missing v= line";
      if (trim(l.value) != "0") return "unsupported version";
      sawVersion_ = true;
      return {};
    }
    switch (l.type) {
      case 'v':
        return "duplicate v= line";
      case 'o':
        return media_ ? std::string() : parseOrigin(l.value);
      case 's':
        if (!media_) sdp_.sessionName = std::string(l.value);
        return {};
      case 'c':
        return parseConnection(l.value);
      case 'm': {
        finishMedia();
        MediaSection m;
        m.connection = sessionConnection_.value_or(std::string(kDefaultConnection));
        auto err = parseMediaLine(l.value, m);
        if (!err.empty()) return err;
        sdp_.media.push_back(std::move(m));
        media_ = &sdp_.media.back();
        ptIndex_.fill(-1);
        for (std::size_t i = 0; i < media_->codecs.size(); ++i) {
          ptIndex_[media_->codecs[i].payloadType] = static_cast<int>(i);
        }
        return {};
      }
      case 'a':
        return media_ ? mediaAttribute(l.value) : sessionAttribute(l.value);
      default:
        // t=, b=, i=, u=, e=, p=, z=, k=, r= and unknown types carry nothing WebRTC needs (RFC 8866 §5).
        return {};
    }
  }

  // RFC 8866 §5.2: o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
  std::string parseOrigin(std::string_view value) {
    auto t = tokens(value);
    if (t.size() != 6) return "o= line needs 6 fields";
    auto id = parseUint<std::uint64_t>(t[1]);
    auto version = parseUint<std::uint64_t>(t[2]);
    if (!id || !version) return "bad session id or version on o= line";
    sdp_.originUsername = std::string(t[0]);
    sdp_.sessionId = *id;
    sdp_.sessionVersion = *version;
    sdp_.originAddress = std::string(t[3]) + " " + std::string(t[4]) + " " + std::string(t[5]);
    return {};
  }

  // RFC 8866 §5.7: c=<nettype> <addrtype> <connection-address>
  std::string parseConnection(std::string_view value) {
    auto t = tokens(value);
    if (t.size() != 3) return "c= line needs 3 fields";
    std::string c = std::string(t[0]) + " " + std::string(t[1]) + " " + std::string(t[2]);
    if (media_) {
      media_->connection = std::move(c);
    } else {
      sessionConnection_ = std::move(c);
    }
    return {};
  }

  // RFC 3551 §6: static payload types have implied encodings.
  void finishMedia() {
    if (!media_) return;
    for (auto& c : media_->codecs) {
      if (!c.name.empty()) continue;
      if (c.payloadType == 0) {
        c.name = "PCMU";
        c.clockRate = 8000;
      } else if (c.payloadType == 8) {
        c.name = "PCMA";
        c.clockRate = 8000;
      } else if (c.payloadType == 9) {
        c.name = "G722";
        c.clockRate = 8000;  // RFC 3551 §4.5.2: the RTP clock rate is 8000 although sampled at 16 kHz
      }
    }
    media_ = nullptr;
  }

  Codec* codecFor(std::uint8_t pt) {
    int i = ptIndex_[pt];
    return i < 0 ? nullptr : &media_->codecs[static_cast<std::size_t>(i)];
  }

  static void splitAttribute(std::string_view attr, std::string_view& name, std::string_view& value, bool& hasValue) {
    std::size_t colon = attr.find(':');
    hasValue = colon != std::string_view::npos;
    name = attr.substr(0, colon);
    value = hasValue ? attr.substr(colon + 1) : std::string_view();
  }

  std::string sessionAttribute(std::string_view attr) {
    std::string_view name, value;
    bool hasValue = false;
    splitAttribute(attr, name, value, hasValue);
    if (name.empty()) return "empty attribute name";
    if (name == "group") {
      // RFC 5888 §5: a=group:<semantics> *(SP identification-tag)
      auto t = tokens(value);
      if (t.empty()) return "group without semantics";
      Group g;
      g.semantics = std::string(t[0]);
      for (std::size_t i = 1; i < t.size(); ++i) g.mids.emplace_back(t[i]);
      sdp_.groups.push_back(std::move(g));
    } else if (name == "ice-lite") {
      sdp_.iceLite = true;  // RFC 8839 §5.3
    } else if (name == "ice-ufrag" || name == "ice-pwd") {
      if (!hasValue) return std::string(name) + " without value";  // RFC 8839 §5.4
      (name == "ice-ufrag" ? sdp_.iceUfrag : sdp_.icePwd) = std::string(value);
    } else if (name == "ice-options") {
      sdp_.iceOptions = tokenStrings(value);  // RFC 8839 §5.6
    } else if (name == "fingerprint") {
      return parseFingerprint(value, sdp_.fingerprint);
    } else if (name == "setup") {
      return parseSetup(value, sdp_.setup);
    } else if (name == "msid-semantic") {
      sdp_.msidSemantic = std::string(detail::trimLeft(value));  // draft-ietf-mmusic-msid-07 (pre RFC 8830)
    } else if (name == "extmap-allow-mixed") {
      sdp_.extmapAllowMixed = true;  // RFC 8285 §6
    } else {
      sdp_.otherAttributes.emplace_back(attr);
    }
    return {};
  }

  std::string mediaAttribute(std::string_view attr) {
    MediaSection& m = *media_;
    std::string_view name, value;
    bool hasValue = false;
    splitAttribute(attr, name, value, hasValue);
    if (name.empty()) return "empty attribute name";
    static constexpr std::string_view kNeedsValue[] = {
        "mid",  "ice-ufrag",  "ice-pwd", "rtpmap",    "fmtp",      "rtcp-fb",          "extmap",
        "ssrc", "ssrc-group", "rid",     "candidate", "sctp-port", "max-message-size", "msid"};
    if (!hasValue) {
      for (auto n : kNeedsValue) {
        if (name == n) return "a=" + std::string(name) + " without value";
      }
    }
    if (auto dir = parseDirection(name)) {
      m.direction = *dir;  // RFC 8866 §6.7
    } else if (name == "mid") {
      m.mid = std::string(value);  // RFC 5888 §4
    } else if (name == "ice-ufrag") {
      m.iceUfrag = std::string(value);
    } else if (name == "ice-pwd") {
      m.icePwd = std::string(value);
    } else if (name == "ice-options") {
      m.iceOptions = tokenStrings(value);
    } else if (name == "fingerprint") {
      return parseFingerprint(value, m.fingerprint);
    } else if (name == "setup") {
      return parseSetup(value, m.setup);
    } else if (name == "rtpmap") {
      return parseRtpmap(value);
    } else if (name == "fmtp") {
      // RFC 8866 §6.15: a=fmtp:<format> <format specific parameters>
      std::string_view rest;
      auto pt = detail::parsePayloadType(firstToken(value, rest));
      if (!pt) return "bad payload type in a=fmtp";
      if (Codec* c = codecFor(*pt)) c->fmtp = std::string(rest);
    } else if (name == "rtcp-fb") {
      // RFC 4585 §4.2: a=rtcp-fb:<pt|*> <type> [<subtype>]; "*" applies to every payload type of the section.
      std::string_view rest;
      std::string_view ptText = firstToken(value, rest);
      if (rest.empty()) return "a=rtcp-fb without feedback type";
      if (ptText == "*") {
        for (auto& c : m.codecs) c.rtcpFeedback.emplace_back(rest);
      } else {
        auto pt = detail::parsePayloadType(ptText);
        if (!pt) return "bad payload type in a=rtcp-fb";
        if (Codec* c = codecFor(*pt)) c->rtcpFeedback.emplace_back(rest);
      }
    } else if (name == "extmap") {
      return parseExtmap(value);
    } else if (name == "extmap-allow-mixed") {
      sdp_.extmapAllowMixed = true;  // RFC 8285 §6 allows it at either level; the model keeps one flag
    } else if (name == "rtcp-mux") {
      m.rtcpMux = true;  // RFC 5761 §5.1.1
    } else if (name == "rtcp-rsize") {
      m.rtcpRsize = true;  // RFC 5506 §5
    } else if (name == "msid") {
      m.msids.emplace_back(value);  // RFC 8830 §2
    } else if (name == "ssrc") {
      return parseSsrc(value);
    } else if (name == "ssrc-group") {
      // RFC 5576 §4.2: a=ssrc-group:<semantics> *(SP ssrc-id)
      auto t = tokens(value);
      if (t.empty()) return "a=ssrc-group without semantics";
      SsrcGroup g;
      g.semantics = std::string(t[0]);
      for (std::size_t i = 1; i < t.size(); ++i) {
        auto s = parseUint<std::uint32_t>(t[i]);
        if (!s) return "bad ssrc in a=ssrc-group";
        g.ssrcs.push_back(*s);
      }
      m.ssrcGroups.push_back(std::move(g));
    } else if (name == "rid") {
      // RFC 8851 §10: a=rid:<rid-id> SP ("send" / "recv") [SP rid-pt-param-list / rid-param-list]
      std::string_view rest;
      std::string_view id = firstToken(value, rest);
      std::string_view params;
      std::string_view dir = firstToken(rest, params);
      Rid r;
      r.id = std::string(id);
      if (dir == "send") {
        r.direction = Direction::SendOnly;
      } else if (dir == "recv") {
        r.direction = Direction::RecvOnly;
      } else {
        return "bad direction in a=rid";
      }
      if (id.empty()) return "a=rid without id";
      r.params = std::string(params);
      m.rids.push_back(std::move(r));
    } else if (name == "simulcast") {
      m.simulcast = std::string(trim(value));  // RFC 8853 §5.1, kept as written
    } else if (name == "candidate") {
      auto c = Candidate::parse(value);
      if (!c) return c.error().message;
      m.candidates.push_back(std::move(c.value()));
    } else if (name == "end-of-candidates") {
      m.endOfCandidates = true;  // RFC 8840 §8.2
    } else if (name == "sctp-port") {
      auto p = parseUint<std::uint16_t>(trim(value));  // RFC 8841 §5.2
      if (!p) return "bad a=sctp-port";
      m.sctpPort = *p;
    } else if (name == "max-message-size") {
      auto s = parseUint<std::uint32_t>(trim(value));  // RFC 8841 §6.2
      if (!s) return "bad a=max-message-size";
      m.maxMessageSize = *s;
    } else {
      m.otherAttributes.emplace_back(attr);
    }
    return {};
  }

  // RFC 8866 §6.6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
  std::string parseRtpmap(std::string_view value) {
    std::string_view rest;
    auto pt = detail::parsePayloadType(firstToken(value, rest));
    if (!pt) return "bad payload type in a=rtpmap";
    std::size_t s1 = rest.find('/');
    if (s1 == std::string_view::npos || s1 == 0) return "a=rtpmap needs <encoding>/<clock rate>";
    std::string_view name = rest.substr(0, s1);
    std::string_view after = rest.substr(s1 + 1);
    std::size_t s2 = after.find('/');
    auto clock = parseUint<std::uint32_t>(after.substr(0, s2));
    if (!clock) return "bad clock rate in a=rtpmap";
    std::uint8_t channels = 0;
    if (s2 != std::string_view::npos) {
      auto ch = parseUint<std::uint8_t>(after.substr(s2 + 1));
      if (!ch) return "bad channel count in a=rtpmap";
      channels = *ch;
    }
    if (Codec* c = codecFor(*pt)) {
      c->name = std::string(name);
      c->clockRate = *clock;
      c->channels = channels;
    }
    return {};
  }

  // RFC 8285 §8: a=extmap:<value>["/"<direction>] <URI> <extensionattributes>
  std::string parseExtmap(std::string_view value) {
    std::string_view rest;
    std::string_view idText = firstToken(value, rest);
    ExtMap e;
    std::size_t slash = idText.find('/');
    if (slash != std::string_view::npos) {
      auto dir = parseDirection(idText.substr(slash + 1));
      if (!dir) return "bad direction in a=extmap";
      e.direction = *dir;
      idText = idText.substr(0, slash);
    }
    auto id = parseUint<unsigned>(idText);
    if (!id || *id == 0 || *id > 255) return "bad id in a=extmap";
    e.id = static_cast<std::uint8_t>(*id);
    std::string_view attrs;
    std::string_view uri = firstToken(rest, attrs);
    if (uri.empty()) return "a=extmap without URI";
    e.uri = std::string(uri);  // extension attributes are not kept
    media_->extmaps.push_back(std::move(e));
    return {};
  }

  // RFC 5576 §4.1: a=ssrc:<ssrc-id> <attribute>[:<value>]
  std::string parseSsrc(std::string_view value) {
    std::string_view rest;
    auto ssrc = parseUint<std::uint32_t>(firstToken(value, rest));
    if (!ssrc) return "bad ssrc in a=ssrc";
    if (rest.empty()) return "a=ssrc without attribute";
    SsrcInfo* info = nullptr;
    for (auto& s : media_->ssrcs) {
      if (s.ssrc == *ssrc) info = &s;
    }
    if (!info) {
      media_->ssrcs.push_back(SsrcInfo{*ssrc, {}, {}});
      info = &media_->ssrcs.back();
    }
    std::size_t colon = rest.find(':');
    std::string_view attrName = rest.substr(0, colon);
    std::string_view attrValue = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (attrName == "cname") {
      info->cname = std::string(attrValue);
    } else if (attrName == "msid") {
      info->msid = std::string(attrValue);
    }
    return {};
  }

  SessionDescription sdp_;
  MediaSection* media_ = nullptr;
  std::array<int, 128> ptIndex_{};
  std::optional<std::string> sessionConnection_;
  bool sawVersion_ = false;
};

Error tooLarge(std::size_t size) {
  return Error{"SDP_TOO_LARGE", "SDP is " + std::to_string(size) + " bytes, limit " + std::to_string(kMaxSdpSize)};
}

}  // namespace

Result<SessionDescription> parse(std::string_view text) {
  if (text.size() > kMaxSdpSize) return tooLarge(text.size());
  Parser p;
  return p.run(text);
}

// RFC 8840 §9 (application/trickle-ice-sdpfrag) as used by WHIP/WHEP PATCH (RFC 9725 §4.3.1):
//   ice-lite? ice-ufrag? ice-pwd? ice-options? then per m= line: a=mid, a=candidate*, a=end-of-candidates?
// There is no v= line. Candidates before any m= line go to an entry with an empty mid.
Result<SdpFragment> parseFragment(std::string_view text) {
  if (text.size() > kMaxSdpSize) return tooLarge(text.size());
  SdpFragment frag;
  bool sessionEnd = false;
  bool inMedia = false;
  auto current = [&]() -> SdpFragment::MediaCandidates& {
    if (frag.media.empty()) frag.media.emplace_back();
    return frag.media.back();
  };
  auto err = forEachLine(text, [&](const Line& l) -> std::string {
    if (l.type == 'm') {
      MediaSection m;
      auto e = parseMediaLine(l.value, m);
      if (!e.empty()) return e;
      SdpFragment::MediaCandidates mc;
      mc.mid = std::to_string(frag.media.size());  // m-line index until a=mid is seen
      frag.media.push_back(std::move(mc));
      inMedia = true;
      return {};
    }
    if (l.type != 'a') return {};
    std::size_t colon = l.value.find(':');
    std::string_view name = l.value.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : l.value.substr(colon + 1);
    if (name == "ice-ufrag") {
      frag.iceUfrag = std::string(value);
    } else if (name == "ice-pwd") {
      frag.icePwd = std::string(value);
    } else if (name == "mid" && inMedia) {
      frag.media.back().mid = std::string(value);
    } else if (name == "candidate") {
      auto c = Candidate::parse(value);
      if (!c) return c.error().message;
      current().candidates.push_back(std::move(c.value()));
    } else if (name == "end-of-candidates") {
      if (inMedia) {
        frag.media.back().endOfCandidates = true;
      } else {
        sessionEnd = true;  // RFC 8840 §8.2: session level applies to every m= section
      }
    }
    return {};
  });
  if (err) return *err;
  if (sessionEnd) {
    current();
    for (auto& m : frag.media) m.endOfCandidates = true;
  }
  return frag;
}

}  // namespace stagecast::sdp
