// libFuzzer target for the RTP layer: parse, extension lookup, keyframe detection, and re-write round trip.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "stagecast/rtp/codec_info.hpp"
#include "stagecast/rtp/rtp_packet.hpp"

using namespace stagecast;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

bool sameBytes(BytesView a, BytesView b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const BytesView input(data, size);
  rtp::looksLikeRtpOrRtcp(input);
  rtp::looksLikeRtcp(input);

  // Keyframe detection must be safe on arbitrary bytes, not only on parsed payloads.
  for (auto codec : {rtp::VideoCodec::VP8, rtp::VideoCodec::VP9, rtp::VideoCodec::H264, rtp::VideoCodec::AV1,
                     rtp::VideoCodec::Unknown}) {
    rtp::isKeyframeStart(codec, input);
  }

  auto parsed = rtp::parse(input);
  if (!parsed.ok()) {
    check(parsed.error().code == "RTP_MALFORMED");
    return 0;
  }
  const rtp::RtpPacket& p = *parsed;
  check(p.headerSize <= size);
  check(p.headerSize + p.payload.size() + p.paddingSize == size);
  check(p.extensionCount <= p.extensions.size());

  for (int id = 0; id < 256; ++id) {
    if (auto ext = p.extension(static_cast<std::uint8_t>(id))) {
      check(ext->data() >= data && ext->data() + ext->size() <= data + size);
      rtp::decodeAbsSendTime(*ext);
      rtp::decodeTransportSequence(*ext);
    }
  }
  for (auto codec : {rtp::VideoCodec::VP8, rtp::VideoCodec::VP9, rtp::VideoCodec::H264, rtp::VideoCodec::AV1}) {
    rtp::isKeyframeStart(codec, p.payload);
  }

  // Re-write (CSRCs and opaque extension profiles are not carried by the builder) and re-parse.
  const rtp::RtpHeaderFields fields{p.marker, p.payloadType, p.sequenceNumber, p.timestamp, p.ssrc};
  const std::span<const rtp::HeaderExtension> exts(p.extensions.data(), p.extensionCount);
  Bytes out;
  check(rtp::write(fields, exts, p.payload, out) == out.size());
  auto again = rtp::parse(out);
  check(again.ok());
  check(again->marker == p.marker && again->payloadType == p.payloadType && again->sequenceNumber == p.sequenceNumber &&
        again->timestamp == p.timestamp && again->ssrc == p.ssrc);
  check(sameBytes(again->payload, p.payload));
  check(again->extensionCount == p.extensionCount);
  for (std::size_t i = 0; i < p.extensionCount; ++i) {
    check(again->extensions[i].id == p.extensions[i].id);
    check(sameBytes(again->extensions[i].data, p.extensions[i].data));
  }
  return 0;
}
