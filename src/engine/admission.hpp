// SPDX-License-Identifier: MIT
#pragma once
// Admission: what a push becomes before it reaches the queue. `prepare` validates a request and
// makes its canonical body and dedup key (any thread, no engine state); `DedupIndex` answers
// which live job an equal push merges into (dispatcher strand only).
//
// Coalescing: an equal push merges into a queued twin; while the twin runs it leaves exactly
// one queued run behind it (further equal pushes merge into that one), because the running job
// may already have read its input and would miss what the push was about. A type whose handler
// reads its input at the end may declare `merge_into_running`.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/container/small_vector.hpp>

#include <nlohmann/json.hpp>

#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/error.hpp"

namespace shelfjobs::detail {

/// A validated push.
struct Prepared {
  const CommandType* type = nullptr;
  nlohmann::json body;    ///< canonical
  std::string body_text;  ///< body.dump(): stored as is
  std::string key;        ///< dedup key
  PushOptions options;
  /// A scheduled task's tick ("task@due ms"), for engines sharing a queue; empty otherwise.
  std::string tick;
  /// Set by a durable push: called with the insert's commit (see JobStore::insert).
  std::function<void(bool committed)> committed;
};

/// The dedup key of a canonical body: the type's own key function, else name + canonical JSON
/// (nlohmann's object keys are sorted, so equal bodies dump equal).
std::string dedup_key(const CommandType& type, const nlohmann::json& body);

/// Validates a push and canonicalises its body. Errors: unknown_command, invalid_body (naming
/// the field when the body does not decode), invalid_argument (priority out of range).
Result<Prepared> prepare(const Registry& registry, std::string_view name, const nlohmann::json& body,
                         PushOptions options);

/// Live jobs by dedup key: which are queued and which run.
///
/// A live job's entry (its Slot) stays where it is from the job's first queued() to its ended():
/// the table's growth does not move slots, and a slot is dropped only when it is empty. So the
/// job keeps a reference to it, and its start, a retry and its end need no lookup by key;
/// admission looks for a twin and queues in one lookup.
///
/// The table is open addressing over an array of (hash, slot) pairs, at most half full: a lookup
/// reads one array line and the slot of an equal hash, not a bucket chain of nodes. With 100,000
/// jobs queued that nothing touches, a chained table's lookup that finds nothing and its erase
/// read nodes that are not in the cache; that made a deep queue's jobs dearer
/// (docs/benchmark-log.md, 6 December 2026, 22:10 UTC and 7 December 2026, 00:40 UTC).
///
/// Not thread-safe: the engine uses it under one mutex. Owns its slots.
class DedupIndex {
 public:
  /// Ids in ascending order (the oldest first); a key usually has one live job, held inline.
  using Ids = boost::container::small_vector<JobId, 1>;
  struct Slot {
    Ids queued;
    Ids running;
    std::string key;
    std::size_t hash = 0;
  };
  /// What admission found: the twin a push merges into, or else the slot its new job waits in.
  struct Admitted {
    std::optional<JobId> twin;
    Slot* slot = nullptr;
  };

  DedupIndex() = default;
  DedupIndex(const DedupIndex&) = delete;
  DedupIndex& operator=(const DedupIndex&) = delete;
  ~DedupIndex();

  /// The job an equal push merges into: the oldest queued twin; else, when `into_running`, the
  /// oldest running one; else none (the push makes a new job).
  std::optional<JobId> twin(const std::string& key, bool into_running) const;
  /// twin(); when there is none, `id` waits under `key` (as queued()). One lookup for both.
  Admitted twin_or_queue(const std::string& key, bool into_running, JobId id);
  /// The job waits (a recovered job). Returns its slot, which stays put until ended().
  Slot& queued(const std::string& key, JobId id);
  /// The job, in `slot`, waits again (a retry).
  static void queued(Slot& slot, JobId id);
  /// The job starts running.
  static void started(Slot& slot, JobId id);
  /// The job has left for good (finished, cancelled, failed). The slot is dropped when no job is
  /// left in it (references to it are then void).
  void ended(Slot& slot, JobId id);
  std::size_t size() const { return size_; }

 private:
  struct Entry {
    std::size_t hash = 0;
    Slot* slot = nullptr;  // null: free
  };
  static std::optional<JobId> twin_in(const Slot& slot, bool into_running);
  /// The entry that holds `key`, or the free one where it would go.
  std::size_t probe(const std::string& key, std::size_t hash) const;
  /// The slot of `key`, added when missing.
  Slot& find_or_add(const std::string& key);
  void grow();

  std::vector<Entry> table_;  // a power of two long, at most half full
  std::size_t size_ = 0;
};

}  // namespace shelfjobs::detail
