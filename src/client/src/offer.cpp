#include "stagecast/client/offer.hpp"

#include "stagecast/common/crypto.hpp"
#include "stagecast/rtp/rtp_packet.hpp"

namespace stagecast::client {

const char* toString(MediaKind k) { return k == MediaKind::Audio ? "audio" : "video"; }

std::uint8_t videoPayloadType(VideoCodecKind codec) {
  switch (codec) {
    case VideoCodecKind::H264:
      return pt::kH264;
    case VideoCodecKind::H265:
      return pt::kH265;
    case VideoCodecKind::VP8:
      break;
  }
  return pt::kVp8;
}

namespace {

// RFC 4585 §4.2 feedback the client asks for on video; the SFU answers NACKs itself and merges PLIs.
std::vector<std::string> videoFeedback() { return {"nack", "nack pli", "goog-remb"}; }

sdp::MediaSection baseSection(const OfferOptions& o, const std::string& kind, const std::string& mid) {
  sdp::MediaSection m;
  m.kind = kind;
  m.port = 9;  // RFC 8839 §4.2.1.1: placeholder with trickle/bundle; candidates come from the answer
  m.protocol = "UDP/TLS/RTP/SAVPF";
  m.connection = "IN IP4 0.0.0.0";
  m.mid = mid;
  m.direction = o.role == Role::Publisher ? sdp::Direction::SendOnly : sdp::Direction::RecvOnly;
  m.rtcpMux = true;
  m.rtcpRsize = true;
  m.iceUfrag = o.iceUfrag;
  m.icePwd = o.icePwd;
  m.fingerprint = sdp::Fingerprint{"sha-256", o.fingerprint};
  m.setup = sdp::SetupRole::ActPass;  // RFC 8842 §5.2: an offerer must use actpass
  m.extmaps.push_back({1, rtp::ext::kMid, std::nullopt});
  return m;
}

// One video codec with its RTX (RFC 4588 §8.6), appended to the section.
void addVideoCodec(sdp::MediaSection& m, VideoCodecKind kind, const OfferOptions& o) {
  sdp::Codec media;
  sdp::Codec rtx;
  rtx.name = "rtx";
  rtx.clockRate = 90000;
  switch (kind) {
    case VideoCodecKind::H264:
      // RFC 6184 §8.1: Constrained Baseline 3.1, non-interleaved mode.
      media.payloadType = pt::kH264;
      media.name = "H264";
      media.fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
      rtx.payloadType = pt::kH264Rtx;
      break;
    case VideoCodecKind::H265:
      // RFC 7798 §7.1: Main profile, Main tier, up to the configured level, one RTP stream.
      media.payloadType = pt::kH265;
      media.name = "H265";
      media.fmtp = "level-id=" + std::to_string(o.h265LevelId) + ";profile-id=1;tier-flag=0;tx-mode=SRST";
      rtx.payloadType = pt::kH265Rtx;
      break;
    case VideoCodecKind::VP8:
      media.payloadType = pt::kVp8;  // RFC 7741 §6.1
      media.name = "VP8";
      rtx.payloadType = pt::kVp8Rtx;
      break;
  }
  media.clockRate = 90000;
  media.rtcpFeedback = videoFeedback();
  rtx.fmtp = "apt=" + std::to_string(media.payloadType);
  m.codecs.push_back(media);
  m.codecs.push_back(rtx);
  m.formats.push_back(std::to_string(media.payloadType));
  m.formats.push_back(std::to_string(rtx.payloadType));
}

void addSsrc(sdp::MediaSection& m, std::uint32_t ssrc, const OfferOptions& o, const std::string& track) {
  // RFC 5576 §4.1 a=ssrc with the cname (and msid, RFC 8830 §2) of the stream.
  m.ssrcs.push_back({ssrc, o.cname, "stagecast " + track});
}

}  // namespace

sdp::SessionDescription buildOffer(const OfferOptions& o) {
  sdp::SessionDescription s;
  s.sessionId = crypto::randomU64() >> 2;
  s.sessionVersion = 2;
  s.msidSemantic = "WMS stagecast";
  sdp::Group bundle{"BUNDLE", {}};

  if (o.audio) {
    auto m = baseSection(o, "audio", "0");
    sdp::Codec opus;
    opus.payloadType = pt::kOpus;
    opus.name = "opus";
    opus.clockRate = 48000;
    opus.channels = 2;
    opus.fmtp = "minptime=10;useinbandfec=1";
    m.codecs.push_back(opus);
    m.formats.push_back(std::to_string(pt::kOpus));
    if (o.role == Role::Publisher) {
      m.msids.push_back("stagecast audio");
      addSsrc(m, o.audioSsrc, o, "audio");
    }
    bundle.mids.push_back(m.mid);
    s.media.push_back(std::move(m));
  }
  if (o.video) {
    auto m = baseSection(o, "video", "1");
    addVideoCodec(m, o.videoCodec, o);
    for (const VideoCodecKind more : o.moreVideoCodecs) {
      if (more != o.videoCodec && m.findCodec(videoPayloadType(more)) == nullptr) addVideoCodec(m, more, o);
    }
    if (o.role == Role::Publisher) {
      m.msids.push_back("stagecast video");
      addSsrc(m, o.videoSsrc, o, "video");
      if (o.videoRtxSsrc != 0) {
        addSsrc(m, o.videoRtxSsrc, o, "video");
        m.ssrcGroups.push_back({"FID", {o.videoSsrc, o.videoRtxSsrc}});  // RFC 5576 §4.2, RFC 4588 §8.7
      }
    }
    bundle.mids.push_back(m.mid);
    s.media.push_back(std::move(m));
  }
  s.groups.push_back(std::move(bundle));
  return s;
}

std::string buildOfferSdp(const OfferOptions& options) { return sdp::serialize(buildOffer(options)); }

}  // namespace stagecast::client
