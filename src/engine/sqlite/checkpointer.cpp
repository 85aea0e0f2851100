// SPDX-License-Identifier: MIT
#include "engine/sqlite/checkpointer.hpp"

#include "engine/thread_name.hpp"

#include <utility>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace shelfjobs::sqlite {

Result<std::unique_ptr<Checkpointer>> Checkpointer::start(SQLite::Database& writer,
                                                          const std::filesystem::path& path,
                                                          CheckpointOptions options) {
  if (options.threshold_pages < 1) {
    return Error{errc::invalid_argument, "checkpoint threshold must be at least 1 page, not " +
                                             std::to_string(options.threshold_pages)};
  }
  if (!options.logger) options.logger = spdlog::default_logger();
  // Not query_only: a checkpoint writes the database file (it is no SQL statement, but a
  // connection that promises to write nothing should not be the one that does).
  auto conn = open(path, {.what = options.what,
                          .busy_timeout = options.busy_timeout,
                          .create = false,
                          .sync_full = options.sync_full,
                          .single_threaded = true});
  if (!conn) return conn.error();
  auto self =
      std::unique_ptr<Checkpointer>(new Checkpointer(writer, std::move(conn).value(), std::move(options)));
  // The hook replaces the automatic checkpoint (which is itself a WAL hook): from here on the
  // writer's commits only report the log's size.
  sqlite3_wal_hook(writer.getHandle(), &Checkpointer::on_commit, self.get());
  self->thread_ = std::thread([s = self.get()] { s->run(); });
  shelfjobs::detail::named(self->thread_, "shelf-checkpt");
  return self;
}

Checkpointer::Checkpointer(SQLite::Database& writer, std::unique_ptr<SQLite::Database> conn,
                           CheckpointOptions options)
    : writer_(&writer),
      conn_(std::move(conn)),
      opts_(std::move(options)),
      ask_at_(opts_.threshold_pages),
      catch_up_at_(kCatchUpThresholds * opts_.threshold_pages) {}

Checkpointer::~Checkpointer() { stop(); }

void Checkpointer::stop() {
  {
    shelfjobs::detail::MutexLock lock(mu_);
    if (std::exchange(stopped_, true)) return;
    stopping_ = true;
  }
  // Installs SQLite's own hook again in place of this one.
  sqlite3_wal_autocheckpoint(writer_->getHandle(), opts_.threshold_pages);
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

CheckpointFigures Checkpointer::figures() const {
  shelfjobs::detail::MutexLock lock(mu_);
  return figures_;
}

int Checkpointer::on_commit(void* p, sqlite3* db, const char* schema, int log_pages) {
  auto* self = static_cast<Checkpointer*>(p);
  const int threshold = self->opts_.threshold_pages;
  // A log that shrank was started again from its beginning: count its growth from zero.
  if (log_pages < self->last_pages_) {
    self->ask_at_ = threshold;
    self->catch_up_at_ = kCatchUpThresholds * threshold;
  }
  self->last_pages_ = log_pages;
  if (log_pages >= kCatchUpThresholds * threshold) {
    // The log starts over only at a commit that finds all of it copied, which a checkpoint
    // beside a steady stream of commits never leaves behind: it copies what was there when it
    // began, and the writer has added more by its end. Here the writer copies the rest itself
    // (most of it is copied already), as SQLite would have at each threshold; at most once per
    // threshold of growth, should a reader hold it back. Should the thread be checkpointing
    // right now, the writer waits for it first: the two cannot checkpoint at once, and a thread
    // that kept finding the writer's commits ahead of it would let the log grow for as long as
    // the stream lasts.
    if (log_pages < self->catch_up_at_) return SQLITE_OK;
    self->wait_thread_idle();
    int log = -1;
    int backfilled = -1;
    const int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, &log, &backfilled);
    // SQLITE_BUSY: another process checkpoints; try again at the next commit (that costs no I/O).
    if ((rc & 0xff) != SQLITE_BUSY) self->catch_up_at_ = log_pages + threshold;
    self->counted(rc, log, backfilled, true);
    return SQLITE_OK;
  }
  if (log_pages >= self->ask_at_) {
    // Asked once per `threshold_pages` of growth, whether or not the last checkpoint could copy
    // everything (a reader may hold it back): no checkpoint at every commit behind a long read.
    self->ask_at_ = log_pages + threshold;
    self->ask();
  }
  return SQLITE_OK;
}

void Checkpointer::ask() {
  bool wake = false;
  {
    shelfjobs::detail::MutexLock lock(mu_);
    ++figures_.asked;
    wake = !std::exchange(asked_, true);
  }
  if (wake) cv_.notify_one();
}

void Checkpointer::run() {
  for (;;) {
    {
      shelfjobs::detail::MutexLock lock(mu_);
      while (!asked_ && !stopping_) lock.wait(cv_);
      if (stopping_) return;
      asked_ = false;
    }
    if (opts_.before_checkpoint) opts_.before_checkpoint();
    {
      shelfjobs::detail::MutexLock lock(mu_);
      running_ = true;
    }
    int log = -1;
    int backfilled = -1;
    const int rc =
        sqlite3_wal_checkpoint_v2(conn_->getHandle(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &backfilled);
    counted(rc, log, backfilled, false);
    {
      shelfjobs::detail::MutexLock lock(mu_);
      running_ = false;
    }
    idle_cv_.notify_all();
  }
}

void Checkpointer::wait_thread_idle() {
  shelfjobs::detail::MutexLock lock(mu_);
  while (running_) lock.wait(idle_cv_);
}

void Checkpointer::counted(int rc, int log, int backfilled, bool by_writer) {
  // SQLITE_BUSY: another connection checkpoints right now, and does this work.
  const bool failed = rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY;
  if (failed) {
    opts_.logger->error("{} {}: checkpoint{} failed: {}", opts_.what, conn_->getFilename(),
                        by_writer ? " (by the writer)" : "", sqlite3_errstr(rc));
  }
  shelfjobs::detail::MutexLock lock(mu_);
  if (rc == SQLITE_OK) {
    ++(by_writer ? figures_.by_writer : figures_.checkpoints);
    figures_.log_frames = log;
    figures_.backfilled = backfilled;
  }
  if (failed) ++figures_.failures;
}

}  // namespace shelfjobs::sqlite
