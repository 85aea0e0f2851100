// SPDX-License-Identifier: MIT
// Buckets: the rules (exclusive, type-exclusive, locks, caps, rate keys, idle-only) are
// properties of a command type, so when a bucket's head may not start, nothing in that bucket
// may; the one per-job exception, an idle-only job's maximum deferral, is decided by the head,
// the oldest. A pick therefore walks bucket heads, not jobs: `heads_[p]` orders the heads of
// priority p by id so the walk is oldest-first across types.

#include "engine/ready_index.hpp"

#include <algorithm>

namespace shelfjobs::detail {

ReadyIndex::ReadyIndex(int workers, std::chrono::milliseconds idle_max_deferral, Compaction compaction)
    : workers_(workers), idle_max_deferral_(idle_max_deferral), compaction_(compaction) {
  if (compaction_.young.count() <= 0 || compaction_.lanes >= workers_) compaction_ = {};
}

void ReadyIndex::add(JobId id, const CommandType* type, Priority priority, TimePoint queued_at,
                     TimePoint ready_since) {
  if (!ready_.emplace(id, Entry{type, priority, queued_at, ready_since}).second) return;
  const auto p = idx(priority);
  auto& bucket = buckets_[p][type];
  const bool was_empty = bucket.empty();
  const JobId old_head = was_empty ? 0 : *bucket.begin();
  bucket.insert(id);
  if (was_empty || id < old_head) {
    if (!was_empty) heads_[p].erase({old_head, type});
    heads_[p].insert({id, type});
  }
  ++queued_[p];
  if (!type->traits.idle_only) ++queued_non_idle_;
}

void ReadyIndex::remove(JobId id) {
  auto e = ready_.find(id);
  if (e == ready_.end()) return;
  const Entry entry = e->second;
  ready_.erase(e);
  const auto p = idx(entry.priority);
  auto it = buckets_[p].find(entry.type);
  auto& bucket = it->second;
  const bool was_head = *bucket.begin() == id;
  bucket.erase(id);
  if (was_head) {
    heads_[p].erase({id, entry.type});
    if (!bucket.empty()) heads_[p].insert({*bucket.begin(), entry.type});
  }
  if (bucket.empty()) buckets_[p].erase(it);
  --queued_[p];
  if (!entry.type->traits.idle_only) --queued_non_idle_;
}

void ReadyIndex::start(JobId id, SteadyTime since) {
  auto e = ready_.find(id);
  if (e == ready_.end()) return;
  const CommandType* type = e->second.type;
  const Priority priority = e->second.priority;
  remove(id);
  ++running_total_;
  ++running_by_priority_[idx(priority)];
  if (priority == Priority::critical) ++critical_running_;
  if (type->traits.exclusive) ++exclusive_running_;
  ++running_by_type_[type];
  for (const auto& lock : type->traits.locks) ++locks_held_[lock];
  if (compaction_.lanes > 0 && priority != Priority::critical) regular_since_.insert(since);
}

void ReadyIndex::release(const CommandType* type, Priority priority, SteadyTime since) {
  if (compaction_.lanes > 0 && priority != Priority::critical) {
    if (auto it = regular_since_.find(since); it != regular_since_.end()) regular_since_.erase(it);
  }
  --running_total_;
  --running_by_priority_[idx(priority)];
  if (priority == Priority::critical) --critical_running_;
  if (type->traits.exclusive) --exclusive_running_;
  if (auto it = running_by_type_.find(type); it != running_by_type_.end() && --it->second == 0) {
    running_by_type_.erase(it);
  }
  for (const auto& lock : type->traits.locks) {
    if (auto it = locks_held_.find(lock); it != locks_held_.end() && --it->second == 0) {
      locks_held_.erase(it);
    }
  }
}

namespace {
void count_up(std::unordered_map<std::string, int>& counts, const std::vector<std::string>& names) {
  for (const auto& n : names) ++counts[n];
}
void count_down(std::unordered_map<std::string, int>& counts, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (auto it = counts.find(n); it != counts.end() && --it->second == 0) counts.erase(it);
  }
}
}  // namespace

bool ReadyIndex::locks_free(const std::vector<std::string>& names) const {
  return std::none_of(names.begin(), names.end(),
                      [&](const std::string& n) { return locks_held_.count(n) != 0; });
}
void ReadyIndex::hold(const std::vector<std::string>& names) {
  count_up(locks_held_, names);
  ++holds_;
}
void ReadyIndex::unhold(const std::vector<std::string>& names) {
  count_down(locks_held_, names);
  --holds_;
}
void ReadyIndex::want(const std::vector<std::string>& names) { count_up(locks_wanted_, names); }
void ReadyIndex::unwant(const std::vector<std::string>& names) { count_down(locks_wanted_, names); }

bool ReadyIndex::allowed(const CommandType* type, const Entry& head, TimePoint now, const RateGate& rate,
                         std::optional<TimePoint>& wake) const {
  const auto& t = type->traits;
  auto running = running_by_type_.find(type);
  const int of_type = running == running_by_type_.end() ? 0 : running->second;
  if (t.type_exclusive && of_type > 0) return false;
  if (t.max_concurrent > 0 && of_type >= t.max_concurrent) return false;
  for (const auto& lock : t.locks) {
    if (locks_held_.count(lock) != 0 || locks_wanted_.count(lock) != 0) return false;
  }
  if (t.idle_only && (running_total_ > 0 || queued_non_idle_ > 0)) {
    const TimePoint deadline = head.queued_at + idle_max_deferral_;
    if (now < deadline) {
      if (!wake || deadline < *wake) wake = deadline;
      return false;
    }
  }
  if (!t.rate_key.empty() && rate) {
    const TimePoint free_at = rate(t.rate_key);
    if (free_at > now) {
      // Meanwhile other buckets go ahead; the caller comes back when the key allows a use.
      if (!wake || free_at < *wake) wake = free_at;
      return false;
    }
  }
  return true;
}

// The running regular jobs are at most `workers_`, so counting the young ones is a short walk.
bool ReadyIndex::spread_allowed(SteadyTime now, std::optional<SteadyTime>& spread_at) const {
  if (compaction_.lanes <= 0) return true;
  const SteadyTime young_since = now - compaction_.young;
  auto first_young = regular_since_.upper_bound(young_since);
  if (std::distance(first_young, regular_since_.end()) < compaction_.lanes) return true;
  spread_at = *first_young + compaction_.young;
  return false;
}

ReadyIndex::Pick ReadyIndex::pick(TimePoint now, const RateGate& rate, SteadyTime steady_now) const {
  Pick out;
  if (exclusive_running_ > 0) return out;          // nothing starts beside an exclusive job
  if (running_total_ >= workers_ + 1) return out;  // every thread, the lane included, is busy
  // Non-critical jobs may use only `workers_` threads, so one stays free for Critical work.
  const bool regular_free = running_total_ - critical_running_ < workers_;
  for (int p = kPriorityCount - 1; p >= 0; --p) {
    const bool regular = p != static_cast<int>(Priority::critical);
    if (!regular_free && regular) break;
    for (const auto& [head, type] : heads_[static_cast<std::size_t>(p)]) {
      if (type->traits.exclusive) {
        // The exclusive job is next: it waits for running jobs (and a host's holds), and new
        // starts pause until they are done, so it is not overtaken indefinitely.
        if (running_total_ > 0 || holds_ > 0) return Pick{};
        out.job = head;
        return out;
      }
      if (allowed(type, ready_.at(head), now, rate, out.retry_at)) {
        // Beside young jobs, a regular one waits for a lane; so would every regular job after it.
        if (regular && !spread_allowed(steady_now, out.spread_at)) return out;
        out.job = head;
        return out;
      }
    }
  }
  return out;
}

std::vector<std::pair<JobId, Priority>> ReadyIndex::age(TimePoint now, std::chrono::milliseconds period) {
  std::vector<std::pair<JobId, Priority>> risen;
  for (Priority p : {Priority::normal, Priority::low}) {  // normal first: a job rises once
    std::vector<JobId> rising;
    for (auto& [type, bucket] : buckets_[idx(p)]) {
      // Buckets are FIFO by id, close to the order jobs became ready: stop at the first young
      // job.
      for (JobId id : bucket) {
        if (now - ready_.at(id).ready_since < period) break;
        rising.push_back(id);
      }
    }
    const auto up = static_cast<Priority>(static_cast<int>(p) + 1);
    for (JobId id : rising) {
      Entry e = ready_.at(id);
      remove(id);
      add(id, e.type, up, e.queued_at, now);
      risen.emplace_back(id, up);
    }
  }
  return risen;
}

std::optional<TimePoint> ReadyIndex::oldest_ready(Priority p) const {
  const auto& heads = heads_[idx(p)];
  if (heads.empty()) return std::nullopt;
  std::optional<TimePoint> oldest;
  for (const auto& [id, type] : heads) {
    const TimePoint t = ready_.at(id).ready_since;
    if (!oldest || t < *oldest) oldest = t;
  }
  return oldest;
}

}  // namespace shelfjobs::detail
