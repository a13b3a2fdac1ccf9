// The camera registry on its own: the file round trip and restarts, credentials sealed at rest (the file's
// bytes never hold them), a wrong key and altered files refused at open, validation and limits, atomic writes.
#include "stagecast/api/camera_registry.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "stagecast/auth/base64url.hpp"

namespace stagecast::api {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kUser = "operator-7Qx";
constexpr const char* kPassword = "pa55-W0rd!zz";

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

unsigned modeOf(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0xFFFF;
  return st.st_mode & 0777;
}

ingest::CameraAddress address(std::string ip, std::uint16_t port, std::string path, std::string user = "",
                              std::string password = "") {
  ingest::CameraAddress a;
  a.ip = std::move(ip);
  a.port = port;
  a.path = std::move(path);
  a.username = std::move(user);
  a.password = std::move(password);
  return a;
}

class CameraRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stagecast-registry-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CameraRegistryOptions options() const {
    CameraRegistryOptions o;
    o.file = (dir_ / "cameras.json").string();
    o.keyFile = (dir_ / "camera-secrets.key").string();
    o.nowMs = [this] { return clockMs_.load(); };
    return o;
  }

  std::unique_ptr<CameraRegistry> open(CameraRegistryOptions o) {
    auto r = CameraRegistry::open(std::move(o));
    EXPECT_TRUE(r) << r.error().code << ": " << r.error().message;
    return r ? std::move(r).value() : nullptr;
  }
  std::unique_ptr<CameraRegistry> open() { return open(options()); }

  json fileJson() const { return json::parse(readFile(dir_ / "cameras.json")); }

  fs::path dir_;
  std::atomic<std::int64_t> clockMs_{1'700'000'000'000};
};

TEST_F(CameraRegistryTest, RoundTripThroughTheFileAndARestart) {
  std::string lockedId;
  std::string openId;
  {
    auto reg = open();
    ASSERT_TRUE(reg);
    EXPECT_FALSE(fs::exists(dir_ / "cameras.json")) << "nothing is written before the first camera";
    EXPECT_EQ(reg->size(), 0U);

    auto locked = reg->add({"Gate", address("192.0.2.10", 8554, "/Streaming/Channels/101", kUser, kPassword)});
    ASSERT_TRUE(locked) << locked.error().message;
    clockMs_ += 1000;
    CameraSpec spec{"Lobby \xC3\xA9tage", address("cam.example.net", 554, "/live?channel=1")};
    spec.address.transport = "UDP";
    auto open = reg->add(spec);
    ASSERT_TRUE(open) << open.error().message;
    lockedId = locked->id;
    openId = open->id;

    EXPECT_TRUE(locked->hasCredentials);
    EXPECT_FALSE(open->hasCredentials);
    EXPECT_EQ(open->transport, "udp") << "the transport is stored in lower case";
    EXPECT_EQ(locked->createdAtMs, 1'700'000'000'000);
    EXPECT_NE(lockedId, openId);
    for (const auto& id : {lockedId, openId}) {
      EXPECT_GE(id.size(), 8U);
      EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789"), std::string::npos) << id;
    }
  }
  // A new registry on the same files: everything is back, the credentials open with the key.
  auto reg = open();
  ASSERT_TRUE(reg);
  auto all = reg->list();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].id, lockedId) << "oldest first";
  EXPECT_EQ(all[0].name, "Gate");
  EXPECT_EQ(all[0].ip, "192.0.2.10");
  EXPECT_EQ(all[0].port, 8554);
  EXPECT_EQ(all[0].path, "/Streaming/Channels/101");
  EXPECT_EQ(all[0].transport, "tcp");
  EXPECT_TRUE(all[0].hasCredentials);
  EXPECT_EQ(all[0].createdAtMs, 1'700'000'000'000);
  EXPECT_EQ(all[1].name, "Lobby \xC3\xA9tage");
  EXPECT_EQ(all[1].ip, "cam.example.net");
  EXPECT_EQ(all[1].path, "/live?channel=1");
  EXPECT_EQ(all[1].transport, "udp");
  EXPECT_FALSE(all[1].hasCredentials);
  EXPECT_EQ(all[1].createdAtMs, 1'700'000'001'000);

  auto a = reg->address(lockedId);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->username, kUser);
  EXPECT_EQ(a->password, kPassword);
  EXPECT_EQ(a->port, 8554);
  auto b = reg->address(openId);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->username.empty());
  EXPECT_TRUE(b->password.empty());
}

TEST_F(CameraRegistryTest, TheFilesHoldNoClearCredentialsAndOnlyTheOwnerReadsThem) {
  auto reg = open();
  ASSERT_TRUE(reg);
  auto c = reg->add({"Gate", address("192.0.2.10", 554, "/s", kUser, kPassword)});
  ASSERT_TRUE(c);
  const std::string bytes = readFile(dir_ / "cameras.json");
  ASSERT_NE(bytes.find("192.0.2.10"), std::string::npos) << "read the wrong file?\n" << bytes;
  EXPECT_EQ(bytes.find(kUser), std::string::npos) << bytes;
  EXPECT_EQ(bytes.find(kPassword), std::string::npos) << bytes;
  // Not merely encoded either.
  for (const char* secret : {kUser, kPassword}) {
    EXPECT_EQ(bytes.find(auth::base64UrlEncode(asBytes(secret))), std::string::npos) << secret;
  }
  EXPECT_EQ(modeOf(dir_ / "cameras.json"), 0600U);
  EXPECT_EQ(modeOf(dir_ / "camera-secrets.key"), 0600U);
  EXPECT_EQ(fs::file_size(dir_ / "camera-secrets.key"), kCameraKeyBytes);

  // Sealed with AES-256-GCM under a 96-bit nonce; credentials sealed again get a fresh nonce.
  const json before = fileJson()["cameras"][0]["credentials"];
  EXPECT_EQ(before["alg"], "A256GCM");
  ASSERT_TRUE(auth::base64UrlDecode(before["nonce"].get<std::string>()));
  EXPECT_EQ(auth::base64UrlDecode(before["nonce"].get<std::string>())->size(), 12U);
  CameraChange same;
  same.password = kPassword;
  ASSERT_TRUE(reg->update(c->id, same));
  const json after = fileJson()["cameras"][0]["credentials"];
  EXPECT_NE(after["nonce"], before["nonce"]);
  EXPECT_NE(after["ciphertext"], before["ciphertext"]);

  // Writes go through a temporary file that is renamed: none is left behind.
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    ++files;
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  EXPECT_EQ(files, 2U);
}

TEST_F(CameraRegistryTest, AnotherKeyIsAStartupError) {
  {
    auto reg = open();
    ASSERT_TRUE(reg);
    ASSERT_TRUE(reg->add({"Gate", address("192.0.2.10", 554, "/s", kUser, kPassword)}));
  }
  const std::string cameras = readFile(dir_ / "cameras.json");
  writeFile(dir_ / "other.key", std::string(32, '\x5a'));
  auto o = options();
  o.keyFile = (dir_ / "other.key").string();
  auto r = CameraRegistry::open(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "CAMERA_KEY_MISMATCH");
  EXPECT_NE(r.error().message.find("cameras.json"), std::string::npos) << r.error().message;
  EXPECT_EQ(readFile(dir_ / "cameras.json"), cameras) << "a refused file is left as it was";

  // The original key still opens it.
  auto back = open();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->size(), 1U);
}

TEST_F(CameraRegistryTest, AlteredCredentialsAreAStartupError) {
  std::string id;
  std::string otherId;
  {
    auto reg = open();
    ASSERT_TRUE(reg);
    auto c = reg->add({"Gate", address("192.0.2.10", 554, "/s", kUser, kPassword)});
    auto d = reg->add({"Yard", address("192.0.2.11", 554, "/s", "someone", "else")});
    ASSERT_TRUE(c && d);
    id = c->id;
    otherId = d->id;
  }
  const std::string original = readFile(dir_ / "cameras.json");

  auto expectRefused = [&](const json& doc, const char* what) {
    writeFile(dir_ / "cameras.json", doc.dump());
    auto r = CameraRegistry::open(options());
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, "CAMERA_STORE_CORRUPT") << what << ": " << r.error().message;
    EXPECT_NE(r.error().message.find("do not decrypt"), std::string::npos) << what << ": " << r.error().message;
  };

  // One bit of the ciphertext flipped.
  json doc = json::parse(original);
  auto ct = auth::base64UrlDecode(doc["cameras"][0]["credentials"]["ciphertext"].get<std::string>());
  ASSERT_TRUE(ct);
  (*ct)[0] ^= 0x01;
  doc["cameras"][0]["credentials"]["ciphertext"] = auth::base64UrlEncode(*ct);
  expectRefused(doc, "ciphertext bit flipped");

  // One bit of the tag flipped.
  doc = json::parse(original);
  ct = auth::base64UrlDecode(doc["cameras"][0]["credentials"]["ciphertext"].get<std::string>());
  ct->back() ^= 0x80;
  doc["cameras"][0]["credentials"]["ciphertext"] = auth::base64UrlEncode(*ct);
  expectRefused(doc, "tag bit flipped");

  // Credentials moved to the other camera: the camera id is authenticated data.
  doc = json::parse(original);
  std::swap(doc["cameras"][0]["credentials"], doc["cameras"][1]["credentials"]);
  expectRefused(doc, "credentials swapped between cameras");

  // The camera renamed to another id.
  doc = json::parse(original);
  doc["cameras"][0]["id"] = "renamed0001";
  expectRefused(doc, "id changed");

  // Truncated file (what a non-atomic write could leave).
  writeFile(dir_ / "cameras.json", original.substr(0, original.size() / 2));
  auto r = CameraRegistry::open(options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "CAMERA_STORE_CORRUPT");

  // Put back, it opens again.
  writeFile(dir_ / "cameras.json", original);
  auto reg = open();
  ASSERT_TRUE(reg);
  auto a = reg->address(otherId);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->password, "else");
}

TEST_F(CameraRegistryTest, UpdatesAndDeletesSurviveARestart) {
  std::string keep;
  std::string gone;
  {
    auto reg = open();
    ASSERT_TRUE(reg);
    auto a = reg->add({"Gate", address("192.0.2.10", 554, "/s")});
    auto b = reg->add({"Yard", address("192.0.2.11", 554, "/s", kUser, "old")});
    ASSERT_TRUE(a && b);
    keep = a->id;
    gone = b->id;

    // Credentials set after the fact (a probe said AUTH_REQUIRED).
    CameraChange creds;
    creds.username = kUser;
    creds.password = kPassword;
    creds.port = 8554;
    creds.name = "Front gate";
    auto u = reg->update(keep, creds);
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_TRUE(u->hasCredentials);
    EXPECT_EQ(u->port, 8554);
    EXPECT_EQ(u->name, "Front gate");

    auto removed = reg->remove(gone);
    ASSERT_TRUE(removed);
    EXPECT_EQ(removed->name, "Yard");
    EXPECT_EQ(reg->get(gone).error().code, "CAMERA_NOT_FOUND");
    EXPECT_EQ(reg->remove(gone).error().code, "CAMERA_NOT_FOUND");
  }
  auto reg = open();
  ASSERT_TRUE(reg);
  ASSERT_EQ(reg->size(), 1U);
  auto c = reg->get(keep);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "Front gate");
  EXPECT_EQ(c->port, 8554);
  EXPECT_TRUE(c->hasCredentials);
  auto a = reg->address(keep);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->username, kUser);
  EXPECT_EQ(a->password, kPassword);

  // The password alone cleared, then the credentials as a whole.
  CameraChange noPassword;
  noPassword.password = "";
  ASSERT_TRUE(reg->update(keep, noPassword));
  a = reg->address(keep);
  EXPECT_EQ(a->username, kUser);
  EXPECT_TRUE(a->password.empty());
  CameraChange none;
  none.username = "";
  auto cleared = reg->update(keep, none);
  ASSERT_TRUE(cleared);
  EXPECT_FALSE(cleared->hasCredentials);
  EXPECT_FALSE(fileJson()["cameras"][0].contains("credentials"));
  reg.reset();
  reg = open();
  ASSERT_TRUE(reg);
  EXPECT_FALSE(reg->get(keep)->hasCredentials);
  EXPECT_TRUE(reg->address(keep)->username.empty());
}

TEST_F(CameraRegistryTest, InputIsValidatedAndNothingIsStoredOnError) {
  auto reg = open();
  ASSERT_TRUE(reg);
  auto code = [&](const CameraSpec& s) {
    auto r = reg->add(s);
    return r ? std::string("OK") : r.error().code + " " + r.error().message;
  };
  EXPECT_EQ(code({"", address("192.0.2.1", 554, "/")}).rfind("INVALID_REQUEST name", 0), 0U);
  EXPECT_EQ(code({"   ", address("192.0.2.1", 554, "/")}).rfind("INVALID_REQUEST name", 0), 0U);
  EXPECT_EQ(code({std::string(101, 'n'), address("192.0.2.1", 554, "/")}).rfind("INVALID_REQUEST name", 0), 0U);
  EXPECT_EQ(code({"tab\there", address("192.0.2.1", 554, "/")}).rfind("INVALID_REQUEST name", 0), 0U);
  EXPECT_EQ(code({"bad \xFF utf8", address("192.0.2.1", 554, "/")}).rfind("INVALID_REQUEST name", 0), 0U);
  EXPECT_EQ(code({"x", address("not an ip!", 554, "/")}).rfind("INVALID_REQUEST ip", 0), 0U);
  EXPECT_EQ(code({"x", address("192.0.2.1", 554, "no-slash")}).rfind("INVALID_REQUEST path", 0), 0U);
  EXPECT_EQ(code({"x", address("192.0.2.1", 554, "/", "", "lonely")}).rfind("INVALID_REQUEST username", 0), 0U);
  EXPECT_EQ(code({"x", address("192.0.2.1", 0, "/")}).rfind("INVALID_REQUEST port", 0), 0U);
  CameraSpec badTransport{"x", address("192.0.2.1", 554, "/")};
  badTransport.address.transport = "sctp";
  EXPECT_EQ(code(badTransport).rfind("INVALID_REQUEST transport", 0), 0U);
  EXPECT_EQ(reg->size(), 0U);
  EXPECT_FALSE(fs::exists(dir_ / "cameras.json"));

  // 100 characters is the limit, counted as characters, not bytes.
  std::string hundred;
  for (int i = 0; i < 100; ++i) hundred += "\xC3\xA9";
  EXPECT_EQ(code({hundred, address("192.0.2.1", 554, "/")}), "OK");
  EXPECT_EQ(code({hundred + "e", address("192.0.2.1", 554, "/")}).rfind("INVALID_REQUEST name", 0), 0U);

  // A bad update changes nothing.
  const std::string id = reg->list().front().id;
  CameraChange bad;
  bad.name = "fine";
  bad.ip = "";
  EXPECT_EQ(reg->update(id, bad).error().code, "INVALID_REQUEST");
  EXPECT_EQ(reg->get(id)->name, hundred);
  CameraChange onlyPassword;
  onlyPassword.password = "p";
  EXPECT_EQ(reg->update(id, onlyPassword).error().code, "INVALID_REQUEST") << "a password needs a username";
  EXPECT_EQ(reg->update("nope", bad).error().code, "CAMERA_NOT_FOUND");
  EXPECT_EQ(reg->address("nope").error().code, "CAMERA_NOT_FOUND");
}

TEST_F(CameraRegistryTest, TheLimitIsEnforced) {
  auto o = options();
  o.maxCameras = 3;
  auto reg = open(o);
  ASSERT_TRUE(reg);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reg->add({"cam" + std::to_string(i), address("192.0.2.1", 554, "/")}));
  auto r = reg->add({"one too many", address("192.0.2.1", 554, "/")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "CAMERA_LIMIT_REACHED");
  EXPECT_EQ(reg->size(), 3U);
  ASSERT_TRUE(reg->remove(reg->list().front().id));
  EXPECT_TRUE(reg->add({"room again", address("192.0.2.1", 554, "/")}));
}

TEST_F(CameraRegistryTest, AFailedWriteChangesNothing) {
  auto o = options();
  o.file = (dir_ / "blocked" / "cameras.json").string();
  auto reg = open(o);
  ASSERT_TRUE(reg);
  writeFile(dir_ / "blocked", "a file where the directory should be");
  auto r = reg->add({"Gate", address("192.0.2.10", 554, "/s")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "CAMERA_STORE_FAILED");
  EXPECT_EQ(reg->size(), 0U) << "the camera is not kept when the file could not be written";
}

TEST_F(CameraRegistryTest, KeyFiles) {
  // A configured key of 64 hex digits (openssl rand -hex 32) is the same key as its 32 bytes.
  std::string raw;
  std::string hex;
  for (int i = 0; i < 32; ++i) {
    raw.push_back(static_cast<char>(i * 7 + 3));
    const char* digits = "0123456789abcdef";
    hex.push_back(digits[(i * 7 + 3) >> 4]);
    hex.push_back(digits[(i * 7 + 3) & 15]);
  }
  writeFile(dir_ / "hex.key", hex + "\n");
  writeFile(dir_ / "raw.key", raw);
  auto o = options();
  o.keyFile = (dir_ / "hex.key").string();
  {
    auto reg = open(o);
    ASSERT_TRUE(reg);
    ASSERT_TRUE(reg->add({"Gate", address("192.0.2.10", 554, "/s", kUser, kPassword)}));
  }
  o.keyFile = (dir_ / "raw.key").string();
  auto reg = open(o);
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->address(reg->list().front().id)->password, kPassword);

  // Not a key: refused, and never replaced.
  writeFile(dir_ / "short.key", "0123456789");
  o.keyFile = (dir_ / "short.key").string();
  auto r = CameraRegistry::open(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "CAMERA_KEY_INVALID");
  EXPECT_EQ(readFile(dir_ / "short.key"), "0123456789");

  // A missing configured key file is created (parent directories too), 32 bytes, mode 0600.
  auto fresh = options();
  fresh.file = (dir_ / "other" / "cameras.json").string();
  fresh.keyFile = (dir_ / "keys" / "cameras.key").string();
  ASSERT_TRUE(open(fresh));
  EXPECT_EQ(fs::file_size(dir_ / "keys" / "cameras.key"), 32U);
  EXPECT_EQ(modeOf(dir_ / "keys" / "cameras.key"), 0600U);
}

TEST_F(CameraRegistryTest, ConcurrentChangesAreAllKept) {
  auto reg = open();
  ASSERT_TRUE(reg);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto c = reg->add({"cam " + std::to_string(t) + "/" + std::to_string(i),
                           address("192.0.2.1", 554, "/s", "u" + std::to_string(t), "p" + std::to_string(i))});
        if (!c) {
          ++failures;
          continue;
        }
        (void)reg->list();
        auto a = reg->address(c->id);
        if (!a || a->password != "p" + std::to_string(i)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(reg->size(), static_cast<std::size_t>(kThreads * kPerThread));
  reg.reset();
  auto again = open();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->size(), static_cast<std::size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace stagecast::api
