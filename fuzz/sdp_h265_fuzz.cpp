// libFuzzer target for the SDP layer's H.265 negotiation (RFC 7798 §7.2.2): any offer the parser accepts is
// answered by a sender of a fixed H.265 stream and by a receiver with a level limit. Neither may crash; an
// answered H265 format must carry an fmtp that parses, asks for one RTP stream and keeps the offered profile; a
// sender's answer carries the stream's level, which the offer can receive; a receiver's answer never goes above
// the offered level.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "stagecast/common/text.hpp"
#include "stagecast/sdp/negotiation.hpp"
#include "stagecast/sdp/session_description.hpp"

using namespace stagecast;
using namespace stagecast::sdp;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

AnswerOptions options(bool sending, int levelId) {
  AnswerOptions o;
  CodecCapability h265{"H265", 90000, 0, {}, 1};
  H265Params p;
  p.levelId = levelId;
  h265.h265 = p;
  o.audioCodecs = {{"opus", 48000, 2, {}, 1}};
  o.videoCodecs = {h265};
  o.iceUfrag = "fuzz";
  o.icePwd = "fuzzfuzzfuzzfuzzfuzzfuzz";
  o.fingerprint = {"sha-256", "AA:BB"};
  o.outgoing = {{"audio", 1111, 0, "c", "s", "a"}, {"video", 2222, 3333, "c", "s", "v"}};
  o.acceptIncoming = !sending;
  o.acceptOutgoing = sending;
  return o;
}

void checkAnswer(const SessionDescription& offer, bool sending, int levelId) {
  auto answer = answerOffer(offer, options(sending, levelId));
  if (!answer.ok()) return;
  for (std::size_t i = 0; i < answer->media.size(); ++i) {
    const NegotiatedMedia& m = answer->media[i];
    if (!m.accepted || !m.codec || !iequals(m.codec->name, "H265")) continue;
    const Codec* offered = nullptr;  // the offered H265 format answered (a payload type may be listed twice)
    for (const Codec& c : offer.media.at(i).codecs) {
      if (offered == nullptr && c.payloadType == m.codec->payloadType && iequals(c.name, "H265")) offered = &c;
    }
    check(offered != nullptr);
    auto theirs = parseH265Params(*offered);
    auto ours = parseH265Params(*m.codec);
    check(theirs.ok() && ours.ok());
    check(ours->txMode == "SRST" && theirs->txMode == "SRST");
    check(ours->profileId == theirs->profileId && ours->profileSpace == theirs->profileSpace);
    check(ours->tierFlag == theirs->tierFlag);
    if (sending) {
      check(ours->levelId == levelId && levelId <= theirs->receiveLevel());
    } else {
      check(ours->levelId <= theirs->levelId && ours->levelId <= levelId);
    }
  }
  std::string text = serialize(answer->sdp);
  if (text.size() <= kMaxSdpSize) check(parse(text).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int levelId = data[0];
  auto offer = parse(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  if (!offer.ok()) return 0;
  checkAnswer(*offer, true, levelId);
  checkAnswer(*offer, false, levelId);
  return 0;
}
