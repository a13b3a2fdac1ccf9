#pragma once
// A mutex for short critical sections taken by several busy threads (e.g. one per HTTP loop): a thread that finds
// it held spins briefly before it sleeps. With a plain mutex the loser of a race sleeps in the kernel at once and,
// on a loaded machine, may wait a whole scheduler slice to run again, holding up every connection of its loop.
// glibc's adaptive mutex (PTHREAD_MUTEX_ADAPTIVE_NP; its spin count is the glibc.pthread.mutex_spin_count
// tunable) does the spinning. Satisfies Lockable, so std::lock_guard and std::unique_lock work with it.
#include <pthread.h>

namespace stagecast {

class AdaptiveMutex {
 public:
  AdaptiveMutex() {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&mutex_, &attr);
    pthread_mutexattr_destroy(&attr);
  }
  ~AdaptiveMutex() { pthread_mutex_destroy(&mutex_); }
  AdaptiveMutex(const AdaptiveMutex&) = delete;
  AdaptiveMutex& operator=(const AdaptiveMutex&) = delete;

  void lock() { pthread_mutex_lock(&mutex_); }
  bool try_lock() { return pthread_mutex_trylock(&mutex_) == 0; }  // NOLINT(readability-identifier-naming)
  void unlock() { pthread_mutex_unlock(&mutex_); }

 private:
  pthread_mutex_t mutex_;
};

}  // namespace stagecast
