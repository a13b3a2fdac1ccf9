#include "stagecast/rtcp/packet.hpp"

#include <string>

namespace stagecast::rtcp {

namespace {

constexpr std::uint32_t kRembId = 0x52454D42;  // "REMB"

// draft-alvestrand-rmcat-remb-03 §2.2: PSFB FMT 15 (application layer feedback) carrying "REMB" after the
// feedback header.
bool isRemb(const CommonHeader& h) {
  ByteReader r(h.body);
  std::uint32_t id = 0;
  return r.skip(8) && r.readU32(id) && id == kRembId;
}

template <class T>
Status append(std::vector<Packet>& out, Result<T> parsed, std::size_t index) {
  if (!parsed) return parsed.error().withContext("RTCP packet " + std::to_string(index));
  out.emplace_back(std::move(parsed).value());
  return {};
}

}  // namespace

// Dispatch on packet type (RFC 3550 §6.4–6.6, RFC 4585 §6.1) and FMT.
Result<std::vector<Packet>> parseCompound(BytesView datagram) {
  auto split = splitCompound(datagram);
  if (!split) return split.error();
  std::vector<Packet> out;
  out.reserve(split->size());
  for (std::size_t i = 0; i < split->size(); ++i) {
    const CommonHeader& h = (*split)[i];
    Status s;
    switch (h.packetType) {
      case pt::kSenderReport:
        s = append(out, SenderReport::parse(h), i);
        break;
      case pt::kReceiverReport:
        s = append(out, ReceiverReport::parse(h), i);
        break;
      case pt::kSdes:
        s = append(out, Sdes::parse(h), i);
        break;
      case pt::kBye:
        s = append(out, Bye::parse(h), i);
        break;
      case pt::kRtpFeedback:
        if (h.count == Nack::kFmt) {
          s = append(out, Nack::parse(h), i);
        } else if (h.count == TransportCc::kFmt) {
          s = append(out, TransportCc::parse(h), i);
        } else {
          out.emplace_back(Unknown{h.packetType, h.count});
        }
        break;
      case pt::kPayloadFeedback:
        if (h.count == Pli::kFmt) {
          s = append(out, Pli::parse(h), i);
        } else if (h.count == Fir::kFmt) {
          s = append(out, Fir::parse(h), i);
        } else if (h.count == Remb::kFmt && isRemb(h)) {
          s = append(out, Remb::parse(h), i);
        } else {
          out.emplace_back(Unknown{h.packetType, h.count});
        }
        break;
      default:
        out.emplace_back(Unknown{h.packetType, h.count});
        break;
    }
    if (!s) return s.error();
  }
  return out;
}

void writePacket(ByteWriter& w, const Packet& packet) {
  std::visit(
      [&w](const auto& p) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(p)>, Unknown>) p.write(w);
      },
      packet);
}

}  // namespace stagecast::rtcp
