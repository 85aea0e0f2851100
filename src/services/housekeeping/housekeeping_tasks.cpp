// SPDX-License-Identifier: MIT
// The housekeeping tasks that work on data: pruning, log trimming, orphaned rows, future times
// and database maintenance. Each returns what it did, or throws TaskFailure saying what it did
// before the part that failed (the runner records it and goes on with the next task).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/sqlite/maintenance.hpp"
#include "services/housekeeping/housekeeping_tasks.hpp"

namespace shelfjobs::housekeeping {

namespace {

std::string hk_join(const std::vector<std::string>& parts, const char* empty) {
  if (parts.empty()) return empty;
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::string hk_count(std::int64_t n, const char* what) { return std::to_string(n) + " " + what; }

}  // namespace

std::optional<std::set<RowId>> author_ids(Catalog* catalog) {
  if (!catalog) return std::nullopt;
  auto authors = catalog->authors();
  if (!authors) throw TaskFailure("cannot read the authors: " + authors.error().message);
  std::set<RowId> ids;
  for (const auto& a : *authors) ids.insert(a.id);
  return ids;
}

std::string prune(HousekeepingService::Impl& s) {
  std::vector<std::string> done, failed;
  if (!s.host) {
    failed.push_back("finished jobs: no host runs this service");
  } else if (auto removed = s.host->prune_finished_jobs(); removed) {
    done.push_back(hk_count(*removed, "finished jobs"));
  } else {
    failed.push_back("finished jobs: " + removed.error().message);
  }
  if (s.o.acquisition && s.o.history_retention.count() > 0) {
    auto removed = s.o.acquisition->remove_history_before(s.now() - s.o.history_retention);
    if (removed)
      done.push_back(hk_count(*removed, "history rows"));
    else
      failed.push_back("history: " + removed.error().message);
  } else {
    done.push_back("history kept");
  }
  if (!failed.empty())
    throw TaskFailure(hk_join(done, "") + (done.empty() ? "" : "; ") + hk_join(failed, ""));
  return hk_join(done, "nothing to prune");
}

std::string trim_logs(HousekeepingService::Impl& s) {
  if (s.o.logs.empty()) return "no logs registered";
  const TimePoint cutoff = s.now() - s.o.log_retention;
  std::vector<std::string> done, failed;
  for (const LogTarget& t : s.o.logs) {
    try {
      auto n = t.trim(cutoff);
      if (n)
        done.push_back(t.name + " " + std::to_string(*n));
      else
        failed.push_back(t.name + ": " + n.error().message);
    } catch (const std::exception& e) {
      failed.push_back(t.name + ": " + e.what());
    }
  }
  std::string msg = "removed " + hk_join(done, "nothing");
  if (!failed.empty()) throw TaskFailure(msg + "; " + hk_join(failed, ""));
  return msg;
}

std::string orphaned_rows(HousekeepingService::Impl& s) {
  if (!s.o.catalog) return "no catalog";
  std::vector<std::string> done;
  auto removed = s.o.catalog->remove_orphans("the book or author of this file is gone");
  if (!removed) throw TaskFailure("catalog: " + removed.error().message);
  done.push_back("catalog: " + hk_count(removed->books, "books") + ", " +
                 hk_count(removed->editions, "editions") + ", " +
                 hk_count(removed->series_links + removed->series, "series rows") + ", " +
                 hk_count(removed->files_unlinked, "files unlinked"));
  if (s.o.acquisition) {
    const auto authors = author_ids(s.o.catalog.get());
    auto books = s.o.catalog->books();
    if (!books) throw TaskFailure(done.front() + "; cannot read the books: " + books.error().message);
    if (!authors || authors->empty()) {
      // An empty catalog beside a history full of authors is far more often a catalog that did
      // not open right (a wrong path) than a library emptied on purpose.
      done.push_back("acquisition: left alone (the catalog has no author)");
    } else {
      std::vector<RowId> book_ids;
      book_ids.reserve(books->size());
      for (const auto& b : *books) book_ids.push_back(b.id);
      auto gone = s.o.acquisition->remove_orphans({authors->begin(), authors->end()}, book_ids);
      if (!gone) throw TaskFailure(done.front() + "; acquisition: " + gone.error().message);
      done.push_back("acquisition: " + hk_count(gone->history, "history rows") + ", " +
                     hk_count(gone->blocklist, "blocklist entries") + ", " +
                     hk_count(gone->pending, "pending releases") + ", " +
                     hk_count(gone->statuses, "provider status rows"));
    }
  }
  return hk_join(done, "");
}

std::string future_times(HousekeepingService::Impl& s) {
  std::vector<std::string> done, failed;
  if (!s.host) {
    failed.push_back("tasks: no host runs this service");
  } else if (auto tasks = s.host->clamp_future_task_times(); tasks) {
    done.push_back(tasks->empty() ? "no task times in the future"
                                  : "task times clamped: " + hk_join(*tasks, ""));
  } else {
    failed.push_back("tasks: " + tasks.error().message);
  }
  if (s.o.acquisition) {
    auto n = s.o.acquisition->clamp_future_times(s.now(), s.o.max_provider_block);
    if (n)
      done.push_back(hk_count(*n, "provider statuses clamped"));
    else
      failed.push_back("provider statuses: " + n.error().message);
  }
  if (!failed.empty())
    throw TaskFailure(hk_join(done, "") + (done.empty() ? "" : "; ") + hk_join(failed, ""));
  return hk_join(done, "nothing to clamp");
}

std::string databases(HousekeepingService::Impl& s, std::vector<StoreMaintenanceReport>& out) {
  std::vector<std::string> done, failed;
  if (!s.host) {
    failed.push_back("job store: no host runs this service");
  } else if (auto r = s.host->maintain_job_store(s.o.maintenance); r) {
    if (r->file.empty()) r->file = "job store";
    done.push_back("job store " + r->summary());
    out.push_back(std::move(*r));
  } else {
    failed.push_back("job store: " + r.error().message);
  }
  for (const auto& path : s.o.databases) {
    auto r = sqlite::maintain_file(path, s.o.maintenance);
    if (!r) {
      failed.push_back(r.error().message);
      continue;
    }
    done.push_back(path.filename().string() + " " + r->summary());
    out.push_back(std::move(*r));
  }
  const bool damaged = std::any_of(out.begin(), out.end(), [](const auto& d) { return !d.integrity_ok; });
  if (damaged) s.log->error("housekeeping: a database failed its integrity check; see health");
  if (!failed.empty())
    throw TaskFailure(hk_join(done, "") + (done.empty() ? "" : "; ") + hk_join(failed, ""));
  return hk_join(done, "no databases");
}

}  // namespace shelfjobs::housekeeping
