// SPDX-License-Identifier: MIT
// The refresh service: RefreshAuthor and RefreshBook.
//
// Why it is shaped this way:
//   - Only a 404 may delete, and only what has no files. Readarr turned every metadata error into
//     "not found" and deleted authors during outages; here a timeout, 5xx, 429 or malformed body
//     leaves the catalog exactly as it was.
//   - Every author's changes go to the catalog in one transaction (Catalog::apply), and the author
//     row carries the new metadata hash and sync time in that same transaction, so an author
//     counts as refreshed only if its books were written too.
//   - Unchanged data costs nothing: the source hashes its mapped data; an equal hash writes no
//     row. The one exception is the sync time of an author last confirmed more than `min_age`
//     (12 h) ago: one row, so the scheduling rules see that the source was checked.
//   - A 429 stops a run of all authors: the host is limiting everyone, so going on would only
//     collect more 429s. The job waits out Retry-After (without spending an attempt) and starts
//     again; the authors it already did are served by the response cache and hash equal, so the
//     rerun costs them nothing.
#include "shelfjobs/services/refresh.hpp"
#include "shelfjobs/services/book_import.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "services/book_mapping.hpp"
#include "services/entity_runner.hpp"
#include "services/refresh_plan.hpp"
#include "services/service_util.hpp"
#include "shelfjobs/services/tasks.hpp"

namespace shelfjobs {

using namespace std::chrono_literals;

// ---- Command bodies ---------------------------------------------------------------------------

namespace {
std::optional<RowId> optional_id(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<RowId>();
}
}  // namespace

void to_json(nlohmann::json& j, const RefreshAuthor& c) {
  j = nlohmann::json::object();
  if (c.authorId) j["authorId"] = *c.authorId;
  if (!c.authorIds.empty()) j["authorIds"] = c.authorIds;
  if (c.monitor) j["monitor"] = to_string(*c.monitor);
  if (!c.booksToMonitor.empty()) j["booksToMonitor"] = c.booksToMonitor;
  if (c.searchForMissingBooks) j["searchForMissingBooks"] = *c.searchForMissingBooks;
  if (c.isNewAuthor) j["isNewAuthor"] = true;
}
void from_json(const nlohmann::json& j, RefreshAuthor& c) {
  c.authorId = optional_id(j, "authorId");
  c.authorIds.clear();
  if (auto it = j.find("authorIds"); it != j.end() && !it->is_null()) it->get_to(c.authorIds);
  c.monitor.reset();
  if (auto it = j.find("monitor"); it != j.end() && !it->is_null()) {
    if (it->is_string()) c.monitor = parse_book_monitor(it->get<std::string>());
    if (!c.monitor)
      throw std::invalid_argument(
          "\"monitor\" must be one of all, future, missing, existing, latest, first, none");
  }
  c.booksToMonitor.clear();
  if (auto it = j.find("booksToMonitor"); it != j.end() && !it->is_null()) {
    // A sorted set, so that the same books in another order make the same job body and equal
    // pushes merge.
    auto ids = parse_books_to_monitor(*it, "\"booksToMonitor\"");
    if (!ids) throw std::invalid_argument(ids.error().message);
    c.booksToMonitor = std::move(*ids);
  }
  c.searchForMissingBooks.reset();
  if (auto it = j.find("searchForMissingBooks"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) throw std::invalid_argument("\"searchForMissingBooks\" must be true or false");
    c.searchForMissingBooks = it->get<bool>();
  }
  c.isNewAuthor = false;
  if (auto it = j.find("isNewAuthor"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) throw std::invalid_argument("\"isNewAuthor\" must be true or false");
    c.isNewAuthor = it->get<bool>();
  }
  // The choices are one author's (the one just added); dropped silently they would surprise.
  if ((c.monitor || !c.booksToMonitor.empty() || c.searchForMissingBooks || c.isNewAuthor) &&
      (!c.authorId || !c.authorIds.empty())) {
    throw std::invalid_argument(std::string(c.monitor                   ? "\"monitor\""
                                            : !c.booksToMonitor.empty() ? "\"booksToMonitor\""
                                            : c.searchForMissingBooks   ? "\"searchForMissingBooks\""
                                                                        : "\"isNewAuthor\"") +
                                " needs \"authorId\" (one author) and no \"authorIds\"");
  }
}

std::vector<RowId> RefreshAuthor::ids() const {
  std::vector<RowId> out;
  if (authorId) out.push_back(*authorId);
  for (RowId id : authorIds) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}
void to_json(nlohmann::json& j, const RefreshBook& c) {
  j = nlohmann::json::object();
  if (c.bookId) j["bookId"] = *c.bookId;
}
void from_json(const nlohmann::json& j, RefreshBook& c) { c.bookId = optional_id(j, "bookId"); }
void to_json(nlohmann::json& j, const MoveAuthor& c) {
  j = {{"authorId", c.authorId}, {"sourcePath", c.sourcePath}, {"destinationPath", c.destinationPath}};
}
void from_json(const nlohmann::json& j, MoveAuthor& c) {
  j.at("authorId").get_to(c.authorId);
  c.sourcePath = j.value("sourcePath", std::string());
  c.destinationPath = j.value("destinationPath", std::string());
}

// ---- Rules ------------------------------------------------------------------------------------

bool should_refresh_author(const Author& author, std::optional<Date> newest_release, TimePoint now,
                           const RefreshRules& rules) {
  if (!author.last_info_sync || *author.last_info_sync < now - rules.author_max_age) return true;
  if (*author.last_info_sync >= now - rules.min_age) return false;
  if (author.status == AuthorStatus::continuing && *author.last_info_sync < now - rules.continuing_age)
    return true;
  if (newest_release && TimePoint(*newest_release) >= now - rules.recent_release) return true;
  return false;
}

bool should_refresh_book(const Book& book, TimePoint now, const RefreshRules& rules) {
  if (!book.last_info_sync || *book.last_info_sync < now - rules.book_max_age) return true;
  if (*book.last_info_sync >= now - rules.min_age) return false;
  // Readarr: ReleaseDate > now - 30 days, which includes every future release.
  if (book.release_date && TimePoint(*book.release_date) > now - rules.recent_release) return true;
  return false;
}

std::string RefreshSummary::message() const {
  std::string m = std::to_string(refreshed) + " refreshed, " + std::to_string(unchanged) + " unchanged, " +
                  std::to_string(skipped) + " skipped, " + std::to_string(failed) + " failed";
  auto add = [&m](int n, const char* what) {
    if (n > 0) m += ", " + std::to_string(n) + " " + what;
  };
  add(deferred, "deferred (still loading upstream)");
  if (guarded > 0) {
    m += ", " + std::to_string(guarded) + " not found upstream but kept (too many missing at once)";
  }
  add(removed, "removed");
  add(merged, "merged");
  add(renamed, "renamed");
  if (books_added + books_updated + books_removed > 0) {
    m += "; books: " + std::to_string(books_added) + " added, " + std::to_string(books_updated) +
         " updated, " + std::to_string(books_removed) + " removed";
  }
  return m;
}

// ---- The service ------------------------------------------------------------------------------

struct RefreshService::Impl {
  RefreshOptions o;

  TimePoint now() const { return o.clock->now(); }
  spdlog::logger& log() const { return *o.logger; }

  template <class E>
  void publish(const E& e) {
    if (o.events) o.events->publish(e);
  }

  // The folder an author with `name` belongs in: under its root folder when it has one, else
  // beside its current folder.
  std::filesystem::path folder_for(const Author& a, const std::string& name) {
    if (a.root_folder_id != 0) {
      auto root = o.catalog->root_folder(a.root_folder_id);
      if (root) return root->path / safe_folder_name(name);
    }
    if (a.path.empty()) return {};
    return a.path.parent_path() / safe_folder_name(name);
  }

  // The outcome of refreshing one author, for the summary.
  enum class One { refreshed, unchanged, removed, kept_not_found, not_found_pending };

  // What a person chose when adding the author, carried by the refresh that AuthorAdded started
  // (RefreshAuthor's monitor and searchForMissingBooks).
  struct AddedChoices {
    std::optional<BookMonitor> monitor;
    std::optional<bool> search_for_missing;
    bool new_author = false;
    std::vector<std::string> books;  // booksToMonitor: wins over `monitor`
  };

  // Refreshes one author. Throws MetadataError from the source (the catalog untouched) and
  // JobError{database} when the catalog write fails.
  // `pending`: when set, an author the source does not know (and without files) is collected there
  // for removal at the end of the run instead of removed at once.
  // `choices`: applied once the books are in, before AuthorRefreshed tells the rules (a search
  // it starts must see the books monitored as chosen).
  One refresh_one(Author author, RefreshSummary& sum, std::stop_token token, bool fresh = false,
                  std::vector<Author>* pending = nullptr, const AddedChoices* choices = nullptr) {
    AuthorData data;
    try {
      data = o.source->author(author.foreign_id, token, fresh);
    } catch (const MetadataError& e) {
      // Only the source's own 404 says "gone"; every other failure changes nothing.
      if (e.code() != MetadataErrc::not_found || e.http_status() != 404) throw;
      return not_found(author, sum, e.what(), pending);
    }
    const TimePoint t = now();

    // The facts: which local author the data belongs to (a merge upstream), its books, the new
    // works the catalog holds under another author, and the files of books gone upstream.
    detail::LocalFacts local;
    std::optional<AuthorMerged> merged;
    RowId merged_from = 0;
    if (data.foreign_id != author.foreign_id) {
      // The source redirected to another id: a merge. When a local author already has that id,
      // this author's books (and files) move to it and this author goes; else this author is
      // re-keyed in place. Either way it is part of the one transaction below, so a failure
      // later in this author's refresh leaves the catalog as it was.
      merged = AuthorMerged{0, author.id, author.foreign_id, data.foreign_id};
      auto target = o.catalog->author_by_foreign_id(data.foreign_id);
      if (!target && target.error().code != errc::not_found) {
        throw JobError(kind_of(target.error().code),
                       "author " + data.foreign_id + ": " + target.error().message);
      }
      if (target) {
        merged->from_author_id = author.id;
        merged->into_author_id = target->id;
        merged_from = author.id;
        local.books = must(o.catalog->books_of(author.id), "books of author " + author.foreign_id);
        log().info("author '{}' ({}) merged into '{}' ({}) upstream; its books move there", author.name,
                   author.foreign_id, target->name, target->foreign_id);
        author = *target;
      } else {
        log().info("author '{}' re-keyed from {} to {} (merged upstream)", author.name, author.foreign_id,
                   data.foreign_id);
      }
    }
    const bool unchanged = !merged && data.hash == author.metadata_hash;
    if (!unchanged) {
      auto own = must(o.catalog->books_of(author.id), "books of author " + author.foreign_id);
      local.books.insert(local.books.end(), own.begin(), own.end());
      // Works a person removed and excluded are not brought back (Readarr's import list
      // exclusions); those already in the catalog stay as they are.
      std::vector<std::string> fresh_works = detail::works_new_to(local.books, data);
      const auto excluded = must(o.catalog->excluded(fresh_works, ExclusionKind::book), "the exclusions");
      if (!excluded.empty()) {
        std::erase_if(data.works, [&](const WorkData& w) { return excluded.count(w.foreign_id) > 0; });
        std::erase_if(fresh_works, [&](const std::string& fid) { return excluded.count(fid) > 0; });
        // Stored, the source's hash would say "the catalog holds what the source says", and a
        // refresh after the exclusion is lifted would skip the work as unchanged: the mark
        // keeps this author compared with the source at each refresh while works are left out.
        data.hash += "+excluded";
        log().info("author '{}' ({}): {} excluded work(s) left out", author.name, author.foreign_id,
                   excluded.size());
      }
      for (const std::string& fid : fresh_works) {
        auto elsewhere = o.catalog->book_by_foreign_id(fid);
        if (!elsewhere && elsewhere.error().code != errc::not_found) {
          throw JobError(kind_of(elsewhere.error().code), "book " + fid + ": " + elsewhere.error().message);
        }
        if (elsewhere) local.elsewhere.emplace(fid, std::move(elsewhere).value());
      }
      for (RowId id : detail::books_gone_upstream(local.books, data)) {
        local.files[id] = must(o.catalog->file_count_of_book(id), "files of book " + std::to_string(id));
      }
    }

    detail::AuthorPlan plan = detail::plan_author(author, data, local, merged_from, t, o.rules.min_age);
    // The hash goes in only over the one read with the row: a book a person removed since then
    // left its mark there, and the next refresh must compare again.
    if (plan.w.author) plan.w.hash_read = author.metadata_hash;
    if (!plan.changed) {
      if (plan.write) must(o.catalog->apply(plan.w), "author " + author.foreign_id);
      AuthorRefreshed told{author.id, false, 0, 0, 0, apply_choices(author, choices)};
      told.new_author = choices && choices->new_author;
      publish(told);
      return One::unchanged;
    }
    for (const Book& b : plan.kept_with_files) {
      log().warn("book '{}' ({}) is gone upstream but has {} file(s); kept", b.title, b.foreign_id,
                 local.files[b.id]);
    }
    auto result = must(o.catalog->apply(plan.w), "author " + author.foreign_id);
    // As stored now: the write kept the folder and `monitored` a person may have changed since
    // the row was read.
    author = must(o.catalog->author(author.id), "author " + author.foreign_id);
    const int added = static_cast<int>(plan.added.size());
    const int removed = static_cast<int>(plan.w.removed_books.size() - result.kept_books.size());
    sum.books_added += added;
    sum.books_updated += plan.updated;
    sum.books_removed += removed;
    if (merged) {
      ++sum.merged;
      publish(*merged);
    }
    // The new books as stored (their `monitored` is the author's when the write ran:
    // monitored_as_author), read in one call rather than one a book.
    std::map<RowId, Book> stored;
    if (!plan.added.empty()) {
      if (auto books = o.catalog->books_of(author.id)) {
        for (Book& b : *books) stored.emplace(b.id, std::move(b));
      }
    }
    for (std::size_t i : plan.added) {
      Book b = plan.w.books[i].book;
      if (i < result.new_book_ids.size()) b.id = result.new_book_ids[i];
      if (auto it = stored.find(b.id); it != stored.end()) b = std::move(it->second);
      publish(BookAdded{b, true});
    }
    if (plan.renamed_from) {
      // The folder as it is now, not as read before the fetch: a person may have set another
      // meanwhile (set_author_path takes no job lock), or an import given the author its first.
      const std::filesystem::path old_path = author.path;
      const auto new_path = folder_for(author, author.name);
      log().info("author renamed upstream: '{}' -> '{}'", *plan.renamed_from, author.name);
      ++sum.renamed;
      publish(AuthorRenamed{author.id, *plan.renamed_from, author.name, old_path, new_path});
    }
    // Merged into an author already in the catalog: a choice made for the one added is not a
    // choice about that author's books.
    AuthorRefreshed told{author.id,    true,    added,
                         plan.updated, removed, apply_choices(author, merged_from == 0 ? choices : nullptr)};
    told.new_author = merged_from == 0 && choices && choices->new_author;
    publish(told);
    return One::refreshed;
  }

  // The add-time choices, now that the author's books are in: the monitoring is written, and
  // the search choice is handed on for AuthorRefreshed.
  std::optional<bool> apply_choices(const Author& author, const AddedChoices* choices) {
    if (!choices) return std::nullopt;
    if (choices->monitor || !choices->books.empty())
      monitor_books(author, choices->monitor.value_or(BookMonitor::all), choices->books);
    // Readarr searches the monitored books of monitored authors only.
    if (choices->search_for_missing == true && !author.monitored) return false;
    return choices->search_for_missing;
  }

  // A person's choice of books, made when the author was added, now that the books are in.
  void monitor_books(const Author& author, BookMonitor monitor, const std::vector<std::string>& listed) {
    const auto today = std::chrono::floor<std::chrono::days>(now());
    auto changed = must(apply_book_monitoring(*o.catalog, author.id, monitor, today, listed),
                        "monitoring of author " + author.foreign_id);
    log().info("author '{}' ({}): books monitored as chosen ({}): {} changed", author.name, author.foreign_id,
               listed.empty() ? std::string(to_string(monitor)) : std::to_string(listed.size()) + " listed",
               changed.size());
    for (const Book& b : changed) publish(BookEdited{b});
  }

  One not_found(const Author& author, RefreshSummary& sum, const std::string& why,
                std::vector<Author>* pending = nullptr) {
    auto files = must(o.catalog->file_count_of_author(author.id), "files of author " + author.foreign_id);
    auto books = must(o.catalog->books_of(author.id), "books of author " + author.foreign_id);
    const bool by_hand =
        std::any_of(books.begin(), books.end(), [](const Book& b) { return b.manually_added; });
    switch (detail::decide_not_found(files, by_hand, pending != nullptr)) {
      case detail::NotFound::keep_has_files:
        log().warn("author '{}' ({}) not found at the source ({}); kept: it has {} file(s)", author.name,
                   author.foreign_id, why, files);
        return One::kept_not_found;
      case detail::NotFound::keep_added_by_hand:
        log().warn("author '{}' ({}) not found at the source ({}); kept: a book of it was added by hand",
                   author.name, author.foreign_id, why);
        return One::kept_not_found;
      case detail::NotFound::remove_at_end: pending->push_back(author); return One::not_found_pending;
      case detail::NotFound::remove: break;
    }
    remove(author, sum);
    return One::removed;
  }

  void remove(const Author& author, RefreshSummary& sum) {
    auto removed = o.catalog->remove_author(author.id);
    if (!removed) {
      // A conflict: a file was linked to the author since the check. It stays.
      throw JobError(kind_of(removed.error().code),
                     "cannot remove author " + author.foreign_id + ": " + removed.error().message);
    }
    log().info("author '{}' ({}) not found at the source; removed (it had no files)", author.name,
               author.foreign_id);
    ++sum.removed;
    publish(AuthorRemoved{author, "not found at the metadata source"});
  }

  // The end of a run over all authors: remove the authors the source did not know, unless so
  // many were missing that the source itself looks wrong (a wrong base URL, a server answering
  // 404 during an outage): then nothing is removed.
  void remove_pending(const std::vector<Author>& pending, int asked, RefreshSummary& sum) {
    if (pending.empty()) return;
    const auto n = static_cast<int>(pending.size());
    if (detail::removal_guarded(n, asked, o.removal_guard_min, o.removal_guard_share)) {
      sum.failed += n;
      sum.guarded += n;
      log().error(
          "{} of {} authors asked were not found at the metadata source; removing none "
          "(check the source's address and state)",
          n, asked);
      return;
    }
    for (const Author& a : pending) {
      try {
        remove(a, sum);
      } catch (const JobError& e) {
        ++sum.failed;
        log().warn("{}; kept", e.what());
      }
    }
  }

  // A later refresh of an author the source is still loading: a follow-up job of the running
  // one (through its context; a call made outside a job has no queue to push to).
  void defer_loading(RowId author_id, JobContext* ctx) {
    if (!ctx) {
      log().warn("author {} is still loading at the source; refresh it again later", author_id);
      return;
    }
    PushOptions po;
    po.trigger = Trigger::event;
    po.event = "AuthorLoading";
    po.durable = false;
    po.not_before = now() + o.not_ready_retry;
    auto pushed = ctx->push(RefreshAuthor{.authorId = author_id}, po);
    if (!pushed)
      log().warn("cannot queue a later refresh of author {}: {}", author_id, pushed.error().message);
  }

  // `ids`: none for every author, one for that author (its failure fails the job), several for
  // those (a bulk refresh: failures are counted and the run goes on).
  // `choices` (one author only): see refresh_one.
  RefreshSummary refresh_authors(const std::vector<RowId>& ids, Trigger trigger, JobContext* ctx,
                                 const AddedChoices* choices = nullptr) {
    RefreshSummary sum;
    std::stop_token token = ctx ? ctx->token() : std::stop_token{};
    if (ids.size() == 1) {
      // A missing author is permanent (kind_of), a SQLite failure `database`.
      const Author author =
          must(o.catalog->author(ids.front()), "refresh of author " + std::to_string(ids.front()));
      if (ctx) ctx->report(0, 1, "1 of 1: " + author.name);
      // A user asking for one author wants what the source says now: the cache is revalidated
      // (cheap with ETag) rather than trusted. Runs over all authors trust a fresh cache.
      switch (refresh_one(author, sum, token, trigger == Trigger::manual, nullptr, choices)) {
        case One::refreshed: ++sum.refreshed; break;
        case One::unchanged: ++sum.unchanged; break;
        case One::removed:
        case One::not_found_pending: break;
        case One::kept_not_found:
          throw JobError(
              ErrorKind::permanent,
              "author '" + author.name + "' was not found at the metadata source; kept because it has files");
      }
      if (ctx) ctx->report(1, 1, "1 of 1: " + author.name);
      return sum;
    }

    std::vector<Author> all;
    if (ids.empty()) {
      all = must(o.catalog->authors(), "the author list");
    } else {
      for (RowId id : ids) {
        auto a = o.catalog->author(id);
        if (a) {
          all.push_back(std::move(a).value());
          continue;
        }
        if (a.error().code != errc::not_found) throw JobError(kind_of(a.error().code), a.error().message);
        ++sum.failed;
        log().warn("refresh of author {}: not in the catalog", id);
      }
    }
    // A bulk refresh asked by a user revalidates, as a one-author refresh does.
    const bool fresh = !ids.empty() && trigger == Trigger::manual;
    const TimePoint t = now();
    std::vector<Author> pending;
    int asked = 0;
    detail::EntityLoop<Author> loop;
    loop.name = [](const Author& a) { return a.name; };
    if (ids.empty() && trigger == Trigger::scheduled) {
      loop.due = [&](const Author& a) {
        auto newest = must(o.catalog->newest_release(a.id), "books of author " + a.foreign_id);
        return should_refresh_author(a, newest, t, o.rules);
      };
    }
    loop.one = [&](const Author& a) {
      ++asked;
      switch (refresh_one(a, sum, token, fresh, &pending)) {
        case One::refreshed: return detail::EntityOutcome::refreshed;
        case One::unchanged: return detail::EntityOutcome::unchanged;
        case One::removed: return detail::EntityOutcome::removed;
        case One::not_found_pending: return detail::EntityOutcome::pending;
        case One::kept_not_found: break;
      }
      return detail::EntityOutcome::failed;  // kept: counted as a failure of the run
    };
    loop.not_ready = [&](const Author& a) { defer_loading(a.id, ctx); };
    loop.count = [&sum](detail::EntityOutcome outcome) { count(sum, outcome); };
    loop.so_far = [&sum] { return sum.message(); };
    // The removals wait for the end of the run (the guard needs the whole picture); the last
    // progress report follows them.
    detail::run_each(all, ctx, log(), "author", loop);
    remove_pending(pending, asked, sum);
    const auto n = static_cast<std::int64_t>(all.size());
    if (ctx) ctx->report(n, n, sum.message());
    return sum;
  }

  // How an entity's outcome counts in the summary (removals are counted where they happen).
  static void count(RefreshSummary& sum, detail::EntityOutcome outcome) {
    switch (outcome) {
      case detail::EntityOutcome::refreshed: ++sum.refreshed; break;
      case detail::EntityOutcome::unchanged: ++sum.unchanged; break;
      case detail::EntityOutcome::skipped: ++sum.skipped; break;
      case detail::EntityOutcome::failed:
      case detail::EntityOutcome::kept: ++sum.failed; break;
      case detail::EntityOutcome::deferred: ++sum.deferred; break;
      case detail::EntityOutcome::removed:
      case detail::EntityOutcome::pending: break;
    }
  }

  // ---- Books ----

  enum class BookOne { refreshed, unchanged, removed, kept };

  BookOne refresh_book_one(const Book& book, RefreshSummary& sum, std::stop_token token, bool fresh = false) {
    WorkData work;
    try {
      work = o.source->work(book.foreign_id, token, fresh);
    } catch (const MetadataError& e) {
      if (e.code() != MetadataErrc::not_found || e.http_status() != 404) throw;
      auto files = must(o.catalog->file_count_of_book(book.id), "files of book " + book.foreign_id);
      const auto decision = detail::decide_not_found(files, book.manually_added, false);
      if (decision != detail::NotFound::remove) {
        log().warn("book '{}' ({}) not found at the source; kept ({})", book.title, book.foreign_id,
                   decision == detail::NotFound::keep_has_files ? "it has files" : "it was added by hand");
        return BookOne::kept;
      }
      AuthorWrite w;
      w.removed_books.push_back(book.id);
      must(o.catalog->apply(w), "book " + book.foreign_id);
      ++sum.books_removed;
      log().info("book '{}' ({}) not found at the source; removed", book.title, book.foreign_id);
      return BookOne::removed;
    }
    const detail::BookPlan plan = detail::plan_book(book, work, now(), o.rules.min_age);
    if (plan.write) must(o.catalog->apply(plan.w), "book " + book.foreign_id);
    if (!plan.changed) return BookOne::unchanged;
    ++sum.books_updated;
    return BookOne::refreshed;
  }

  RefreshSummary refresh_books(std::optional<RowId> id, Trigger trigger, JobContext* ctx) {
    RefreshSummary sum;
    std::stop_token token = ctx ? ctx->token() : std::stop_token{};
    if (id) {
      const Book book = must(o.catalog->book(*id), "refresh of book " + std::to_string(*id));
      if (ctx) ctx->report(0, 1, "1 of 1: " + book.title);
      switch (refresh_book_one(book, sum, token, trigger == Trigger::manual)) {
        case BookOne::refreshed: ++sum.refreshed; break;
        case BookOne::unchanged: ++sum.unchanged; break;
        case BookOne::removed: ++sum.removed; break;
        case BookOne::kept:
          throw JobError(ErrorKind::permanent,
                         "book '" + book.title + "' was not found at the metadata source; kept");
      }
      return sum;
    }
    auto all = must(o.catalog->books(), "the book list");
    const auto n = static_cast<std::int64_t>(all.size());
    const TimePoint t = now();
    detail::EntityLoop<Book> loop;
    loop.name = [](const Book& b) { return b.title; };
    if (trigger == Trigger::scheduled)
      loop.due = [&](const Book& b) { return should_refresh_book(b, t, o.rules); };
    loop.one = [&](const Book& b) {
      switch (refresh_book_one(b, sum, token)) {
        case BookOne::refreshed: return detail::EntityOutcome::refreshed;
        case BookOne::unchanged: return detail::EntityOutcome::unchanged;
        case BookOne::removed: ++sum.removed; return detail::EntityOutcome::removed;
        case BookOne::kept: break;
      }
      return detail::EntityOutcome::kept;
    };
    loop.count = [&sum](detail::EntityOutcome outcome) { count(sum, outcome); };
    loop.so_far = [&sum] { return sum.message(); };
    detail::run_each(all, ctx, log(), "book", loop);
    if (ctx) ctx->report(n, n, sum.message());
    return sum;
  }
};

Result<std::shared_ptr<RefreshService>> RefreshService::create(RefreshOptions options) {
  if (!options.catalog) return Error{errc::invalid_argument, "refresh: a catalog is required"};
  if (!options.source) return Error{errc::invalid_argument, "refresh: a metadata source is required"};
  if (!options.clock) options.clock = std::make_shared<SystemClock>();
  if (!options.logger)
    options.logger =
        std::make_shared<spdlog::logger>("refresh", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(options);
  return std::shared_ptr<RefreshService>(new RefreshService(std::move(impl)));
}

RefreshService::RefreshService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void RefreshService::register_commands(Registry& registry) {
  // The handlers hold the Impl, not the service: a registry may outlive the service object.
  std::shared_ptr<Impl> impl = impl_;
  CommandTraits refresh;
  refresh.priority = Priority::high;
  refresh.locks = {"refresh"};
  registry.add<RefreshAuthor>(
      [impl](const RefreshAuthor& c, JobContext& ctx) {
        const Impl::AddedChoices choices{c.monitor, c.searchForMissingBooks, c.isNewAuthor, c.booksToMonitor};
        const bool chosen =
            c.monitor || !c.booksToMonitor.empty() || c.searchForMissingBooks || c.isNewAuthor;
        auto sum = impl->refresh_authors(c.ids(), ctx.trigger(), &ctx, chosen ? &choices : nullptr);
        ctx.complete(sum.message());
      },
      refresh);
  registry.add<RefreshBook>(
      [impl](const RefreshBook& c, JobContext& ctx) {
        auto sum = impl->refresh_books(c.bookId, ctx.trigger(), &ctx);
        ctx.complete(sum.message());
      },
      refresh);
  CommandTraits move;
  move.priority = Priority::normal;
  // `refresh` too: a refresh writes the author row it read before, and must not do so around a
  // move of that author's folder (it would put the old path back). `import` too: an import must
  // not write into the folder while it is renamed (imports hold `import`, not `disk`).
  move.locks = {"disk", "refresh", kImportLock};
  registry.add<MoveAuthor>(
      [impl](const MoveAuthor& c, JobContext& ctx) {
        move_author_folder(*impl->o.catalog, impl->o.events.get(), *impl->o.logger, c, &ctx);
      },
      move);
}

void RefreshService::register_commands(Registry& registry, ServiceContext& host) {
  // Without a bus of its own, the service publishes on its host's.
  if (!impl_->o.events) impl_->o.events = host.events();
  register_commands(registry);
}

std::vector<TaskSpec> RefreshService::tasks() const { return {*standard_task(RefreshAuthor::kName)}; }

void RefreshService::add_rules(ServiceContext& host) {
  host.rule<AuthorAdded>([](const AuthorAdded& e) {
    RefreshAuthor r;
    r.authorId = e.author.id;
    r.monitor = e.monitor;
    r.booksToMonitor = e.books_to_monitor;
    r.searchForMissingBooks = e.search_for_missing;
    r.isNewAuthor = true;
    return std::vector<PushRequest>{{RefreshAuthor::kName, nlohmann::json(r), {}}};
  });
  host.rule<BookAdded>([](const BookAdded& e) {
    if (e.from_refresh) return std::vector<PushRequest>{};
    return std::vector<PushRequest>{{RefreshBook::kName, {{"bookId", e.book.id}}, {}}};
  });
  host.rule<AuthorRenamed>([](const AuthorRenamed& e) {
    if (e.old_path.empty() || e.new_path.empty() || e.old_path == e.new_path)
      return std::vector<PushRequest>{};
    MoveAuthor m;
    m.authorId = e.author_id;
    m.sourcePath = e.old_path.string();
    m.destinationPath = e.new_path.string();
    return std::vector<PushRequest>{{MoveAuthor::kName, nlohmann::json(m), {}}};
  });
}

RefreshSummary RefreshService::refresh_author(std::optional<RowId> author_id, Trigger trigger,
                                              JobContext* ctx) {
  return impl_->refresh_authors(author_id ? std::vector<RowId>{*author_id} : std::vector<RowId>{}, trigger,
                                ctx);
}

RefreshSummary RefreshService::refresh_authors(const std::vector<RowId>& author_ids, Trigger trigger,
                                               JobContext* ctx) {
  return impl_->refresh_authors(author_ids, trigger, ctx);
}

RefreshSummary RefreshService::refresh_book(std::optional<RowId> book_id, Trigger trigger, JobContext* ctx) {
  return impl_->refresh_books(book_id, trigger, ctx);
}

void RefreshService::move_author(const MoveAuthor& command, JobContext* ctx) {
  move_author_folder(*impl_->o.catalog, impl_->o.events.get(), *impl_->o.logger, command, ctx);
}

}  // namespace shelfjobs
