// SPDX-License-Identifier: MIT
// Classification happens on the worker so the strand never sees an exception, only an Outcome.

#include "engine/job_runner.hpp"

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include "shelfjobs/engine/context.hpp"

namespace shelfjobs::detail {

// Throttled at both edges: a report after a quiet `progress_interval` is published at once, and
// one held back inside the interval is published when it ends (the host's flush), so observers
// never keep a stale step while the job runs on ("step 1 of 5" shown through a long step 2).
// The action says only whether to publish: the host reads the report under the run's lock as it
// tells it (tell_progress). Handing out a copy cost a heap block for any message past 15
// characters on every report published, also when nothing listened.
JobRun::ReportAction JobRun::report(std::optional<std::int64_t> current, std::optional<std::int64_t> total,
                                    std::string message) {
  const auto now = std::chrono::steady_clock::now();
  MutexLock lock(mu_);
  if (current) progress_.current = *current;
  if (total) progress_.total = *total;
  progress_.message = std::move(message);
  unpersisted_ = true;
  if (now - last_emit_ >= progress_interval) {
    last_emit_ = now;
    held_ = false;
    return {true, std::nullopt};
  }
  held_ = true;
  if (std::exchange(flush_asked_, true)) return {};
  return {false, last_emit_ + progress_interval - now};
}

// A report published at once can come between the flush being asked and the flush: the held
// report after it must then wait for its own interval, or two would be published within one.
// The held report is told before the lock is let go: told after it, a report made in between
// was told in its place and then again by the flush it asked for.
JobRun::ReportAction JobRun::take_held(const Tell& tell) {
  const auto now = std::chrono::steady_clock::now();
  MutexLock lock(mu_);
  if (ended_) return {};  // end() took the progress: the job's end tells it
  if (!held_) {
    flush_asked_ = false;
    return {};
  }
  if (now - last_emit_ < progress_interval) return {false, last_emit_ + progress_interval - now};
  flush_asked_ = false;
  held_ = false;
  last_emit_ = now;
  if (tell) tell(running_, progress_);
  return {true, std::nullopt};
}

std::optional<Progress> JobRun::take_unpersisted() {
  MutexLock lock(mu_);
  if (ended_ || !std::exchange(unpersisted_, false)) return std::nullopt;
  return progress_;
}

void JobRun::set_completion(std::string message) {
  MutexLock lock(mu_);
  completion_ = std::move(message);
}

Progress JobRun::progress() {
  MutexLock lock(mu_);
  return progress_;
}

void JobRun::set_progress(Progress p) {
  MutexLock lock(mu_);
  progress_ = std::move(p);
}

void JobRun::set_running(JobDelta delta) {
  MutexLock lock(mu_);
  running_ = std::move(delta);
}

void JobRun::set_task(std::string task) {
  MutexLock lock(mu_);
  running_.task = std::move(task);
}

// Moved out, not copied: nothing reads the run's progress once it ended (the reads above look at
// ended_ first, and the strand drops the run from its job as it takes the end).
Progress JobRun::end() {
  MutexLock lock(mu_);
  ended_ = true;
  return std::move(progress_);
}

std::optional<std::string> JobRun::completion() {
  MutexLock lock(mu_);
  return completion_;
}

ErrorKind kind_of(const std::system_error& e) {
  if (e.code().category() == std::generic_category() || e.code().category() == std::system_category()) {
    switch (e.code().value()) {
      case ECONNREFUSED:
      case ECONNRESET:
      case ECONNABORTED:
      case ETIMEDOUT:
      case EHOSTUNREACH:
      case ENETUNREACH:
      case ENETDOWN:
      case EPIPE: return ErrorKind::network;
      default: return ErrorKind::filesystem;
    }
  }
  return ErrorKind::permanent;
}

Outcome execute(JobRun& run) {
  Outcome out;
  auto failed = [&](ErrorKind kind, std::string what) {
    if (run.stop.stop_requested() && !run.timed_out) {
      out = Outcome{JobStatus::cancelled, ErrorKind::none, {}, std::nullopt};
    } else {
      out = Outcome{JobStatus::failed, kind, std::move(what), std::nullopt};
    }
  };
  try {
    if (!run.type->traits.rate_key.empty()) run.host->wait_rate_slot(run);
    JobContext ctx(run);
    run.type->execute(*run.body, ctx);
    if (run.stop.stop_requested() && !run.timed_out) out.status = JobStatus::cancelled;
  } catch (const JobError& e) {
    if (e.kind() == ErrorKind::cancelled && !run.timed_out) {
      out.status = JobStatus::cancelled;
    } else {
      failed(e.kind() == ErrorKind::cancelled ? ErrorKind::timeout : e.kind(), e.what());
      out.retry_after = e.retry_after();
    }
  } catch (const std::filesystem::filesystem_error& e) {
    failed(ErrorKind::filesystem, e.what());
  } catch (const std::system_error& e) {
    failed(kind_of(e), e.what());
  } catch (const std::exception& e) {
    failed(ErrorKind::permanent, e.what());
  } catch (...) {
    failed(ErrorKind::permanent, "unknown exception");
  }
  if (run.timed_out && out.status == JobStatus::completed) {
    // It returned after its token was cancelled by the timeout: the work may be cut short.
    out = Outcome{JobStatus::failed, ErrorKind::timeout, {}, std::nullopt};
  }
  if (out.status == JobStatus::failed && out.kind == ErrorKind::timeout && out.error.empty()) {
    out.error = "timed out after " + std::to_string(run.type->traits.timeout.count()) + " ms";
  }
  if (out.status == JobStatus::failed && out.error.empty()) out.error = "failed";
  return out;
}

}  // namespace shelfjobs::detail
