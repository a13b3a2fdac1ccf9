// Request body helpers: the member reader must agree with parsing the document and looking the member up.
#include "stagecast/api/json_body.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace stagecast::api {
namespace {

constexpr std::size_t kLimit = 1024;

// "ok:<value>" or "<code>:<message>" for one member read both ways.
std::string viaDocument(const std::string& body, const char* name, bool optional) {
  auto doc = jsonObjectBody(body, kLimit);
  if (!doc) return doc.error().code + ":" + doc.error().message;
  auto v = stringMember(*doc, name, optional);
  if (!v) return v.error().code + ":" + v.error().message;
  return "ok:" + *v;
}

std::string viaReader(const std::string& body, const char* name, bool optional) {
  auto members = StringMembers::parse(body, {"userId", "stageArn"}, kLimit);
  if (!members) return members.error().code + ":" + members.error().message;
  auto v = members->get(name, optional);
  if (!v) return v.error().code + ":" + v.error().message;
  return "ok:" + *v;
}

TEST(JsonBodyTest, ReadsTopLevelStringMembers) {
  auto m = StringMembers::parse(R"({"userId":"viewer-1","stageArn":"arn:stage/main-0","other":[1,{"x":2}]})",
                                {"userId", "stageArn"}, kLimit);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m->get("userId"), "viewer-1");
  EXPECT_EQ(*m->get("stageArn"), "arn:stage/main-0");
}

TEST(JsonBodyTest, DecodesEscapes) {
  auto m = StringMembers::parse(R"({"userId":"a\"b\\c\u00e9\ud83d\ude00"})", {"userId"}, kLimit);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m->get("userId"), "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(JsonBodyTest, ErrorsNameTheBodyOrTheMember) {
  auto expectError = [](const std::string& body, const char* name, const std::string& message) {
    SCOPED_TRACE(body);
    EXPECT_EQ(viaReader(body, name, false), "INVALID_REQUEST:" + message);
    EXPECT_EQ(viaDocument(body, name, false), "INVALID_REQUEST:" + message);
  };
  expectError("", "userId", "body: a JSON object is required");
  expectError(std::string(kLimit + 1, ' '), "userId", "body: larger than 1024 bytes");
  expectError("{\"userId\":", "userId", "body: malformed JSON");
  expectError("{\"userId\":\"a\"} trailing", "userId", "body: malformed JSON");
  expectError("{\"userId\":\"\xff\"}", "userId", "body: malformed JSON");  // not UTF-8
  expectError("[\"userId\"]", "userId", "body: must be a JSON object");
  expectError("\"userId\"", "userId", "body: must be a JSON object");
  expectError("{}", "userId", "userId: is required");
  expectError(R"({"userId":null})", "userId", "userId: is required");
  expectError(R"({"userId":""})", "userId", "userId: must not be empty");
  expectError(R"({"userId":7})", "userId", "userId: must be a string");
  expectError(R"({"userId":{"userId":"x"}})", "userId", "userId: must be a string");
  expectError(R"({"userId":["x"]})", "userId", "userId: must be a string");
  expectError(R"({"inner":{"userId":"x"}})", "userId", "userId: is required");  // nested members do not count
}

TEST(JsonBodyTest, OptionalMembers) {
  EXPECT_EQ(viaReader("{}", "userId", true), "ok:");
  EXPECT_EQ(viaReader(R"({"userId":null})", "userId", true), "ok:");
  EXPECT_EQ(viaReader(R"({"userId":""})", "userId", true), "ok:");
  EXPECT_EQ(viaReader(R"({"userId":false})", "userId", true), "INVALID_REQUEST:userId: must be a string");
}

TEST(JsonBodyTest, RepeatedMemberCountsWithItsLastValue) {
  for (const std::string body : {R"({"userId":"a","userId":"b"})", R"({"userId":"a","userId":1})",
                                 R"({"userId":1,"userId":"b"})", R"({"userId":"a","userId":null})"}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(viaReader(body, "userId", false), viaDocument(body, "userId", false));
  }
  EXPECT_EQ(viaReader(R"({"userId":"a","userId":"b"})", "userId", false), "ok:b");
}

// Random edits of valid bodies (byte flips, cuts, insertions of JSON punctuation): whatever the input, both ways
// give the same outcome.
TEST(JsonBodyTest, AgreesWithTheDocumentOnMutatedBodies) {
  const std::vector<std::string> seeds = {
      R"({"userId":"viewer-42","stageArn":"arn:stagecast:stage/main-0"})",
      R"({ "stageArn" : "s", "userId" : "u", "n": [1, 2.5, -3e2, true, false, null], "o": {"userId": "x"} })",
      R"({"userId":"\u0041\n\t","stageArn":null,"userId":"again"})",
  };
  const std::string alphabet = "{}[]\":,\\ nu0aA\x80\xff-1e.tf";
  std::mt19937 rng(20261206);
  int agreed = 0;
  int accepted = 0;  // mutated bodies that still gave a value: both paths of the reader are exercised
  for (int i = 0; i < 20000; ++i) {
    std::string body = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const std::size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0:
          body[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          body.erase(at, 1 + rng() % 3);
          break;
        default:
          body.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
    }
    for (const char* name : {"userId", "stageArn"}) {
      for (bool optional : {false, true}) {
        const auto outcome = viaReader(body, name, optional);
        ASSERT_EQ(outcome, viaDocument(body, name, optional)) << body;
        ++agreed;
        if (outcome.rfind("ok:", 0) == 0) ++accepted;
      }
    }
  }
  EXPECT_EQ(agreed, 80000);
  EXPECT_GT(accepted, 1000);
  EXPECT_LT(accepted, 79000);
}

}  // namespace
}  // namespace stagecast::api
