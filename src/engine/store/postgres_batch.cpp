// SPDX-License-Identifier: MIT
#include "engine/store/postgres_batch.hpp"

namespace shelfjobs::detail::pg {

JobInfo& JobWriteFolder::target(JobId id, RowPatch*& patch) {
  if (auto n = new_at_.find(id); n != new_at_.end()) {
    patch = nullptr;
    return set_.inserts[n->second].row;
  }
  auto [at, added] = patch_at_.try_emplace(id, set_.updates.size());
  if (added) {
    set_.updates.emplace_back();
    set_.updates.back().row.id = id;
  }
  patch = &set_.updates[at->second];
  patch->node = node_;
  return patch->row;
}

void JobWriteFolder::insert(const JobInfo& job, const std::string& body, const SharedKeys& keys) {
  // An id is inserted once (the engine hands each out once); a second insert of one id would
  // fail on the primary key as it does on SQLite, so it is passed on as it is.
  new_at_[job.id] = set_.inserts.size();
  set_.inserts.push_back({job, body, keys});
  status_[job.id] = job.status;
}

void JobWriteFolder::update_queued(JobId id, Priority priority, Trigger trigger, const std::string& event) {
  RowPatch* patch = nullptr;
  JobInfo& row = target(id, patch);
  row.priority = priority;
  row.trigger = trigger;
  row.event = event;
  if (patch) patch->queued_fields = true;
}

void JobWriteFolder::start(JobId id, TimePoint started_at, int attempt) {
  RowPatch* patch = nullptr;
  JobInfo& row = target(id, patch);
  row.status = JobStatus::executing;
  row.started_at = started_at;
  row.attempt = attempt;
  if (patch) patch->start_fields = true;
  status_[id] = JobStatus::executing;
}

void JobWriteFolder::progress(JobId id, const Progress& progress) {
  RowPatch* patch = nullptr;
  JobInfo& row = target(id, patch);
  row.progress = progress;
  if (patch) patch->progress_fields = true;
}

void JobWriteFolder::finish(const JobInfo& job) {
  if (is_terminal(job.status)) {
    const auto prior = status_.find(job.id);
    set_.finishes.push_back(
        {job, prior == status_.end() ? std::nullopt : std::optional<JobStatus>(prior->second)});
  }
  RowPatch* patch = nullptr;
  JobInfo& row = target(job.id, patch);
  // Every column but the body and what never changes (name, queued_at): as a finish writes them.
  const JobId id = row.id;
  std::string name = std::move(row.name);
  const TimePoint queued_at = row.queued_at;
  nlohmann::json body = std::move(row.body);
  row = job;
  row.id = id;
  row.body = std::move(body);
  if (!patch) {
    row.name = std::move(name);
    row.queued_at = queued_at;
  } else {
    patch->queued_fields = patch->start_fields = patch->progress_fields = patch->finish_fields = true;
  }
  status_[job.id] = job.status;
}

JobWriteSet JobWriteFolder::take() {
  JobWriteSet out = std::move(set_);
  set_ = {};
  new_at_.clear();
  patch_at_.clear();
  status_.clear();
  return out;
}

std::string array_literal(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (const char c : *values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace shelfjobs::detail::pg
