// libFuzzer target for the live-channel command layer: each input is a sequence of viewer commands (join,
// rejoin, heartbeat, leave, a WHEP session starting) and clock steps with a sweep, run against the memory store
// and checked step by step against a model of who watches where:
// - every stage's count equals the model's, never above the capacity, and the channel total is their sum, so
//   a user is never counted twice and counts never go below zero;
// - a join keeps a watching user in its stage, and otherwise places the viewer in the first stage with room or,
//   when every stage is full, in a new one;
// - rejoin, heartbeat and leave answer as documented (STAGE_NOT_FOUND, VIEWER_IN_OTHER_STAGE, STAGE_FULL,
//   VIEWER_NOT_FOUND; leaving twice is fine);
// - a viewer is removed exactly when its heartbeats stopped for the timeout, and a removed viewer's media
//   sessions are ended;
// - a stage is only ever deleted while empty, the channel keeps its minimum, and the media plane hears of every
//   stage created and deleted.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "stagecast/control/channel_service.hpp"
#include "stagecast/control/memory_store.hpp"

using namespace stagecast;
using namespace stagecast::control;

namespace {

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "control_fuzz: %s\n", what);
    std::abort();
  }
}

class RecordingMediaPlane final : public MediaPlane {
 public:
  void stageCreated(const StageRecord& s) override { created.insert(s.stageId); }
  void stageDeleted(const StageRecord& s) override { deleted.insert(s.stageId); }
  void endSession(const std::string& stageId, const std::string& sessionId) override {
    ended.emplace(stageId, sessionId);
  }
  std::set<std::string> created;
  std::set<std::string> deleted;
  std::set<std::pair<std::string, std::string>> ended;
};

const auth::TokenSigner& signer() {
  static const auth::TokenSigner s{auth::SigningKey::generate().value()};
  return s;
}

constexpr int kUsers = 6;
constexpr std::int64_t kTimeoutMs = 10'500;  // heartbeats come on whole seconds: never exactly at an expiry

struct Watching {
  std::string stageId;
  std::int64_t expiresAtMs = 0;
};

struct KnownStage {
  std::string stageId;
  std::string stageArn;
  bool live = true;
};

class Run {
 public:
  explicit Run(std::size_t capacity) : capacity_(capacity) {
    ControlConfig cfg;
    cfg.stageCapacity = capacity;
    cfg.viewerTimeout = std::chrono::milliseconds(kTimeoutMs);
    cfg.stageGrace = std::chrono::seconds(5);
    cfg.minStages = 1;
    service_ = std::make_unique<ChannelService>(cfg, store_, signer(), media_, clock_);
    check(service_->start().ok(), "start");
    refreshStages();
  }
  ~Run() { service_->stop(); }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  void step(std::uint8_t op, std::uint8_t arg) {
    const std::string user = "user" + std::to_string(arg % kUsers);
    const KnownStage stage = stages_[(arg / kUsers) % stages_.size()];  // a copy: stages_ may grow
    switch (op % 6) {
      case 0:
        join(user);
        break;
      case 1:
        rejoin(user, stage);
        break;
      case 2:
        heartbeat(user, stage);
        break;
      case 3:
        leave(user, stage);
        break;
      case 4:
        startSession(user);
        break;
      default:
        advance(arg % 16);
        break;
    }
    checkCounts();
  }

 private:
  std::size_t modelCount(const std::string& stageId) const {
    std::size_t n = 0;
    for (const auto& [u, w] : watching_) n += w.stageId == stageId ? 1 : 0;
    return n;
  }

  // The live stages in the service's order; stages that disappeared must have been empty and announced.
  std::vector<StageView> refreshStages() {
    auto view = service_->channel("main");
    check(view.ok(), "the channel is always there");
    check(view->stages.size() >= 1, "the channel keeps its minimum of stages");
    std::set<std::string> live;
    for (const auto& s : view->stages) {
      live.insert(s.stage.stageId);
      check(media_.created.count(s.stage.stageId) == 1, "a stage the media plane never heard of");
      bool known = false;
      for (const auto& k : stages_) known = known || k.stageId == s.stage.stageId;
      if (!known) stages_.push_back({s.stage.stageId, s.stage.stageArn, true});
    }
    for (auto& k : stages_) {
      if (k.live && live.count(k.stageId) == 0) {
        k.live = false;
        check(modelCount(k.stageId) == 0, "a stage was deleted with viewers in it");
        check(media_.deleted.count(k.stageId) == 1, "a deleted stage the media plane never heard of");
      }
    }
    return view->stages;
  }

  void checkCounts() {
    const auto stages = refreshStages();
    std::size_t total = 0;
    for (const auto& s : stages) {
      check(s.viewerCount <= capacity_, "a stage above its capacity");
      check(s.viewerCount == modelCount(s.stage.stageId), "a stage count differs from who watches it");
      total += s.viewerCount;
    }
    check(total == watching_.size(), "the channel total differs from the viewers watching");
    check(service_->channel("main")->total == total, "the channel total is not the sum of its stages");
  }

  void join(const std::string& user) {
    const auto before = refreshStages();
    auto j = service_->joinViewer(user, "");
    check(j.ok(), "a join fails");
    if (auto w = watching_.find(user); w != watching_.end()) {
      check(j->stageId == w->second.stageId, "a watching user was moved to another stage by a join");
    } else {
      std::optional<std::string> firstWithRoom;
      for (const auto& s : before) {
        if (s.viewerCount < capacity_) {
          firstWithRoom = s.stage.stageId;
          break;
        }
      }
      if (firstWithRoom) {
        check(j->stageId == *firstWithRoom, "a join skipped the first stage with room");
      } else {
        for (const auto& s : before) check(s.stage.stageId != j->stageId, "a join into a full stage");
      }
    }
    watching_[user] = {j->stageId, clock_.nowMs() + kTimeoutMs};
    participants_[{user, j->stageId}] = j->participantId;
  }

  void rejoin(const std::string& user, const KnownStage& stage) {
    const auto pid = participants_.find({user, stage.stageId});
    const std::string participantId = pid == participants_.end() ? "p-" + user : pid->second;
    auto r = service_->rejoin(user, stage.stageArn, participantId);
    const auto w = watching_.find(user);
    if (!stage.live) {
      check(!r.ok() && r.error().code == "STAGE_NOT_FOUND", "a rejoin into a deleted stage");
    } else if (w != watching_.end() && w->second.stageId != stage.stageId) {
      check(!r.ok() && r.error().code == "VIEWER_IN_OTHER_STAGE", "a rejoin counted a user in a second stage");
    } else if (w != watching_.end() || modelCount(stage.stageId) < capacity_) {
      check(r.ok(), "a rejoin with room fails");
      watching_[user] = {stage.stageId, clock_.nowMs() + kTimeoutMs};
      check(*r == modelCount(stage.stageId), "a rejoin answers the wrong count");
    } else {
      check(!r.ok() && r.error().code == "STAGE_FULL", "a rejoin into a full stage");
    }
  }

  void heartbeat(const std::string& user, const KnownStage& stage) {
    auto r = service_->heartbeat(user, stage.stageArn);
    const auto w = watching_.find(user);
    if (w != watching_.end() && w->second.stageId == stage.stageId) {
      check(r.ok(), "a heartbeat of a watching viewer fails");
      w->second.expiresAtMs = clock_.nowMs() + kTimeoutMs;
    } else {
      check(!r.ok() && r.error().code == "VIEWER_NOT_FOUND", "a heartbeat of a viewer who is not there");
    }
  }

  void leave(const std::string& user, const KnownStage& stage) {
    auto r = service_->leave(user, stage.stageArn);
    if (!stage.live) {
      check(!r.ok() && r.error().code == "STAGE_NOT_FOUND", "a leave of a deleted stage");
      return;
    }
    check(r.ok(), "a leave fails");
    const auto w = watching_.find(user);
    if (w != watching_.end() && w->second.stageId == stage.stageId) {
      removed(user, stage.stageId);
      watching_.erase(w);
    }
    check(*r == modelCount(stage.stageId), "a leave answers the wrong count");
  }

  void startSession(const std::string& user) {
    const auto w = watching_.find(user);
    if (w == watching_.end()) return;
    const std::string sid = "session" + std::to_string(++sessions_);
    service_->viewerSessionStarted(w->second.stageId, user, sid);
    sessionsOf_[{user, w->second.stageId}].push_back(sid);
  }

  void advance(int seconds) {
    clock_.advance(std::chrono::seconds(seconds));
    service_->sweep();
    const std::int64_t now = clock_.nowMs();
    for (auto it = watching_.begin(); it != watching_.end();) {
      if (it->second.expiresAtMs <= now) {
        removed(it->first, it->second.stageId);
        it = watching_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // A viewer left or timed out: its media sessions in that stage must have been ended.
  void removed(const std::string& user, const std::string& stageId) {
    auto s = sessionsOf_.find({user, stageId});
    if (s == sessionsOf_.end()) return;
    for (const auto& sid : s->second) {
      check(media_.ended.count({stageId, sid}) == 1, "a removed viewer's media session was not ended");
    }
    sessionsOf_.erase(s);
  }

  std::size_t capacity_;
  MemoryStore store_;
  RecordingMediaPlane media_;
  ManualWallClock clock_;
  std::unique_ptr<ChannelService> service_;
  std::vector<KnownStage> stages_;  // every stage seen, in order of appearance
  std::map<std::string, Watching> watching_;
  std::map<std::pair<std::string, std::string>, std::string> participants_;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> sessionsOf_;
  std::uint64_t sessions_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  if (size == 0) return 0;
  Run run(1 + data[0] % 4);
  // Two bytes per step, at most 64 steps (each join signs a token).
  for (std::size_t i = 1; i + 1 < size && i < 129; i += 2) run.step(data[i], data[i + 1]);
  return 0;
}
