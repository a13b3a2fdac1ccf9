#include <gtest/gtest.h>

#include "stagecast/sdp/session_description.hpp"

using namespace stagecast::sdp;

TEST(Candidate, ParsesChromiumHostCandidate) {
  auto c = Candidate::parse(
      "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->foundation, "1387637174");
  EXPECT_EQ(c->component, 1U);
  EXPECT_EQ(c->transport, "udp");
  EXPECT_EQ(c->priority, 2122260223U);
  EXPECT_EQ(c->address, "192.0.2.1");
  EXPECT_EQ(c->port, 61764);
  EXPECT_EQ(c->type, "host");
  EXPECT_EQ(c->extensions.at("generation"), "0");
  EXPECT_EQ(c->extensions.at("ufrag"), "EsAw");
  EXPECT_EQ(c->extensions.at("network-id"), "1");
  EXPECT_TRUE(c->tcpType.empty());
}

TEST(Candidate, PrefixesAreOptional) {
  auto a = Candidate::parse("1 1 UDP 2130706431 10.0.0.1 5000 typ host");
  auto b = Candidate::parse("candidate:1 1 UDP 2130706431 10.0.0.1 5000 typ host");
  auto c = Candidate::parse("a=candidate:1 1 UDP 2130706431 10.0.0.1 5000 typ host");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a.value(), b.value());
  EXPECT_EQ(a.value(), c.value());
  EXPECT_EQ(a->transport, "udp");  // lowercased
}

TEST(Candidate, ToStringOrder) {
  Candidate c;
  c.foundation = "842163049";
  c.component = 1;
  c.transport = "udp";
  c.priority = 1677729535;
  c.address = "198.51.100.7";
  c.port = 49203;
  c.type = "srflx";
  c.extensions = {{"generation", "0"}, {"rport", "49203"}, {"raddr", "192.168.1.20"}};
  EXPECT_EQ(c.toString(),
            "candidate:842163049 1 udp 1677729535 198.51.100.7 49203 typ srflx raddr 192.168.1.20 rport 49203 "
            "generation 0");
  auto back = Candidate::parse(c.toString());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), c);
}

TEST(Candidate, TcpAndMdns) {
  auto c = Candidate::parse(
      "candidate:2 1 tcp 1518280447 3f0e5a62-9d1b-4c3a-8e7f-0a1b2c3d4e5f.local 9 typ host "
      "tcptype active generation 0");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->address, "3f0e5a62-9d1b-4c3a-8e7f-0a1b2c3d4e5f.local");
  EXPECT_EQ(c->tcpType, "active");
  EXPECT_EQ(c->extensions.count("tcptype"), 0U);
  EXPECT_EQ(c->toString(),
            "candidate:2 1 tcp 1518280447 3f0e5a62-9d1b-4c3a-8e7f-0a1b2c3d4e5f.local 9 typ host tcptype active "
            "generation 0");
}

TEST(Candidate, IPv6Relay) {
  auto c = Candidate::parse("candidate:3 1 udp 41885439 2001:db8::10 3478 typ relay raddr 2001:db8::1 rport 5000");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->type, "relay");
  EXPECT_EQ(c->extensions.at("raddr"), "2001:db8::1");
  auto again = Candidate::parse(c->toString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), c.value());
}

TEST(Candidate, Malformed) {
  for (const char* bad : {
           "", "candidate:",
           "candidate:1 1 udp 1 192.0.2.1 5000",            // no typ
           "candidate:1 1 udp 1 192.0.2.1 5000 type host",  // "typ" misspelt
           "candidate:1 1 udp 1 192.0.2.1 65536 typ host",  // port out of range
           "candidate:1 x udp 1 192.0.2.1 5000 typ host",   // component
           "candidate:1 1 udp -1 192.0.2.1 5000 typ host",  // priority
           "candidate:1 1 udp 4294967296 192.0.2.1 5000 typ host",
           "candidate:1 1 udp 1 192.0.2.1 5000 typ host generation",  // extension without value
       }) {
    auto c = Candidate::parse(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().code, "SDP_MALFORMED");
  }
}
