#pragma once
// One decoded RTCP packet of any supported type, and compound parsing.
#include <variant>
#include <vector>

#include "stagecast/rtcp/bye.hpp"
#include "stagecast/rtcp/fir.hpp"
#include "stagecast/rtcp/header.hpp"
#include "stagecast/rtcp/nack.hpp"
#include "stagecast/rtcp/pli.hpp"
#include "stagecast/rtcp/receiver_report.hpp"
#include "stagecast/rtcp/remb.hpp"
#include "stagecast/rtcp/sdes.hpp"
#include "stagecast/rtcp/sender_report.hpp"
#include "stagecast/rtcp/transport_cc.hpp"

namespace stagecast::rtcp {

struct Unknown {
  std::uint8_t packetType = 0;
  std::uint8_t count = 0;
  friend bool operator==(const Unknown&, const Unknown&) = default;
};

using Packet = std::variant<SenderReport, ReceiverReport, Sdes, Bye, Nack, Pli, Fir, Remb, TransportCc, Unknown>;

// Parses every packet of a compound RTCP datagram. A packet with a known type but a malformed body fails the
// whole parse (the datagram is dropped); unknown types become Unknown.
Result<std::vector<Packet>> parseCompound(BytesView datagram);

// Appends one packet to a compound being built. Unknown carries no body and writes nothing.
void writePacket(ByteWriter& w, const Packet& packet);

}  // namespace stagecast::rtcp
