// SPDX-License-Identifier: MIT
// The library service: adding authors and books by hand, and the root folders' health.
//
// Why it is shaped this way:
//   - An add answers a person, not a retrying job: the source's failure comes back as an error
//     value that says what happened upstream (to_error), so an API can answer 503 for a source
//     that is down and 404 for an id it does not know, instead of one "bad request" for all.
//   - An add writes only what it fetched in its one request and publishes AuthorAdded or
//     BookAdded; the books of a new author come with the refresh that the event triggers, so a
//     slow source never holds the person's request for a whole bibliography.
#include "shelfjobs/services/library.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "services/book_mapping.hpp"
#include "services/library_impl.hpp"
#include "services/scan/match.hpp"

namespace shelfjobs {

namespace {
namespace fs = std::filesystem;
using library_detail::normal;
using library_detail::strictly_inside;
}  // namespace

Result<std::shared_ptr<LibraryService>> LibraryService::create(LibraryOptions options) {
  if (!options.catalog) return Error{errc::invalid_argument, "library: a catalog is required"};
  if (!options.clock) options.clock = std::make_shared<SystemClock>();
  if (!options.logger) {
    options.logger =
        std::make_shared<spdlog::logger>("library", std::make_shared<spdlog::sinks::null_sink_mt>());
  }
  auto impl = std::make_shared<Impl>();
  impl->o = std::move(options);
  return std::shared_ptr<LibraryService>(new LibraryService(std::move(impl)));
}

LibraryService::LibraryService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

void LibraryService::register_commands(Registry&, ServiceContext& host) {
  // No commands yet: the library scan brings them. Without a bus of its own, the service
  // publishes on its host's.
  if (!impl_->o.events) impl_->o.events = host.events();
  impl_->host = host.weak_from_this();
}

std::vector<HealthCheck> LibraryService::health_checks() {
  // The check holds the Impl, not the service: it may be called while the host goes.
  return {{"RootFolderCheck", [impl = impl_] { return impl->check_root_folders(); }}};
}

std::vector<HealthIssue> LibraryService::check_root_folders() const { return impl_->check_root_folders(); }

Result<Author> LibraryService::add_author(const std::string& foreign_id, RowId root_folder_id,
                                          AddAuthorOptions options) {
  auto added = impl_->new_author(foreign_id, root_folder_id, options.monitored);
  if (added)
    impl_->publish(
        AuthorAdded{*added, options.monitor, options.search_for_missing, options.books_to_monitor});
  return added;
}

Result<Author> LibraryService::add_author_by_name(std::string_view name, std::string_view title,
                                                  RowId root_folder_id, std::stop_token token) {
  Impl& im = *impl_;
  const std::string key = scan::author_key(name);
  if (key.empty()) return Error{errc::invalid_argument, "no author name to look for"};
  if (auto ok = im.have_source(); !ok) return ok.error();
  std::vector<std::string> queries;
  if (!title.empty()) queries.push_back(std::string(title) + " " + std::string(name));
  queries.push_back(std::string(name));
  // Search hits name authors by id only: each candidate costs a fetch (cached, and the refresh
  // that AuthorAdded starts reads the same answer), so only the first few are looked at.
  constexpr int kMaxCandidates = 5;
  std::vector<std::string> tried;
  try {
    for (const auto& q : queries) {
      std::vector<SearchHit> hits;
      try {
        hits = im.o.source->search(q, token);
      } catch (const MetadataError& e) {
        // A search answers with hits or none; a 404 means the source (or a proxy in front of
        // it) is not serving searches, not that nobody has the name: callers remember a
        // not_found (addNewAuthors waits a day before asking again).
        if (e.code() != MetadataErrc::not_found) throw;
        return Error{errc::upstream_error,
                     std::string("metadata source: the search is not served: ") + e.what()};
      }
      for (const SearchHit& hit : hits) {
        if (std::find(tried.begin(), tried.end(), hit.author_foreign_id) != tried.end()) continue;
        if (static_cast<int>(tried.size()) >= kMaxCandidates) break;
        tried.push_back(hit.author_foreign_id);
        if (auto existing = im.o.catalog->author_by_foreign_id(hit.author_foreign_id); existing) {
          if (scan::author_key(existing->name) == key)
            return Error{errc::conflict, "author '" + existing->name + "' is already in the catalog"};
          continue;
        }
        AuthorData data;
        try {
          data = im.o.source->author(hit.author_foreign_id, token);
        } catch (const MetadataError& e) {
          if (e.code() != MetadataErrc::not_found) throw;
          continue;  // a hit the source no longer knows (merged, removed): the next one may do
        }
        if (scan::author_key(data.name) != key) continue;
        // A person removed this author and asked for it to stay away (remove_author's exclude).
        auto excluded = im.o.catalog->excluded({data.foreign_id}, ExclusionKind::author);
        if (!excluded) return excluded.error();
        if (!excluded->empty())
          return Error{errc::conflict,
                       "author '" + data.name + "' (" + data.foreign_id + ") is on the exclusion list"};
        auto added = im.new_author(data.foreign_id, root_folder_id, /*monitored=*/true);
        if (added) im.publish(AuthorAdded{*added});
        return added;
      }
    }
  } catch (const MetadataError& e) {
    return to_error(e);
  }
  return Error{errc::not_found, "the metadata source knows no author named '" + std::string(name) + "'"};
}

Result<Book> LibraryService::add_book(const std::string& work_foreign_id, RowId root_folder_id,
                                      bool monitored) {
  Impl& im = *impl_;
  if (auto existing = im.o.catalog->book_by_foreign_id(work_foreign_id); existing) {
    return Error{errc::conflict,
                 "book " + work_foreign_id + " is already in the catalog as '" + existing->title + "'"};
  }
  if (auto ok = im.have_source(); !ok) return ok.error();
  WorkData work;
  try {
    work = im.o.source->work(work_foreign_id);
  } catch (const MetadataError& e) {
    Error err = to_error(e);
    if (err.code == errc::not_found)
      err.message = "book " + work_foreign_id + " is not known to the metadata source";
    return err;
  }
  if (work.authors.empty()) {
    return Error{errc::upstream_error, "metadata source: work " + work_foreign_id + " names no author"};
  }
  auto author = im.o.catalog->author_by_foreign_id(work.authors.front().foreign_id);
  bool new_author = false;
  if (!author) {
    if (author.error().code != errc::not_found) return author.error();
    // Readarr's way: the book's author comes along, unmonitored, so only this book is wanted.
    // AuthorAdded is published after the book is in: its refresh then finds the book.
    author = im.new_author(work.authors.front().foreign_id, root_folder_id, false);
    if (!author) return author.error();
    new_author = true;
  }
  Book b = book_from(work, author->id, nullptr, im.now(), monitored);
  b.manually_added = true;
  auto added = im.o.catalog->add_book(book_write(std::move(b), work));
  if (!added) {
    // The author came only for this book: without it, it goes too.
    if (new_author) (void)im.o.catalog->remove_author(author->id);
    return added.error();
  }
  if (new_author) im.publish(AuthorAdded{*author});
  im.publish(BookAdded{*added, false});
  return added;
}

// ------------------------------------------------------------------ lookups

namespace {
// "prefix:ID" (any case of the prefix, spaces around the id allowed): the id; else empty.
std::string named_id(std::string_view term, std::initializer_list<std::string_view> prefixes) {
  for (std::string_view p : prefixes) {
    if (term.size() <= p.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < p.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(term[i])) == p[i];
    if (!same) continue;
    std::string_view id = term.substr(p.size());
    while (!id.empty() && id.front() == ' ') id.remove_prefix(1);
    while (!id.empty() && id.back() == ' ') id.remove_suffix(1);
    if (!id.empty()) return std::string(id);
  }
  return {};
}

// The ids `pick` takes from the search hits for `term`, in hit order, each once, at most `limit`.
template <class Pick>
std::vector<std::string> hit_ids(MetadataSource& source, std::string_view term, std::size_t limit,
                                 std::stop_token token, Pick pick) {
  std::vector<std::string> ids;
  for (const SearchHit& hit : source.search(term, token)) {
    const std::string id = pick(hit);
    if (id.empty() || std::find(ids.begin(), ids.end(), id) != ids.end()) continue;
    ids.push_back(id);
    if (ids.size() == limit) break;
  }
  return ids;
}
// One lookup: the ids a term names ("prefix:ID") or its search hits give, each fetched.
template <class Data, class Pick, class Fetch>
Result<std::vector<Data>> lookup(MetadataSource* source, std::string_view term, std::size_t limit,
                                 std::stop_token token, std::initializer_list<std::string_view> prefixes,
                                 Pick pick, Fetch fetch) {
  if (term.empty() || limit == 0) return Error{errc::invalid_argument, "a lookup needs a term and a limit"};
  if (!source) return Error{errc::unavailable, "no metadata source is configured"};
  std::vector<Data> out;
  try {
    std::vector<std::string> ids;
    if (std::string id = named_id(term, prefixes); !id.empty()) {
      ids.push_back(std::move(id));
    } else {
      ids = hit_ids(*source, term, limit, token, pick);
    }
    for (const auto& id : ids) out.push_back(fetch(*source, id));
  } catch (const MetadataError& e) {
    return to_error(e);
  }
  return out;
}
}  // namespace

Result<std::vector<AuthorData>> LibraryService::find_authors(std::string_view term, std::size_t limit,
                                                             std::stop_token token) {
  return lookup<AuthorData>(
      impl_->o.source.get(), term, limit, token, {"author:", "readarr:"},
      [](const SearchHit& h) { return h.author_foreign_id; },
      [&](MetadataSource& s, const std::string& id) { return s.author(id, token); });
}

Result<std::vector<WorkData>> LibraryService::find_books(std::string_view term, std::size_t limit,
                                                         std::stop_token token) {
  return lookup<WorkData>(
      impl_->o.source.get(), term, limit, token, {"work:", "readarr:"},
      [](const SearchHit& h) { return h.work_foreign_id; },
      [&](MetadataSource& s, const std::string& id) { return s.work(id, token); });
}

// Hits in order: a hit's author the first time it comes, then its work. Each entry is one
// fetch (served from the cache after), as in the two lookups above.
Result<std::vector<LibraryService::Found>> LibraryService::find(std::string_view term, std::size_t limit,
                                                                std::stop_token token) {
  if (std::string id = named_id(term, {"author:"}); !id.empty()) {
    auto a = find_authors(term, 1, token);
    if (!a) return a.error();
    return std::vector<Found>{Found{.author = std::move(a->at(0))}};
  }
  if (std::string id = named_id(term, {"work:"}); !id.empty()) {
    auto w = find_books(term, 1, token);
    if (!w) return w.error();
    return std::vector<Found>{Found{.work = std::move(w->at(0))}};
  }
  if (term.empty() || limit == 0) return Error{errc::invalid_argument, "a lookup needs a term and a limit"};
  MetadataSource* source = impl_->o.source.get();
  if (!source) return Error{errc::unavailable, "no metadata source is configured"};
  std::vector<Found> out;
  try {
    std::vector<std::string> authors, works;
    for (const SearchHit& hit : source->search(term, token)) {
      if (hit.work_foreign_id.empty() ||
          std::find(works.begin(), works.end(), hit.work_foreign_id) != works.end())
        continue;
      if (!hit.author_foreign_id.empty() &&
          std::find(authors.begin(), authors.end(), hit.author_foreign_id) == authors.end()) {
        authors.push_back(hit.author_foreign_id);
        out.push_back(Found{.author = source->author(hit.author_foreign_id, token)});
      }
      works.push_back(hit.work_foreign_id);
      out.push_back(Found{.work = source->work(hit.work_foreign_id, token)});
      if (works.size() == limit) break;
    }
  } catch (const MetadataError& e) {
    return to_error(e);
  }
  return out;
}

// ------------------------------------------------------------------ a person's edits

Result<RootFolder> LibraryService::add_root_folder(const std::filesystem::path& path, std::string name) {
  if (!path.is_absolute())
    return Error{errc::invalid_argument, "root folder '" + path.string() + "' is not an absolute path"};
  if (path.native().find('\0') != std::string::npos)
    return Error{errc::invalid_argument, "a root folder path cannot hold a NUL byte"};
  const fs::path p = normal(path);
  std::error_code ec;
  const auto st = fs::status(p, ec);
  if (!fs::exists(st))
    return Error{errc::invalid_argument, "root folder '" + p.string() + "' does not exist"};
  if (!fs::is_directory(st))
    return Error{errc::invalid_argument, "root folder '" + p.string() + "' is not a folder"};
  fs::directory_iterator probe(p, ec);
  if (ec) {
    return Error{errc::invalid_argument, "root folder '" + p.string() + "' cannot be read: " + ec.message()};
  }
  auto added = impl_->o.catalog->add_root_folder(p, std::move(name));
  if (!added) return added;
  // Authors whose root folder was removed and whose folders lie here are linked to it now.
  if (auto authors = impl_->o.catalog->authors()) {
    for (const Author& a : *authors)
      if (a.root_folder_id == added->id) impl_->publish(AuthorEdited{a});
  } else {
    impl_->o.logger->warn("root folder {} added, but its authors could not be read to tell of it: {}",
                          added->path.string(), authors.error().message);
  }
  return added;
}

Result<RootFolder> LibraryService::remove_root_folder(RowId id) {
  // Its authors are read first: once it is gone, nothing says which they were.
  std::vector<RowId> linked;
  if (auto authors = impl_->o.catalog->authors()) {
    for (const Author& a : *authors)
      if (a.root_folder_id == id) linked.push_back(a.id);
  } else {
    impl_->o.logger->warn("root folder {}: its authors could not be read to tell of its removal: {}", id,
                          authors.error().message);
  }
  auto removed = impl_->o.catalog->remove_root_folder(id);
  if (!removed) return removed;
  impl_->o.logger->info("root folder removed: {}", removed->path.string());
  for (RowId author_id : linked)
    if (auto now = impl_->o.catalog->author(author_id)) impl_->publish(AuthorEdited{*now});
  return removed;
}

Result<RootFolder> LibraryService::root_folder_of(const std::filesystem::path& path) const {
  if (path.native().find('\0') != std::string::npos)
    return Error{errc::invalid_argument, "a folder path cannot hold a NUL byte"};
  return impl_->root_containing(normal(path));
}

Result<RootFolder> LibraryService::check_author_folder(RowId author_id,
                                                       const std::filesystem::path& folder) const {
  if (!folder.is_absolute())
    return Error{errc::invalid_argument, "author folder '" + folder.string() + "' is not an absolute path"};
  return impl_->author_folder_ok(normal(folder), author_id);
}

Result<Author> LibraryService::set_author_monitored(RowId author_id, bool monitored) {
  auto author = impl_->o.catalog->set_author_monitored(author_id, monitored);
  if (author) impl_->publish(AuthorEdited{*author});
  return author;
}

Result<Author> LibraryService::set_author_path(RowId author_id, const std::filesystem::path& path) {
  Impl& im = *impl_;
  if (!path.is_absolute())
    return Error{errc::invalid_argument, "author folder '" + path.string() + "' is not an absolute path"};
  const fs::path p = normal(path);
  auto author = im.o.catalog->author(author_id);
  if (!author) return author.error();
  auto root = im.author_folder_ok(p, author_id);
  if (!root) return root.error();
  if (normal(author->path) == p && author->root_folder_id == root->id) return author;
  // The path alone: a whole row read here would put back whatever a refresh wrote meanwhile.
  auto now = im.o.catalog->set_author_path(author_id, p, /*only_if_unset=*/false);
  if (now) im.publish(AuthorEdited{*now});
  return now;
}

Result<std::vector<Book>> LibraryService::set_book_monitoring(
    RowId author_id, BookMonitor monitor, const std::vector<std::string>& books_to_monitor) {
  Impl& im = *impl_;
  const auto today = std::chrono::floor<std::chrono::days>(im.o.clock->now());
  auto changed = apply_book_monitoring(*im.o.catalog, author_id, monitor, today, books_to_monitor);
  if (changed) {
    for (const Book& b : *changed) im.publish(BookEdited{b});
  }
  return changed;
}

Result<std::vector<Book>> LibraryService::set_books_monitored(const std::vector<RowId>& ids, bool monitored) {
  auto books = impl_->o.catalog->set_books_monitored(ids, monitored);
  if (books) {
    for (const Book& b : *books) impl_->publish(BookEdited{b});
  }
  return books;
}

// Files first, then the author: the catalog never deletes an author that files are linked to,
// so that no file row is lost by accident; here a person asked for it, and the rows of files that
// stay on disk are kept, unmapped, for a scan to show.
}  // namespace shelfjobs
