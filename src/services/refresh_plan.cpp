// SPDX-License-Identifier: MIT
// Refresh planning as pure functions. Why separate from the service: the rules (what a refresh
// may write, keep or delete) are the part users rely on and the part that used to go wrong in
// Readarr (deleting during outages), so they are stated once, here, and tested as tables
// without a catalog, a server or a clock.
#include "services/refresh_plan.hpp"

#include <set>

#include "services/book_mapping.hpp"

namespace shelfjobs::detail {

std::vector<std::string> works_new_to(const std::vector<Book>& local, const AuthorData& fetched) {
  std::set<std::string> have;
  for (const Book& b : local) have.insert(b.foreign_id);
  std::vector<std::string> out;
  for (const WorkData& w : fetched.works) {
    if (have.insert(w.foreign_id).second) out.push_back(w.foreign_id);
  }
  return out;
}

std::vector<RowId> books_gone_upstream(const std::vector<Book>& local, const AuthorData& fetched) {
  std::set<std::string> remote;
  for (const WorkData& w : fetched.works) remote.insert(w.foreign_id);
  std::vector<RowId> out;
  for (const Book& b : local) {
    if (!remote.contains(b.foreign_id) && !b.manually_added) out.push_back(b.id);
  }
  return out;
}

AuthorPlan plan_author(Author author, const AuthorData& fetched, const LocalFacts& local, RowId merged_from,
                       TimePoint now, std::chrono::hours min_age) {
  AuthorPlan plan;
  if (merged_from == 0 && fetched.hash == author.metadata_hash && author.foreign_id == fetched.foreign_id) {
    if (!author.last_info_sync || *author.last_info_sync < now - min_age) {
      author.last_info_sync = now;
      plan.w.author = author;
      plan.write = true;
    }
    return plan;
  }
  plan.write = true;
  plan.changed = true;
  plan.w.merge_from = merged_from;
  if (!author.name.empty() && author.name != fetched.name) plan.renamed_from = author.name;
  author.foreign_id = fetched.foreign_id;
  author.name = fetched.name;
  author.sort_name = sort_name_of(fetched.name);
  author.overview = fetched.overview;
  if (fetched.status) author.status = *fetched.status;
  author.metadata_hash = fetched.hash;
  author.last_info_sync = now;
  plan.w.author = author;

  std::map<std::string, const Book*> by_fid;
  for (const Book& b : local.books) by_fid[b.foreign_id] = &b;
  std::set<std::string> remote;
  for (const WorkData& work : fetched.works) {
    if (!remote.insert(work.foreign_id).second) continue;  // repeated upstream: once
    const Book* known = nullptr;
    if (auto it = by_fid.find(work.foreign_id); it != by_fid.end()) {
      known = it->second;
      if (known->metadata_hash == work.hash && known->author_id == author.id) continue;
    } else if (auto moved = local.elsewhere.find(work.foreign_id); moved != local.elsewhere.end()) {
      known = &moved->second;  // it moved upstream: here now, with its files
    }
    if (known) {
      plan.w.books.push_back(book_write(book_from(work, author.id, known, now, author.monitored), work));
      ++plan.updated;
      continue;
    }
    plan.added.push_back(plan.w.books.size());
    plan.w.books.push_back(book_write(book_from(work, author.id, nullptr, now, author.monitored), work));
    plan.w.books.back().monitored_as_author = true;  // as the author is when the write runs
  }
  for (const Book& b : local.books) {
    if (remote.contains(b.foreign_id) || b.manually_added) continue;
    const auto files = local.files.find(b.id);
    if (files != local.files.end() && files->second > 0) {
      plan.kept_with_files.push_back(b);
      continue;
    }
    plan.w.removed_books.push_back(b.id);
  }
  return plan;
}

BookPlan plan_book(const Book& book, const WorkData& fetched, TimePoint now, std::chrono::hours min_age) {
  BookPlan plan;
  plan.changed = fetched.hash != book.metadata_hash;
  // Unchanged: nothing to write, unless the last check is older than the minimum age. Then the
  // fetched work (equal to what is stored, editions and series included) is written with the
  // new sync time; the catalog leaves its matching editions and links alone.
  if (!plan.changed && book.last_info_sync && *book.last_info_sync >= now - min_age) return plan;
  plan.write = true;
  plan.w.books.push_back(book_write(book_from(fetched, book.author_id, &book, now, book.monitored), fetched));
  return plan;
}

NotFound decide_not_found(std::int64_t files, bool added_by_hand, bool defer) {
  if (files > 0) return NotFound::keep_has_files;
  if (added_by_hand) return NotFound::keep_added_by_hand;
  return defer ? NotFound::remove_at_end : NotFound::remove;
}

bool removal_guarded(int missing, int asked, int guard_min, double guard_share) {
  return missing >= guard_min && static_cast<double>(missing) > guard_share * asked;
}

}  // namespace shelfjobs::detail
