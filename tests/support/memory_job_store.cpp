// SPDX-License-Identifier: MIT
#include "memory_job_store.hpp"

#include <algorithm>

namespace testing {

using namespace shelfjobs;

namespace {

std::int64_t to_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t minute_of(std::int64_t ms) {
  constexpr std::int64_t kMinute = 60000;
  std::int64_t m = ms / kMinute;
  if (ms % kMinute < 0) --m;
  return m * kMinute;
}

}  // namespace

MemoryJobStore::MemoryJobStore(MemoryStoreOptions options) : opts_(std::move(options)) {}

MemoryJobStore::~MemoryJobStore() { close(); }

// The same rules as the SQLite store's finish: every field but the body is written; a job that
// turns terminal here counts once in its type's totals and in the minute it ended.
void MemoryJobStore::apply_finish(State& s, const JobInfo& job) {
  auto it = s.jobs.find(job.id);
  const bool counts = is_terminal(job.status) && it != s.jobs.end() && !is_terminal(it->second.status);
  if (it != s.jobs.end()) {
    nlohmann::json body = std::move(it->second.body);
    it->second = job;
    it->second.body = std::move(body);
    // Like the SQL row: no ended_at, no stored duration.
    if (!job.ended_at) it->second.duration = std::chrono::milliseconds(0);
  }
  if (!counts) return;
  const bool has_duration = job.status != JobStatus::cancelled && job.started_at.has_value();
  const std::int64_t duration_ms = has_duration ? std::max<std::int64_t>(0, job.duration.count()) : 0;
  auto& t = s.totals[job.name];
  t.name = job.name;
  switch (job.status) {
    case JobStatus::completed: ++t.completed; break;
    case JobStatus::failed: ++t.failed; break;
    default: ++t.cancelled; break;
  }
  if (job.started_at && (!t.last_start || *job.started_at > *t.last_start)) t.last_start = job.started_at;
  if (job.ended_at) t.last_finish = job.ended_at;
  t.last_status = job.status;
  if (!job.ended_at) return;
  const std::int64_t minute = minute_of(to_ms(*job.ended_at));
  auto& m = s.minutes[{minute, job.name}];
  m.minute = TimePoint(std::chrono::milliseconds(minute));
  m.name = job.name;
  switch (job.status) {
    case JobStatus::completed: ++m.completed; break;
    case JobStatus::failed: ++m.failed; break;
    default: ++m.cancelled; break;
  }
  if (has_duration) {
    m.duration_sum_ms += duration_ms;
    ++m.durations[duration_bin(std::chrono::milliseconds(duration_ms))];
  }
}

std::optional<std::string> MemoryJobStore::check_fault(std::size_t writes) {
  if (!opts_.before_commit) return std::nullopt;
  return opts_.before_commit(writes);
}

// ------------------------------------------------------------------ before start()

Result<StoredState> MemoryJobStore::load(TimePoint since) {
  std::lock_guard lock(state_mutex_);
  StoredState out;
  for (const auto& [id, job] : state_.jobs) {
    if (job.status == JobStatus::queued || job.status == JobStatus::executing) out.active.push_back(job);
  }
  out.max_id = state_.max_id;
  for (const auto& [name, row] : state_.tasks) out.tasks.push_back(row);
  for (const auto& [name, t] : state_.totals) out.totals.push_back(t);
  for (const auto& [key, m] : state_.minutes) {
    if (key.first >= to_ms(since)) out.minutes.push_back(m);
  }
  return out;
}

Status MemoryJobStore::write_recovered(const std::vector<JobInfo>& jobs) {
  if (auto fault = check_fault(jobs.size())) {
    write_errors_.fetch_add(1);
    return Error{errc::store_error, "cannot write recovered jobs: " + *fault};
  }
  std::lock_guard lock(state_mutex_);
  for (const auto& j : jobs) apply_finish(state_, j);
  return Ok{};
}

void MemoryJobStore::put(const JobInfo& job) {
  std::lock_guard lock(state_mutex_);
  state_.jobs[job.id] = job;
  state_.max_id = std::max(state_.max_id, job.id);
}

void MemoryJobStore::start() {
  writes_.start([this](std::vector<Op>& batch) { commit(batch); });
}

void MemoryJobStore::reopen() {
  writes_.close();
  writes_.reset();
}

// ------------------------------------------------------------------ writes

void MemoryJobStore::enqueue(Apply apply, Done done) {
  Op op{std::move(apply), std::move(done)};
  if (writes_.push(op)) return;
  if (op.done) op.done(false);  // not started, or closed: dropped (outside the lock: caller's code)
}

void MemoryJobStore::insert(const JobInfo& job, std::string body_text, Done done) {
  JobInfo row = job;
  if (!body_text.empty()) {
    row.body = nlohmann::json::parse(body_text, nullptr, false);
    if (row.body.is_discarded()) row.body = nlohmann::json::object();
  }
  enqueue(
      [row = std::move(row)](State& s) {
        s.jobs[row.id] = row;
        s.max_id = std::max(s.max_id, row.id);
      },
      std::move(done));
}

void MemoryJobStore::update_queued(JobId id, Priority priority, Trigger trigger, const std::string& event) {
  enqueue(
      [=](State& s) {
        auto it = s.jobs.find(id);
        if (it == s.jobs.end()) return;
        it->second.priority = priority;
        it->second.trigger = trigger;
        it->second.event = event;
      },
      {});
}

void MemoryJobStore::start_job(JobId id, TimePoint started_at, int attempt) {
  enqueue(
      [=](State& s) {
        auto it = s.jobs.find(id);
        if (it == s.jobs.end()) return;
        it->second.status = JobStatus::executing;
        it->second.started_at = started_at;
        it->second.attempt = attempt;
      },
      {});
}

void MemoryJobStore::progress(JobId id, const Progress& p) {
  enqueue(
      [=](State& s) {
        auto it = s.jobs.find(id);
        if (it != s.jobs.end()) it->second.progress = p;
      },
      {});
}

void MemoryJobStore::finish(const JobInfo& job, Done done) {
  JobInfo row = job;
  row.body = nullptr;
  enqueue([row = std::move(row)](State& s) { apply_finish(s, row); }, std::move(done));
}

void MemoryJobStore::save_task(const TaskRow& row) {
  enqueue([row](State& s) { s.tasks[row.name] = row; }, {});
}

void MemoryJobStore::drop_minutes(TimePoint before) {
  const std::int64_t before_ms = to_ms(before);
  enqueue(
      [before_ms](State& s) {
        std::erase_if(s.minutes, [&](const auto& kv) { return kv.first.first < before_ms; });
      },
      {});
}

void MemoryJobStore::flush() { writes_.wait_settled(); }

// One batch is one commit: the fault check decides for the whole batch before any of it is
// applied, so a failed attempt leaves the state as it was and the retry applies the same writes.
void MemoryJobStore::commit(std::vector<Op>& batch) {
  auto backoff = opts_.retry_backoff;
  for (int attempt = 1;; ++attempt) {
    const auto t0 = std::chrono::steady_clock::now();
    if (auto fault = check_fault(batch.size())) {
      write_errors_.fetch_add(1);
      failing_.store(true);
      const bool give_up = attempt >= opts_.close_attempts && writes_.closing();
      if (give_up) {
        writes_.complete(batch.begin(), batch.end(), false);
        return;
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, opts_.max_retry_backoff);
      continue;
    }
    {
      std::lock_guard lock(state_mutex_);
      for (auto& op : batch) op.apply(state_);
    }
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    last_commit_us_.store(us);
    if (us > max_commit_us_.load()) max_commit_us_.store(us);
    commits_.fetch_add(1);
    failing_.store(false);
    break;
  }
  writes_.complete(batch.begin(), batch.end(), true);  // as the real stores do
}

void MemoryJobStore::close() { writes_.close(); }

// ------------------------------------------------------------------ reads

Result<std::optional<JobInfo>> MemoryJobStore::get(JobId id) {
  writes_.wait_settled();
  std::lock_guard lock(state_mutex_);
  auto it = state_.jobs.find(id);
  if (it == state_.jobs.end()) return std::optional<JobInfo>{};
  return std::optional<JobInfo>{it->second};
}

Result<JobPage> MemoryJobStore::list(const JobQuery& query) {
  if (query.limit < 1 || query.limit > 1000) {
    return Error{errc::invalid_argument,
                 "limit must be between 1 and 1000, not " + std::to_string(query.limit)};
  }
  writes_.wait_settled();
  std::lock_guard lock(state_mutex_);
  JobPage page;
  auto matches = [&](const JobInfo& j) {
    if (!query.statuses.empty() &&
        std::find(query.statuses.begin(), query.statuses.end(), j.status) == query.statuses.end())
      return false;
    if (!query.names.empty() &&
        std::find(query.names.begin(), query.names.end(), j.name) == query.names.end())
      return false;
    return true;
  };
  auto it = query.before_id > 0 ? state_.jobs.lower_bound(query.before_id) : state_.jobs.end();
  while (it != state_.jobs.begin()) {
    --it;
    if (!matches(it->second)) continue;
    if (page.jobs.size() == static_cast<std::size_t>(query.limit)) {
      page.next_before_id = page.jobs.back().id;
      break;
    }
    page.jobs.push_back(it->second);
  }
  return page;
}

Result<std::int64_t> MemoryJobStore::prune(std::optional<TimePoint> cutoff, std::int64_t max_rows) {
  if (!writes_.running()) return Error{errc::store_error, "the memory job store is not running"};
  writes_.wait_settled();
  if (auto fault = check_fault(0)) {
    write_errors_.fetch_add(1);
    return Error{errc::store_error, "cannot prune: " + *fault};
  }
  std::lock_guard lock(state_mutex_);
  std::int64_t newer = 0;  // finished jobs with a higher id, pruned or not (as the SQL counts)
  std::int64_t removed = 0;
  for (auto it = state_.jobs.end(); it != state_.jobs.begin();) {
    --it;
    const JobInfo& j = it->second;
    if (!is_terminal(j.status)) continue;
    const bool too_old = cutoff && j.ended_at && *j.ended_at < *cutoff;
    const bool beyond_cap = max_rows > 0 && newer >= max_rows;
    ++newer;
    if (too_old || beyond_cap) {
      it = state_.jobs.erase(it);
      ++removed;
    }
  }
  return removed;
}

// Nothing to optimize or rebuild in memory; what it checks is that the rows agree with
// themselves (every finished job has an end), so a test can see a report and a fault.
Result<StoreMaintenanceReport> MemoryJobStore::maintain(const StoreMaintenanceOptions& options) {
  if (!writes_.running()) return Error{errc::store_error, "the memory job store is not running"};
  writes_.wait_settled();
  if (auto fault = check_fault(0)) {
    write_errors_.fetch_add(1);
    return Error{errc::store_error, "cannot maintain: " + *fault};
  }
  StoreMaintenanceReport r;
  std::lock_guard lock(state_mutex_);
  r.page_count = static_cast<std::int64_t>(state_.jobs.size());
  if (options.integrity_check) {
    r.integrity_checked = true;
    for (const auto& [id, j] : state_.jobs)
      if (is_terminal(j.status) && !j.ended_at && r.integrity_findings.size() < 20)
        r.integrity_findings.push_back("job " + std::to_string(id) + " finished without an end time");
    r.integrity_ok = r.integrity_findings.empty();
  }
  r.optimized = options.optimize;
  r.checkpointed = options.checkpoint;
  return r;
}

StoreHealth MemoryJobStore::stats() const {
  StoreHealth h;
  h.commits = commits_.load();
  h.write_errors = write_errors_.load();
  h.failing = failing_.load();
  h.last_commit_latency = std::chrono::microseconds(last_commit_us_.load());
  h.max_commit_latency = std::chrono::microseconds(max_commit_us_.load());
  return h;
}

}  // namespace testing
