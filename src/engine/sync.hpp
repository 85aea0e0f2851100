// SPDX-License-Identifier: MIT
#pragma once
// Locks the engine's few mutexes through, with clang's thread-safety annotations: a member
// marked GUARDED_BY(mu) read without `mu` held fails the `-Wthread-safety` pass that
// tests/run_all.sh runs over the engine's sources. Under GCC the annotations compile to nothing.
//
// Also: the short look for work a thread takes before it sleeps (yield_until), and the debug
// assertion that a strand-only member runs on the dispatcher strand.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#if defined(__clang__)
#define SHELFJOBS_TSA(x) __attribute__((x))
#else
#define SHELFJOBS_TSA(x)
#endif

#define CAPABILITY(x) SHELFJOBS_TSA(capability(x))
#define SCOPED_CAPABILITY SHELFJOBS_TSA(scoped_lockable)
#define GUARDED_BY(x) SHELFJOBS_TSA(guarded_by(x))
#define REQUIRES(...) SHELFJOBS_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) SHELFJOBS_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) SHELFJOBS_TSA(release_capability(__VA_ARGS__))
#define EXCLUDES(...) SHELFJOBS_TSA(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) SHELFJOBS_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS SHELFJOBS_TSA(no_thread_safety_analysis)

namespace shelfjobs::detail {

/// A std::mutex the analysis knows.
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  std::mutex& native() RETURN_CAPABILITY(this) { return mu_; }

 private:
  std::mutex mu_;
};

/// Holds a Mutex for a scope. Waits on a condition variable go through `wait`, written as a
/// loop at the call site so the analysis sees the guarded reads under the lock.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.native()) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void wait(std::condition_variable& cv) { cv.wait(lock_); }
  /// False on timeout.
  template <class Clock, class Duration>
  bool wait_until(std::condition_variable& cv, std::chrono::time_point<Clock, Duration> t) {
    return cv.wait_until(lock_, t) == std::cv_status::no_timeout;
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

/// Looks for `done()` for up to `limit`, yielding the thread between looks: true once it held,
/// false when the time ran out. Taken by a thread about to sleep until another wakes it: when the
/// wait is usually a few microseconds, a look that finds the work saves the waker its system call
/// and this thread its trip through the scheduler. Yielding, not spinning on `pause`: on a
/// 2-core guest the threads this one waits for need its core (docs/benchmark-log.md, 5 December 2026).
template <class Done>
bool yield_until(Done&& done, std::chrono::microseconds limit) {
  if (done()) return true;
  const auto until = std::chrono::steady_clock::now() + limit;
  do {
    std::this_thread::yield();
    if (done()) return true;
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

}  // namespace shelfjobs::detail

/// Asserts that the caller runs on the dispatcher strand: in debug builds, and in the
/// sanitizer presets (which define SHELFJOBS_STRAND_CHECKS whatever their build type).
#if defined(SHELFJOBS_STRAND_CHECKS) || !defined(NDEBUG)
#include <cstdio>
#include <cstdlib>
#define SHELFJOBS_ASSERT_STRAND(strand)                                                                    \
  do {                                                                                                     \
    if (!(strand).running_in_this_thread()) {                                                              \
      std::fprintf(stderr, "%s:%d: %s must run on the dispatcher strand\n", __FILE__, __LINE__, __func__); \
      std::abort();                                                                                        \
    }                                                                                                      \
  } while (0)
#else
#define SHELFJOBS_ASSERT_STRAND(strand) ((void)0)
#endif
