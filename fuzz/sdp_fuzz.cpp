// libFuzzer target for the SDP layer: parse -> serialize -> parse must succeed and give the same model;
// fragments and the answerer must not crash on anything the parser accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "stagecast/sdp/negotiation.hpp"
#include "stagecast/sdp/session_description.hpp"

using namespace stagecast::sdp;

namespace {

const AnswerOptions& options() {
  static const AnswerOptions opts = [] {
    AnswerOptions o;
    o.audioCodecs = {{"opus", 48000, 2, {}, 1}};
    o.videoCodecs = {{"VP8", 90000, 0, {}, 1}, {"H264", 90000, 0, {"42e0", "4d00"}, 1}};
    o.headerExtensions = {"urn:ietf:params:rtp-hdrext:sdes:mid",
                          "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"};
    o.iceUfrag = "fuzz";
    o.icePwd = "fuzzfuzzfuzzfuzzfuzzfuzz";
    o.fingerprint = {"sha-256", "AA:BB"};
    o.outgoing = {{"audio", 1111, 0, "c", "s", "a"}, {"video", 2222, 3333, "c", "s", "v"}};
    o.acceptIncoming = true;
    o.acceptOutgoing = true;
    o.singleCodec = false;
    return o;
  }();
  return opts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parseFragment(text);
  auto first = parse(text);
  if (!first.ok()) return 0;
  std::string out = serialize(first.value());
  // The size limit applies to input; expansion (e.g. a wildcard rtcp-fb) may legitimately exceed it.
  if (out.size() <= kMaxSdpSize) {
    auto second = parse(out);
    if (!second.ok() || !(second.value() == first.value())) std::abort();
  }
  auto answer = answerOffer(first.value(), options());
  if (answer.ok()) {
    std::string a = serialize(answer->sdp);
    if (a.size() <= kMaxSdpSize && !parse(a).ok()) std::abort();
  }
  return 0;
}
