// The JSON member reader: RFC 8259 cases with known answers, then agreement with a document parser (the oracle)
// on generated and mutated texts.
#include "stagecast/common/json_members.hpp"

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "json_oracle.hpp"

namespace stagecast::json {
namespace {

struct Outcome {
  ScanResult result;
  std::array<Member, 2> members{Member{"userId"}, Member{"stageArn"}};
};

Outcome fast(std::string_view text) {
  Outcome o;
  o.result = scanObjectMembers(text, o.members);
  return o;
}

Outcome slow(std::string_view text) {
  Outcome o;
  o.result = oracle::scan(text, o.members);
  return o;
}

void expectSame(std::string_view text) {
  const auto a = fast(text);
  const auto b = slow(text);
  ASSERT_EQ(static_cast<int>(a.result), static_cast<int>(b.result)) << text;
  if (a.result != ScanResult::Object) return;
  for (std::size_t i = 0; i < a.members.size(); ++i) {
    EXPECT_EQ(static_cast<int>(a.members[i].kind), static_cast<int>(b.members[i].kind)) << text;
    EXPECT_EQ(a.members[i].value, b.members[i].value) << text;
  }
}

TEST(JsonMembersTest, ReadsWantedTopLevelMembers) {
  const auto o = fast(R"( {"userId" : "viewer-7", "x": {"stageArn": "nested"}, "stageArn":"arn:s/main-0"} )");
  ASSERT_EQ(o.result, ScanResult::Object);
  EXPECT_EQ(o.members[0].kind, MemberKind::String);
  EXPECT_EQ(o.members[0].value, "viewer-7");
  EXPECT_EQ(o.members[1].kind, MemberKind::String);
  EXPECT_EQ(o.members[1].value, "arn:s/main-0");
}

TEST(JsonMembersTest, KindsOfValues) {
  const auto o = fast(R"({"userId":null,"stageArn":[1,"a",{"b":null}]})");
  ASSERT_EQ(o.result, ScanResult::Object);
  EXPECT_EQ(o.members[0].kind, MemberKind::Null);
  EXPECT_EQ(o.members[1].kind, MemberKind::Other);
  EXPECT_EQ(fast(R"({"stageArn":"s"})").members[0].kind, MemberKind::Missing);
  for (const char* value : {"true", "false", "0", "-1.5e3", "{}", "[]"}) {
    const auto v = fast(std::string(R"({"userId":)") + value + "}");
    ASSERT_EQ(v.result, ScanResult::Object) << value;
    EXPECT_EQ(v.members[0].kind, MemberKind::Other) << value;
  }
}

TEST(JsonMembersTest, DecodesEscapesAndKeys) {
  const auto o = fast(R"({"user\u0049d":"a\"\\\/\b\f\n\r\t\u00e9\u20ac\ud83d\ude00\u0000z"})");
  ASSERT_EQ(o.result, ScanResult::Object);
  EXPECT_EQ(o.members[0].value, std::string("a\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z", 20));
}

TEST(JsonMembersTest, LastOfRepeatedMembersCounts) {
  EXPECT_EQ(fast(R"({"userId":"a","userId":"b"})").members[0].value, "b");
  EXPECT_EQ(fast(R"({"userId":"a","userId":1})").members[0].kind, MemberKind::Other);
  EXPECT_EQ(fast(R"({"userId":"a","userId":1})").members[0].value, "");
}

TEST(JsonMembersTest, Verdicts) {
  for (const char* text : {"[]", "\"s\"", "1", "null", " true "})
    EXPECT_EQ(fast(text).result, ScanResult::NotObject) << text;
  for (const char* text : {"",
                           " ",
                           "{",
                           "}",
                           "{\"a\"}",
                           "{\"a\":}",
                           "{\"a\":1,}",
                           "[1,]",
                           "{\"a\":1} x",
                           "{'a':1}",
                           "{\"a\":01}",
                           "{\"a\":1.}",
                           "{\"a\":.5}",
                           "{\"a\":-}",
                           "{\"a\":1e}",
                           "{\"a\":+1}",
                           "{\"a\":tru}",
                           "{\"a\":nul}",
                           "{\"a\":\"\t\"}",
                           "{\"a\":\"\\x\"}",
                           "{\"a\":\"\\u12\"}",
                           "{\"a\":\"\\ud800\"}",
                           "{\"a\":\"\\udc00\"}",
                           "{\"a\":\"\\ud800\\u0041\"}",
                           "{\"a\":\"\xc0\xaf\"}",
                           "{\"a\":\"\xed\xa0\x80\"}",
                           "{\"a\":\"\xf4\x90\x80\x80\"}",
                           "{\"a\":\"\xe2\x82\"}",
                           "{\"a\":1e400}",
                           "{\"a\":-1e309}",
                           "\xef\xbb{}",
                           "{}\xef\xbb\xbf"}) {
    EXPECT_EQ(fast(text).result, ScanResult::Malformed) << text;
  }
  EXPECT_EQ(fast(std::string("{\"a\":1}\0", 8)).result, ScanResult::Malformed);
  EXPECT_EQ(fast(std::string("{\"a\":\"\0\"}", 8)).result, ScanResult::Malformed);
  EXPECT_EQ(fast("\xef\xbb\xbf{\"userId\":\"x\"}").result, ScanResult::Object);
  EXPECT_EQ(fast("{\"a\":1e-400}").result, ScanResult::Object);  // too small for a double: zero
  EXPECT_EQ(fast("{\"a\":123456789012345678901234567890}").result, ScanResult::Object);
  EXPECT_EQ(fast("{\"a\":1.7976931348623157e308}").result, ScanResult::Object);
  EXPECT_EQ(fast("{\"a\":1.8e308}").result, ScanResult::Malformed);
}

TEST(JsonMembersTest, DeepNestingNeedsNoRecursion) {
  const std::string deep = "{\"userId\":\"u\",\"x\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  const auto o = fast(deep);
  ASSERT_EQ(o.result, ScanResult::Object);
  EXPECT_EQ(o.members[0].value, "u");
}

TEST(JsonMembersTest, AgreesWithTheOracleOnKnownCases) {
  for (const char* text : {R"({"userId":"a","stageArn":"b"})", R"({"userId":"\ud83d\ude00"})",
                           R"({"userId":"é","stageArn":"€"})", R"({"userId":0.1e-5,"stageArn":-0})",
                           R"({"userId":1E+2})", "{\"userId\":\"\x7f\"}", "\xef\xbb\xbf {} ", "{\"a\":1e-99999999999}",
                           "{\"a\":0e99999999}", "{\"a\":0.00001e310}", "{\"a\":100000e303}", "{\"a\":1000000e303}"}) {
    expectSame(text);
  }
}

// Generated texts: random JSON documents, then random byte edits of them. Both must give the same verdict and,
// for objects, the same members.
TEST(JsonMembersTest, AgreesWithTheOracleOnRandomTexts) {
  std::mt19937 rng(8259);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  const std::vector<std::string> strings = {"\"userId\"",   "\"stageArn\"", "\"u\\u0041\"",      "\"\"",
                                            "\"x\\n\\\"\"", "\"\xc3\xa9\"", "\"\\ud83d\\ude00\""};
  const std::vector<std::string> scalars = {"null", "true", "false", "0", "-12", "3.5e2", "1e400", "1e-400"};
  std::function<std::string(int)> value = [&](int depth) -> std::string {
    const auto kind = pick(depth > 3 ? 2 : 4);
    if (kind == 0) return scalars[pick(scalars.size())];
    if (kind == 1) return strings[pick(strings.size())];
    std::string out(1, kind == 2 ? '[' : '{');
    const auto n = pick(4);
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) out += pick(2) ? "," : " , ";
      if (kind == 3) out += strings[pick(strings.size())] + ":";
      out += value(depth + 1);
    }
    return out + (kind == 2 ? "]" : "}");
  };
  const std::string alphabet = "{}[]\":,\\ ntfu0189eE.-+\x80\xc3\xef";
  int objects = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string text = "{" + strings[pick(2)] + ":" + value(1) + "," + strings[pick(2)] + ":" + value(1) + "}";
    if (i % 3 != 0) {
      for (int e = 0, edits = 1 + static_cast<int>(pick(3)); e < edits && !text.empty(); ++e) {
        const auto at = pick(text.size());
        switch (pick(3)) {
          case 0:
            text[at] = alphabet[pick(alphabet.size())];
            break;
          case 1:
            text.erase(at, 1 + pick(2));
            break;
          default:
            text.insert(at, 1, alphabet[pick(alphabet.size())]);
            break;
        }
      }
    }
    ASSERT_NO_FATAL_FAILURE(expectSame(text));
    if (fast(text).result == ScanResult::Object) ++objects;
  }
  EXPECT_GT(objects, 10000);  // most texts stay objects, so members are compared often
}

}  // namespace
}  // namespace stagecast::json
