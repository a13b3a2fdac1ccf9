// Offer/answer for a media server that only answers (RFC 3264 §6, RFC 8829 §5.3.1), ICE-lite (RFC 8445 §2.5)
// and DTLS-SRTP with the passive role (RFC 5763 §5, RFC 8842 §5.3).
#include "stagecast/sdp/negotiation.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "text_util.hpp"

namespace stagecast::sdp {

namespace {

using detail::iequals;

Error malformed(const std::string& msg) { return Error{"SDP_MALFORMED", msg}; }

bool isH264(std::string_view name) { return iequals(name, "H264"); }
bool isH265(std::string_view name) { return iequals(name, "H265"); }

// `sending`: the answer's section is sendonly (the server sends this codec).
bool codecMatches(const CodecCapability& cap, const Codec& offered, bool sending) {
  if (!iequals(cap.name, offered.name) || cap.clockRate != offered.clockRate) return false;
  // Opus is always signalled as opus/48000/2 (RFC 7587 §7); a capability with channels set must match.
  if (iequals(cap.name, "opus") && cap.channels != 0 && cap.channels != offered.channels) return false;
  if (isH264(cap.name)) return h264Matches(cap, offered);
  if (isH265(cap.name)) return h265Matches(cap, offered, sending);
  return true;
}

// An fmtp value that must be a decimal number in [0, max].
Status readParam(const std::map<std::string, std::string>& params, const char* name, int max, int& out) {
  auto it = params.find(name);
  if (it == params.end()) return {};
  auto v = detail::parseUint<unsigned>(it->second);
  if (!v || *v > static_cast<unsigned>(max)) {
    return Error{"SDP_MALFORMED", std::string("H265 ") + name + "=" + it->second + " is out of range"};
  }
  out = static_cast<int>(*v);
  return {};
}

// The feedback types the server implements (RFC 4585 §4.2, RFC 5104 §7.1, draft-alvestrand-rmcat-remb,
// draft-holmer-rmcat-transport-wide-cc-extensions).
bool supportedFeedback(std::string_view fb) {
  return fb == "nack" || fb == "nack pli" || fb == "ccm fir" || fb == "goog-remb" || fb == "transport-cc";
}

enum class Reject { None, Port, Bundle, Kind, Direction, Codec };

// The SSRCs the offerer sends: RFC 5576 §4.2 FID groups pair media and RTX (RFC 4588 §8.7); SIM groups
// (draft-ietf-mmusic-sdp-simulcast-00, as Chrome sends) list the simulcast layers in order.
void recordRemoteSsrcs(const MediaSection& m, NegotiatedMedia& nm) {
  std::set<std::uint32_t> rtx;
  for (const auto& g : m.ssrcGroups) {
    if (g.semantics == "FID" && g.ssrcs.size() >= 2) rtx.insert(g.ssrcs[1]);
  }
  auto add = [&](std::uint32_t s) {
    if (rtx.count(s) == 0 && std::find(nm.remoteSsrcs.begin(), nm.remoteSsrcs.end(), s) == nm.remoteSsrcs.end()) {
      nm.remoteSsrcs.push_back(s);
    }
  };
  for (const auto& g : m.ssrcGroups) {
    if (g.semantics == "SIM") {
      for (auto s : g.ssrcs) add(s);
    }
  }
  for (const auto& g : m.ssrcGroups) {
    if (g.semantics == "FID" && g.ssrcs.size() >= 2) {
      add(g.ssrcs[0]);
      if (!nm.remoteRtxSsrc) nm.remoteRtxSsrc = g.ssrcs[1];
    }
  }
  for (const auto& s : m.ssrcs) add(s.ssrc);
}

// Rejected section (RFC 3264 §6: port 0; RFC 8843 §7.3.3 keeps the mid). One format is kept so the m= line
// stays valid.
MediaSection rejectedSection(const MediaSection& offered) {
  MediaSection a;
  a.kind = offered.kind;
  a.port = 0;
  a.protocol = offered.protocol;
  a.mid = offered.mid;
  a.direction = Direction::Inactive;
  if (!offered.formats.empty()) a.formats.push_back(offered.formats.front());
  if (!offered.codecs.empty()) {
    const Codec& c = offered.codecs.front();
    Codec copy;
    copy.payloadType = c.payloadType;
    copy.name = c.name;
    copy.clockRate = c.clockRate;
    copy.channels = c.channels;
    a.codecs.push_back(std::move(copy));
  }
  return a;
}

}  // namespace

// RFC 6184 §8.1: profile-level-id is profile_idc (1 byte), profile-iop (1 byte: constraint_set0..5 flags) and
// level_idc; packetization-mode must be equal (absent = 0). The level is not compared: the answerer may
// accept a higher offered level and receive at most its own (§8.2.2). Constrained Baseline is signalled as
// 42e0 or 42c0 (and other iop values with constraint_set1 set), so for profile_idc 0x42 any offer with
// constraint_set1 satisfies a "42e0" capability (RFC 6184 §8.1, table 5).
bool h264Matches(const CodecCapability& capability, const Codec& offered) {
  auto params = offered.fmtpParams();
  int mode = 0;
  if (auto it = params.find("packetization-mode"); it != params.end()) {
    auto v = detail::parseUint<unsigned>(it->second);
    if (!v) return false;
    mode = static_cast<int>(*v);
  }
  if (mode != capability.h264PacketizationMode) return false;
  std::string plid = "42000a";  // RFC 6184 §8.1: default profile-level-id
  if (auto it = params.find("profile-level-id"); it != params.end()) plid = detail::toLower(it->second);
  if (plid.size() != 6 || plid.find_first_not_of("0123456789abcdef") != std::string::npos) return false;
  if (capability.h264Profiles.empty()) return true;
  std::string profile = plid.substr(0, 4);
  unsigned iop = 0;
  for (char c : plid.substr(2, 2)) iop = iop * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : c - 'a' + 10);
  for (const auto& cap : capability.h264Profiles) {
    std::string want = detail::toLower(cap);
    if (want == profile) return true;
    if (want == "42e0" && plid.starts_with("42") && (iop & 0x40) != 0) return true;
  }
  return false;
}

// RFC 7798 §7.1: profile-space 0..3 (default 0), profile-id 0..31 (default 1), tier-flag 0..1 (default 0),
// level-id and max-recv-level-id 0..255 (level-id default 93), tx-mode SRST/MRST/MRMT (default SRST).
Result<H265Params> parseH265Params(const Codec& codec) {
  const auto params = codec.fmtpParams();
  H265Params p;
  if (auto st = readParam(params, "profile-space", 3, p.profileSpace); !st) return st.error();
  if (auto st = readParam(params, "profile-id", 31, p.profileId); !st) return st.error();
  if (auto st = readParam(params, "tier-flag", 1, p.tierFlag); !st) return st.error();
  if (auto st = readParam(params, "level-id", 255, p.levelId); !st) return st.error();
  if (params.count("max-recv-level-id") != 0) {
    int level = 0;
    if (auto st = readParam(params, "max-recv-level-id", 255, level); !st) return st.error();
    p.maxRecvLevelId = level;
  }
  if (auto it = params.find("tx-mode"); it != params.end()) p.txMode = detail::toUpper(it->second);
  return p;
}

std::string h265Fmtp(const H265Params& p) {
  std::string line = p.profileSpace != 0 ? "profile-space=" + std::to_string(p.profileSpace) + ";" : std::string();
  return line + "level-id=" + std::to_string(p.levelId) + ";profile-id=" + std::to_string(p.profileId) +
         ";tier-flag=" + std::to_string(p.tierFlag) + ";tx-mode=" + p.txMode;
}

// RFC 7798 §7.2.2: profile-space, profile-id, tier-flag (and the other configuration parameters) are used
// symmetrically; only level-id may differ, and an answer may not indicate a higher level than the offer.
// A sendonly answerer sends one fixed stream, so the offered receiver must cover its tier and level; a receiving
// answerer lowers the level in the answer instead.
bool h265Matches(const CodecCapability& capability, const Codec& offered, bool sending) {
  auto params = parseH265Params(offered);
  if (!params || params->txMode != "SRST") return false;
  if (!capability.h265) return true;
  const H265Params& own = *capability.h265;
  if (params->profileSpace != own.profileSpace || params->profileId != own.profileId) return false;
  if (!sending) return true;
  return own.tierFlag <= params->tierFlag && own.levelId <= params->receiveLevel();
}

std::string h265AnswerFmtp(const CodecCapability& capability, const Codec& offered, bool sending) {
  auto offeredParams = parseH265Params(offered);
  H265Params answer = offeredParams ? *offeredParams : H265Params{};
  answer.maxRecvLevelId.reset();
  answer.txMode = "SRST";
  if (capability.h265) {
    answer.levelId = sending ? capability.h265->levelId : std::min(answer.levelId, capability.h265->levelId);
  }
  return h265Fmtp(answer);
}

Result<Answer> answerOffer(const SessionDescription& offer, const AnswerOptions& options) {
  if (offer.media.empty()) return Error{"SDP_UNSUPPORTED", "offer has no media sections"};
  const Group* bundle = offer.bundleGroup();
  auto inBundle = [&](const MediaSection& m) {
    return bundle && std::find(bundle->mids.begin(), bundle->mids.end(), m.mid) != bundle->mids.end();
  };

  // RFC 8843 §7.2.1: the offerer-tagged section (first mid of the group) carries the transport parameters.
  const MediaSection* transport = nullptr;
  std::size_t active = 0;
  for (const auto& m : offer.media) {
    if (m.port != 0) ++active;
  }
  if (bundle) {
    for (const auto& mid : bundle->mids) {
      for (const auto& m : offer.media) {
        if (m.mid == mid && !transport) transport = &m;
      }
    }
    if (!transport) return malformed("BUNDLE group names no m= section");
  } else {
    if (active > 1) return malformed("offer with several m= sections must use BUNDLE");
    for (const auto& m : offer.media) {
      if (m.port != 0 && !transport) transport = &m;
    }
    if (!transport) transport = &offer.media.front();
  }

  Answer answer;
  auto ufrag = offer.iceUfragFor(*transport);
  auto pwd = offer.icePwdFor(*transport);
  if (!ufrag || ufrag->empty() || !pwd || pwd->empty()) return malformed("offer lacks a=ice-ufrag/a=ice-pwd");
  auto fp = offer.fingerprintFor(*transport);
  if (!fp) return malformed("offer lacks a=fingerprint");
  answer.remoteIceUfrag = *ufrag;
  answer.remoteIcePwd = *pwd;
  answer.remoteFingerprint = *fp;
  // RFC 8842 §5.2/§5.3: an offer must say actpass; a missing a=setup is treated the same way.
  answer.remoteSetup = offer.setupFor(*transport).value_or(SetupRole::ActPass);
  switch (answer.remoteSetup) {
    case SetupRole::ActPass:
    case SetupRole::Active:
      answer.localSetup = SetupRole::Passive;
      break;
    case SetupRole::Passive:
      answer.localSetup = SetupRole::Active;
      break;
    case SetupRole::HoldConn:
      return malformed("a=setup:holdconn is not supported");
  }

  SessionDescription& sdp = answer.sdp;
  sdp.originUsername = "-";
  sdp.sessionId = options.sessionId;
  sdp.sessionVersion = 2;
  sdp.originAddress = "IN IP4 127.0.0.1";
  sdp.sessionName = "-";
  sdp.iceLite = options.iceLite;
  sdp.msidSemantic = "WMS *";
  sdp.extmapAllowMixed = offer.extmapAllowMixed;  // RFC 8285 §6: only when offered

  std::vector<bool> usedTrack(options.outgoing.size(), false);
  Group answerBundle{"BUNDLE", {}};
  bool codecFailure = false;

  for (const auto& offered : offer.media) {
    NegotiatedMedia nm;
    nm.mid = offered.mid;
    nm.kind = offered.kind;
    Reject reject = Reject::None;
    const bool audio = offered.kind == "audio";
    const bool video = offered.kind == "video";

    // RFC 8843 §7.2: a bundle-only section carries port 0 without being rejected.
    const bool bundleOnly =
        inBundle(offered) && std::find(offered.otherAttributes.begin(), offered.otherAttributes.end(), "bundle-only") !=
                                 offered.otherAttributes.end();
    if (offered.port == 0 && !bundleOnly) {
      reject = Reject::Port;  // RFC 3264 §6: a rejected offer section stays rejected
    } else if (bundle && !inBundle(offered)) {
      reject = Reject::Bundle;
    } else if ((!audio && !video) || offered.protocol.find("RTP/SAVP") == std::string::npos) {
      reject = Reject::Kind;  // data channels are not supported yet
    }

    // Direction (RFC 3264 §6.1).
    Direction local = Direction::Inactive;
    std::optional<std::size_t> track;
    if (reject == Reject::None) {
      const Direction d = offered.direction;
      if ((d == Direction::RecvOnly || d == Direction::SendRecv) && options.acceptOutgoing) {
        for (std::size_t i = 0; i < options.outgoing.size(); ++i) {
          if (!usedTrack[i] && options.outgoing[i].kind == offered.kind) {
            track = i;
            break;
          }
        }
        if (track) local = Direction::SendOnly;
      }
      if (local == Direction::Inactive && (d == Direction::SendOnly || d == Direction::SendRecv) &&
          options.acceptIncoming) {
        local = Direction::RecvOnly;
      }
      if (local == Direction::Inactive) reject = Reject::Direction;
    }

    // Codecs: the offerer's preference order wins (RFC 3264 §6.1); payload types are kept.
    std::vector<std::uint8_t> chosen;
    std::map<std::uint8_t, const CodecCapability*> matched;  // by payload type: the capability it matched
    const bool sending = local == Direction::SendOnly;
    if (reject == Reject::None) {
      const auto& caps = audio ? options.audioCodecs : options.videoCodecs;
      for (const auto& c : offered.codecs) {
        if (c.isRtx()) continue;
        auto cap = std::find_if(caps.begin(), caps.end(),
                                [&](const CodecCapability& k) { return codecMatches(k, c, sending); });
        if (cap == caps.end()) continue;
        chosen.push_back(c.payloadType);
        matched[c.payloadType] = &*cap;
        if (options.singleCodec) break;
      }
      if (chosen.empty()) {
        reject = Reject::Codec;
        codecFailure = true;
      }
    }

    if (reject == Reject::None && !offered.rtcpMux) {
      return malformed("rtcp-mux required (m= section " + offered.mid + ")");  // RFC 8829 §5.1.3
    }

    if (reject != Reject::None) {
      answer.sdp.media.push_back(rejectedSection(offered));
      answer.media.push_back(std::move(nm));
      continue;
    }

    MediaSection a;
    a.kind = offered.kind;
    a.port = 9;  // RFC 8829 §5.3.1: the dummy port when candidates are signalled separately
    a.protocol = offered.protocol;
    a.connection = "IN IP4 0.0.0.0";
    a.mid = offered.mid;
    a.direction = local;
    a.rtcpMux = true;
    a.rtcpRsize = offered.rtcpRsize;
    a.iceUfrag = options.iceUfrag;
    a.icePwd = options.icePwd;
    a.fingerprint = options.fingerprint;
    a.setup = answer.localSetup;

    // RTX (RFC 4588 §8.6): keep the offered rtx whose apt= names a chosen codec.
    std::set<std::uint8_t> keep(chosen.begin(), chosen.end());
    for (const auto& c : offered.codecs) {
      auto apt = c.rtxApt();
      if (!apt || std::find(chosen.begin(), chosen.end(), *apt) == chosen.end()) continue;
      keep.insert(c.payloadType);
      if (*apt == chosen.front() && !nm.rtxPayloadType) nm.rtxPayloadType = c.payloadType;
    }
    for (const auto& c : offered.codecs) {
      if (keep.count(c.payloadType) == 0) continue;
      Codec ac = c;
      ac.rtcpFeedback.clear();
      if (auto m = matched.find(c.payloadType); m != matched.end() && isH265(c.name)) {
        ac.fmtp = h265AnswerFmtp(*m->second, c, sending);  // RFC 7798 §7.2.2: the level may change
      }
      // RFC 4585 §4.2: feedback is answered with the subset both sides support.
      for (const auto& fb : c.rtcpFeedback) {
        // transport-cc feedback only makes sense with its header extension (draft-holmer-rmcat-transport-wide-cc
        // §4): without it the sender must fall back to REMB, so do not promise it.
        const bool extensionAccepted =
            fb != "transport-cc" ||
            std::find(options.headerExtensions.begin(), options.headerExtensions.end(),
                      "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01") !=
                options.headerExtensions.end();
        if (supportedFeedback(fb) && extensionAccepted &&
            std::find(ac.rtcpFeedback.begin(), ac.rtcpFeedback.end(), fb) == ac.rtcpFeedback.end()) {
          ac.rtcpFeedback.push_back(fb);
        }
      }
      a.formats.push_back(std::to_string(ac.payloadType));
      if (ac.payloadType == chosen.front()) nm.codec = ac;
      a.codecs.push_back(std::move(ac));
    }
    for (const auto& fb : nm.codec->rtcpFeedback) {
      if (fb == "nack") nm.nack = true;
      if (fb == "nack pli") nm.pli = true;
      if (fb == "ccm fir") nm.fir = true;
      if (fb == "goog-remb") nm.remb = true;
      if (fb == "transport-cc") nm.transportCc = true;
    }

    // Header extensions (RFC 8285 §6): accepted ones keep the offered id; a direction is mirrored.
    for (const auto& e : offered.extmaps) {
      if (std::find(options.headerExtensions.begin(), options.headerExtensions.end(), e.uri) ==
          options.headerExtensions.end()) {
        continue;
      }
      ExtMap ae = e;
      if (ae.direction) ae.direction = reverse(*ae.direction);
      a.extmaps.push_back(ae);
      nm.extmaps.push_back(std::move(ae));
    }

    recordRemoteSsrcs(offered, nm);

    if (local == Direction::RecvOnly && options.acceptSimulcast) {
      // RFC 8853 §5.3: answer the offered send rids with recv rids and a=simulcast:recv.
      std::string list;
      for (const auto& r : offered.rids) {
        if (r.direction != Direction::SendOnly) continue;
        nm.remoteRids.push_back(r.id);
        a.rids.push_back(Rid{r.id, Direction::RecvOnly, {}});
        list += (list.empty() ? "" : ";") + r.id;
      }
      if (offered.simulcast && !list.empty()) a.simulcast = "recv " + list;
    } else if (track) {
      // RFC 8830 §2 (msid) and RFC 5576 §4 (ssrc, ssrc-group FID for RTX).
      usedTrack[*track] = true;
      const OutgoingTrack& t = options.outgoing[*track];
      nm.outgoing = t;
      std::string msid = t.streamId + " " + t.trackId;
      a.msids.push_back(msid);
      const bool rtx = t.rtxSsrc != 0 && nm.rtxPayloadType.has_value();
      if (rtx) a.ssrcGroups.push_back(SsrcGroup{"FID", {t.ssrc, t.rtxSsrc}});
      a.ssrcs.push_back(SsrcInfo{t.ssrc, t.cname, msid});
      if (rtx) a.ssrcs.push_back(SsrcInfo{t.rtxSsrc, t.cname, msid});
    }

    a.candidates = options.candidates;
    a.endOfCandidates = true;  // ICE-lite gathers everything up front (RFC 8840 §8.2)

    nm.accepted = true;
    nm.localDirection = local;
    if (bundle) answerBundle.mids.push_back(a.mid);
    answer.sdp.media.push_back(std::move(a));
    answer.media.push_back(std::move(nm));
  }

  if (std::none_of(answer.media.begin(), answer.media.end(), [](const auto& m) { return m.accepted; })) {
    if (codecFailure) return Error{"NO_COMMON_CODEC", "no offered codec matches the server's capabilities"};
    return Error{"SDP_UNSUPPORTED", "no acceptable m= section in the offer"};
  }
  // RFC 8843 §7.3: the answer's BUNDLE group lists the accepted mids.
  if (bundle) sdp.groups.push_back(std::move(answerBundle));
  return answer;
}

}  // namespace stagecast::sdp
