// SPDX-License-Identifier: MIT
#include "fault_job_store.hpp"

#include <algorithm>
#include <thread>

namespace testing {

std::optional<std::string> FaultJobStore::Plan::before_commit(std::size_t writes) {
  std::chrono::milliseconds sleep{0};
  std::optional<std::string> fault;
  {
    std::lock_guard lock(mu);
    const std::uint64_t n = ++attempts;
    sleep = delay;
    const bool timed = fail_until && std::chrono::steady_clock::now() < *fail_until;
    if (fail_all || timed || fail_at.erase(n) > 0) {
      ++failures;
      fault = "injected failure of commit attempt " + std::to_string(n) + " (" + std::to_string(writes) +
              " writes)";
    }
  }
  cv.notify_all();
  // Outside the lock, so a test can heal or change the plan while a commit is slow.
  if (sleep.count() > 0) std::this_thread::sleep_for(sleep);
  return fault;
}

MemoryStoreOptions FaultJobStore::with_plan(MemoryStoreOptions options, const std::shared_ptr<Plan>& plan) {
  options.before_commit = [plan](std::size_t writes) { return plan->before_commit(writes); };
  return options;
}

FaultJobStore::FaultJobStore(MemoryStoreOptions options)
    : FaultJobStore(std::move(options), std::make_shared<Plan>()) {}

FaultJobStore::FaultJobStore(MemoryStoreOptions options, std::shared_ptr<Plan> plan)
    : MemoryJobStore(with_plan(std::move(options), plan)), plan_(std::move(plan)) {}

void FaultJobStore::fail_nth_commit(std::uint64_t n) {
  std::lock_guard lock(plan_->mu);
  plan_->fail_at.insert(plan_->attempts + std::max<std::uint64_t>(n, 1));
}

void FaultJobStore::fail_next_commits(std::uint64_t count) {
  std::lock_guard lock(plan_->mu);
  for (std::uint64_t i = 1; i <= count; ++i) plan_->fail_at.insert(plan_->attempts + i);
}

void FaultJobStore::fail_until_healed() {
  std::lock_guard lock(plan_->mu);
  plan_->fail_all = true;
}

void FaultJobStore::fail_for(std::chrono::milliseconds duration) {
  std::lock_guard lock(plan_->mu);
  plan_->fail_until = std::chrono::steady_clock::now() + duration;
}

void FaultJobStore::heal() {
  std::lock_guard lock(plan_->mu);
  plan_->fail_all = false;
  plan_->fail_until.reset();
  plan_->fail_at.clear();
}

void FaultJobStore::slow_commits(std::chrono::milliseconds delay) {
  std::lock_guard lock(plan_->mu);
  plan_->delay = delay;
}

std::uint64_t FaultJobStore::commit_attempts() const {
  std::lock_guard lock(plan_->mu);
  return plan_->attempts;
}

std::uint64_t FaultJobStore::injected_failures() const {
  std::lock_guard lock(plan_->mu);
  return plan_->failures;
}

bool FaultJobStore::wait_for_failures(std::uint64_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(plan_->mu);
  return plan_->cv.wait_for(lock, timeout, [&] { return plan_->failures >= n; });
}

}  // namespace testing
