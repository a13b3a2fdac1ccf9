#include "stagecast/api/media_api.hpp"

#include <memory>

#include "stagecast/api/errors.hpp"
#include "stagecast/common/log.hpp"
#include "stagecast/common/text.hpp"

namespace stagecast::api {

namespace {

bool contentTypeIs(const http::Request& req, std::string_view expected) {
  auto ct = req.header("Content-Type");
  if (!ct) return false;
  std::string v = ct->substr(0, ct->find(';'));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return iequals(v, expected);
}

std::string linkHeader(const IceServerLink& s) {
  // RFC 9725 §4.6: Link: <turn:host>; rel="ice-server"; username="..."; credential="..."
  std::string v = "<" + s.url + ">; rel=\"ice-server\"";
  if (!s.username.empty()) v += "; username=\"" + s.username + "\"; credential=\"" + s.credential + "\"";
  return v;
}

// The resource URL of a session (RFC 9725 §4.2: Location of the 201).
std::string resourcePath(const std::string& prefix, const std::string& stage, const std::string& session) {
  return prefix + "/" + stage + "/" + session;
}

// RFC 6750 §2.1: "Authorization: Bearer <token>". Checks the token against the stage in the URL and the
// capability the method needs. Returns the claims (empty claims when tokens are not required).
Result<auth::Claims> authorize(const http::Request& req, const MediaApiOptions& options, const std::string& stage,
                               bool publish) {
  if (!options.verifier) return auth::Claims{};
  auto h = req.header("Authorization");
  if (!h || h->size() < 7 || !iequals(h->substr(0, 7), "bearer ")) {
    return Error("TOKEN_REQUIRED", "send a participant token as Authorization: Bearer <token>");
  }
  std::string token = h->substr(7);
  while (!token.empty() && token.front() == ' ') token.erase(token.begin());
  const std::int64_t now =
      options.nowSeconds ? options.nowSeconds()
                         : std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  auto claims = options.verifier->verify(token, now);
  if (!claims) return claims.error();
  if (claims->topic != stage) return Error("TOKEN_WRONG_STAGE", "the token is for another stage");
  if (publish ? !claims->capabilities.allowPublish : !claims->capabilities.allowSubscribe) {
    return Error("TOKEN_CAPABILITY", publish ? "the token does not allow publishing" : "the token does not allow subscribing");
  }
  return claims;
}

void addRoutesFor(http::Router& router, engine::Engine& engine, std::shared_ptr<const MediaApiOptions> options,
                  const std::string& prefix, bool publish) {
  router.add("POST", prefix + "/{stage}",
             [&engine, options, prefix, publish](http::Request& req, http::Responder done) {
               const std::string stage = req.params["stage"];
               if (!validStageId(stage)) {
                 done(errorResponse(Error("INVALID_STAGE", "stage id must be 1-64 characters of [A-Za-z0-9_.-]")));
                 return;
               }
               if (!contentTypeIs(req, "application/sdp")) {
                 done(errorResponse(Error("UNSUPPORTED_MEDIA_TYPE", "the offer must be sent as application/sdp")));
                 return;
               }
               if (req.body.empty()) {
                 done(errorResponse(Error("SDP_MALFORMED", "empty offer")));
                 return;
               }
               auto claims = authorize(req, *options, stage, publish);
               if (!claims) {
                 done(errorResponse(claims.error()));
                 return;
               }
               auto complete = [done, options, prefix, stage, publish,
                                user = claims->userId](Result<sfu::CreatedSession> r) {
                 if (!r) {
                   done(errorResponse(r.error()));
                   return;
                 }
                 if (!publish && options->onViewerSession) options->onViewerSession(stage, user, r->sessionId);
                 if (publish && options->onPublisherSession) options->onPublisherSession(stage, r->sessionId);
                 http::Response resp = http::Response::text(201, r->answerSdp, "application/sdp");
                 resp.headers.emplace("Location", resourcePath(prefix, stage, r->sessionId));
                 resp.headers.emplace("ETag", r->etag);
                 resp.headers.emplace("Accept-Patch", "application/trickle-ice-sdpfrag");
                 for (const auto& s : options->iceServers) resp.headers.emplace("Link", linkHeader(s));
                 done(std::move(resp));
               };
               if (publish) {
                 engine.publish(stage, std::move(req.body), std::move(complete));
               } else {
                 engine.subscribe(stage, std::move(req.body), std::move(complete));
               }
             });

  router.add("PATCH", prefix + "/{stage}/{session}", [&engine, options, publish](http::Request& req, http::Responder done) {
    if (auto claims = authorize(req, *options, req.params["stage"], publish); !claims) {
      done(errorResponse(claims.error()));
      return;
    }
    if (!contentTypeIs(req, "application/trickle-ice-sdpfrag")) {
      done(errorResponse(Error("UNSUPPORTED_MEDIA_TYPE", "PATCH needs application/trickle-ice-sdpfrag")));
      return;
    }
    const std::string ifMatch = req.header("If-Match").value_or("");
    engine.patch(
        req.params["stage"], req.params["session"], ifMatch, std::move(req.body), [done](Result<sfu::PatchResult> r) {
          if (!r) {
            done(errorResponse(r.error()));
            return;
          }
          if (r->answerFragment.empty()) {
            done(http::Response{204, {}, ""});
            return;
          }
          http::Response resp = http::Response::text(200, r->answerFragment, "application/trickle-ice-sdpfrag");
          resp.headers.emplace("ETag", r->etag);
          done(std::move(resp));
        });
  });

  router.add("DELETE", prefix + "/{stage}/{session}", [&engine, options, publish](http::Request& req, http::Responder done) {
    if (auto claims = authorize(req, *options, req.params["stage"], publish); !claims) {
      done(errorResponse(claims.error()));
      return;
    }
    engine.remove(req.params["stage"], req.params["session"],
                  [done, options, stage = req.params["stage"], session = req.params["session"]](Status s) {
      if (!s) {
        done(errorResponse(s.error()));
        return;
      }
      if (options->onSessionDeleted) options->onSessionDeleted(stage, session);
      done(http::Response{200, {}, ""});
    });
  });
}

}  // namespace

bool validStageId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return id != "." && id != "..";
}

void registerMediaRoutes(http::Router& router, engine::Engine& engine, MediaApiOptions options) {
  auto shared = std::make_shared<const MediaApiOptions>(std::move(options));
  addRoutesFor(router, engine, shared, "/whip", true);
  addRoutesFor(router, engine, shared, "/whep", false);
}

}  // namespace stagecast::api
