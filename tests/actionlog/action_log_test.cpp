// The action log against each backend: SQLite in a temporary file, and PostgreSQL in a throwaway server started by
// the test (postgres_server.hpp); the PostgreSQL cases are skipped, with the reason, when no server can be started.
//
// A stalled writer is made deterministically: a second connection takes the table's write lock (SQLite: BEGIN
// EXCLUSIVE; PostgreSQL: LOCK TABLE ... IN EXCLUSIVE MODE), so the writer's insert waits inside the database until
// the test releases the lock (SQLite waits up to the busy timeout the test chooses).
#include <gtest/gtest.h>
#include <unistd.h>

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "stagecast/actionlog/action_log.hpp"
#ifdef STAGECAST_ACTIONLOG_POSTGRESQL
#include "postgres_server.hpp"
#endif

namespace stagecast::actionlog {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kBase = 1'700'000'000'000;  // 2023-11-14, UTC ms

class TempDir {
 public:
  TempDir() {
    auto pattern = (std::filesystem::temp_directory_path() / "stagecast-alog-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

ActionRecord makeRecord(std::int64_t atMs, std::string action, std::string camera) {
  ActionRecord r;
  r.atMs = atMs;
  r.action = std::move(action);
  r.result = "ok";
  r.camera = std::move(camera);
  r.client = "198.51.100.7:50000";
  r.sessionId = "s-" + std::to_string(atMs);
  r.durationMs = atMs % 1000;
  r.detail = "detail " + std::to_string(atMs);
  return r;
}

void expectSameFields(const ActionRecord& got, const ActionRecord& want) {
  EXPECT_EQ(got.atMs, want.atMs);
  EXPECT_EQ(got.action, want.action);
  EXPECT_EQ(got.result, want.result);
  EXPECT_EQ(got.camera, want.camera);
  EXPECT_EQ(got.client, want.client);
  EXPECT_EQ(got.sessionId, want.sessionId);
  EXPECT_EQ(got.durationMs, want.durationMs);
  EXPECT_EQ(got.detail, want.detail);
}

std::vector<ActionRecord> queryAll(ActionLog& log, LogQuery q = {}) {
  q.limit = kMaxQueryLimit;
  auto rows = log.query(q);
  EXPECT_TRUE(rows.ok()) << rows.error().code << ": " << rows.error().message;
  return rows ? std::move(rows).value() : std::vector<ActionRecord>{};
}

void expectNewestFirst(const std::vector<ActionRecord>& rows) {
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_TRUE(rows[i - 1].atMs > rows[i].atMs || (rows[i - 1].atMs == rows[i].atMs && rows[i - 1].id > rows[i].id))
        << "row " << i;
  }
}

class ActionLogTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
#ifdef STAGECAST_ACTIONLOG_POSTGRESQL
    server().reset();
#endif
  }

#ifdef STAGECAST_ACTIONLOG_POSTGRESQL
  // Started on first use (from the main thread, which outlives it) and shared by the tests of this process.
  static std::unique_ptr<testing::PostgresServer>& server() {
    static std::unique_ptr<testing::PostgresServer> instance;
    return instance;
  }
  static std::string& serverError() {
    static std::string why;
    return why;
  }
  static bool& serverTried() {
    static bool tried = false;
    return tried;
  }
#endif

  void SetUp() override {
    backend_ = GetParam();
    if (isPostgresql()) {
#ifndef STAGECAST_ACTIONLOG_POSTGRESQL
      GTEST_SKIP() << "this build has no PostgreSQL support (SOCI's PostgreSQL backend or libpq was not found)";
#else
      if (!serverTried()) {
        serverTried() = true;
        server() = testing::PostgresServer::start(serverError());
      }
      if (!server()) GTEST_SKIP() << "could not start a throwaway PostgreSQL server: " << serverError();
      static int databases = 0;
      const std::string name = "actionlog_" + std::to_string(::getpid()) + "_" + std::to_string(++databases);
      std::string why;
      ASSERT_TRUE(server()->createDatabase(name, why)) << why;
      connection_ = server()->connectionString(name);
#endif
    } else {
      dir_ = std::make_unique<TempDir>();
      ASSERT_FALSE(dir_->path().empty());
      connection_ = (dir_->path() / "preview actions=1.db").string();  // a space and '=' must survive quoting
    }
  }

  [[nodiscard]] bool isPostgresql() const { return backend_ == "postgresql"; }

  std::unique_ptr<ActionLog> open(ActionLogOptions options = {}) {
    auto log = ActionLog::open(backend_, connection_, options);
    EXPECT_TRUE(log.ok()) << log.error().code << ": " << log.error().message;
    return log ? std::move(log).value() : nullptr;
  }

  // A second connection holding the write lock of the table, until releaseWriters().
  std::unique_ptr<soci::session> blockWriters() {
    std::unique_ptr<soci::session> session;
    if (isPostgresql()) {
#ifdef STAGECAST_ACTIONLOG_POSTGRESQL
      session = std::make_unique<soci::session>(soci::postgresql, connection_);
      *session << "BEGIN";
      *session << "LOCK TABLE action_log IN EXCLUSIVE MODE";  // readers still read
#endif
    } else {
      session = std::make_unique<soci::session>(soci::sqlite3, "db=\"" + connection_ + "\"");
      *session << "BEGIN EXCLUSIVE";  // in WAL mode readers still read
    }
    return session;
  }

  static void releaseWriters(std::unique_ptr<soci::session>& session) {
    *session << "ROLLBACK";
    session.reset();
  }

  std::string backend_;
  std::string connection_;
  std::unique_ptr<TempDir> dir_;
};

TEST_P(ActionLogTest, QueriesNewestFirstByCameraActionSinceAndLimit) {
  auto log = open();
  ASSERT_NE(log, nullptr);
  const std::vector<std::string> cameras = {"10.0.0.5:554/stream1", "cam.local:8554/live", "[fd00::7]:554/h264"};
  const std::vector<std::string> actionNames = {actions::kProbe, actions::kOffer, actions::kHangup, actions::kTimeout,
                                                actions::kError};
  std::vector<ActionRecord> recorded;
  for (int i = 0; i < 30; ++i) recorded.push_back(makeRecord(kBase + i * 10, actionNames[i % 5], cameras[i % 3]));
  // Recorded out of time order: the order of the answers comes from atMs, not from arrival.
  for (int i = 0; i < 30; ++i) log->record(recorded[(i * 7) % 30]);
  log->flush();

  const auto stats = log->stats();
  EXPECT_EQ(stats.written, 30u);
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.queued, 0u);

  const auto all = queryAll(*log);
  ASSERT_EQ(all.size(), 30u);
  expectNewestFirst(all);
  std::set<std::int64_t> ids;
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_GT(all[i].id, 0);
    ids.insert(all[i].id);
    expectSameFields(all[i], recorded[29 - i]);
  }
  EXPECT_EQ(ids.size(), 30u);

  LogQuery byCamera;
  byCamera.camera = cameras[1];
  const auto camRows = queryAll(*log, byCamera);
  ASSERT_EQ(camRows.size(), 10u);
  expectNewestFirst(camRows);
  for (const auto& r : camRows) EXPECT_EQ(r.camera, cameras[1]);
  EXPECT_EQ(camRows.front().atMs, kBase + 280);

  LogQuery byAction;
  byAction.action = actions::kOffer;
  const auto offerRows = queryAll(*log, byAction);
  ASSERT_EQ(offerRows.size(), 6u);
  expectNewestFirst(offerRows);
  for (const auto& r : offerRows) EXPECT_EQ(r.action, actions::kOffer);

  LogQuery both;
  both.camera = cameras[0];
  both.action = actions::kProbe;  // i % 3 == 0 and i % 5 == 0: i = 0, 15
  const auto bothRows = queryAll(*log, both);
  ASSERT_EQ(bothRows.size(), 2u);
  EXPECT_EQ(bothRows[0].atMs, kBase + 150);
  EXPECT_EQ(bothRows[1].atMs, kBase);

  LogQuery since;
  since.sinceMs = kBase + 200;  // inclusive
  const auto recent = queryAll(*log, since);
  ASSERT_EQ(recent.size(), 10u);
  EXPECT_EQ(recent.back().atMs, kBase + 200);

  since.camera = cameras[2];
  since.action = actions::kError;  // i % 3 == 2, i % 5 == 4, i >= 20: i = 29
  const auto narrow = queryAll(*log, since);
  ASSERT_EQ(narrow.size(), 1u);
  EXPECT_EQ(narrow[0].atMs, kBase + 290);

  LogQuery limited;
  limited.limit = 3;
  auto top = log->query(limited);
  ASSERT_TRUE(top.ok()) << top.error().message;
  ASSERT_EQ(top->size(), 3u);
  EXPECT_EQ((*top)[0].atMs, kBase + 290);
  EXPECT_EQ((*top)[2].atMs, kBase + 270);

  limited.limit = 0;
  auto none = log->query(limited);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  LogQuery unknown;
  unknown.camera = "nowhere:554/x";
  EXPECT_TRUE(queryAll(*log, unknown).empty());
}

TEST_P(ActionLogTest, EqualTimestampsComeNewestRecordedFirst) {
  auto log = open();
  ASSERT_NE(log, nullptr);
  auto first = makeRecord(kBase, actions::kProbe, "cam:554/a");
  first.detail = "first";
  auto second = first;
  second.detail = "second";
  log->record(first);
  log->record(second);
  log->flush();
  const auto rows = queryAll(*log);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].detail, "second");
  EXPECT_EQ(rows[1].detail, "first");
  EXPECT_GT(rows[0].id, rows[1].id);
}

TEST_P(ActionLogTest, StampsRecordsWithoutATime) {
  auto log = open();
  ASSERT_NE(log, nullptr);
  auto r = makeRecord(0, actions::kHangup, "cam:554/a");
  r.atMs = 0;
  const auto before = utcNowMs();
  log->record(r);
  const auto after = utcNowMs();
  log->flush();
  const auto rows = queryAll(*log);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_GE(rows[0].atMs, before);
  EXPECT_LE(rows[0].atMs, after);
}

// record() must not wait for the database: with the writer stuck on a lock, 10,000 records from 4 threads are all
// accepted (none dropped, none written yet); once the lock is gone every one of them is written.
TEST_P(ActionLogTest, FourThreadsQueueTenThousandWhileTheWriterIsStuck) {
  ActionLogOptions options;
  options.sqliteBusyTimeout = 10min;
  auto log = open(options);
  ASSERT_NE(log, nullptr);
  auto blocker = blockWriters();

  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  std::latch go(1);
  auto recording = std::async(std::launch::async, [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        go.wait();
        for (int i = 0; i < kPerThread; ++i) {
          auto r = makeRecord(kBase + i, actions::kProbe, "cam" + std::to_string(t) + ":554/live");
          r.sessionId = std::to_string(t) + "/" + std::to_string(i);
          log->record(std::move(r));
        }
      });
    }
    for (auto& th : threads) th.join();
  });
  const auto start = SteadyClock::now();
  go.count_down();
  // A record() that waited for the writer would never return while the lock is held.
  const bool recorded = recording.wait_for(60s) == std::future_status::ready;
  const auto recordTime = SteadyClock::now() - start;
  const auto stuck = log->stats();
  releaseWriters(blocker);
  ASSERT_TRUE(recorded) << "record() waited for the database";
  recording.get();

  EXPECT_EQ(stuck.dropped, 0u);
  EXPECT_EQ(stuck.written, 0u);  // the writer held on while every record was accepted
  EXPECT_EQ(stuck.failed, 0u);
  EXPECT_GE(stuck.queued, 10000u - ActionLogOptions{}.batchSize);  // at most one batch is with the writer

  const auto flushStart = SteadyClock::now();
  log->flush();
  const auto writeTime = SteadyClock::now() - flushStart;
  const auto done = log->stats();
  EXPECT_EQ(done.written, 10000u);
  EXPECT_EQ(done.dropped, 0u);
  EXPECT_EQ(done.failed, 0u);

  const auto rows = queryAll(*log);
  ASSERT_EQ(rows.size(), 10000u);
  std::set<std::string> sessions;
  for (const auto& r : rows) sessions.insert(r.sessionId);
  EXPECT_EQ(sessions.size(), 10000u);
  RecordProperty("record_ms",
                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(recordTime).count()));
  RecordProperty("write_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(writeTime).count()));
}

// The same load against a free-running writer: every record is written, none dropped.
TEST_P(ActionLogTest, FourThreadsRecordTenThousandAndEveryRecordIsWritten) {
  auto log = open();
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  std::latch go(kThreads + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        auto r = makeRecord(kBase + t * kPerThread + i, actions::kOffer, "cam" + std::to_string(t) + ":554/live");
        log->record(std::move(r));
      }
    });
  }
  go.arrive_and_wait();
  const auto start = SteadyClock::now();
  for (auto& th : threads) th.join();
  const auto recordTime = SteadyClock::now() - start;
  log->flush();
  const auto writeTime = SteadyClock::now() - start;

  const auto done = log->stats();
  EXPECT_EQ(done.written, 10000u);
  EXPECT_EQ(done.dropped, 0u);
  EXPECT_EQ(done.failed, 0u);
  EXPECT_EQ(queryAll(*log).size(), 10000u);
  // That record() never waits for the database is shown by FourThreadsQueueTenThousandWhileTheWriterIsStuck;
  // the durations are reported, not asserted (speed is measured in benchmarks, not in tests).
  RecordProperty("record_ms",
                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(recordTime).count()));
  RecordProperty("write_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(writeTime).count()));
}

TEST_P(ActionLogTest, DropsAndCountsWhenTheQueueIsFull) {
  ActionLogOptions options;
  options.queueCapacity = 100;
  options.batchSize = 10;
  options.sqliteBusyTimeout = 10min;
  auto log = open(options);
  ASSERT_NE(log, nullptr);
  auto blocker = blockWriters();

  constexpr std::uint64_t kTotal = 1000;
  for (std::uint64_t i = 0; i < kTotal; ++i)
    log->record(makeRecord(kBase + static_cast<std::int64_t>(i), "probe", "c"));
  const auto stuck = log->stats();
  releaseWriters(blocker);

  // The queue holds 100 and the stuck writer at most one batch of 10: everything else was dropped.
  EXPECT_GE(stuck.dropped, kTotal - 110);
  EXPECT_LE(stuck.dropped, kTotal - 100);
  EXPECT_EQ(stuck.written, 0u);
  EXPECT_GE(stuck.queued, 90u);
  EXPECT_LE(stuck.queued, 100u);

  log->flush();
  const auto done = log->stats();
  EXPECT_EQ(done.dropped, stuck.dropped);
  EXPECT_EQ(done.failed, 0u);
  EXPECT_EQ(done.written, kTotal - stuck.dropped);
  const auto rows = queryAll(*log);
  EXPECT_EQ(rows.size(), done.written);
  // The first record found the queue empty. (Later ones may be kept after some were dropped: the writer can take
  // its batch only after the queue first filled up.)
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().atMs, kBase);
  std::set<std::int64_t> times;
  for (const auto& r : rows) times.insert(r.atMs);
  EXPECT_EQ(times.size(), rows.size());
  EXPECT_LT(*times.rbegin(), kBase + static_cast<std::int64_t>(kTotal));
}

// Writes that cannot be done are retried, then counted as failed; the writer survives and writes again once the
// database is back. SQLite: a lock with no busy timeout; PostgreSQL: the server is stopped and started again.
TEST_P(ActionLogTest, CountsFailedWritesAndRecovers) {
  ActionLogOptions options;
  options.maxAttempts = 2;
  options.minBackoff = 1ms;
  options.maxBackoff = 2ms;
  options.sqliteBusyTimeout = 0ms;
  auto log = open(options);
  ASSERT_NE(log, nullptr);
  log->record(makeRecord(kBase, "probe", "cam:554/a"));
  log->flush();
  ASSERT_EQ(queryAll(*log).size(), 1u);  // the query session is open too

  std::unique_ptr<soci::session> blocker;
  if (isPostgresql()) {
#ifdef STAGECAST_ACTIONLOG_POSTGRESQL
    server()->stop();
#endif
  } else {
    blocker = blockWriters();
  }
  for (int i = 1; i <= 10; ++i) log->record(makeRecord(kBase + i, "offer", "cam:554/a"));
  log->flush();  // returns once the batch is given up
  auto s = log->stats();
  EXPECT_EQ(s.failed, 10u);
  EXPECT_EQ(s.written, 1u);
  EXPECT_EQ(s.queued, 0u);
  if (isPostgresql()) {
    auto down = log->query({});
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.error().code, "ACTIONLOG_UNAVAILABLE");
#ifdef STAGECAST_ACTIONLOG_POSTGRESQL
    std::string why;
    ASSERT_TRUE(server()->restart(why)) << why;
#endif
  } else {
    releaseWriters(blocker);
  }

  for (int i = 11; i <= 15; ++i) log->record(makeRecord(kBase + i, "hangup", "cam:554/a"));
  log->flush();
  s = log->stats();
  EXPECT_EQ(s.failed, 10u);
  EXPECT_EQ(s.written, 6u);
  const auto rows = queryAll(*log);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows.front().atMs, kBase + 15);
  EXPECT_EQ(rows.back().atMs, kBase);
}

TEST_P(ActionLogTest, NeverStoresCredentials) {
  auto log = open();
  ASSERT_NE(log, nullptr);
  auto a = makeRecord(kBase, actions::kProbe, "rtsp://admin:s3cret@10.0.0.5:554/stream1");
  a.detail = "DESCRIBE rtsp://admin:s3cret@10.0.0.5:554/stream1 answered 401";
  auto b = makeRecord(kBase + 1, actions::kOffer, "viewer:hunter2@cam.local:8554/live?user=viewer&password=hunter2");
  log->record(a);
  log->record(b);
  log->flush();

  const auto rows = queryAll(*log);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) {
    for (const auto* field : {&r.camera, &r.detail, &r.client, &r.action, &r.result, &r.sessionId}) {
      EXPECT_EQ(field->find("s3cret"), std::string::npos) << *field;
      EXPECT_EQ(field->find("hunter2"), std::string::npos) << *field;
    }
  }
  EXPECT_EQ(rows[1].camera, "rtsp://10.0.0.5:554/stream1");
  EXPECT_EQ(rows[1].detail, "DESCRIBE rtsp://10.0.0.5:554/stream1 answered 401");
  EXPECT_EQ(rows[0].camera, "cam.local:8554/live?user=viewer&password=***");

  // Asking with the address as configured (credentials and all) finds the stored one.
  LogQuery q;
  q.camera = "rtsp://other:pw@10.0.0.5:554/stream1";
  const auto found = queryAll(*log, q);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].atMs, kBase);
}

TEST_P(ActionLogTest, StoresInjectionLookingStringsVerbatim) {
  auto log = open();
  ASSERT_NE(log, nullptr);
  const std::vector<std::string> nasty = {
      "cam'; DROP TABLE action_log; --",
      "x' OR '1'='1",
      "\"; DELETE FROM action_log WHERE \"\"=\"",
      "Robert'); DROP TABLE action_log;--",
      ":camera :limit $1 ? %s",
      "100% _wild_ \\ back\\slash \\' \\\"",
      "\xc3\xbc"
      "n"
      "\xc3\xaf"
      "c"
      "\xc3\xb8"
      "d"
      "\xc3\xa9"
      " \xe2\x9c\x93",  // UTF-8
      "line\nbreak\ttab",
  };
  std::vector<ActionRecord> recorded;
  for (std::size_t i = 0; i < nasty.size(); ++i) {
    ActionRecord r;
    r.atMs = kBase + static_cast<std::int64_t>(i);
    r.action = nasty[i];
    r.result = nasty[(i + 1) % nasty.size()];
    r.camera = nasty[i];
    r.client = nasty[(i + 2) % nasty.size()];
    r.sessionId = nasty[(i + 3) % nasty.size()];
    r.durationMs = -static_cast<std::int64_t>(i);
    r.detail = nasty[(i + 4) % nasty.size()];
    recorded.push_back(r);
    log->record(r);
  }
  log->flush();
  EXPECT_EQ(log->stats().written, nasty.size());

  for (std::size_t i = 0; i < nasty.size(); ++i) {
    LogQuery byCamera;
    byCamera.camera = nasty[i];
    const auto rows = queryAll(*log, byCamera);
    ASSERT_EQ(rows.size(), 1u) << nasty[i];
    expectSameFields(rows[0], recorded[i]);

    LogQuery byAction;
    byAction.action = nasty[i];
    ASSERT_EQ(queryAll(*log, byAction).size(), 1u) << nasty[i];
  }
  LogQuery tautology;
  tautology.camera = "' OR ''='";
  EXPECT_TRUE(queryAll(*log, tautology).empty());
  EXPECT_EQ(queryAll(*log).size(), nasty.size());  // the table is still there, and whole
}

TEST_P(ActionLogTest, DestructorFlushesAndReopeningKeepsTheLog) {
  {
    auto log = open();
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 3; ++i) log->record(makeRecord(kBase + i, actions::kTimeout, "cam:554/a"));
  }
  auto log = open();  // the table and indexes exist already
  ASSERT_NE(log, nullptr);
  const auto rows = queryAll(*log);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows.front().atMs, kBase + 2);
  log->record(makeRecord(kBase + 3, actions::kTimeout, "cam:554/a"));
  log->flush();
  EXPECT_EQ(queryAll(*log).size(), 4u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ActionLogTest, ::testing::Values("sqlite3", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(ActionLogOpen, RejectsUnknownBackendsAndUnusableConnections) {
  auto unknown = ActionLog::open("mysql", "db=x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "ACTIONLOG_BAD_BACKEND");

  for (const char* connection : {"", ":memory:", "a\"b.db"}) {
    auto bad = ActionLog::open("sqlite3", connection);
    ASSERT_FALSE(bad.ok()) << connection;
    EXPECT_EQ(bad.error().code, "ACTIONLOG_BAD_CONNECTION");
  }

  TempDir dir;
  auto missingDir = ActionLog::open("sqlite3", (dir.path() / "no" / "such" / "dir.db").string());
  ASSERT_FALSE(missingDir.ok());
  EXPECT_EQ(missingDir.error().code, "ACTIONLOG_UNAVAILABLE");
}

#ifdef STAGECAST_ACTIONLOG_POSTGRESQL
TEST(ActionLogOpen, UnreachablePostgresqlIsUnavailableWithoutLeakingThePassword) {
  const auto port = testing::freeLoopbackPort();
  ASSERT_NE(port, 0);
  auto log = ActionLog::open("postgresql", "dbname=stagecast host=127.0.0.1 port=" + std::to_string(port) +
                                               " user=stagecast password=hunter2 connect_timeout=5");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code, "ACTIONLOG_UNAVAILABLE");
  EXPECT_EQ(log.error().message.find("hunter2"), std::string::npos) << log.error().message;
}
#endif

}  // namespace
}  // namespace stagecast::actionlog
