// Key layout. Every key and pub/sub channel starts with RedisOptions::keyPrefix (P). The kind comes before the id,
// so that no id (whatever characters it holds) can make the key of one kind equal the key of another.
//
//   P stage:<stageId>         hash    arn, channel, created (createdAtMs as a decimal string)
//   P stages:<channelId>      zset    stageId scored by createdAtMs (equal scores: ordered by stageId)
//   P channels                set     channelIds that have at least one stage
//   P viewers:<stageId>       zset    userId scored by expiresAtMs; ZCARD is the viewer count
//   P participants:<stageId>  hash    userId -> participantId (same members as viewers:<stageId>)
//   P nodes                   hash    serverId -> {"ip","port","registeredAtMs"} (JSON)
//   P node-expiry             zset    serverId scored by expiresAtMs (same members as nodes)
//   P events:seq              string  the last sequence number given to an event
//   P events:history          zset    "<seq> <json>" scored by seq, trimmed to the newest historyLimit
//   P events                  channel "<seq> <json>" for every appended event
//   P internal                channel node-to-node messages, as given
//
// Every operation that reads and then writes runs as one Lua script (EVALSHA, EVAL when the server lost its
// script cache), so it is atomic with respect to every other node. Scores are doubles: times and sequence numbers
// are exact up to 2^53.
//
// Event order. Subscribers must see events in sequence order even when several nodes append at once. Numbering
// (INCR) and publishing in separate steps would let two appenders publish out of order, so both happen in one
// script: the node builds the JSON for the number it expects to get (the last number it saw + 1) and the script
// stores and publishes it only if that number is still free; otherwise it returns the current number and the node
// builds the event again with the next one. Redis runs scripts one at a time, so the publish order is the
// sequence order, the history has no holes, and subscribers need no reordering. Within a node appends are
// serialized, so only appends from different nodes can collide (one retry each).
#include "stagecast/control/redis_store.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "stagecast/common/log.hpp"

namespace stagecast::control {
namespace {

constexpr const char* kUnavailable = "STORE_UNAVAILABLE";
constexpr std::size_t kMaxIdleConnections = 16;
constexpr int kMaxAppendAttempts = 100;
constexpr std::size_t kMaxHistoryLimit = std::size_t{1} << 40;
constexpr std::chrono::milliseconds kMinBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

enum class Script : std::size_t {
  AddStage,
  RemoveStageIfEmpty,
  PlaceViewer,
  Touch,
  RemoveViewer,
  FindViewer,
  ExpireViewers,
  UpsertNode,
  MediaNodes,
  AppendEvent,
  EventsAfter,
  SetOrigin,
  ClearOrigin,
  Count,
};

// Indexed by Script.
constexpr std::array<const char*, static_cast<std::size_t>(Script::Count)> kScripts = {
    // AddStage. KEYS: stage, stages of the channel, channels. ARGV: stageId, arn, channelId, createdAtMs.
    R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'arn', ARGV[2], 'channel', ARGV[3], 'created', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
)lua",
    // RemoveStageIfEmpty. KEYS: stage, stages of the channel, channels, viewers, participants.
    // ARGV: channelId, stageId, minStages.
    R"lua(
if redis.call('HGET', KEYS[1], 'channel') ~= ARGV[1] then return 0 end
if redis.call('ZCARD', KEYS[4]) > 0 then return 0 end
local n = redis.call('ZCARD', KEYS[2])
if n <= tonumber(ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
if n == 1 then redis.call('SREM', KEYS[3], ARGV[1]) end
redis.call('DEL', KEYS[1], KEYS[4], KEYS[5])
return 1
)lua",
    // PlaceViewer. KEYS: stage, viewers, participants. ARGV: userId, participantId, expiresAtMs, capacity.
    // Returns 1 added, 2 already present, 3 full, 4 no such stage.
    R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 4 end
local present = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not present and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 3 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if present then return 2 end
return 1
)lua",
    // Touch: moves a member's score only when it is there. KEYS: zset. ARGV: member, score.
    R"lua(
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
)lua",
    // RemoveViewer. KEYS: viewers, participants. ARGV: userId. Returns {} or {expiresAtMs, participantId}.
    R"lua(
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires then return {} end
local participant = redis.call('HGET', KEYS[2], ARGV[1]) or ''
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return {expires, participant}
)lua",
    // FindViewer. KEYS: viewers, participants. ARGV: userId. Returns {} or {expiresAtMs, participantId}.
    R"lua(
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires then return {} end
return {expires, redis.call('HGET', KEYS[2], ARGV[1]) or ''}
)lua",
    // ExpireViewers. KEYS: viewers, participants. ARGV: nowMs.
    // Returns {userId, expiresAtMs, participantId, ...} of the removed viewers.
    R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES')
local out = {}
for i = 1, #due, 2 do
  out[#out + 1] = due[i]
  out[#out + 1] = due[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], due[i]) or ''
  redis.call('HDEL', KEYS[2], due[i])
end
if #due > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) end
return out
)lua",
    // UpsertNode. KEYS: nodes, node-expiry. ARGV: serverId, record, expiresAtMs.
    R"lua(
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
)lua",
    // MediaNodes: drops the expired nodes, returns the others. KEYS: nodes, node-expiry. ARGV: nowMs.
    // Returns {serverId, expiresAtMs, record, ...}.
    R"lua(
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(dead) do redis.call('HDEL', KEYS[1], id) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1]) end
local live = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  local record = redis.call('HGET', KEYS[1], live[i])
  if record then
    out[#out + 1] = live[i]
    out[#out + 1] = live[i + 1]
    out[#out + 1] = record
  end
end
return out
)lua",
    // AppendEvent. KEYS: events:seq, events:history. ARGV: expected current seq, new seq, entry, trim stop rank,
    // pub/sub channel. Returns {1, seq} when stored and published, {0, current seq} when the number was taken.
    R"lua(
local current = redis.call('GET', KEYS[1]) or '0'
if current ~= ARGV[1] then return {0, current} end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[3])
return {1, ARGV[2]}
)lua",
    // EventsAfter. KEYS: events:seq, events:history. ARGV: afterSeq.
    // Returns {current seq, oldest kept entry or '', {entries after afterSeq}}.
    R"lua(
local current = redis.call('GET', KEYS[1]) or '0'
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
local events = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
return {current, oldest[1] or '', events}
)lua",
    // SetOrigin. KEYS: origin of the channel. ARGV: nodeId, url, expiresAtMs. The key lapses with the claim.
    R"lua(
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'url', ARGV[2], 'expires', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
)lua",
    // ClearOrigin. KEYS: origin of the channel. ARGV: nodeId. Deletes only the node's own claim.
    R"lua(
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)lua",
};

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// One command, blocking. Null on an I/O error (the context's err/errstr say why); error replies are returned.
ReplyPtr call(redisContext* c, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (auto a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  return ReplyPtr(
      static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lengths.data())));
}

std::string contextError(const redisContext* c) {
  if (c->err == 0) return "connection lost";
  return c->errstr[0] != '\0' ? std::string(c->errstr) : std::string("connection error");
}

bool isType(const redisReply* r, int type) { return r != nullptr && r->type == type; }

// The text of a string, status or error reply; empty for anything else.
std::string_view text(const redisReply* r) {
  if (r == nullptr || r->str == nullptr) return {};
  if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_ERROR) return {};
  return {r->str, r->len};
}

const redisReply* element(const redisReply* r, std::size_t i) {
  if (!isType(r, REDIS_REPLY_ARRAY) || i >= r->elements) return nullptr;
  return r->element[i];
}

std::size_t elements(const redisReply* r) { return isType(r, REDIS_REPLY_ARRAY) ? r->elements : 0; }

template <class T>
std::optional<T> parseInteger(std::string_view s) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> integer(const redisReply* r) {
  if (isType(r, REDIS_REPLY_INTEGER)) return static_cast<std::int64_t>(r->integer);
  return parseInteger<std::int64_t>(text(r));
}

// A sorted-set score holding an integer (Redis prints it without a fraction, but accept any double).
std::optional<std::int64_t> score(const redisReply* r) {
  const auto s = text(r);
  if (auto exact = parseInteger<std::int64_t>(s)) return exact;
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(d));
}

// "<seq> <json>", as stored in the history and published.
std::optional<Event> parseEntry(std::string_view entry) {
  const auto space = entry.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto seq = parseInteger<std::uint64_t>(entry.substr(0, space));
  if (!seq) return std::nullopt;
  return Event{*seq, std::string(entry.substr(space + 1))};
}

std::string entryOf(std::uint64_t seq, const std::string& json) {
  std::string out = std::to_string(seq);
  out += ' ';
  out += json;
  return out;
}

// An idle pooled connection must have nothing to read; if it has, the server closed it (or broke the protocol).
bool looksAlive(redisContext* c) {
  if (c->err != 0 || c->fd < 0) return false;
  pollfd p{c->fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

}  // namespace

// A pooled connection checked out for one operation. A failure marks it broken, so it is dropped on return and the
// next operation connects again.
class RedisStore::Lease {
 public:
  Lease(RedisStore* store, ContextPtr context) : store_(store), context_(std::move(context)) {}
  Lease(Lease&& other) noexcept : store_(other.store_), context_(std::move(other.context_)), broken_(other.broken_) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (context_) store_->release(std::move(context_), broken_);
  }

  // A command whose error reply is an error.
  Result<ReplyPtr> command(const std::vector<std::string_view>& args) {
    auto reply = call(context_.get(), args);
    if (!reply) return fail(std::string(args.front()) + ": " + contextError(context_.get()));
    if (reply->type == REDIS_REPLY_ERROR)
      return fail(std::string(args.front()) + ": " + std::string(text(reply.get())));
    return reply;
  }

  // Sends every command, then reads every reply (one round trip).
  Result<std::vector<ReplyPtr>> pipeline(const std::vector<std::vector<std::string>>& commands) {
    for (const auto& args : commands) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      for (const auto& a : args) {
        argv.push_back(a.c_str());
        lengths.push_back(a.size());
      }
      if (redisAppendCommandArgv(context_.get(), static_cast<int>(args.size()), argv.data(), lengths.data()) !=
          REDIS_OK) {
        return fail("pipeline: " + contextError(context_.get()));
      }
    }
    std::vector<ReplyPtr> replies;
    replies.reserve(commands.size());
    for (const auto& args : commands) {
      void* raw = nullptr;
      if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
        return fail(args.front() + ": " + contextError(context_.get()));
      }
      ReplyPtr reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ERROR) return fail(args.front() + ": " + std::string(text(reply.get())));
      replies.push_back(std::move(reply));
    }
    return replies;
  }

  // Runs a script by its SHA1; sends the source when the server does not have it (it then caches it).
  Result<ReplyPtr> eval(Script script, std::initializer_list<std::string_view> keys,
                        std::initializer_list<std::string_view> args) {
    const auto index = static_cast<std::size_t>(script);
    const std::string keyCount = std::to_string(keys.size());
    std::vector<std::string_view> argv{"EVALSHA", store_->scriptShas_[index], keyCount};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto reply = call(context_.get(), argv);
    if (!reply) return fail("EVALSHA: " + contextError(context_.get()));
    if (reply->type == REDIS_REPLY_ERROR) {
      if (!text(reply.get()).starts_with("NOSCRIPT")) return fail("EVALSHA: " + std::string(text(reply.get())));
      argv[0] = "EVAL";
      argv[1] = kScripts[index];
      return command(argv);
    }
    return reply;
  }

 private:
  Error fail(const std::string& what) {
    broken_ = true;
    return store_->unavailable(what);
  }

  RedisStore* store_;
  ContextPtr context_;
  bool broken_ = false;
};

void RedisStore::ContextDeleter::operator()(redisContext* c) const { redisFree(c); }

RedisStore::RedisStore(RedisOptions options, int wakeFd) : options_(std::move(options)), wakeFd_(wakeFd) {}

RedisStore::~RedisStore() {
  stopSubscribers();
  ::close(wakeFd_);
}

Result<std::unique_ptr<RedisStore>> RedisStore::connect(RedisOptions options) {
  if (options.timeout <= std::chrono::milliseconds::zero()) options.timeout = RedisOptions{}.timeout;
  const int wakeFd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd < 0) return Error(kUnavailable, std::string("eventfd: ") + std::strerror(errno));
  std::unique_ptr<RedisStore> store(new RedisStore(std::move(options), wakeFd));
  {
    auto lease = store->acquire();
    if (!lease) return lease.error();
    std::vector<std::vector<std::string>> loads;
    for (const char* source : kScripts) loads.push_back({"SCRIPT", "LOAD", source});
    auto shas = lease->pipeline(loads);
    if (!shas) return shas.error();
    for (const auto& sha : *shas) store->scriptShas_.emplace_back(text(sha.get()));
  }
  return Result<std::unique_ptr<RedisStore>>(std::move(store));
}

std::string RedisStore::key(const std::string& kind, const std::string& id) const {
  std::string out;
  out.reserve(options_.keyPrefix.size() + kind.size() + id.size());
  out += options_.keyPrefix;
  out += kind;
  out += id;
  return out;
}

Error RedisStore::unavailable(const std::string& what) const {
  std::string message = "redis " + options_.host + ":" + std::to_string(options_.port) + ": " + what;
  if (!options_.password.empty()) {
    for (auto at = message.find(options_.password); at != std::string::npos;
         at = message.find(options_.password, at + 3)) {
      message.replace(at, options_.password.size(), "***");
    }
  }
  return {kUnavailable, message};
}

Result<RedisStore::ContextPtr> RedisStore::open() const {
  const timeval tv = toTimeval(options_.timeout);
  ContextPtr c(redisConnectWithTimeout(options_.host.c_str(), options_.port, tv));
  if (!c) return unavailable("connect: out of memory");
  if (c->err != 0) return unavailable("connect: " + contextError(c.get()));
  if (redisSetTimeout(c.get(), tv) != REDIS_OK) return unavailable("set timeout: " + contextError(c.get()));
  redisEnableKeepAlive(c.get());
  if (!options_.password.empty()) {
    auto reply = call(c.get(), {"AUTH", options_.password});
    if (!reply) return unavailable("AUTH: " + contextError(c.get()));
    if (reply->type == REDIS_REPLY_ERROR)
      return unavailable("authentication failed: " + std::string(text(reply.get())));
  }
  return c;
}

Result<RedisStore::Lease> RedisStore::acquire() {
  std::vector<ContextPtr> dead;  // freed after the lock is released
  {
    std::lock_guard lock(poolMutex_);
    while (!idle_.empty()) {
      ContextPtr c = std::move(idle_.back());
      idle_.pop_back();
      if (looksAlive(c.get())) return Lease(this, std::move(c));
      dead.push_back(std::move(c));
    }
  }
  auto c = open();
  if (!c) return c.error();
  return Lease(this, std::move(*c));
}

void RedisStore::release(ContextPtr context, bool broken) {
  std::vector<ContextPtr> dropped;  // freed after the lock is released
  std::lock_guard lock(poolMutex_);
  if (broken) {
    // Whatever broke this connection (a restart, a network fault) most likely broke the idle ones too.
    dropped.swap(idle_);  // idle_ is left empty
    dropped.push_back(std::move(context));
    return;
  }
  if (idle_.size() < kMaxIdleConnections) {
    idle_.push_back(std::move(context));
  } else {
    dropped.push_back(std::move(context));
  }
}

// --- stage registry ---

Status RedisStore::addStage(const StageRecord& stage) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r =
      lease->eval(Script::AddStage, {key("stage:", stage.stageId), key("stages:", stage.channelId), key("channels")},
                  {stage.stageId, stage.stageArn, stage.channelId, std::to_string(stage.createdAtMs)});
  if (!r) return r.error();
  const auto added = integer(r->get());
  if (!added) return unavailable("addStage: unexpected reply");
  if (*added == 0) return Error("STAGE_EXISTS", "stage " + stage.stageId + " already exists");
  return {};
}

Result<bool> RedisStore::removeStageIfEmpty(const std::string& channelId, const std::string& stageId,
                                            std::size_t minStages) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::RemoveStageIfEmpty,
                       {key("stage:", stageId), key("stages:", channelId), key("channels"), key("viewers:", stageId),
                        key("participants:", stageId)},
                       {channelId, stageId, std::to_string(minStages)});
  if (!r) return r.error();
  const auto done = integer(r->get());
  if (!done) return unavailable("unexpected script reply");
  return *done == 1;
}

Result<std::vector<StageRecord>> RedisStore::stages(const std::string& channelId) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto ids = lease->command({"ZRANGE", key("stages:", channelId), "0", "-1"});
  if (!ids) return ids.error();
  std::vector<std::vector<std::string>> reads;
  for (std::size_t i = 0; i < elements(ids->get()); ++i) {
    reads.push_back({"HMGET", key("stage:", std::string(text(element(ids->get(), i)))), "arn", "channel", "created"});
  }
  std::vector<StageRecord> out;
  if (reads.empty()) return out;
  auto records = lease->pipeline(reads);
  if (!records) return records.error();
  for (std::size_t i = 0; i < records->size(); ++i) {
    const redisReply* fields = (*records)[i].get();
    if (!isType(element(fields, 0), REDIS_REPLY_STRING)) continue;  // removed since the ZRANGE
    out.push_back({std::string(text(element(ids->get(), i))), std::string(text(element(fields, 0))),
                   std::string(text(element(fields, 1))), integer(element(fields, 2)).value_or(0)});
  }
  return out;
}

Result<std::optional<StageRecord>> RedisStore::findStage(const std::string& stageId) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto fields = lease->command({"HMGET", key("stage:", stageId), "arn", "channel", "created"});
  if (!fields) return fields.error();
  const redisReply* r = fields->get();
  if (!isType(element(r, 0), REDIS_REPLY_STRING)) return std::optional<StageRecord>{};
  return std::optional<StageRecord>{StageRecord{stageId, std::string(text(element(r, 0))),
                                                std::string(text(element(r, 1))), integer(element(r, 2)).value_or(0)}};
}

Result<std::vector<std::string>> RedisStore::channels() {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto members = lease->command({"SMEMBERS", key("channels")});
  if (!members) return members.error();
  std::vector<std::string> out;
  for (std::size_t i = 0; i < elements(members->get()); ++i) out.emplace_back(text(element(members->get(), i)));
  std::sort(out.begin(), out.end());
  return out;
}

// --- viewers ---

Result<PlaceResult> RedisStore::placeViewer(const ViewerRecord& viewer, std::size_t capacity) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(
      Script::PlaceViewer,
      {key("stage:", viewer.stageId), key("viewers:", viewer.stageId), key("participants:", viewer.stageId)},
      {viewer.userId, viewer.participantId, std::to_string(viewer.expiresAtMs), std::to_string(capacity)});
  if (!r) return r.error();
  switch (integer(r->get()).value_or(0)) {
    case 1:
      return PlaceResult::Added;
    case 2:
      return PlaceResult::AlreadyPresent;
    case 3:
      return PlaceResult::Full;
    case 4:
      return PlaceResult::NoSuchStage;
    default:
      return unavailable("placeViewer: unexpected reply");
  }
}

Result<bool> RedisStore::touchViewer(const std::string& stageId, const std::string& userId, std::int64_t expiresAtMs) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::Touch, {key("viewers:", stageId)}, {userId, std::to_string(expiresAtMs)});
  if (!r) return r.error();
  const auto done = integer(r->get());
  if (!done) return unavailable("unexpected script reply");
  return *done == 1;
}

Result<std::optional<ViewerRecord>> RedisStore::removeViewer(const std::string& stageId, const std::string& userId) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::RemoveViewer, {key("viewers:", stageId), key("participants:", stageId)}, {userId});
  if (!r) return r.error();
  if (elements(r->get()) < 2) return std::optional<ViewerRecord>{};
  return std::optional<ViewerRecord>{
      ViewerRecord{stageId, userId, std::string(text(element(r->get(), 1))), score(element(r->get(), 0)).value_or(0)}};
}

Result<std::vector<ViewerRecord>> RedisStore::expireViewers(const std::string& stageId, std::int64_t nowMs) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::ExpireViewers, {key("viewers:", stageId), key("participants:", stageId)},
                       {std::to_string(nowMs)});
  if (!r) return r.error();
  std::vector<ViewerRecord> out;
  for (std::size_t i = 0; i + 2 < elements(r->get()); i += 3) {
    out.push_back({stageId, std::string(text(element(r->get(), i))), std::string(text(element(r->get(), i + 2))),
                   score(element(r->get(), i + 1)).value_or(0)});
  }
  return out;
}

Result<std::optional<ViewerRecord>> RedisStore::findViewer(const std::string& stageId, const std::string& userId) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::FindViewer, {key("viewers:", stageId), key("participants:", stageId)}, {userId});
  if (!r) return r.error();
  if (elements(r->get()) < 2) return std::optional<ViewerRecord>{};
  return std::optional<ViewerRecord>{
      ViewerRecord{stageId, userId, std::string(text(element(r->get(), 1))), score(element(r->get(), 0)).value_or(0)}};
}

Result<std::size_t> RedisStore::viewerCount(const std::string& stageId) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->command({"ZCARD", key("viewers:", stageId)});
  if (!r) return r.error();
  const auto count = integer(r->get());
  if (!count || *count < 0) return unavailable("ZCARD: unexpected reply");
  return static_cast<std::size_t>(*count);
}

// --- media nodes ---

Status RedisStore::upsertMediaNode(const MediaNodeRecord& node) {
  const std::string record =
      nlohmann::json{{"ip", node.ipAddress}, {"port", node.port}, {"registeredAtMs", node.registeredAtMs}}.dump();
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::UpsertNode, {key("nodes"), key("node-expiry")},
                       {node.serverId, record, std::to_string(node.expiresAtMs)});
  if (!r) return r.error();
  return {};
}

Result<bool> RedisStore::touchMediaNode(const std::string& serverId, std::int64_t expiresAtMs) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::Touch, {key("node-expiry")}, {serverId, std::to_string(expiresAtMs)});
  if (!r) return r.error();
  const auto done = integer(r->get());
  if (!done) return unavailable("unexpected script reply");
  return *done == 1;
}

// --- channel origins ---

Status RedisStore::setOrigin(const OriginRecord& origin) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::SetOrigin, {key("origin:", origin.channelId)},
                       {origin.nodeId, origin.url, std::to_string(origin.expiresAtMs)});
  if (!r) return r.error();
  return {};
}

Result<bool> RedisStore::clearOrigin(const std::string& channelId, const std::string& nodeId) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::ClearOrigin, {key("origin:", channelId)}, {nodeId});
  if (!r) return r.error();
  const auto done = integer(r->get());
  if (!done) return unavailable("unexpected script reply");
  return *done == 1;
}

Result<std::optional<OriginRecord>> RedisStore::origin(const std::string& channelId, std::int64_t nowMs) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto fields = lease->command({"HMGET", key("origin:", channelId), "node", "url", "expires"});
  if (!fields) return fields.error();
  const redisReply* r = fields->get();
  if (!isType(element(r, 0), REDIS_REPLY_STRING)) return std::optional<OriginRecord>{};
  OriginRecord o{channelId, std::string(text(element(r, 0))), std::string(text(element(r, 1))),
                 integer(element(r, 2)).value_or(0)};
  // Redis expires the key itself; the check covers clocks that differ between nodes and the store.
  if (o.expiresAtMs <= nowMs) return std::optional<OriginRecord>{};
  return std::optional<OriginRecord>{std::move(o)};
}

Result<std::vector<MediaNodeRecord>> RedisStore::mediaNodes(std::int64_t nowMs) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::MediaNodes, {key("nodes"), key("node-expiry")}, {std::to_string(nowMs)});
  if (!r) return r.error();
  std::vector<MediaNodeRecord> out;
  for (std::size_t i = 0; i + 2 < elements(r->get()); i += 3) {
    const auto record = nlohmann::json::parse(text(element(r->get(), i + 2)), nullptr, false);
    if (!record.is_object()) continue;
    MediaNodeRecord node;
    node.serverId = std::string(text(element(r->get(), i)));
    node.ipAddress = record.value("ip", "");
    node.port = record.value<std::uint16_t>("port", 0);
    node.registeredAtMs = record.value<std::int64_t>("registeredAtMs", 0);
    node.expiresAtMs = score(element(r->get(), i + 1)).value_or(0);
    out.push_back(std::move(node));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.serverId < b.serverId; });
  return out;
}

// --- notifications ---

Result<Event> RedisStore::appendEvent(const std::function<std::string(std::uint64_t seq)>& buildJson) {
  std::lock_guard serialize(appendMutex_);
  auto lease = acquire();
  if (!lease) return lease.error();
  const std::string seqKey = key("events:seq");
  const std::string historyKey = key("events:history");
  const std::string channel = key("events");
  const std::string trimStop =
      std::to_string(-static_cast<long long>(std::min(options_.historyLimit, kMaxHistoryLimit)) - 1);
  for (int attempt = 0; attempt < kMaxAppendAttempts; ++attempt) {
    const std::uint64_t seq = lastSeq_ + 1;
    std::string json = buildJson(seq);
    auto r = lease->eval(Script::AppendEvent, {seqKey, historyKey},
                         {std::to_string(lastSeq_), std::to_string(seq), entryOf(seq, json), trimStop, channel});
    if (!r) return r.error();
    const auto stored = integer(element(r->get(), 0));
    const auto current = parseInteger<std::uint64_t>(text(element(r->get(), 1)));
    if (!stored || !current) return unavailable("appendEvent: unexpected reply");
    lastSeq_ = *current;
    if (*stored == 1) return Event{seq, std::move(json)};
  }
  return unavailable("appendEvent: other nodes kept taking the next sequence number");
}

Result<Store::Replay> RedisStore::eventsAfter(std::uint64_t afterSeq) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->eval(Script::EventsAfter, {key("events:seq"), key("events:history")}, {std::to_string(afterSeq)});
  if (!r) return r.error();
  const auto current = parseInteger<std::uint64_t>(text(element(r->get(), 0)));
  const auto oldestEntry = text(element(r->get(), 1));
  const redisReply* entries = element(r->get(), 2);
  if (!current || !isType(entries, REDIS_REPLY_ARRAY)) return unavailable("eventsAfter: unexpected reply");
  Replay replay;
  for (std::size_t i = 0; i < elements(entries); ++i) {
    auto event = parseEntry(text(element(entries, i)));
    if (!event) return unavailable("eventsAfter: malformed history entry");
    replay.events.push_back(std::move(*event));
  }
  // Complete when the oldest kept event directly follows afterSeq, or nothing newer was ever dropped.
  std::uint64_t oldestKept = *current + 1;
  if (!oldestEntry.empty()) {
    auto oldest = parseEntry(oldestEntry);
    if (!oldest) return unavailable("eventsAfter: malformed history entry");
    oldestKept = oldest->seq;
  }
  replay.complete = afterSeq + 1 >= oldestKept;
  return replay;
}

Status RedisStore::publishInternal(const std::string& json) {
  auto lease = acquire();
  if (!lease) return lease.error();
  auto r = lease->command({"PUBLISH", key("internal"), json});
  if (!r) return r.error();
  return {};
}

// --- subscribers ---

void RedisStore::setSubscribers(EventFn onEvent, InternalFn onInternal) {
  std::lock_guard control(subscriberControl_);
  stopSubscriberThread();
  onEvent_ = std::move(onEvent);
  onInternal_ = std::move(onInternal);
  stopping_ = false;
  {
    std::lock_guard lock(stateMutex_);
    firstAttempt_ = false;
  }
  subscriber_ = std::thread([this] { runSubscriber(); });
  // Events appended after this returns must reach the subscribers: wait for the subscription (each step of the
  // attempt is bounded by the timeout).
  std::unique_lock lock(stateMutex_);
  stateChanged_.wait(lock, [this] { return firstAttempt_; });
}

void RedisStore::stopSubscribers() {
  std::lock_guard control(subscriberControl_);
  stopSubscriberThread();
}

void RedisStore::stopSubscriberThread() {
  if (!subscriber_.joinable()) return;
  stopping_ = true;
  const std::uint64_t one = 1;
  if (::write(wakeFd_, &one, sizeof one) < 0) {
    // Only fails when the counter would overflow, i.e. it is already signalled.
  }
  subscriber_.join();
  std::uint64_t drained = 0;
  if (::read(wakeFd_, &drained, sizeof drained) < 0) {
    // Nothing to drain.
  }
  onEvent_ = nullptr;
  onInternal_ = nullptr;
}

void RedisStore::runSubscriber() {
  auto backoff = kMinBackoff;
  bool first = true;
  bool reported = false;  // the current outage was logged
  while (!stopping_) {
    auto context = openSubscription();
    if (first) {
      std::lock_guard lock(stateMutex_);
      firstAttempt_ = true;
      stateChanged_.notify_all();
      first = false;
    }
    if (context) {
      if (reported) spdlog::info("store: notifications subscription restored");
      reported = false;
      backoff = kMinBackoff;
      pumpSubscription(context->get());
      if (stopping_) break;
      spdlog::warn("store: notifications subscription lost, reconnecting");
      reported = true;
    } else if (!reported) {
      spdlog::warn("store: cannot subscribe to notifications: {}", context.error().message);
      reported = true;
    }
    // Back off, waking early when asked to stop.
    pollfd wake{wakeFd_, POLLIN, 0};
    ::poll(&wake, 1, static_cast<int>(backoff.count()));
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

Result<RedisStore::ContextPtr> RedisStore::openSubscription() {
  auto c = open();
  if (!c) return c.error();
  const std::string events = key("events");
  const std::string internal = key("internal");
  auto first = call(c->get(), {"SUBSCRIBE", events, internal});
  if (!first) return unavailable("SUBSCRIBE: " + contextError(c->get()));
  if (first->type == REDIS_REPLY_ERROR) return unavailable("SUBSCRIBE: " + std::string(text(first.get())));
  // One confirmation per channel.
  void* raw = nullptr;
  if (redisGetReply(c->get(), &raw) != REDIS_OK || raw == nullptr) {
    return unavailable("SUBSCRIBE: " + contextError(c->get()));
  }
  ReplyPtr second(static_cast<redisReply*>(raw));
  return c;
}

void RedisStore::pumpSubscription(redisContext* c) {
  // The socket is read only when poll() says it is readable, so the thread never blocks in hiredis and can be
  // woken through wakeFd_. An idle connection is checked with a PING; no answer within the timeout: reconnect.
  bool pingOutstanding = false;
  while (!stopping_) {
    for (;;) {  // replies already read from the socket
      void* raw = nullptr;
      if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return;
      if (raw == nullptr) break;
      ReplyPtr reply(static_cast<redisReply*>(raw));
      pingOutstanding = false;
      deliver(reply.get());
      if (stopping_) return;
    }
    std::array<pollfd, 2> fds{pollfd{c->fd, POLLIN, 0}, pollfd{wakeFd_, POLLIN, 0}};
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(options_.timeout.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (n == 0) {
      if (pingOutstanding) return;  // no answer: the server or the network is gone
      if (redisAppendCommand(c, "PING") != REDIS_OK) return;
      int done = 0;
      while (done == 0) {
        if (redisBufferWrite(c, &done) != REDIS_OK) return;
      }
      pingOutstanding = true;
      continue;
    }
    if (redisBufferRead(c) != REDIS_OK) return;  // also on end of file
  }
}

void RedisStore::deliver(const redisReply* message) {
  // {"message", channel, payload}; subscription confirmations and PING answers are skipped.
  if (elements(message) < 3 || text(element(message, 0)) != "message") return;
  const auto channel = text(element(message, 1));
  const auto payload = text(element(message, 2));
  try {
    if (channel == key("events")) {
      auto event = parseEntry(payload);
      if (!event) {
        spdlog::warn("store: malformed notification skipped");
        return;
      }
      if (onEvent_) onEvent_(*event);
    } else if (channel == key("internal")) {
      if (onInternal_) onInternal_(std::string(payload));
    }
  } catch (const std::exception& e) {
    spdlog::error("store: notification subscriber threw: {}", e.what());
  }
}

}  // namespace stagecast::control
