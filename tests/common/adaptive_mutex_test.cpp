#include "stagecast/common/adaptive_mutex.hpp"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace stagecast {
namespace {

// Mutual exclusion: unsynchronized read-modify-write sequences under the lock lose no update.
TEST(AdaptiveMutexTest, SerializesCriticalSections) {
  constexpr int kThreads = 4;
  constexpr int kIterations = 200'000;
  AdaptiveMutex mutex;
  long long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        std::lock_guard lock(mutex);
        const long long seen = counter;
        counter = seen + 1;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, static_cast<long long>(kThreads) * kIterations);
}

TEST(AdaptiveMutexTest, TryLockFailsWhileHeldElsewhere) {
  AdaptiveMutex mutex;
  std::unique_lock held(mutex);
  EXPECT_FALSE(std::async(std::launch::async, [&] { return mutex.try_lock(); }).get());
  held.unlock();
  EXPECT_TRUE(std::async(std::launch::async, [&] {
                const bool got = mutex.try_lock();
                if (got) mutex.unlock();
                return got;
              }).get());
}

}  // namespace
}  // namespace stagecast
