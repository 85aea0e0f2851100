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

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "services/book_mapping.hpp"
#include "services/scan/match.hpp"

namespace shelfjobs {

struct LibraryService::Impl {
  LibraryOptions o;

  TimePoint now() const { return o.clock->now(); }

  template <class E>
  void publish(const E& e) {
    if (o.events) o.events->publish(e);
  }

  Status have_source() const {
    if (o.source) return Ok{};
    return Error{errc::unavailable, "no metadata source is configured"};
  }

  // Adds the author row (its name and folder from the source) without publishing AuthorAdded.
  Result<Author> new_author(const std::string& foreign_id, RowId root_folder_id, bool monitored) {
    auto root = o.catalog->root_folder(root_folder_id);
    if (!root) {
      return Error{root.error().code == errc::not_found ? errc::invalid_argument : root.error().code,
                   "root folder " + std::to_string(root_folder_id) + ": " + root.error().message};
    }
    if (auto existing = o.catalog->author_by_foreign_id(foreign_id); existing) {
      return Error{errc::conflict,
                   "author " + foreign_id + " is already in the catalog as '" + existing->name + "'"};
    }
    if (auto ok = have_source(); !ok) return ok.error();
    AuthorData data;
    try {
      data = o.source->author(foreign_id);
    } catch (const MetadataError& e) {
      Error err = to_error(e);
      if (err.code == errc::not_found)
        err.message = "author " + foreign_id + " is not known to the metadata source";
      return err;
    }
    Author a;
    a.foreign_id = data.foreign_id;
    a.name = data.name;
    a.sort_name = sort_name_of(data.name);
    a.overview = data.overview;
    a.path = root->path / safe_folder_name(data.name);
    a.root_folder_id = root->id;
    a.monitored = monitored;
    if (data.status) a.status = *data.status;
    a.added = now();
    return o.catalog->add_author(a);
  }

  std::vector<HealthIssue> check_root_folders() const {
    std::vector<HealthIssue> out;
    auto roots = o.catalog->root_folders();
    if (!roots) {
      out.push_back({"RootFolderCheck", HealthIssue::Level::error,
                     "cannot read the root folders: " + roots.error().message});
      return out;
    }
    for (const RootFolder& r : *roots) {
      std::error_code ec;
      if (!std::filesystem::is_directory(r.path, ec)) {
        out.push_back(
            {"RootFolderCheck", HealthIssue::Level::error, "Missing root folder: " + r.path.string()});
        continue;
      }
      std::filesystem::directory_iterator probe(r.path, ec);
      if (ec) {
        out.push_back({"RootFolderCheck", HealthIssue::Level::error,
                       "Root folder " + r.path.string() + " cannot be read: " + ec.message()});
      }
    }
    return out;
  }
};

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
}

std::vector<HealthCheck> LibraryService::health_checks() {
  // The check holds the Impl, not the service: it may be called while the host goes.
  return {{"RootFolderCheck", [impl = impl_] { return impl->check_root_folders(); }}};
}

std::vector<HealthIssue> LibraryService::check_root_folders() const { return impl_->check_root_folders(); }

Result<Author> LibraryService::add_author(const std::string& foreign_id, RowId root_folder_id,
                                          bool monitored) {
  auto added = impl_->new_author(foreign_id, root_folder_id, monitored);
  if (added) impl_->publish(AuthorAdded{*added});
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
      for (const SearchHit& hit : im.o.source->search(q, token)) {
        if (std::find(tried.begin(), tried.end(), hit.author_foreign_id) != tried.end()) continue;
        if (static_cast<int>(tried.size()) >= kMaxCandidates) break;
        tried.push_back(hit.author_foreign_id);
        if (auto existing = im.o.catalog->author_by_foreign_id(hit.author_foreign_id); existing) {
          if (scan::author_key(existing->name) == key)
            return Error{errc::conflict, "author '" + existing->name + "' is already in the catalog"};
          continue;
        }
        const AuthorData data = im.o.source->author(hit.author_foreign_id, token);
        if (scan::author_key(data.name) != key) continue;
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

}  // namespace shelfjobs
