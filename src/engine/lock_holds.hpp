// SPDX-License-Identifier: MIT
#pragma once
// Lock holds: a host's hold on named locks (CommandTraits::locks) outside any job
// (Engine::hold_locks). A person's "delete this author and its files" runs on an HTTP thread,
// not in a job, yet must not delete a folder an import is writing into; holding the lock the
// imports take makes it wait for the running import and keeps the next one from starting.
//
// A hold is granted once no running job and no other hold has any of its locks. Until then it
// *wants* them: the ReadyIndex starts no job that needs one of them, whatever its priority, so
// a stream of imports cannot starve it. Pending holds are granted in the order asked, except
// that one whose locks are free goes before an earlier one still waiting for others.
//
// Two sides: `HoldWait` is what the asking thread sleeps on (any thread); `LockHolds` keeps the
// pending and granted holds and runs on the dispatcher strand only, stepping the ReadyIndex.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/ready_index.hpp"
#include "engine/sync.hpp"

namespace shelfjobs::detail {

/// The asking side of one hold. Thread-safety: every member from any thread.
class HoldWait {
 public:
  enum class State { pending, granted, withdrawn, refused };

  /// Waits until the hold is granted or refused, or `timeout` passes; a hold still pending then
  /// is withdrawn (a grant after that is not taken). Returns the state it ended in.
  State wait_for(std::chrono::milliseconds timeout) EXCLUDES(mu_);
  /// The strand grants: true when the asker still waits (the hold is now its), false when it
  /// withdrew.
  bool grant() EXCLUDES(mu_);
  /// The engine stops: a pending hold is refused.
  void refuse() EXCLUDES(mu_);

 private:
  Mutex mu_;
  std::condition_variable cv_;
  State state_ GUARDED_BY(mu_) = State::pending;
};

/// The holds of one engine. Strand only.
class LockHolds {
 public:
  /// Asks for `names` (sorted, unique, not empty) for `wait`, and grants it at once when they are
  /// free. Returns the hold's id.
  std::uint64_t request(std::vector<std::string> names, std::shared_ptr<HoldWait> wait, ReadyIndex& ready);
  /// Grants the pending holds whose locks are free (call when jobs end or holds go).
  void grant(ReadyIndex& ready);
  /// The asker gave up (its wait timed out): a pending hold goes. True when a hold was granted
  /// meanwhile and is now released, so jobs may start.
  bool withdraw(std::uint64_t id, ReadyIndex& ready);
  /// The host released its hold. True when it was held (jobs may start).
  bool release(std::uint64_t id, ReadyIndex& ready);
  /// The engine stops: every pending hold is refused. Granted ones stay until released.
  void refuse_pending(ReadyIndex& ready);

  std::size_t pending() const { return pending_.size(); }
  std::size_t granted() const { return granted_.size(); }

 private:
  struct Pending {
    std::uint64_t id;
    std::vector<std::string> names;
    std::shared_ptr<HoldWait> wait;
  };
  std::uint64_t next_id_ = 1;
  std::list<Pending> pending_;  // in the order asked
  std::unordered_map<std::uint64_t, std::vector<std::string>> granted_;
};

}  // namespace shelfjobs::detail
