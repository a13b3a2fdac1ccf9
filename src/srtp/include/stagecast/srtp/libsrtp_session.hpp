#pragma once
// The libsrtp2-only SrtpSession (outbound protection through libsrtp2 as well). Production code uses
// SrtpSession::create; this is the reference implementation that tests compare the OpenSSL outbound path with.
#include <memory>

#include "stagecast/srtp/srtp_session.hpp"

namespace stagecast::srtp {

Result<std::unique_ptr<SrtpSession>> createLibsrtpSession(Profile profile, BytesView keySalt, Direction direction);

}  // namespace stagecast::srtp
