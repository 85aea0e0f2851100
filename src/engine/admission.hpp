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
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

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
class DedupIndex {
 public:
  /// The job an equal push merges into: the oldest queued twin; else, when `into_running`, the
  /// oldest running one; else none (the push makes a new job).
  std::optional<JobId> twin(const std::string& key, bool into_running) const;
  /// The job waits (a new push, a recovered job, a retry).
  void queued(const std::string& key, JobId id);
  /// The job starts running.
  void started(const std::string& key, JobId id);
  /// The job has left for good (finished, cancelled, failed).
  void ended(const std::string& key, JobId id);
  std::size_t size() const { return slots_.size(); }

 private:
  struct Slot {
    std::set<JobId> queued;
    std::set<JobId> running;
  };
  std::unordered_map<std::string, Slot> slots_;
};

}  // namespace shelfjobs::detail
