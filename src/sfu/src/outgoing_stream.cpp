#include "stagecast/sfu/outgoing_stream.hpp"

#include <algorithm>
#include <array>

#include "stagecast/common/crypto.hpp"
#include "stagecast/common/text.hpp"

namespace stagecast::sfu {

OutgoingStream::OutgoingStream(OutgoingParams params, SendFn send, KeyframeRequestFn requestKeyframe)
    : params_(std::move(params)), send_(std::move(send)), requestKeyframe_(std::move(requestKeyframe)) {
  std::size_t n = 1;
  while (n < params_.retransmitBufferPackets) n <<= 1;
  params_.retransmitBufferPackets = n;
  buffer_.resize(n);
  // RFC 3550 §5.1: random initial sequence number and timestamp.
  lastSeq_ = static_cast<std::uint16_t>(crypto::randomU32());
  lastTs_ = crypto::randomU32();
  scratch_.reserve(1500);
}

void OutgoingStream::followSource() {
  const auto& c = source_->codec();
  codecMatches_ = params_.codecName.empty() || (c && iequals(c->name, params_.codecName));
}

void OutgoingStream::start(SourceTrack& source, TimePoint now) {
  active_ = true;
  source_ = &source;
  generation_ = source.generation();
  followSource();
  haveOffsets_ = false;
  replayAt_.reset();
  if (!params_.video) return;
  if (source.hasKeyframe() && (!source.keyframesOnRequest() || source.gopAge() <= params_.replayMaxAge)) {
    // Instant first frame: replay the group from its keyframe; live packets follow with the same offsets.
    replayCachedGroup(source, now);
    return;
  }
  waitingForKeyframe_ = true;
  // The frame in flight when we join is already partly gone: do not start inside it.
  anyDropped_ = source.lastTimestamp().has_value();
  lastDroppedTs_ = source.lastTimestamp().value_or(0);
  if (source.hasKeyframe()) replayAt_ = now + params_.keyframeWait;  // the old group, if no keyframe comes
  if (source.live() && requestKeyframe_) requestKeyframe_(now);
}

void OutgoingStream::replayCachedGroup(const SourceTrack& source, TimePoint now) {
  waitingForKeyframe_ = false;
  replayAt_.reset();
  ++replays_;
  for (const SharedPacket& raw : source.gop()) {
    auto p = rtp::parse(*raw);
    if (p) forward(*p, raw, generation_, now);
  }
}

void OutgoingStream::forward(const rtp::RtpPacket& packet, const SharedPacket& raw, std::uint32_t generation,
                             TimePoint now) {
  if (!active_) return;
  if (generation != generation_) {
    // The source changed publisher: keep our numbering continuous and restart on a keyframe.
    generation_ = generation;
    haveOffsets_ = false;
    replayAt_.reset();
    if (params_.video) waitingForKeyframe_ = true;
    if (source_ != nullptr) followSource();
  }
  if (!codecMatches_) {
    ++codecDrops_;  // the viewer negotiated another codec than this publisher sends
    return;
  }
  if (params_.video && waitingForKeyframe_) {
    if (replayAt_ && now >= *replayAt_ && source_ != nullptr && source_->hasKeyframe()) {
      // The requested keyframe did not come in time: start from the cached group after all. The source caches a
      // packet before forwarding it, so the group ends with this one.
      replayCachedGroup(*source_, now);
      return;
    }
    // Start on the first packet of a keyframe; a later packet of a keyframe we already skipped part of (same
    // timestamp) would leave the decoder without its parameter sets.
    const bool sameFrameAsDropped = anyDropped_ && packet.timestamp == lastDroppedTs_;
    const bool keyframe = source_ != nullptr && source_->isKeyframeStart(packet.payload);
    if (!keyframe || sameFrameAsDropped) {
      ++waitDrops_;
      anyDropped_ = true;
      lastDroppedTs_ = packet.timestamp;
      return;
    }
    waitingForKeyframe_ = false;
  }
  if (!haveOffsets_) {
    // First packet of this source generation: continue after what we last sent (RFC 3550 §5.1 allows any
    // offset; continuity keeps the viewer's jitter buffer happy).
    const std::uint16_t nextSeq = static_cast<std::uint16_t>(lastSeq_ + 1);
    seqOffset_ = static_cast<std::uint16_t>(nextSeq - packet.sequenceNumber);
    std::uint32_t nextTs = lastTs_;
    if (anySent_) {
      const auto elapsed = std::chrono::duration_cast<microseconds>(now - lastSentAt_).count();
      nextTs += static_cast<std::uint32_t>(std::max<std::int64_t>(1, elapsed * params_.clockRate / 1000000));
    }
    tsOffset_ = nextTs - packet.timestamp;
    haveOffsets_ = true;
  }
  sendRewritten(packet, raw, now);
}

void OutgoingStream::write(const rtp::RtpPacket& packet, std::uint16_t sequence, std::uint32_t timestamp,
                           TimePoint now) {
  rtp::RtpHeaderFields f;
  f.marker = packet.marker;
  f.payloadType = params_.payloadType;
  f.sequenceNumber = sequence;
  f.timestamp = timestamp;
  f.ssrc = params_.ssrc;
  // The publisher's header extensions are not forwarded (their ids belong to its negotiation); we add ours.
  std::array<rtp::HeaderExtension, 2> exts{};
  std::size_t extCount = 0;
  if (params_.midExtensionId && !params_.mid.empty())
    exts[extCount++] = {*params_.midExtensionId, asBytes(params_.mid)};
  std::array<std::uint8_t, 3> absSendTime{};
  if (params_.absSendTimeExtensionId) {
    absSendTime = rtp::encodeAbsSendTime(
        static_cast<std::uint64_t>(std::chrono::duration_cast<microseconds>(now.time_since_epoch()).count()));
    exts[extCount++] = {*params_.absSendTimeExtensionId, BytesView(absSendTime)};
  }
  rtp::write(f, std::span<const rtp::HeaderExtension>(exts.data(), extCount), packet.payload, scratch_);
}

void OutgoingStream::sendRewritten(const rtp::RtpPacket& packet, const SharedPacket& raw, TimePoint now) {
  const auto seq = static_cast<std::uint16_t>(packet.sequenceNumber + seqOffset_);
  const std::uint32_t ts = packet.timestamp + tsOffset_;
  write(packet, seq, ts, now);
  buffer_[seq & (params_.retransmitBufferPackets - 1)] = {raw, seq, ts};

  if (!anySent_ || rtp::seqNewer(seq, lastSeq_)) {
    lastSeq_ = seq;
    lastTs_ = ts;
    lastSentAt_ = now;
  }
  if (!anySent_) firstPacketAt_ = now;
  anySent_ = true;
  ++packetsSent_;
  octetsSent_ += packet.payload.size();
  send_(scratch_);
}

std::size_t OutgoingStream::retransmit(const std::vector<std::uint16_t>& sequences, TimePoint now) {
  std::size_t found = 0;
  for (auto seq : sequences) {
    const Sent& slot = buffer_[seq & (params_.retransmitBufferPackets - 1)];
    if (!slot.source || slot.sequence != seq) continue;
    auto p = rtp::parse(*slot.source);
    if (!p) continue;
    write(*p, slot.sequence, slot.timestamp, now);
    send_(scratch_);
    ++found;
    ++retransmitted_;
  }
  return found;
}

std::optional<OutgoingStream::SrFields> OutgoingStream::senderReport(const SourceTrack& source) const {
  if (!anySent_) return std::nullopt;
  SrFields f;
  f.packetCount = static_cast<std::uint32_t>(packetsSent_);
  f.octetCount = static_cast<std::uint32_t>(octetsSent_);
  const auto& sr = source.senderReport();
  if (sr && sr->generation == generation_ && haveOffsets_) {
    // Translate the publisher's NTP↔RTP mapping into our timestamp space (keeps audio/video in sync).
    f.ntp = sr->ntp;
    f.rtpTimestamp = sr->rtpTimestamp + tsOffset_;
    return f;
  }
  return std::nullopt;
}

}  // namespace stagecast::sfu
