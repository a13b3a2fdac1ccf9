// Interoperability with an independent JOSE implementation: PyJWT (with python3-cryptography) verifies our
// tokens and signs tokens that we verify. Skipped when no Python with both modules is found; the interpreter
// can be chosen with STAGECAST_PYTHON.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "jws_test_util.hpp"
#include "stagecast/auth/token.hpp"

using namespace stagecast;
using namespace stagecast::auth;
using nlohmann::json;
namespace t = stagecast::auth::testing;
namespace fs = std::filesystem;

namespace {

constexpr const char* kScript = R"PY(
import base64, hashlib, json, sys
import jwt
from cryptography.hazmat.primitives import serialization

def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

mode = sys.argv[1]
if mode == "decode":            # decode <public pem> <token>
    token = read(sys.argv[3]).strip()
    claims = jwt.decode(token, read(sys.argv[2], "rb"), algorithms=["ES384"], leeway=30)
    print(json.dumps({"header": jwt.get_unverified_header(token), "claims": claims}))
elif mode == "decode-jwk":      # decode-jwk <jwk json> <token>
    key = jwt.PyJWK(json.loads(read(sys.argv[2])))
    claims = jwt.decode(read(sys.argv[3]).strip(), key.key, algorithms=["ES384"], leeway=30)
    print(json.dumps({"claims": claims}))
elif mode == "encode":          # encode <private pem> <payload json> [kid]
    headers = {"kid": sys.argv[4]} if len(sys.argv) > 4 else None
    print(jwt.encode(json.loads(read(sys.argv[3])), read(sys.argv[2], "rb"), algorithm="ES384", headers=headers))
elif mode == "jwk":             # jwk <public pem>: coordinates and RFC 7638 thumbprint computed here
    numbers = serialization.load_pem_public_key(read(sys.argv[2], "rb")).public_numbers()
    x = b64url(numbers.x.to_bytes(48, "big"))
    y = b64url(numbers.y.to_bytes(48, "big"))
    canonical = json.dumps({"crv": "P-384", "kty": "EC", "x": x, "y": y}, sort_keys=True, separators=(",", ":"))
    print(json.dumps({"x": x, "y": y, "kid": b64url(hashlib.sha256(canonical.encode()).digest())}))
)PY";

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string findPython() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("STAGECAST_PYTHON"); env != nullptr && *env != '\0') candidates.emplace_back(env);
  candidates.emplace_back("python3");
  candidates.emplace_back("/usr/bin/python3");  // where Debian's python3-jwt is importable
  for (const auto& c : candidates) {
    const std::string cmd = quote(c) + " -c 'import jwt, cryptography' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return c;
  }
  return {};
}

void writeFile(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Output {
  bool ok = false;
  std::string out;
  std::string err;
};

class PyJwtInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    python_ = findPython();
    if (python_.empty()) {
      GTEST_SKIP() << "python3 with the jwt and cryptography modules not found (set STAGECAST_PYTHON)";
    }
    script_ = dir_.path() / "oracle.py";
    writeFile(script_, kScript);
    writeFile(dir_.path() / "public.pem", key_.publicPem());
    writeFile(dir_.path() / "private.pem", key_.privatePem());
    now_ = static_cast<std::int64_t>(std::time(nullptr));
  }

  Output py(const std::vector<std::string>& args) const {
    std::string cmd = quote(python_) + " " + quote(script_.string());
    for (const auto& a : args) cmd += " " + quote(a);
    const fs::path err = dir_.path() / "stderr.txt";
    cmd += " 2>" + quote(err.string());
    Output o;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (pipe == nullptr) return o;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) o.out.append(buf, n);
    o.ok = ::pclose(pipe) == 0;
    o.err = readFile(err);
    return o;
  }

  std::string file(const std::string& name, const std::string& content) const {
    const fs::path p = dir_.path() / name;
    writeFile(p, content);
    return p.string();
  }

  Claims claims() const {
    Claims c;
    c.jti = "jti-" + crypto::randomId(12);
    c.resource = "stage/9";
    c.topic = "town hall";
    c.userId = "u-\xC3\xBC";
    c.attributes = json{{"role", "host"}, {"n", 3}};
    c.capabilities.allowPublish = true;
    c.whipUrl = "https://sfu.example.test/whip/9";
    c.version = 2;
    c.iat = now_;
    c.exp = now_ + 600;
    return c;
  }

  t::TempDir dir_;
  std::string python_;
  fs::path script_;
  SigningKey key_ = *SigningKey::generate();
  std::int64_t now_ = 0;
};

}  // namespace

TEST_F(PyJwtInterop, PyJwtVerifiesOurToken) {
  const Claims c = claims();
  const std::string token = *TokenSigner(key_).sign(c);
  const Output o = py({"decode", (dir_.path() / "public.pem").string(), file("token.txt", token)});
  ASSERT_TRUE(o.ok) << o.err;
  const json decoded = json::parse(o.out, nullptr, false);
  ASSERT_TRUE(decoded.is_object()) << o.out;
  EXPECT_EQ(decoded["claims"], claimsToJson(c));
  EXPECT_EQ(decoded["header"], (json{{"alg", "ES384"}, {"typ", "JWT"}, {"kid", key_.keyId()}}));
}

TEST_F(PyJwtInterop, PyJwtVerifiesOurTokenWithOurJwk) {
  const Claims c = claims();
  const std::string token = *TokenSigner(key_).sign(c);
  // PyJWK insists on 48-byte coordinates for P-384, so this also checks the JWK's padding.
  const Output o = py({"decode-jwk", file("jwk.json", key_.publicJwk().dump()), file("token.txt", token)});
  ASSERT_TRUE(o.ok) << o.err;
  EXPECT_EQ(json::parse(o.out, nullptr, false)["claims"], claimsToJson(c)) << o.out;
}

TEST_F(PyJwtInterop, PyJwtRejectsTamperedToken) {
  // The oracle is not vacuous: a forged payload fails there too.
  std::string token = *TokenSigner(key_).sign(claims());
  const auto dot = token.find('.');
  Claims forged = claims();
  forged.capabilities.allowSubscribe = true;
  token = token.substr(0, dot + 1) + t::refBase64Url(claimsToJson(forged).dump()) + token.substr(token.rfind('.'));
  const Output o = py({"decode", (dir_.path() / "public.pem").string(), file("token.txt", token)});
  EXPECT_FALSE(o.ok) << o.out;
}

TEST_F(PyJwtInterop, WeVerifyPyJwtTokens) {
  const Claims c = claims();
  const TokenVerifier verifier(key_);
  for (bool withKid : {true, false}) {
    std::vector<std::string> args = {"encode", (dir_.path() / "private.pem").string(),
                                     file("payload.json", claimsToJson(c).dump())};
    if (withKid) args.push_back(key_.keyId());
    const Output o = py(args);
    ASSERT_TRUE(o.ok) << o.err;
    std::string token = o.out;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    auto verified = verifier.verify(token, now_);
    ASSERT_TRUE(verified.ok()) << verified.error().code << " " << verified.error().message << " " << token;
    EXPECT_EQ(*verified, c);
    // And the PyJWT token fails against another key.
    EXPECT_FALSE(TokenVerifier(*SigningKey::generate()).verify(token, now_).ok());
  }
}

TEST_F(PyJwtInterop, JwkAndThumbprintMatchCryptography) {
  const Output o = py({"jwk", (dir_.path() / "public.pem").string()});
  ASSERT_TRUE(o.ok) << o.err;
  const json expected = json::parse(o.out, nullptr, false);
  ASSERT_TRUE(expected.is_object()) << o.out;
  const json jwk = key_.publicJwk();
  EXPECT_EQ(jwk["x"], expected["x"]);
  EXPECT_EQ(jwk["y"], expected["y"]);
  EXPECT_EQ(key_.keyId(), expected["kid"]);
}
