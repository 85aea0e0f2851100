// SPDX-License-Identifier: MIT
#include "app.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "api.hpp"
#include "builtin.hpp"

namespace shelfd {

using namespace shelfjobs;

Result<std::unique_ptr<App>> App::create(Config config, AppOptions options) {
  std::unique_ptr<App> app(new App());
  if (config.backup.folder.empty()) config.backup.folder = config.data_folder / "backups";
  std::error_code ec;
  std::filesystem::create_directories(config.data_folder, ec);
  if (ec) {
    return Error{errc::invalid_argument,
                 "dataFolder: cannot create " + config.data_folder.string() + ": " + ec.message()};
  }
  // Every standard task named in the config must exist and fit its range, even the ones whose
  // service is not in this build yet: a typo or a bad value is refused at start.
  for (const auto& [name, interval] : config.task_intervals) {
    auto spec = standard_task(name);
    const std::string where = "config " + config.file.string() + ": tasks." + name;
    if (!spec) return Error{errc::invalid_argument, where + ": unknown task"};
    auto ok = validate_interval(name, interval, spec->range);
    if (!ok) return Error{errc::invalid_argument, where + ": " + ok.error().message};
  }

  std::vector<spdlog::sink_ptr> sinks;
  if (options.console_log) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  try {
    sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        (config.data_folder / "shelfd.log").string(), 5 * 1024 * 1024, 3));
  } catch (const std::exception& e) {
    return Error{errc::invalid_argument, std::string("dataFolder: cannot open the log file: ") + e.what()};
  }
  // The log table behind GET /api/v1/log, written off the hot path (log_table.hpp).
  auto table = LogTable::open(config.data_folder / "logs.db");
  if (!table) return Error{errc::invalid_argument, "dataFolder: " + table.error().message};
  app->log_table_ = *table;
  app->log_sink_ = std::make_shared<LogTableSink>(app->log_table_);
  sinks.push_back(app->log_sink_);
  app->log_ = std::make_shared<spdlog::logger>("shelfd", sinks.begin(), sinks.end());
  app->log_->set_level(spdlog::level::from_str(config.log_level));
  app->log_->flush_on(spdlog::level::warn);

  if (!config.webhook_url.empty()) {
    auto hook = WebhookNotifier::create({.url = config.webhook_url, .logger = app->log_});
    if (!hook) return Error{errc::invalid_argument, "notifier.webhookUrl: " + hook.error().message};
    app->notifier_ = std::shared_ptr<Notifier>(std::move(hook).value());
  } else {
    app->notifier_ = std::make_shared<LogNotifier>(app->log_);
  }

  app->events_ = std::make_shared<EventBus>(app->log_);
  app->config_ = std::move(config);
  if (auto opened = app->open_services(); !opened) return opened.error();

  if (options.serve_api) {
    app->api_ = std::make_unique<ApiServer>(*app);
    auto bound = app->api_->bind(app->config_.bind_address, app->config_.port);
    if (!bound) return Error{bound.error().code, "api: " + bound.error().message};
  }
  return app;
}

// Everything that holds a database file open: the stores, the services on them, the engine.
// Opened at start, and closed and opened again around a restore.
Status App::open_services() {
  // The catalog (its own SQLite file) and, when a metadata source is configured, the refresh
  // service on it.
  auto catalog = open_sqlite_catalog({.path = config_.catalog});
  if (!catalog) return Error{catalog.error().code, "catalog: " + catalog.error().message};
  catalog_ = *catalog;
  for (const auto& root : config_.library_roots) {
    // Every library root is a root folder of the catalog; one added before is kept as it is.
    auto added = catalog_->add_root_folder(root, root.filename().string());
    if (!added && added.error().code != errc::conflict)
      return Error{added.error().code, "libraryRoots: " + added.error().message};
  }
  // Acquisition's store (indexers, download clients, history, ...) in the catalog's file, so one
  // library database holds both and a backup of it is whole.
  auto acquisition = open_sqlite_acquisition_store({.path = config_.catalog});
  if (!acquisition) return Error{acquisition.error().code, "catalog: " + acquisition.error().message};
  acquisition_store_ = *acquisition;

  // The library service always; the refresh service when a metadata source is configured.
  if (!config_.metadata_url.empty()) {
    BookInfoOptions mo;
    mo.base_url = config_.metadata_url;
    mo.timeout = config_.metadata_timeout;
    mo.cache_path = config_.data_folder / "metadata-cache.db";
    mo.rate_limit.min_spacing = config_.metadata_spacing;
    mo.logger = log_;
    auto source = make_bookinfo_source(mo);
    if (!source) return Error{source.error().code, "metadata.baseUrl: " + source.error().message};
    metadata_ = *source;
  } else {
    log_->warn("metadata.baseUrl is not set: adding authors and refreshing them are off");
  }
  auto library = LibraryService::create({.catalog = catalog_, .source = metadata_, .logger = log_});
  if (!library) return library.error();
  library_ = *library;
  if (metadata_) {
    auto refresh = RefreshService::create({.catalog = catalog_, .source = metadata_, .logger = log_});
    if (!refresh) return refresh.error();
    refresh_ = *refresh;
  }

  auto scan = LibraryScanService::create({.catalog = catalog_, .logger = log_, .library = library_});
  if (!scan) return scan.error();
  scan_ = *scan;
  auto import = ImportService::create({.catalog = catalog_, .logger = log_});
  if (!import) return import.error();
  import_ = *import;
  const AcquisitionConfig& ac = config_.acquisition;
  auto acq = AcquisitionService::create({.catalog = catalog_,
                                         .store = acquisition_store_,
                                         .import = import_,
                                         .logger = log_,
                                         .indexer_spacing = ac.indexer_spacing,
                                         .max_parallel_indexers = ac.max_parallel_indexers,
                                         .profiles = ac.profiles,
                                         .max_size_ebook = ac.max_size_ebook_mb << 20,
                                         .max_size_audio = ac.max_size_audio_mb << 20,
                                         .min_seeders = ac.min_seeders,
                                         .search_on_author_added = ac.search_on_author_added});
  if (!acq) return acq.error();
  acquisition_ = *acq;

  // Housekeeping: shelfd's log table and rotated files, the catalog's and the metadata cache's
  // files, the data folder's temporary, backup and cover folders.
  HousekeepingOptions hk;
  hk.catalog = catalog_;
  hk.acquisition = acquisition_store_;
  hk.logger = log_;
  hk.log_retention = config_.log_retention;
  hk.history_retention = config_.history_retention;
  hk.logs.push_back({"log table", [table = log_table_](TimePoint cutoff) { return table->trim(cutoff); }});
  hk.logs.push_back(shelfjobs::rotated_log_files(config_.data_folder, "shelfd.", ".log", "shelfd.log"));
  hk.temp_folders = {config_.data_folder / "tmp"};
  hk.backup_folder = config_.backup.folder;
  hk.cover_folder = config_.data_folder / "covers";
  hk.databases = {config_.catalog, config_.data_folder / "logs.db"};
  if (metadata_) hk.databases.push_back(config_.data_folder / "metadata-cache.db");
  hk.permissions = {
      .enabled = config_.set_permissions, .file_mode = config_.file_mode, .folder_mode = config_.folder_mode};
  auto housekeeping = HousekeepingService::create(std::move(hk));
  if (!housekeeping) return Error{housekeeping.error().code, "housekeeping: " + housekeeping.error().message};
  housekeeping_ = *housekeeping;

  // Backups: the job store, the catalog (acquisition's data included) and the metadata cache,
  // and the config file.
  BackupOptions bo;
  bo.folder = config_.backup.folder;
  // A job store on a PostgreSQL server is the server's to back up (pg_dump); the files are ours.
  if (!is_postgres_url(config_.database.string())) bo.job_store = config_.database;
  bo.databases = {{"catalog.db", config_.catalog}};
  if (metadata_) bo.databases.push_back({"metadata-cache.db", config_.data_folder / "metadata-cache.db"});
  if (!config_.file.empty()) bo.config_files = {config_.file};
  bo.version = kVersion;
  bo.retention = config_.backup.retention;
  bo.manual_limit = config_.backup.manual_limit;
  bo.logger = log_;
  auto backup = BackupService::create(std::move(bo));
  if (!backup) return Error{backup.error().code, "backup: " + backup.error().message};
  backup_ = *backup;

  AlertOptions alerts;
  alerts.disk_paths.emplace_back("data", config_.data_folder);
  for (std::size_t i = 0; i < config_.library_roots.size(); ++i) {
    alerts.disk_paths.emplace_back("library " + std::to_string(i + 1), config_.library_roots[i]);
  }
  ServiceHostOptions host_options;
  host_options.engine = {.store_path = config_.database.string(),
                         .store_schema = config_.database_schema,
                         .workers = config_.workers,
                         .short_job_lanes = config_.short_job_lanes,
                         .spread_after = config_.spread_after,
                         .logger = log_,
                         .notifier = notifier_,
                         .alerts = alerts};
  host_options.events = events_;
  for (const auto& [name, interval] : config_.task_intervals) host_options.tasks[name].interval = interval;
  if (config_.housekeeping_at) host_options.tasks["Housekeeping"].time_of_day = config_.housekeeping_at;

  // One line per service.
  ServiceHost::Builder builder(std::move(host_options));
  builder.add(
      std::make_shared<ShelfdService>(config_.demo_commands, log_table_, log_sink_, config_.data_folder));
  builder.add(housekeeping_);
  builder.add(backup_);
  builder.add(library_);
  builder.add(scan_);
  builder.add(import_);
  builder.add(acquisition_);
  if (refresh_) builder.add(refresh_);
  auto host = builder.build();
  if (!host) return Error{host.error().code, "database: " + host.error().message};
  host_ = std::move(host).value();
  return Ok{};
}

void App::close_services(std::chrono::milliseconds deadline) {
  if (host_) host_->stop(deadline);
  host_.reset();
  backup_.reset();
  housekeeping_.reset();
  acquisition_.reset();
  import_.reset();
  scan_.reset();
  refresh_.reset();
  library_.reset();
  metadata_.reset();
  acquisition_store_.reset();
  catalog_.reset();
}

Result<RestoreReport> App::restore(const std::filesystem::path& zip, std::chrono::milliseconds deadline) {
  // Checked before anything stops: a refused backup costs the running daemon nothing.
  std::shared_ptr<BackupService> backup;
  {
    std::shared_lock lock(services_mu_);
    backup = backup_;
  }
  if (!backup) return Error{errc::shutting_down, "shelfd is stopping"};
  auto prepared = backup->prepare_restore(zip);
  if (!prepared) return prepared.error();

  // Waits for the requests in flight; a request that never lets go (it cannot happen, but a
  // restore must not hang on it) makes the restore fail instead of the daemon hang.
  std::unique_lock lock(services_mu_, std::defer_lock);
  if (!lock.try_lock_for(deadline))
    return Error{errc::unavailable, "other requests are still running; try the restore again"};
  if (!backup_) return Error{errc::shutting_down, "shelfd is stopping"};
  log_->warn("restoring backup {}: pausing the engine (running jobs get {} ms)", prepared->backup,
             deadline.count());
  if (api_) api_->detach_engine();
  close_services(deadline);
  auto report = backup->apply_restore(*prepared);
  Status reopened = Ok{};
  if (report) {
    reopened = open_services();
    if (!reopened) {
      log_->error("the restored data cannot be opened ({}); putting the previous data back",
                  reopened.error().message);
      close_services(deadline);
      if (auto st = backup->roll_back(*report); !st) log_->error("roll back failed: {}", st.error().message);
    }
  }
  if (!report || !reopened) {
    if (auto again = open_services(); !again) {
      log_->critical("cannot reopen the data after a failed restore: {}", again.error().message);
      return Error{errc::store_error,
                   "restore failed and the data cannot be reopened: " + again.error().message};
    }
  }
  host_->start();
  if (api_) api_->attach_engine();
  if (!report) return report.error();
  if (!reopened)
    return Error{errc::bad_file, "the backup's data cannot be opened (" + reopened.error().message +
                                     "); the previous data are back"};
  // The restored job store records the restore, so its history shows it.
  BackupRestored record{.backup = report->backup};
  for (const auto& p : report->restored) record.restored.push_back(p.filename().string());
  if (auto pushed = host_->engine().push(record); !pushed)
    log_->warn("cannot record the restore in the job history: {}", pushed.error().message);
  log_->warn("restored backup {}; the engine runs again", report->backup);
  return report;
}

App::~App() { stop(std::chrono::seconds(30)); }

void App::start() {
  started_at_ = std::chrono::system_clock::now();
  host_->start();
  if (api_) api_->start();
  log_->info("shelfd {} started; data folder {}{}", kVersion, config_.data_folder.string(),
             api_ ? ", API on http://" + config_.bind_address + ":" + std::to_string(port()) : "");
}

bool App::stop(std::chrono::milliseconds deadline) {
  if (stopped_) return true;
  stopped_ = true;
  if (api_) api_->stop();
  if (!host_) return true;  // create() failed before the engine existed
  const bool finished = host_->stop(deadline);
  log_->info("shelfd stopped{}", finished ? "" : " (some jobs did not finish in time)");
  log_->flush();
  if (log_sink_) log_sink_->stop();  // writes what is queued; later lines go to the files only
  return finished;
}

int App::port() const { return api_ ? api_->port() : 0; }

}  // namespace shelfd
