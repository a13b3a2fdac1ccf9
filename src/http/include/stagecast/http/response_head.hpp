#pragma once
// The status line and header section of an HTTP/1.x response, written straight into a byte buffer.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "stagecast/http/server.hpp"

namespace stagecast::http {

struct ResponseFraming {
  unsigned version = 11;                     // 10 (HTTP/1.0) or 11 (HTTP/1.1)
  bool keepAlive = true;                     // false: the connection closes after this response
  std::optional<std::size_t> contentLength;  // nullopt: no Content-Length (1xx, 204, 304; RFC 9110 §8.6)
};

// The reason phrase sent for a status code; empty for codes without a registered one (RFC 9112 §4 makes the
// phrase optional).
std::string_view reasonPhrase(int status);

// Appends the status line (RFC 9112 §4), the response's headers and the empty line ending the header section to
// `out`. Left out: the framing fields the server owns (Content-Length, Connection, Transfer-Encoding) and
// malformed fields (a name that is not a token, a value holding CR, LF or NUL), each counted in the result.
// Added unless the response has them: Server, and the CORS fields of `options` (Access-Control-Allow-Origin
// with Vary: Origin for a specific origin, Access-Control-Expose-Headers). Then Content-Length and
// Connection (RFC 9112 §9.3: "close" for an HTTP/1.1 response that ends the connection, "keep-alive" for an
// HTTP/1.0 one that does not; "Upgrade" is listed when an Upgrade field is sent, RFC 9110 §7.8).
// Returns the number of fields dropped as malformed.
std::size_t appendResponseHead(std::string& out, int status, const Headers& headers, const ServerOptions& options,
                               const ResponseFraming& framing);

}  // namespace stagecast::http
