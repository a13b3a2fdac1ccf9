#include "stagecast/rtcp/packet.hpp"

#include <gtest/gtest.h>

using namespace stagecast;
using namespace stagecast::rtcp;

TEST(RtcpPacket, ParsesTypicalCompound) {
  // RFC 3550 §6.1: SR + SDES(CNAME), then a PLI, a NACK and a REMB.
  SenderReport sr;
  sr.senderSsrc = 1;
  sr.ntpTimestamp = 0x0102030405060708ULL;
  Sdes sdes;
  sdes.chunks.push_back({1, "cname@host"});
  Pli pli{.senderSsrc = 1, .mediaSsrc = 2};
  Nack nack;
  nack.senderSsrc = 1;
  nack.mediaSsrc = 2;
  nack.lostSequences = {5, 7};
  Remb remb;
  remb.senderSsrc = 1;
  remb.bitrateBps = 2000000;
  remb.ssrcs = {2};
  const std::vector<Packet> packets{sr, sdes, pli, nack, remb};

  ByteWriter w;
  for (const auto& p : packets) writePacket(w, p);
  auto parsed = parseCompound(w.bytes());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, packets);
}

TEST(RtcpPacket, DispatchesEveryType) {
  TransportCc tcc;
  tcc.deltas = {1, std::nullopt, 400};
  Fir fir;
  fir.entries = {{9, 1}};
  Bye bye;
  bye.ssrcs = {4};
  bye.reason = "bye";
  ReceiverReport rr;
  rr.senderSsrc = 3;
  rr.reports.push_back(ReportBlock{4, 1, 2, 3, 4, 5, 6});
  const std::vector<Packet> packets{rr, tcc, fir, bye};
  ByteWriter w;
  for (const auto& p : packets) writePacket(w, p);
  auto parsed = parseCompound(w.bytes());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, packets);
}

TEST(RtcpPacket, UnknownTypesAndFormats) {
  const Bytes data{0x80, 0xCC, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,                          // APP (204)
                   0x83, 0xCD, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,  // RTPFB FMT 3 (TMMBR)
                   0x8F, 0xCE, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,  // PSFB FMT 15 ...
                   'A',  'B',  'C',  'D',                                                   // ... not "REMB"
                   0x8F, 0xCE, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,  // PSFB FMT 15, too short
                   0x80, 0xD0, 0x00, 0x00};                                                 // XR (208), empty
  auto parsed = parseCompound(data);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 5u);
  EXPECT_EQ(std::get<Unknown>((*parsed)[0]), (Unknown{204, 0}));
  EXPECT_EQ(std::get<Unknown>((*parsed)[1]), (Unknown{205, 3}));
  EXPECT_EQ(std::get<Unknown>((*parsed)[2]), (Unknown{206, 15}));
  EXPECT_EQ(std::get<Unknown>((*parsed)[3]), (Unknown{206, 15}));
  EXPECT_EQ(std::get<Unknown>((*parsed)[4]), (Unknown{208, 0}));
  ByteWriter w;
  writePacket(w, (*parsed)[0]);
  EXPECT_EQ(w.size(), 0u);  // Unknown writes nothing
}

TEST(RtcpPacket, MalformedKnownPacketFailsWholeDatagram) {
  const Bytes data{0x80, 0xC9, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,   // valid RR
                   0x81, 0xCE, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01};  // PLI without media SSRC
  auto parsed = parseCompound(data);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, "RTCP_MALFORMED");
  EXPECT_NE(parsed.error().message.find("RTCP packet 1"), std::string::npos);
}

TEST(RtcpPacket, SplitErrorsPropagate) {
  EXPECT_FALSE(parseCompound(Bytes{}).ok());
  EXPECT_FALSE(parseCompound(Bytes{0x80, 0xC9, 0x00, 0x05, 0, 0, 0, 0}).ok());
  EXPECT_FALSE(parseCompound(Bytes{0x00, 0xC9, 0x00, 0x00}).ok());
}
