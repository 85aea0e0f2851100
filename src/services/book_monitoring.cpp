// SPDX-License-Identifier: MIT
// The rules follow Readarr's BookMonitoredService, so that a client's choice means what it
// means there. Readarr orders "latest" and "first" by series volume before the release date;
// the catalog keeps no volume per book, so the release date alone decides (ties, and the
// fallback when no book has a date: the first book listed, which is books_of's order: release
// date, then title).

#include "shelfjobs/services/book_monitoring.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <string>

namespace shelfjobs {

namespace {
constexpr std::array<std::pair<BookMonitor, std::string_view>, 7> kNames{{{BookMonitor::all, "all"},
                                                                          {BookMonitor::future, "future"},
                                                                          {BookMonitor::missing, "missing"},
                                                                          {BookMonitor::existing, "existing"},
                                                                          {BookMonitor::latest, "latest"},
                                                                          {BookMonitor::first, "first"},
                                                                          {BookMonitor::none, "none"}}};

bool released(const BookFacts& b, Date today) { return b.release_date && *b.release_date <= today; }
}  // namespace

std::optional<BookMonitor> parse_book_monitor(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [m, n] : kNames) {
    if (n == lower) return m;
  }
  return std::nullopt;
}

std::string_view to_string(BookMonitor monitor) {
  for (const auto& [m, n] : kNames) {
    if (m == monitor) return n;
  }
  return "all";
}

std::vector<std::pair<RowId, bool>> decide_book_monitoring(const std::vector<BookFacts>& books,
                                                           BookMonitor monitor, Date today) {
  std::vector<std::pair<RowId, bool>> out;
  out.reserve(books.size());
  switch (monitor) {
    case BookMonitor::all:
    case BookMonitor::none:
      for (const auto& b : books) out.emplace_back(b.id, monitor == BookMonitor::all);
      break;
    case BookMonitor::future:
    case BookMonitor::missing:
    case BookMonitor::existing:
      for (const auto& b : books) {
        if (b.has_files) {
          out.emplace_back(b.id, monitor == BookMonitor::existing);
        } else if (released(b, today)) {
          out.emplace_back(b.id, monitor == BookMonitor::missing);
        }
      }
      break;
    case BookMonitor::latest:
    case BookMonitor::first: {
      // Dated books first; among them the newest (latest) or the oldest (first).
      const BookFacts* pick = nullptr;
      for (const auto& b : books) {
        if (!b.release_date) continue;
        if (!pick || (monitor == BookMonitor::latest ? *b.release_date > *pick->release_date
                                                     : *b.release_date < *pick->release_date))
          pick = &b;
      }
      if (!pick && !books.empty()) pick = &books.front();
      for (const auto& b : books) out.emplace_back(b.id, &b == pick);
      break;
    }
  }
  return out;
}

Result<std::vector<std::string>> parse_books_to_monitor(const nlohmann::json& ids, std::string_view what) {
  const std::string bad = std::string(what) + " must be a list of foreign book ids";
  if (!ids.is_array()) return Error{errc::invalid_body, bad + "; not " + ids.dump()};
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const nlohmann::json& id : ids) {
    // A parsed number that is not negative is unsigned; one built in code may be signed.
    if (id.is_string() && !id.get_ref<const std::string&>().empty())
      out.push_back(id.get<std::string>());
    else if (id.is_number_unsigned())
      out.push_back(std::to_string(id.get<std::uint64_t>()));
    else if (id.is_number_integer() && id.get<std::int64_t>() >= 0)
      out.push_back(std::to_string(id.get<std::int64_t>()));
    else
      return Error{errc::invalid_body, bad + "; not " + id.dump()};
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::pair<RowId, bool>> decide_listed_monitoring(const std::vector<BookFacts>& books,
                                                             const std::vector<std::string>& foreign_ids) {
  const std::set<std::string> listed(foreign_ids.begin(), foreign_ids.end());
  std::vector<std::pair<RowId, bool>> out;
  out.reserve(books.size());
  for (const auto& b : books) out.emplace_back(b.id, listed.contains(b.foreign_id));
  return out;
}

Result<std::vector<Book>> apply_book_monitoring(Catalog& catalog, RowId author_id, BookMonitor monitor,
                                                Date today,
                                                const std::vector<std::string>& books_to_monitor) {
  auto books = catalog.books_of(author_id);
  if (!books) return books.error();
  if (books->empty()) {
    // No book: the author may not exist at all.
    if (auto a = catalog.author(author_id); !a) return a.error();
    return std::vector<Book>{};
  }
  // Which books have files matters to the rule only, not to a list of books.
  std::set<RowId> with_files;
  if (books_to_monitor.empty()) {
    auto files = catalog.files_of_author(author_id);
    if (!files) return files.error();
    for (const BookFile& f : *files) {
      if (f.book_id != 0) with_files.insert(f.book_id);
    }
  }
  std::vector<BookFacts> facts;
  facts.reserve(books->size());
  for (const Book& b : *books)
    facts.push_back({b.id, b.release_date, with_files.contains(b.id), b.foreign_id});
  // One transaction for all the books (a moment with two "latest" books monitored, or half a
  // choice applied, is never seen); it writes and returns only those whose state changes, so
  // their events say what changed.
  return catalog.set_books_monitoring(books_to_monitor.empty()
                                          ? decide_book_monitoring(facts, monitor, today)
                                          : decide_listed_monitoring(facts, books_to_monitor));
}

}  // namespace shelfjobs
