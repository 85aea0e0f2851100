// SPDX-License-Identifier: MIT
// The library scan service: RescanFolders, its task and its rule. The walk and the writes are
// folder_scan.cpp's; this file decides what to scan and guards the roots.
//
// A root folder that is missing or empty is never scanned: an unmounted drive or a dead network
// share looks exactly like that, and scanning it would remove every file of the library from
// the catalog. The scan skips it with a warning. In health, RootFolderCheck (the library
// service) shows a missing root; an empty one is not wrong in itself (a new library), so this
// service's LibraryScanCheck shows it only when the catalog has authors there: then it is a
// library whose files are not where they were, most likely a drive that is not mounted.

#include "shelfjobs/services/library_scan.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <system_error>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "services/scan/folder_scan.hpp"
#include "services/scan/match.hpp"
#include "services/service_util.hpp"
#include "shelfjobs/adapters/calibre_library.hpp"
#include "shelfjobs/adapters/library_walk.hpp"
#include "shelfjobs/services/tasks.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;

const char* to_string(ScanFilter filter) noexcept {
  switch (filter) {
    case ScanFilter::all: return "all";
    case ScanFilter::known: return "known";
    case ScanFilter::matched: return "matched";
  }
  return "known";
}

namespace {

ScanFilter filter_from_json(const nlohmann::json& j) {
  if (j.is_number_integer()) {
    // Readarr's enum values: None = 0, Known = 1, Matched = 2.
    switch (j.get<int>()) {
      case 0: return ScanFilter::all;
      case 1: return ScanFilter::known;
      case 2: return ScanFilter::matched;
      default:
        throw std::invalid_argument("filter: " + j.dump() + " is not 0 (none), 1 (known) or 2 (matched)");
    }
  }
  if (!j.is_string()) throw std::invalid_argument("filter: expected a string such as \"known\"");
  std::string s = j.get<std::string>();
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "none" || s == "all") return ScanFilter::all;
  if (s == "known") return ScanFilter::known;
  if (s == "matched") return ScanFilter::matched;
  throw std::invalid_argument("filter: \"" + j.get<std::string>() + "\" is not none, known or matched");
}

ErrorKind kind_for(const Error& e) {
  switch (e.code) {
    case errc::cancelled: return ErrorKind::cancelled;
    case errc::store_error: return ErrorKind::database;
    case errc::unavailable: return ErrorKind::filesystem;
    default: return ErrorKind::permanent;
  }
}

}  // namespace

void to_json(nlohmann::json& j, const RescanFolders& c) {
  j = {{"folders", c.folders},
       {"filter", to_string(c.filter)},
       {"addNewAuthors", c.addNewAuthors},
       {"authorIds", c.authorIds}};
}

void from_json(const nlohmann::json& j, RescanFolders& c) {
  c = RescanFolders{};
  if (auto it = j.find("folders"); it != j.end() && !it->is_null()) it->get_to(c.folders);
  if (auto it = j.find("filter"); it != j.end() && !it->is_null()) c.filter = filter_from_json(*it);
  if (auto it = j.find("addNewAuthors"); it != j.end() && !it->is_null()) it->get_to(c.addNewAuthors);
  if (auto it = j.find("authorIds"); it != j.end() && !it->is_null()) it->get_to(c.authorIds);
}

std::string ScanSummary::message() const {
  std::string m = "Scanned " + std::to_string(files) + " files in " + std::to_string(folders) +
                  " folders: " + std::to_string(added) + " new, " + std::to_string(changed) + " changed, " +
                  std::to_string(unchanged) + " unchanged, " + std::to_string(removed) + " removed, " +
                  std::to_string(unmapped) + " unmapped, " + std::to_string(unreadable) + " unreadable";
  if (problems > 0) m += ", " + std::to_string(problems) + " folders or entries unreadable";
  for (const auto& s : skipped_roots) m += "; skipped " + s;
  if (!new_authors.empty()) {
    m += "; added " + std::to_string(new_authors.size()) +
         (new_authors.size() == 1 ? " author: " : " authors: ");
    for (std::size_t i = 0; i < new_authors.size(); ++i) m += (i ? ", " : "") + new_authors[i];
  }
  return m;
}

void to_json(nlohmann::json& j, const ScanSummary& s) {
  j = {{"folders", s.folders},
       {"files", s.files},
       {"added", s.added},
       {"changed", s.changed},
       {"unchanged", s.unchanged},
       {"removed", s.removed},
       {"unmapped", s.unmapped},
       {"unreadable", s.unreadable},
       {"problems", s.problems},
       {"skippedRoots", s.skipped_roots},
       {"newAuthors", s.new_authors},
       {"message", s.message()}};
}

void to_json(nlohmann::json& j, const BookFileDeleted& e) {
  j = {{"bookFileId", e.file.id},
       {"authorId", e.file.author_id},
       {"bookId", e.file.book_id},
       {"path", display_path(e.file.path)},
       {"reason", e.reason}};
}

void to_json(nlohmann::json& j, const BookFileAdded& e) {
  j = {{"bookFileId", e.file.id},
       {"authorId", e.file.author_id},
       {"bookId", e.file.book_id},
       {"path", display_path(e.file.path)}};
}

void to_json(nlohmann::json& j, const LibraryScanned& e) {
  to_json(j, e.summary);
  j["authorIds"] = e.author_ids;
}

// ---- the service ------------------------------------------------------------------------------

struct LibraryScanService::Impl {
  ScanOptions o;
  std::shared_ptr<spdlog::logger> log;
  mutable std::mutex last_mu;
  std::optional<ScanSummary> last;
  std::set<std::string> empty_roots;  // under last_mu: the roots whose latest scan found them empty
  // addNewAuthors' names that could not be added (author_key), and when each may be tried again.
  std::mutex unadded_mu;
  std::map<std::string, std::chrono::steady_clock::time_point> unadded;  // under unadded_mu

  void note_root(const fs::path& root, bool empty) {
    std::lock_guard lock(last_mu);
    if (empty)
      empty_roots.insert(catalog_path(root));
    else
      empty_roots.erase(catalog_path(root));
  }

  std::vector<HealthIssue> check() const {
    std::set<std::string> roots;
    {
      std::lock_guard lock(last_mu);
      roots = empty_roots;
    }
    std::vector<HealthIssue> out;
    if (roots.empty()) return out;
    auto authors = o.catalog->authors();
    auto current = o.catalog->root_folders();
    if (!authors || !current) {
      out.push_back({"LibraryScanCheck", HealthIssue::Level::error,
                     "cannot read the authors and root folders: " +
                         (!authors ? authors.error().message : current.error().message)});
      return out;
    }
    for (const auto& root : roots) {
      // A root folder removed since its scan is no longer the library's to warn about.
      if (std::none_of(current->begin(), current->end(),
                       [&](const RootFolder& r) { return catalog_path(r.path) == root; }))
        continue;
      const auto n = std::count_if(authors->begin(), authors->end(), [&](const Author& a) {
        return !a.path.empty() && path_is_under(catalog_path(a.path), root);
      });
      if (n == 0) continue;
      out.push_back({"LibraryScanCheck", HealthIssue::Level::warning,
                     "Root folder " + display_path(root) + " was empty at the last library scan, though " +
                         std::to_string(n) + (n == 1 ? " author lives" : " authors live") +
                         " there: nothing under it was scanned or removed (is the drive mounted?)"});
    }
    return out;
  }

  template <class E>
  void publish(const E& e) {
    if (o.events) o.events->publish(e);
  }

  struct Target {
    RootFolder root;
    fs::path scope;
  };

  // addNewAuthors: one lookup per author that unmapped files of the scanned folders name (the
  // first such file's title helps the search). After the walk, not during it: the lookups are
  // network calls and the walk must not wait on them; the files are linked by the rescan that
  // each new author's refresh triggers.
  void add_new_authors(const std::vector<Target>& scanned, ScanSummary& summary, JobContext* ctx) {
    if (!o.library) {
      log->warn(
          "library scan: addNewAuthors needs the library service (ScanOptions::library); "
          "files of unknown authors stay unmapped");
      return;
    }
    struct Wanted {
      std::string name, title;
      RowId root = 0;
    };
    std::map<std::string, Wanted> wanted;  // by author_key: one lookup per author
    bool more = false;
    // Names a recent scan could not add wait, unless a person started this scan (after removing
    // an exclusion or an author, say): then every name gets its lookup again.
    std::set<std::string> waiting;
    const bool by_person = ctx && ctx->trigger() == Trigger::manual;
    {
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard lock(unadded_mu);
      std::erase_if(unadded, [&](const auto& u) { return by_person || u.second <= now; });
      for (const auto& u : unadded) waiting.insert(u.first);
    }
    std::set<std::string> passed_over;
    for (const auto& t : scanned) {
      auto st = o.catalog->for_each_file_under(t.scope, [&](const BookFile& f) {
        if (f.book_id != 0 || f.author_id != 0 || f.author.empty()) return;
        std::string key = scan::author_key(f.author);
        if (key.empty() || wanted.count(key)) return;
        if (waiting.count(key)) {
          passed_over.insert(std::move(key));
          return;
        }
        if (static_cast<int>(wanted.size()) >= o.max_new_authors) {
          more = true;
          return;
        }
        wanted.emplace(std::move(key), Wanted{f.author, f.title, t.root.id});
      });
      if (!st) {
        log->warn("library scan: cannot list unmapped files for addNewAuthors: {}", st.error().message);
        return;
      }
    }
    if (!passed_over.empty())
      log->info(
          "library scan: addNewAuthors passes over {} names a recent scan could not add (a scan a person "
          "starts looks them up again)",
          passed_over.size());
    if (more)
      log->info("library scan: addNewAuthors looks up {} unknown authors now, the rest at the next scan",
                o.max_new_authors);
    for (const auto& [key, w] : wanted) {
      if (ctx && ctx->cancelled()) return;
      auto added =
          o.library->add_author_by_name(w.name, w.title, w.root, ctx ? ctx->token() : std::stop_token{});
      if (added) {
        log->info("library scan: added author '{}' ({}), named by files in the library", added->name,
                  added->foreign_id);
        summary.new_authors.push_back(added->name);
        continue;
      }
      if (added.error().code == errc::not_found || added.error().code == errc::conflict) {
        log->info("library scan: author '{}' not added: {}", w.name, added.error().message);
        if (o.retry_unadded_after.count() > 0) {
          std::lock_guard lock(unadded_mu);
          unadded[key] = std::chrono::steady_clock::now() + o.retry_unadded_after;
        }
        continue;
      }
      // The source is down or asks to wait: the next scan tries again.
      log->warn("library scan: looking up new authors stopped: {}", added.error().message);
      return;
    }
  }

  Result<ScanSummary> rescan(const RescanFolders& c, JobContext* ctx) {
    auto roots = o.catalog->root_folders();
    if (!roots) return roots.error();
    auto authors = o.catalog->authors();
    if (!authors) return authors.error();

    std::vector<Target> targets;
    auto root_of = [&](const fs::path& folder) -> std::optional<RootFolder> {
      std::optional<RootFolder> best;
      const std::string f = catalog_path(folder);
      for (const auto& r : *roots)
        if (path_is_under(f, catalog_path(r.path)) &&
            (!best || r.path.string().size() > best->path.string().size()))
          best = r;
      return best;
    };
    auto add_folder = [&](const fs::path& folder) -> Status {
      if (!folder.is_absolute())
        return Error{errc::invalid_argument, "folder \"" + folder.string() + "\" is not an absolute path"};
      auto root = root_of(folder);
      if (!root)
        return Error{errc::invalid_argument, "folder \"" + display_path(folder) +
                                                 "\" is in no root folder; add its root folder first"};
      targets.push_back({*root, fs::path(catalog_path(folder))});
      return Ok{};
    };
    for (const auto& f : c.folders)
      if (auto st = add_folder(f); !st) return st.error();
    std::vector<std::string> unrooted;  // authors' folders in no root folder, left alone
    if (c.folders.empty() && !c.authorIds.empty()) {
      // The authors' folders only: one author's rescan never walks the whole library.
      for (RowId id : c.authorIds) {
        auto a = std::find_if(authors->begin(), authors->end(), [&](const Author& x) { return x.id == id; });
        if (a == authors->end()) return Error{errc::not_found, "author " + std::to_string(id)};
        if (a->path.empty()) continue;  // no folder yet: nothing on disk to scan
        if (!root_of(a->path)) {
          // Its root folder was removed (LibraryService::remove_root_folder): the others of the
          // same rescan still go, and this one is named in the summary.
          unrooted.push_back("author '" + a->name + "': its folder " + display_path(a->path) +
                             " is in no root folder");
          log->warn("library scan: {}; not scanned", unrooted.back());
          continue;
        }
        if (auto st = add_folder(a->path); !st) return st.error();
      }
    }
    const bool full = c.folders.empty() && c.authorIds.empty();
    if (full)
      for (const auto& r : *roots) targets.push_back({r, fs::path(catalog_path(r.path))});

    scan::LazyBookIndex index(*o.catalog);
    std::map<std::string, scan::RunState::FolderAuthor> author_folders;
    for (const auto& a : *authors)
      if (!a.path.empty())
        author_folders.emplace(catalog_path(a.path), scan::RunState::FolderAuthor{a.id, a.name});

    ScanSummary summary;
    summary.skipped_roots = std::move(unrooted);
    scan::RunState run{*o.catalog, index, author_folders, *log, ctx, c.filter, o, summary};
    run.deleted = [this](const BookFileDeleted& e) { publish(e); };
    run.added = [this](const BookFileAdded& e) { publish(e); };

    // Roots first checked, then counted for "k of N folders".
    std::vector<Target> ready;
    for (auto& t : targets) {
      std::error_code ec;
      const fs::path& root = t.root.path;
      if (!fs::is_directory(root, ec)) {
        const std::string state = !ec ? std::string("it is not a folder")
                                  : ec == std::errc::no_such_file_or_directory
                                      ? std::string("it does not exist")
                                      : "it cannot be read: " + ec.message();
        const std::string why =
            "root folder " + display_path(root) + " (" + state + "): nothing under it was changed";
        log->warn("library scan: {}", why);
        summary.skipped_roots.push_back(why);
        continue;
      }
      const bool empty = fs::directory_iterator(root, ec) == fs::directory_iterator() && !ec;
      note_root(root, empty);
      if (empty) {
        const std::string why = "root folder " + display_path(root) +
                                " (it is empty, as an unmounted drive is): nothing under it was changed";
        log->warn("library scan: {}", why);
        summary.skipped_roots.push_back(why);
        continue;
      }
      if (catalog_path(t.scope) == catalog_path(root)) {
        auto n = count_author_folders(root);
        run.folders_total += n ? static_cast<std::int64_t>(*n) : 0;
      } else {
        run.folders_total += 1;
      }
      ready.push_back(std::move(t));
    }

    for (const auto& t : ready) {
      if (ctx && ctx->cancelled()) return Error{errc::cancelled, "the library scan was cancelled"};
      const bool whole_root = catalog_path(t.scope) == catalog_path(t.root.path);
      Status st = Ok{};
      try {
        st = whole_root && CalibreLibrary::is_library(t.root.path)
                 ? scan::scan_calibre(run, t.root.path)
                 : scan::scan_folder(run, t.root.path, t.scope);
      } catch (const JobError& e) {
        return Error{e.kind() == ErrorKind::database ? errc::store_error : errc::cancelled, e.what()};
      }
      if (!st) {
        if (st.error().code == errc::cancelled || st.error().code == errc::store_error) return st.error();
        // This folder could not be scanned (unreadable, a broken Calibre database): the
        // others still are.
        const std::string why = display_path(t.scope) + " (" + st.error().message + ")";
        log->warn("library scan: skipped {}", why);
        summary.skipped_roots.push_back(why);
      }
    }
    if (c.addNewAuthors) add_new_authors(ready, summary, ctx);
    if (full) {
      // Files whose book was removed meanwhile stay on disk: they become unmapped.
      if (auto n = o.catalog->unlink_orphaned_files("its book was removed from the catalog"); !n)
        return n.error();
    }
    summary.finished = std::chrono::time_point_cast<TimePoint::duration>(std::chrono::system_clock::now());
    {
      std::lock_guard lock(last_mu);
      last = summary;
    }
    publish(LibraryScanned{summary, c.authorIds});
    return summary;
  }
};

LibraryScanService::LibraryScanService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::shared_ptr<LibraryScanService>> LibraryScanService::create(ScanOptions options) {
  if (!options.catalog) return Error{errc::invalid_argument, "the library scan needs a catalog"};
  if (options.reader_threads < 1 || options.reader_threads > 64)
    return Error{errc::invalid_argument,
                 "reader_threads must be 1 to 64 (got " + std::to_string(options.reader_threads) + ")"};
  if (options.batch < 1) return Error{errc::invalid_argument, "batch must be at least 1"};
  if (options.max_new_authors < 0)
    return Error{errc::invalid_argument, "max_new_authors must not be negative"};
  if (options.retry_unadded_after.count() < 0)
    return Error{errc::invalid_argument, "retry_unadded_after must not be negative"};
  if (options.max_files_per_second < 0)
    return Error{errc::invalid_argument, "max_files_per_second must not be negative"};
  auto impl = std::make_shared<Impl>();
  impl->o = std::move(options);
  impl->log = impl->o.logger
                  ? impl->o.logger
                  : std::make_shared<spdlog::logger>("scan", std::make_shared<spdlog::sinks::null_sink_mt>());
  return std::shared_ptr<LibraryScanService>(new LibraryScanService(std::move(impl)));
}

void LibraryScanService::register_commands(Registry& registry, ServiceContext& host) {
  if (!impl_->o.events) impl_->o.events = host.events();
  std::shared_ptr<Impl> impl = impl_;
  CommandTraits traits;
  traits.priority = Priority::normal;
  traits.locks = {"disk"};
  registry.add<RescanFolders>(
      [impl](const RescanFolders& c, JobContext& ctx) {
        auto r = impl->rescan(c, &ctx);
        if (!r) {
          if (r.error().code == errc::cancelled) ctx.throw_if_cancelled();
          throw JobError(kind_for(r.error()), r.error().message);
        }
        ctx.report(1, 1, r->message());
        ctx.complete(r->message());
      },
      traits);
}

std::vector<TaskSpec> LibraryScanService::tasks() const { return {*standard_task(RescanFolders::kName)}; }

void LibraryScanService::add_rules(ServiceContext& host) {
  // A refresh that changed an author rescans that author's folder only (Readarr rescans every
  // root folder after each refresh).
  host.rule<AuthorRefreshed>([](const AuthorRefreshed& e) {
    if (!e.changed) return std::vector<PushRequest>{};
    RescanFolders r;
    r.authorIds = {e.author_id};
    r.filter = ScanFilter::matched;
    return std::vector<PushRequest>{{RescanFolders::kName, nlohmann::json(r), {}}};
  });
}

Result<ScanSummary> LibraryScanService::rescan(const RescanFolders& command, JobContext* ctx) {
  return impl_->rescan(command, ctx);
}

std::vector<HealthCheck> LibraryScanService::health_checks() {
  // The check holds the Impl, not the service: it may be called while the host goes.
  return {{"LibraryScanCheck", [impl = impl_] { return impl->check(); }}};
}

std::optional<ScanSummary> LibraryScanService::last_scan() const {
  std::lock_guard lock(impl_->last_mu);
  return impl_->last;
}

}  // namespace shelfjobs
