#include "stagecast/client/synthetic_source.hpp"

#include <algorithm>

#include "stagecast/common/byte_reader.hpp"
#include "stagecast/common/byte_writer.hpp"
#include "stagecast/common/crypto.hpp"

namespace stagecast::client {

namespace {

constexpr std::uint16_t kTagMagic = 0x5343;  // "SC"
constexpr std::size_t kTagHeader = 15;       // magic, stream, frame, index, count, flags, filler length
constexpr std::size_t kTagMin = kTagHeader + 4;
constexpr std::size_t kRtpHeader = 12;

std::uint8_t fillerByte(std::uint16_t stream, std::uint32_t frame, std::uint16_t index, std::size_t i) {
  return static_cast<std::uint8_t>(frame * 131U + index * 17U + i * 7U + stream);
}

// Writes a tag of exactly `size` bytes (>= kTagMin): header, deterministic filler, CRC-32 of both.
void writeTag(ByteWriter& w, const PayloadTag& t, std::size_t size) {
  size = std::max(size, kTagMin);
  const std::size_t start = w.size();
  const std::size_t fill = size - kTagMin;
  w.writeU16(kTagMagic);
  w.writeU16(t.streamId);
  w.writeU32(t.frame);
  w.writeU16(t.index);
  w.writeU16(t.count);
  w.writeU8(t.keyframe ? 1 : 0);
  w.writeU16(static_cast<std::uint16_t>(fill));
  for (std::size_t i = 0; i < fill; ++i) w.writeU8(fillerByte(t.streamId, t.frame, t.index, i));
  const BytesView tagged(w.bytes().data() + start, w.size() - start);
  w.writeU32(crypto::crc32(tagged));
}

std::optional<PayloadTag> readTag(BytesView data) {
  ByteReader r(data);
  std::uint16_t magic = 0;
  std::uint16_t fill = 0;
  std::uint8_t flags = 0;
  PayloadTag t;
  if (!r.readU16(magic) || magic != kTagMagic) return std::nullopt;
  if (!r.readU16(t.streamId) || !r.readU32(t.frame) || !r.readU16(t.index) || !r.readU16(t.count) || !r.readU8(flags) ||
      !r.readU16(fill)) {
    return std::nullopt;
  }
  BytesView filler;
  if (!r.readBytes(fill, filler)) return std::nullopt;
  for (std::size_t i = 0; i < fill; ++i) {
    if (filler[i] != fillerByte(t.streamId, t.frame, t.index, i)) return std::nullopt;
  }
  std::uint32_t crc = 0;
  if (!r.readU32(crc) || crc != crypto::crc32(data.first(kTagHeader + fill))) return std::nullopt;
  t.keyframe = (flags & 1) != 0;
  if (t.count == 0 || t.index >= t.count) return std::nullopt;
  return t;
}

// Splits `total` bytes into `n` nearly equal parts.
std::size_t part(std::size_t total, std::size_t n, std::size_t i) { return total / n + (i < total % n ? 1 : 0); }

std::uint32_t initialTimestamp(std::uint32_t configured) { return configured != 0 ? configured : crypto::randomU32(); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Video

SyntheticVideoSource::SyntheticVideoSource(VideoSourceOptions options)
    : options_(options), timestamp0_(initialTimestamp(options.initialTimestamp)) {
  options_.fps = std::max(1, options_.fps);
  options_.maxPacketSize = std::max<std::size_t>(options_.maxPacketSize, kRtpHeader + 64);
}

Duration SyntheticVideoSource::frameInterval() const {
  return std::chrono::duration_cast<Duration>(std::chrono::microseconds(1'000'000 / options_.fps));
}

std::vector<SyntheticPacket> SyntheticVideoSource::nextFrame() {
  const std::uint32_t frame = frame_++;
  const std::uint32_t gopFrames = std::max<std::uint32_t>(
      1,
      static_cast<std::uint32_t>(std::chrono::duration_cast<milliseconds>(options_.gop).count() * options_.fps / 1000));
  const bool key = keyframeRequested_ || frame - lastKeyframe_ >= gopFrames;
  if (key) {
    keyframeRequested_ = false;
    lastKeyframe_ = frame;
    ++keyframes_;
  }
  // A keyframe is ~3x an average frame; delta frames share the rest of the GOP's budget.
  const std::size_t avg = std::max<std::size_t>(200, options_.bitrate / 8 / static_cast<std::uint64_t>(options_.fps));
  const std::size_t bytes =
      key ? 3 * avg : std::max<std::size_t>(200, gopFrames > 3 ? avg * (gopFrames - 3) / (gopFrames - 1) : avg);
  // RFC 6184 §5.1 / RFC 7741 §4.1: 90 kHz clock, one timestamp per frame.
  const auto ts = static_cast<std::uint32_t>(timestamp0_ + static_cast<std::uint64_t>(frame) * 90000 / options_.fps);
  const std::size_t maxPayload = options_.maxPacketSize - kRtpHeader;

  std::vector<SyntheticPacket> out;
  auto emit = [&](ByteWriter& w, bool keyStart) {
    SyntheticPacket p;
    p.kind = MediaKind::Video;
    p.payload = w.take();
    p.timestamp = ts;
    p.keyframeStart = keyStart;
    out.push_back(std::move(p));
  };

  if (options_.codec == VideoCodecKind::H264) {
    // Fragments of the coded slice: FU-A (RFC 6184 §5.8) with a 2-byte header, or one single NAL unit packet
    // (§5.6) when it fits (a FU must not carry both S and E, §5.8).
    const std::size_t n = bytes + 1 <= maxPayload ? 1 : (bytes + maxPayload - 3) / (maxPayload - 2);
    const std::uint16_t count = static_cast<std::uint16_t>(n + (key ? 1 : 0));
    std::uint16_t index = 0;
    if (key) {
      // RFC 6184 §5.7.1 STAP-A: SPS (NAL 7) and PPS (NAL 8) in one packet ahead of the IDR. The tag rides in the
      // SPS after its profile_idc / constraint / level_idc bytes (Constrained Baseline 3.1 = 42e01f).
      ByteWriter w;
      w.writeU8(0x78);  // F=0 NRI=3 type=24
      ByteWriter sps;
      sps.writeU8(0x67);  // NRI=3 type=7
      sps.writeU8(0x42);
      sps.writeU8(0xe0);
      sps.writeU8(0x1f);
      writeTag(sps, {options_.streamId, frame, index, count, true}, 40);
      w.writeU16(static_cast<std::uint16_t>(sps.size()));
      w.writeBytes(sps.bytes());
      const std::uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};  // NRI=3 type=8
      w.writeU16(sizeof(pps));
      w.writeBytes(pps);
      emit(w, true);
      ++index;
    }
    const std::uint8_t nalType = key ? 5 : 1;
    const std::uint8_t nri = key ? 3 : 2;
    for (std::size_t i = 0; i < n; ++i, ++index) {
      ByteWriter w(maxPayload);
      const PayloadTag tag{options_.streamId, frame, index, count, key};
      if (n == 1) {
        w.writeU8(static_cast<std::uint8_t>((nri << 5) | nalType));
        writeTag(w, tag, bytes);
      } else {
        w.writeU8(static_cast<std::uint8_t>((nri << 5) | 28));  // FU indicator: type 28 (FU-A)
        const std::uint8_t s = i == 0 ? 0x80 : 0;
        const std::uint8_t e = i + 1 == n ? 0x40 : 0;
        w.writeU8(static_cast<std::uint8_t>(s | e | nalType));  // FU header: S E R Type
        writeTag(w, tag, part(bytes, n, i));
      }
      emit(w, false);
    }
  } else {
    // RFC 7741 §4.2 descriptor (1 byte: S on the first packet of the frame, PID 0), then on the first packet the
    // VP8 payload header (§4.3: P=0 marks a keyframe, which carries the start code and dimensions, RFC 6386 §9.1).
    const std::size_t firstHeader = key ? 10 : 3;
    const std::size_t n = (bytes + firstHeader + maxPayload - 2) / (maxPayload - 1);
    const std::uint16_t count = static_cast<std::uint16_t>(n);
    for (std::size_t i = 0; i < n; ++i) {
      ByteWriter w(maxPayload);
      w.writeU8(i == 0 ? 0x10 : 0x00);
      if (i == 0) {
        w.writeU8(key ? 0x10 : 0x11);  // Size0=0 show_frame=1 ver=0 P
        w.writeU8(0);
        w.writeU8(0);
        if (key) {
          const std::uint8_t startCode[] = {0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01};  // 640x480
          w.writeBytes(startCode);
        }
      }
      const std::size_t size = part(bytes + firstHeader, n, i) - (i == 0 ? firstHeader : 0);
      writeTag(w, {options_.streamId, frame, static_cast<std::uint16_t>(i), count, key}, size);
      emit(w, key && i == 0);
    }
  }
  out.back().marker = true;  // RFC 6184 §5.1 / RFC 7741 §4.1: last packet of the access unit / frame
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Audio

SyntheticAudioSource::SyntheticAudioSource(AudioSourceOptions options)
    : options_(options), timestamp0_(initialTimestamp(options.initialTimestamp)) {}

SyntheticPacket SyntheticAudioSource::nextPacket() {
  const std::uint32_t n = counter_++;
  SyntheticPacket p;
  p.kind = MediaKind::Audio;
  p.timestamp = timestamp0_ + n * 960;  // RFC 7587 §4.1: 48 kHz clock, 20 ms = 960 ticks
  p.marker = n == 0;                    // RFC 3550 §5.1 / RFC 7587: first packet of a talkspurt
  ByteWriter w(options_.payloadSize);
  writeTag(w, {options_.streamId, n, 0, 1, false}, options_.payloadSize);
  p.payload = w.take();
  return p;
}

// ---------------------------------------------------------------------------------------------------------

std::optional<PayloadTag> inspectPayload(MediaKind kind, VideoCodecKind codec, BytesView payload) {
  if (payload.empty()) return std::nullopt;
  if (kind == MediaKind::Audio) return readTag(payload);
  if (codec == VideoCodecKind::H264) {
    const std::uint8_t type = payload[0] & 0x1F;
    if (type >= 1 && type <= 23) return readTag(payload.subspan(1));
    if (type == 28) return payload.size() < 2 ? std::nullopt : readTag(payload.subspan(2));
    if (type == 24) {
      ByteReader r(payload.subspan(1));
      std::uint16_t size = 0;
      BytesView sps;
      if (!r.readU16(size) || !r.readBytes(size, sps) || sps.size() < 4 || (sps[0] & 0x1F) != 7) return std::nullopt;
      return readTag(sps.subspan(4));
    }
    return std::nullopt;
  }
  std::size_t offset = 1;
  if ((payload[0] & 0x10) != 0) {
    if (payload.size() < 2) return std::nullopt;
    offset += (payload[1] & 0x01) == 0 ? 10 : 3;
  }
  if (payload.size() < offset) return std::nullopt;
  return readTag(payload.subspan(offset));
}

}  // namespace stagecast::client
