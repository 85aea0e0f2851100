// SPDX-License-Identifier: MIT
// shelfd demo: shows the engine at work on a temporary data folder.

#include "demo.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "app.hpp"
#include "builtin.hpp"
#include "demo_acquisition.hpp"
#include "demo_library.hpp"
#include "demo_metadata.hpp"

namespace shelfd {

using namespace shelfjobs;

namespace {

std::string bar(std::int64_t current, std::int64_t total, int width = 24) {
  const double f =
      total > 0 ? std::clamp(static_cast<double>(current) / static_cast<double>(total), 0.0, 1.0) : 0.0;
  const int full = static_cast<int>(f * width + 0.5);
  return "[" + std::string(static_cast<std::size_t>(full), '#') +
         std::string(static_cast<std::size_t>(width - full), '.') + "] " +
         std::to_string(static_cast<int>(f * 100)) + "%";
}

// Live progress bars: one line per running job, redrawn in place on a terminal; on anything
// else (a pipe, a CI log) one line per change, so nothing is lost.
class Progress {
 public:
  explicit Progress(bool tty) : tty_(tty) {}

  void on_event(const JobEvent& ev) {
    std::lock_guard lock(mu_);
    const auto& j = ev.job;
    const std::string label = j.body ? j.body->value("label", j.name) : j.name;
    switch (ev.type) {
      case JobEvent::Type::started:
      case JobEvent::Type::progress:
        running_[j.id] = {label, j.progress.current, j.progress.total, j.progress.message};
        if (!tty_) print_line(j.id, running_[j.id]);
        break;
      case JobEvent::Type::completed:
      case JobEvent::Type::failed:
      case JobEvent::Type::cancelled:
      case JobEvent::Type::retrying:
        running_.erase(j.id);
        finished_.push_back("  " + std::string(to_string(ev.type)) + "  #" + std::to_string(j.id) + " " +
                            label + (j.message.empty() ? "" : ": " + j.message));
        if (!tty_) {
          std::cout << finished_.back() << "\n";
          finished_.clear();
        }
        break;
      default: break;
    }
  }

  void redraw() {
    if (!tty_) return;
    std::lock_guard lock(mu_);
    std::string out;
    // Move up over the previous bars and clear them, print finished lines, then the bars.
    for (int i = 0; i < drawn_; ++i) out += "\033[1A\033[2K";
    for (const auto& f : finished_) out += f + "\n";
    finished_.clear();
    drawn_ = 0;
    for (const auto& [id, r] : running_) {
      out += "  " + bar(r.current, r.total) + "  #" + std::to_string(id) + " " + r.label + "  " + r.message +
             "\n";
      ++drawn_;
    }
    std::cout << out << std::flush;
  }

 private:
  struct Row {
    std::string label;
    std::int64_t current = 0, total = 0;
    std::string message;
  };
  void print_line(JobId id, const Row& r) {
    std::cout << "  " << bar(r.current, r.total) << "  #" << id << " " << r.label << "  " << r.message
              << "\n";
  }
  bool tty_;
  std::mutex mu_;
  std::map<JobId, Row> running_;
  std::vector<std::string> finished_;
  int drawn_ = 0;
};

std::filesystem::path make_temp_folder() {
  std::string pattern = (std::filesystem::temp_directory_path() / "shelfd-demo-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary folder");
  return pattern;
}

}  // namespace

int run_demo(const DemoOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const auto root = make_temp_folder();
  // The library: two roots that exist and one that does not (an unmounted drive), so the scan
  // skips it and the health check has something to say. The files come once the authors are in
  // the catalog (lay_out_demo_library).
  std::filesystem::create_directories(root / "library/Ebooks");
  std::filesystem::create_directories(root / "library/Audiobooks");
  Config config;
  config.file = root / "shelfd.json";
  config.data_folder = root / "data";
  config.database = config.data_folder / "jobs.db";
  config.catalog = config.data_folder / "catalog.db";
  config.library_roots = {root / "library/Ebooks", root / "library/Audiobooks", root / "library/Comics"};
  config.api_key = options.api_key.empty() ? random_api_key() : options.api_key;
  config.port = options.port;
  config.workers = 2;
  config.log_level = "info";
  config.demo_commands = true;
  // The bookinfo-fixture program on loopback stands in for the metadata source.
  const std::vector<DemoAuthor> authors = {{1001, "Ann Leckie", 3},
                                           {1002, "Becky Chambers", 4},
                                           {1003, "Martha Wells", 5},
                                           {1004, "N. K. Jemisin", 6}};
  auto started = DemoMetadata::start(root / "metadata", authors);
  if (!started) {
    std::cerr << "shelfd demo: cannot start the metadata fixture server: " << started.error().message << "\n";
    return 1;
  }
  auto metadata = std::move(started).value();
  config.metadata_url = metadata->base_url();
  config.metadata_spacing = std::chrono::milliseconds(0);

  auto created = App::create(config, {.serve_api = options.serve, .console_log = false});
  if (!created) {
    std::cerr << "shelfd demo: " << created.error().message << "\n";
    return 1;
  }
  auto& app = **created;
  // app.engine() every time: the restore near the end opens a new engine.
  Progress progress(isatty(STDOUT_FILENO) == 1);
  app.engine().subscribe(on_event<JobEvent>([&progress](const JobEvent& ev) { progress.on_event(ev); }));

  std::cout << "shelfd demo (shelfjobs " << kVersion << ")\n"
            << "data folder: " << config.data_folder.string() << "\n"
            << "commands: ";
  for (const auto& n : app.engine().registry().names()) std::cout << n << " ";
  std::cout << "\n\n";
  app.start();

  // The catalog: add the authors (each AuthorAdded pushes its RefreshAuthor), then one author is
  // renamed upstream, and its refresh moves the folder (AuthorRenamed -> MoveAuthor).
  bool ok = true;
  int renamed = 0;
  app.events().subscribe<AuthorRenamed>([&renamed](const AuthorRenamed& e) {
    ++renamed;
    std::cout << "  renamed upstream: " << e.old_name << " -> " << e.new_name << "; moving "
              << e.old_path.string() << " to " << e.new_path.string() << "\n";
  });
  auto roots = app.catalog().root_folders();
  std::optional<Author> first;
  std::optional<RootFolder> ebooks;
  if (roots) {
    for (const auto& r : *roots) {
      if (r.path == config.library_roots.front()) ebooks = r;
    }
  }
  if (ebooks) {
    for (const auto& a : authors) {
      auto added = app.library().add_author(std::to_string(a.id), ebooks->id);
      if (!added) {
        std::cerr << "shelfd demo: cannot add " << a.name << ": " << added.error().message << "\n";
        ok = false;
      } else if (!first) {
        first = *added;
      }
    }
  }
  std::int64_t imported = 0;
  app.events().subscribe<BookImported>([&imported](const BookImported& e) {
    ++imported;
    std::cout << "  imported: " << e.source.filename().string() << " -> " << e.file.path.string() << "\n";
  });
  std::int64_t grabbed = 0, downloads_imported = 0;
  app.events().subscribe<ReleaseGrabbed>([&grabbed](const ReleaseGrabbed& e) {
    ++grabbed;
    std::cout << "  grabbed: " << e.download.release.title << " from " << e.download.release.indexer
              << " into " << e.client << "\n";
  });
  app.events().subscribe<DownloadImported>([&downloads_imported](const DownloadImported& e) {
    downloads_imported += e.files;
    std::cout << "  download imported: " << e.download.release.title << "\n";
  });
  std::optional<DemoAcquisition> acquisition;
  if (first) {
    while (!app.engine().wait_idle(std::chrono::milliseconds(100))) progress.redraw();
    // The library on disk, scanned (files matched by ISBN and by name, two unmapped), then a
    // finished download imported into it.
    auto library = lay_out_demo_library(app.catalog(), config.library_roots[0], config.library_roots[1],
                                        root / "downloads");
    if (!library) {
      std::cerr << "shelfd demo: " << library.error().message << "\n";
      ok = false;
    } else {
      ok = app.engine().push(RescanFolders{}).has_value() && ok;
      while (!app.engine().wait_idle(std::chrono::milliseconds(100))) progress.redraw();
      ok = app.engine()
               .push(DownloadedBooksScan{.path = library->download.string(), .importMode = ImportMode::move})
               .has_value() &&
           ok;
      while (!app.engine().wait_idle(std::chrono::milliseconds(100))) progress.redraw();
      // Acquisition: an indexer offers the wanted book; an RSS sync grabs the EPUB into the
      // blackhole; the demo plays the torrent client and finishes it; the refresh of the
      // downloads sees it completed, and its rule imports it.
      auto acq = set_up_demo_acquisition(*app.acquisition().store(), root / "blackhole", *library);
      if (!acq) {
        std::cerr << "shelfd demo: " << acq.error().message << "\n";
        ok = false;
      } else {
        acquisition = std::move(acq).value();
        ok = app.engine().push(RssSync{}).has_value() && ok;
        while (!app.engine().wait_idle(std::chrono::milliseconds(100))) progress.redraw();
        if (finish_demo_downloads(*acquisition, *library) == 0) {
          std::cerr << "shelfd demo: the RSS sync grabbed nothing\n";
          ok = false;
        }
        ok = app.engine().push(RefreshMonitoredDownloads{}).has_value() && ok;
      }
    }
    while (!app.engine().wait_idle(std::chrono::milliseconds(100))) progress.redraw();
    if (auto renamed_upstream = metadata->rename(std::stoll(first->foreign_id), first->name + " (Author)");
        !renamed_upstream) {
      std::cerr << "shelfd demo: " << renamed_upstream.error().message << "\n";
      ok = false;
    }
    ok = app.engine().push(RefreshAuthor{.authorId = first->id}).has_value() && ok;
    while (!app.engine().wait_idle(std::chrono::milliseconds(100))) progress.redraw();
  } else {
    std::cerr << "shelfd demo: no author was added\n";
    ok = false;
  }

  // One full cycle: every task run now, and demonstration work of every priority, with a retry
  // that succeeds, a failure and a cancellation.
  auto check = [&ok](bool pushed, const char* what) {
    if (!pushed) {
      std::cerr << "shelfd demo: could not push " << what << "\n";
      ok = false;
    }
  };
  for (const auto& t : app.engine().tasks())
    check(app.engine().run_task_now(t.name).has_value(), t.name.c_str());
  auto work = [&](DemoWork w, Priority p) {
    auto r = app.engine().push(w, {.priority = p});
    check(r.has_value(), w.label.c_str());
    return r ? r->job.id : 0;
  };
  work({{}, "Scan Ebooks", 20, 80, 0, "network"}, Priority::normal);
  work({{}, "Import download", 12, 40, 0, "network"}, Priority::critical);
  work({{}, "Sync flaky indexer", 10, 50, 3, "network"}, Priority::normal);
  work({{}, "Read broken feed", 10, 50, 2, "permanent"}, Priority::low);
  const JobId cancel_me = work({{}, "Search missing books", 200, 50, 0, "network"}, Priority::low);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool cancelled = false;
  while (!app.engine().wait_idle(std::chrono::milliseconds(100))) {
    progress.redraw();
    auto j = app.engine().get(cancel_me);
    if (!cancelled && j && j->status == JobStatus::executing && j->progress.current >= 5) {
      (void)app.engine().cancel(cancel_me);
      cancelled = true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << "shelfd demo: the cycle did not finish within 60 s\n";
      ok = false;
      break;
    }
  }
  progress.redraw();

  // Tables.
  auto jobs = app.engine().list({.limit = 100});
  std::printf("\n%-5s %-22s %-10s %-9s %-8s %9s  %s\n", "id", "command", "status", "priority", "attempt",
              "ms", "message");
  std::map<std::string, std::map<std::string, int>> counts;
  if (jobs) {
    for (auto it = jobs->jobs.rbegin(); it != jobs->jobs.rend(); ++it) {
      const auto& j = *it;
      std::printf("%-5lld %-22s %-10s %-9s %-8s %9lld  %s\n", static_cast<long long>(j.id),
                  j.body.value("label", j.name).c_str(), std::string(to_string(j.status)).c_str(),
                  std::string(to_string(j.priority)).c_str(),
                  (std::to_string(j.attempt) + "/" + std::to_string(j.max_attempts)).c_str(),
                  static_cast<long long>(j.duration.count()),
                  (j.status == JobStatus::failed ? j.error : j.message).c_str());
      counts[j.name][std::string(to_string(j.status))]++;
    }
  }
  std::printf("\n%-14s %-10s %-22s %-10s %s\n", "task", "interval", "next run", "last", "message");
  for (const auto& t : app.engine().tasks()) {
    std::printf(
        "%-14s %-10s %-22s %-10s %s\n", t.name.c_str(),
        (std::to_string(std::chrono::duration_cast<std::chrono::minutes>(t.interval).count()) + " min")
            .c_str(),
        t.next_due ? format_time(*t.next_due).c_str() : "off",
        t.last_status ? std::string(to_string(*t.last_status)).c_str() : "-", t.last_message.c_str());
  }
  const auto health = app.engine().health();
  std::printf("\nhealth: %d workers, store %llu commits (max %lld us), %zu alert(s) open\n", health.workers,
              static_cast<unsigned long long>(health.store.commits),
              static_cast<long long>(health.store.max_commit_latency.count()), health.alerts.size());
  for (const auto& a : health.alerts) std::printf("  alert %-12s %s\n", a.rule.c_str(), a.message.c_str());
  const auto files = app.catalog().counts();
  if (const auto unmapped_now = app.catalog().unmapped_files(); files && unmapped_now) {
    std::printf("library: %lld book files, %zu unmapped, %lld imported\n",
                static_cast<long long>(files->files), unmapped_now->size(), static_cast<long long>(imported));
    for (const auto& f : *unmapped_now)
      std::printf("  unmapped %s: %s%s\n", f.path.filename().string().c_str(), f.unmapped_reason.c_str(),
                  f.read_error.empty() ? "" : (" (" + f.read_error + ")").c_str());
  }

  // Backup and restore: a manual backup (a job, beside the scheduled one the cycle above ran),
  // then the catalog changes, and the backup is restored without a restart: the catalog is as
  // it was, and the restored job history records the restore.
  bool restored = false;
  if (auto pushed = app.engine().push(Backup{}); pushed) {
    while (!app.engine().wait_idle(std::chrono::milliseconds(100))) progress.redraw();
    auto made = app.engine().get(pushed->job.id);
    auto all = app.backup().list();
    const auto before = app.catalog().counts();
    const auto roots_before = app.catalog().root_folders();
    if (!made || made->status != JobStatus::completed || all.empty() || !before || !roots_before) {
      std::cerr << "shelfd demo: the backup failed: " << (made ? made->error : "not found") << "\n";
      ok = false;
    } else {
      std::error_code mk;
      std::filesystem::create_directories(root / "library/Extra", mk);
      (void)app.catalog().add_root_folder(root / "library/Extra", "Extra");
      auto report = app.restore(all.front().path, std::chrono::seconds(10));
      const auto after = app.catalog().counts();
      const auto roots_after = app.catalog().root_folders();
      restored = report && after && roots_after && after->authors == before->authors &&
                 after->books == before->books && after->files == before->files &&
                 roots_after->size() == roots_before->size();
      std::cout << "\nbackup: " << all.front().name << " (" << all.front().size << " bytes); "
                << (report ? "restored " + std::to_string(report->restored.size()) + " files"
                           : "restore failed: " + report.error().message)
                << (restored ? ", the catalog is as it was\n" : ", the catalog differs\n");
      if (!restored) ok = false;
      while (!app.engine().wait_idle(std::chrono::milliseconds(100))) progress.redraw();
    }
  } else {
    std::cerr << "shelfd demo: cannot push Backup\n";
    ok = false;
  }
  const auto backups = app.backup().list().size();

  if (options.serve) {
    std::cout << "\ndashboard: http://" << config.bind_address << ":" << app.port()
              << "/#apikey=" << config.api_key << "\nAPI key: " << config.api_key << "\n(Ctrl-C to stop)\n"
              << std::flush;
    int sig = 0;
    sigwait(&signals, &sig);
  }
  const auto task_count = app.engine().tasks().size();
  const auto catalog_counts = app.catalog().counts();
  const auto unmapped = app.catalog().unmapped_files();
  ok = app.stop(std::chrono::seconds(10)) && ok;

  if (options.json) {
    nlohmann::json out = {{"jobs", nlohmann::json::object()}};
    for (const auto& name : app.engine().registry().names()) {
      out["jobs"][name] = {{"completed", counts[name]["completed"]},
                           {"failed", counts[name]["failed"]},
                           {"cancelled", counts[name]["cancelled"]}};
    }
    out["tasks"] = task_count;
    out["alerts"] = health.alerts.size();
    out["authors"] = catalog_counts ? catalog_counts->authors : -1;
    out["books"] = catalog_counts ? catalog_counts->books : -1;
    out["renamed"] = renamed;
    out["files"] = catalog_counts ? catalog_counts->files : -1;
    out["unmapped"] = unmapped ? static_cast<std::int64_t>(unmapped->size()) : -1;
    out["imported"] = imported;
    out["grabbed"] = grabbed;
    out["downloadsImported"] = downloads_imported;
    out["backups"] = backups;
    out["restored"] = restored;
    std::cout << out.dump() << std::endl;
  }
  created->reset();
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return ok ? 0 : 1;
}

}  // namespace shelfd
