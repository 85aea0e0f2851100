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

  // The catalog (its own SQLite file) and, when a metadata source is configured, the refresh
  // service on it.
  auto catalog = open_sqlite_catalog({.path = config.catalog});
  if (!catalog) return Error{catalog.error().code, "catalog: " + catalog.error().message};
  app->catalog_ = *catalog;
  for (const auto& root : config.library_roots) {
    // Every library root is a root folder of the catalog; one added before is kept as it is.
    auto added = app->catalog_->add_root_folder(root, root.filename().string());
    if (!added && added.error().code != errc::conflict)
      return Error{added.error().code, "libraryRoots: " + added.error().message};
  }
  // Acquisition's store (indexers, download clients, history, ...) in the catalog's file, so one
  // library database holds both and a backup of it is whole.
  auto acquisition = open_sqlite_acquisition_store({.path = config.catalog});
  if (!acquisition) return Error{acquisition.error().code, "catalog: " + acquisition.error().message};
  app->acquisition_store_ = *acquisition;
  app->events_ = std::make_shared<EventBus>(app->log_);

  // The library service always; the refresh service when a metadata source is configured.
  if (!config.metadata_url.empty()) {
    BookInfoOptions mo;
    mo.base_url = config.metadata_url;
    mo.timeout = config.metadata_timeout;
    mo.cache_path = config.data_folder / "metadata-cache.db";
    mo.rate_limit.min_spacing = config.metadata_spacing;
    mo.logger = app->log_;
    auto source = make_bookinfo_source(mo);
    if (!source) return Error{source.error().code, "metadata.baseUrl: " + source.error().message};
    app->metadata_ = *source;
  } else {
    app->log_->warn("metadata.baseUrl is not set: adding authors and refreshing them are off");
  }
  auto library =
      LibraryService::create({.catalog = app->catalog_, .source = app->metadata_, .logger = app->log_});
  if (!library) return library.error();
  app->library_ = *library;
  if (app->metadata_) {
    auto refresh =
        RefreshService::create({.catalog = app->catalog_, .source = app->metadata_, .logger = app->log_});
    if (!refresh) return refresh.error();
    app->refresh_ = *refresh;
  }

  auto scan =
      LibraryScanService::create({.catalog = app->catalog_, .logger = app->log_, .library = app->library_});
  if (!scan) return scan.error();
  app->scan_ = *scan;
  auto import = ImportService::create({.catalog = app->catalog_, .logger = app->log_});
  if (!import) return import.error();
  app->import_ = *import;
  const AcquisitionConfig& ac = config.acquisition;
  auto acq = AcquisitionService::create({.catalog = app->catalog_,
                                         .store = app->acquisition_store_,
                                         .import = app->import_,
                                         .logger = app->log_,
                                         .indexer_spacing = ac.indexer_spacing,
                                         .max_parallel_indexers = ac.max_parallel_indexers,
                                         .profiles = ac.profiles,
                                         .max_size_ebook = ac.max_size_ebook_mb << 20,
                                         .max_size_audio = ac.max_size_audio_mb << 20,
                                         .min_seeders = ac.min_seeders,
                                         .search_on_author_added = ac.search_on_author_added});
  if (!acq) return acq.error();
  app->acquisition_ = *acq;

  // Housekeeping: shelfd's log table and rotated files, the catalog's and the metadata cache's
  // files, the data folder's temporary, backup and cover folders.
  HousekeepingOptions hk;
  hk.catalog = app->catalog_;
  hk.acquisition = app->acquisition_store_;
  hk.logger = app->log_;
  hk.log_retention = config.log_retention;
  hk.history_retention = config.history_retention;
  hk.logs.push_back(
      {"log table", [table = app->log_table_](TimePoint cutoff) { return table->trim(cutoff); }});
  hk.logs.push_back(shelfjobs::rotated_log_files(config.data_folder, "shelfd.", ".log", "shelfd.log"));
  hk.temp_folders = {config.data_folder / "tmp"};
  hk.backup_folder = config.data_folder / "backups";
  hk.cover_folder = config.data_folder / "covers";
  hk.databases = {config.catalog, config.data_folder / "logs.db"};
  if (app->metadata_) hk.databases.push_back(config.data_folder / "metadata-cache.db");
  hk.permissions = {
      .enabled = config.set_permissions, .file_mode = config.file_mode, .folder_mode = config.folder_mode};
  auto housekeeping = HousekeepingService::create(std::move(hk));
  if (!housekeeping) return Error{housekeeping.error().code, "housekeeping: " + housekeeping.error().message};
  app->housekeeping_ = *housekeeping;

  AlertOptions alerts;
  alerts.disk_paths.emplace_back("data", config.data_folder);
  for (std::size_t i = 0; i < config.library_roots.size(); ++i) {
    alerts.disk_paths.emplace_back("library " + std::to_string(i + 1), config.library_roots[i]);
  }
  ServiceHostOptions host_options;
  host_options.engine = {.store_path = config.database.string(),
                         .workers = config.workers,
                         .logger = app->log_,
                         .notifier = app->notifier_,
                         .alerts = alerts};
  host_options.events = app->events_;
  for (const auto& [name, interval] : config.task_intervals) host_options.tasks[name].interval = interval;
  if (config.housekeeping_at) host_options.tasks["Housekeeping"].time_of_day = config.housekeeping_at;

  // One line per service.
  ServiceHost::Builder builder(std::move(host_options));
  builder.add(std::make_shared<ShelfdService>(config.demo_commands, app->log_table_, app->log_sink_,
                                              config.data_folder));
  builder.add(app->housekeeping_);
  builder.add(app->library_);
  builder.add(app->scan_);
  builder.add(app->import_);
  builder.add(app->acquisition_);
  if (app->refresh_) builder.add(app->refresh_);
  auto host = builder.build();
  if (!host) return Error{host.error().code, "database: " + host.error().message};
  app->host_ = std::move(host).value();

  if (options.serve_api) {
    app->api_ = std::make_unique<ApiServer>(*app);
    auto bound = app->api_->bind(config.bind_address, config.port);
    if (!bound) return Error{bound.error().code, "api: " + bound.error().message};
  }
  app->config_ = std::move(config);
  return app;
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
