// SPDX-License-Identifier: MIT
#pragma once
// shelfd's application: a service host (shelfd's own service, the library and, with a metadata
// source, the refresh service), the notifier, the logger, and (optionally) the HTTP API.
// main.cpp and demo.cpp drive it.

#include <chrono>
#include <filesystem>
#include <memory>
#include <shared_mutex>

#include <spdlog/spdlog.h>

#include "config.hpp"
#include "log_table.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/services.hpp"

namespace shelfd {

class ApiServer;

struct AppOptions {
  bool serve_api = true;    // start the HTTP API and dashboard
  bool console_log = true;  // log to the console as well as to the data folder's file
};

class App {
 public:
  /// Creates the data folder, the logger (console, rotating files and the log table in the data
  /// folder), the housekeeping service with shelfd's logs registered, the engine (its store in
  /// the data folder), registers shelfd's commands and tasks with the
  /// configured intervals, and binds the API. Errors name the setting or the resource.
  static shelfjobs::Result<std::unique_ptr<App>> create(Config config, AppOptions options);
  ~App();

  /// Starts the engine (and the API's listening thread).
  void start();
  /// Stops the API, then the engine (running jobs get `deadline`). True if all finished in time.
  bool stop(std::chrono::milliseconds deadline);

  shelfjobs::Engine& engine() { return host_->engine(); }
  shelfjobs::ServiceHost& host() { return *host_; }
  shelfjobs::LibraryService& library() { return *library_; }
  shelfjobs::Catalog& catalog() { return *catalog_; }
  /// The indexers, download clients and the rest of acquisition's data (the catalog's file).
  shelfjobs::AcquisitionStore& acquisition_store() { return *acquisition_store_; }
  /// RSS sync, searches, grabs, the download queue (acquisition.hpp).
  shelfjobs::AcquisitionService& acquisition() { return *acquisition_; }
  shelfjobs::EventBus& events() { return *events_; }
  /// Null when no metadata source is configured (metadata.baseUrl).
  shelfjobs::RefreshService* refresh() { return refresh_.get(); }
  shelfjobs::LibraryScanService& scan() { return *scan_; }
  shelfjobs::ImportService& import() { return *import_; }
  shelfjobs::MetadataSource* metadata() { return metadata_.get(); }
  const Config& config() const { return config_; }
  /// The log table behind GET /api/v1/log, and its sink (flush it before reading your own lines).
  LogTable& log_table() { return *log_table_; }
  LogTableSink& log_sink() { return *log_sink_; }
  shelfjobs::HousekeepingService& housekeeping() { return *housekeeping_; }
  shelfjobs::BackupService& backup() { return *backup_; }

  /// Restores a backup without a restart: the zip is checked first (a refused one changes
  /// nothing and stops nothing); then the engine stops (running jobs get `deadline` and resume
  /// from the restored store), the stores close, the files are swapped (safety copies beside
  /// them), and everything opens and starts again; if the restored data cannot be opened, the
  /// previous data are put back. The restored job store records a BackupRestored job. The
  /// restored config file is read at the next start. Waits for the API requests in flight.
  /// Errors: not_found, bad_file (refused; the message says why), unavailable (a file could
  /// not be swapped; everything is as it was), store_error (nothing could be reopened).
  shelfjobs::Result<shelfjobs::RestoreReport> restore(
      const std::filesystem::path& zip, std::chrono::milliseconds deadline = std::chrono::seconds(30));
  /// Held shared by every API request (ApiServer), exclusively by `restore` while the services
  /// are closed: no request sees a store that is gone.
  std::shared_timed_mutex& services_mutex() { return services_mu_; }
  spdlog::logger& log() { return *log_; }
  int port() const;  ///< the API's bound port, 0 when not serving
  std::chrono::system_clock::time_point started_at() const { return started_at_; }

 private:
  App() = default;
  shelfjobs::Status open_services();
  void close_services(std::chrono::milliseconds deadline);
  Config config_;
  std::shared_ptr<LogTable> log_table_;
  std::shared_ptr<LogTableSink> log_sink_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<shelfjobs::HousekeepingService> housekeeping_;
  std::shared_ptr<shelfjobs::BackupService> backup_;
  std::shared_timed_mutex services_mu_;
  std::shared_ptr<shelfjobs::Notifier> notifier_;
  std::shared_ptr<shelfjobs::Catalog> catalog_;
  std::shared_ptr<shelfjobs::AcquisitionStore> acquisition_store_;
  std::shared_ptr<shelfjobs::AcquisitionService> acquisition_;
  std::shared_ptr<shelfjobs::EventBus> events_;
  std::shared_ptr<shelfjobs::MetadataSource> metadata_;
  std::shared_ptr<shelfjobs::LibraryService> library_;
  std::shared_ptr<shelfjobs::RefreshService> refresh_;
  std::shared_ptr<shelfjobs::LibraryScanService> scan_;
  std::shared_ptr<shelfjobs::ImportService> import_;
  std::unique_ptr<shelfjobs::ServiceHost> host_;
  std::unique_ptr<ApiServer> api_;
  std::chrono::system_clock::time_point started_at_{};
  bool stopped_ = false;
};

}  // namespace shelfd
