#pragma once
// The camera-preview action log: every probe, offer, hangup, timeout and error of a camera preview is kept as one
// row in a SQL database, through SOCI. SQLite (a file beside the configuration) is the default; PostgreSQL is used
// when configured, so that several nodes can share one log.
//
// record() never blocks on the database: records go into a bounded queue that one writer thread drains, writing
// up to `batchSize` records per transaction. When the queue is full the record is dropped and counted. A batch
// that cannot be written is retried (the session is opened again, with exponential backoff) and counted as failed
// after `maxAttempts`; the writer keeps running and the next batch tries again.
//
// Camera addresses never hold credentials: the userinfo of a URL ("rtsp://user:pass@host/path") and password-like
// query parameters are removed before a record is queued, and URLs inside the detail text are cleaned the same way.
//
// Every statement binds its values (SOCI use()); no user input is ever part of the SQL text.
//
// Errors: ACTIONLOG_BAD_BACKEND (unknown or not built in), ACTIONLOG_BAD_CONNECTION (unusable connection text),
// ACTIONLOG_UNAVAILABLE (the database cannot be opened or answers with an error). Messages never contain the
// connection string (it may hold a password).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stagecast/common/error.hpp"

namespace stagecast::actionlog {

// The actions the preview path records (the column is free text; these are the values Stagecast writes).
namespace actions {
inline constexpr const char* kProbe = "probe";
inline constexpr const char* kOffer = "offer";
inline constexpr const char* kHangup = "hangup";
inline constexpr const char* kTimeout = "timeout";
inline constexpr const char* kError = "error";
}  // namespace actions

struct ActionRecord {
  std::int64_t id = 0;    // assigned by the database; ignored by record()
  std::int64_t atMs = 0;  // UTC, ms since the epoch; 0: stamped by record()
  std::string action;     // see `actions`
  std::string result;     // result code, e.g. "ok" or an Error code
  std::string camera;     // host:port/path (or a URL); credentials are removed
  std::string client;     // the client's address
  std::string sessionId;
  std::int64_t durationMs = 0;
  std::string detail;  // optional free text
};

struct LogQuery {
  std::string camera;                   // empty: any; compared after removing credentials, like stored values
  std::string action;                   // empty: any
  std::optional<std::int64_t> sinceMs;  // records with atMs >= sinceMs
  std::size_t limit = 100;              // newest first; at most kMaxQueryLimit
};

struct ActionLogOptions {
  std::size_t queueCapacity = 10000;  // records waiting for the writer; more are dropped
  std::size_t batchSize = 500;        // records per transaction
  int maxAttempts = 5;                // per batch, before its records count as failed
  std::chrono::milliseconds minBackoff{50};
  std::chrono::milliseconds maxBackoff{5000};
  std::chrono::milliseconds sqliteBusyTimeout{5000};  // how long SQLite waits for a lock held by another connection
};

struct ActionLogStats {
  std::uint64_t written = 0;  // committed to the database
  std::uint64_t dropped = 0;  // refused by record() because the queue was full
  std::uint64_t failed = 0;   // given up after maxAttempts
  std::size_t queued = 0;     // waiting for the writer now
};

inline constexpr std::size_t kMaxQueryLimit = 100000;

// Removes credentials from a camera address: the userinfo of a URL, with or without a scheme
// ("rtsp://user:pass@host:554/path" -> "rtsp://host:554/path", "user:pass@host/path" -> "host/path"), and the
// values of query parameters that carry passwords ("?user=admin&password=x" -> "?user=admin&password=***").
std::string stripCredentials(std::string_view address);

// Removes the userinfo of every URL ("scheme://user:pass@host...") found in free text.
std::string stripUrlCredentials(std::string_view text);

// The wall clock in UTC ms since the epoch.
std::int64_t utcNowMs();

class ActionLog {
 public:
  // backend: "sqlite3" (connection: a file path, created when missing) or "postgresql" (connection: a libpq
  // connection string, e.g. "dbname=stagecast host=127.0.0.1 port=5432 user=stagecast"). Opens the database,
  // creates the table and its indexes when missing, and starts the writer.
  static Result<std::unique_ptr<ActionLog>> open(const std::string& backend, const std::string& connection,
                                                 ActionLogOptions options = {});

  // Flushes (see flush()) and stops the writer.
  ~ActionLog();
  ActionLog(const ActionLog&) = delete;
  ActionLog& operator=(const ActionLog&) = delete;

  // Queues a record; never waits for the database. Safe from any thread.
  void record(ActionRecord record);

  // Reads from the database (what the writer has committed), newest first. Safe from any thread.
  Result<std::vector<ActionRecord>> query(const LogQuery& query);

  // Returns once every record queued before the call has been written or given up on.
  void flush();

  [[nodiscard]] ActionLogStats stats() const;

 private:
  struct Impl;
  explicit ActionLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stagecast::actionlog
