// SPDX-License-Identifier: MIT
// The PostgreSQL job store (include/shelfjobs/engine/postgres_job_store.hpp).
//
// It has the SQLite store's shape: one writer connection commits everything queued at once
// (WriteQueue, the group-commit machinery both share), a second connection reads, and the
// figures (job_stats, job_minutes) change in the same transaction as the finishes they count.
// What a server adds:
//  - The server can go away (a restart, a dropped connection). A commit that fails is retried
//    with the same writes, on a new connection when the old one broke; reads reconnect and try
//    once more. Nothing is dropped while the store is open, so a push that returned is stored.
//  - One engine per schema: a session advisory lock, held by the writer connection, keyed by
//    the schema. The server releases it when the connection goes, however its process ended.
//    After a reconnect the lock is taken again before anything is written.
//  - libpqxx 6 has no optional parameters; a NULL is passed as a null `const char*`, so optional
//    values go through their text form (`opt`).

#include "engine/store/postgres_store.hpp"

namespace shelfjobs {

bool is_postgres_url(std::string_view text) noexcept {
  return text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0;
}

bool postgres_store_available() noexcept { return true; }

namespace detail {

// ------------------------------------------------------------------ schema

// One SQL script per version (index + 1 = version); "$S" stands for the quoted schema. Append
// only: a released migration never changes, a new one is a new entry.
const std::vector<std::string>& postgres_job_store_migrations() {
  static const std::vector<std::string> migrations = {
      R"sql(
CREATE TABLE $S.jobs (
  id               bigint   PRIMARY KEY,
  name             text     NOT NULL,
  body             text     NOT NULL,
  priority         smallint NOT NULL,
  trigger          smallint NOT NULL,
  event            text     NOT NULL DEFAULT '',
  status           smallint NOT NULL,
  queued_at        bigint   NOT NULL,
  started_at       bigint,
  ended_at         bigint,
  duration_ms      bigint,
  attempt          integer  NOT NULL DEFAULT 1,
  progress_current bigint   NOT NULL DEFAULT 0,
  progress_total   bigint   NOT NULL DEFAULT 0,
  progress_message text     NOT NULL DEFAULT '',
  message          text     NOT NULL DEFAULT '',
  error_kind       smallint NOT NULL DEFAULT 0,
  error            text     NOT NULL DEFAULT '',
  not_before       bigint,
  max_attempts     integer  NOT NULL DEFAULT 1,
  task             text     NOT NULL DEFAULT ''
);
CREATE INDEX jobs_by_status ON $S.jobs (status, id);
CREATE INDEX jobs_by_name ON $S.jobs (name, id);
CREATE INDEX jobs_active ON $S.jobs (id) WHERE status IN (0, 1);
CREATE TABLE $S.scheduled_tasks (
  name             text    PRIMARY KEY,
  command          text    NOT NULL,
  body             text    NOT NULL,
  interval_s       bigint  NOT NULL,
  time_of_day_min  bigint,
  time_zone        text    NOT NULL DEFAULT '',
  jitter_s         bigint  NOT NULL DEFAULT 0,
  next_due         bigint,
  last_start       bigint,
  last_finish      bigint,
  last_status      smallint,
  last_message     text    NOT NULL DEFAULT '',
  last_duration_ms bigint,
  last_job         bigint
);
CREATE TABLE $S.job_stats (
  name              text   PRIMARY KEY,
  completed         bigint NOT NULL DEFAULT 0,
  failed            bigint NOT NULL DEFAULT 0,
  cancelled         bigint NOT NULL DEFAULT 0,
  duration_ms_total bigint NOT NULL DEFAULT 0,
  last_start        bigint,
  last_finish       bigint,
  last_status       smallint
);
CREATE TABLE $S.job_minutes (
  minute          bigint NOT NULL,
  name            text   NOT NULL,
  completed       bigint NOT NULL DEFAULT 0,
  failed          bigint NOT NULL DEFAULT 0,
  cancelled       bigint NOT NULL DEFAULT 0,
  duration_sum_ms bigint NOT NULL DEFAULT 0,
  durations       text   NOT NULL DEFAULT '',
  PRIMARY KEY (minute, name)
);
CREATE TABLE $S.meta (
  key   text   PRIMARY KEY,
  value bigint NOT NULL
);
)sql",
      // 2: a queue several engines share. A job belongs to the node that claimed it (`node`);
      // a queued, unclaimed job is a dedup target by its key; a scheduled tick is kept once.
      R"sql(
ALTER TABLE $S.jobs ADD COLUMN node bigint, ADD COLUMN dedup_key text, ADD COLUMN tick_key text;
CREATE UNIQUE INDEX jobs_dedup_queued ON $S.jobs (dedup_key) WHERE status = 0 AND dedup_key IS NOT NULL;
CREATE UNIQUE INDEX jobs_tick ON $S.jobs (tick_key) WHERE tick_key IS NOT NULL;
CREATE INDEX jobs_claimable ON $S.jobs (priority DESC, id) WHERE status = 0 AND node IS NULL;
CREATE INDEX jobs_by_node ON $S.jobs (node) WHERE node IS NOT NULL;
CREATE TABLE $S.nodes (
  id           bigserial   PRIMARY KEY,
  name         text        NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  lease_until  timestamptz NOT NULL,
  running      integer     NOT NULL DEFAULT 0,
  claimed      integer     NOT NULL DEFAULT 0
);
CREATE TABLE $S.locks (
  key  text   PRIMARY KEY,
  job  bigint NOT NULL,
  node bigint NOT NULL
);
CREATE INDEX locks_by_job ON $S.locks (job);
CREATE SEQUENCE $S.id_blocks;
)sql",
      // 3: rate keys counted across the nodes: the time (server clock, ms) of each key's next
      // allowed use, and the uses a budget counts. A job another node holds is cancelled by asking that node
      // (the flag).
      R"sql(
CREATE TABLE $S.rates (
  key     text   PRIMARY KEY,
  next_ms bigint NOT NULL
);
CREATE TABLE $S.rate_uses (
  key   text   NOT NULL,
  at_ms bigint NOT NULL
);
CREATE INDEX rate_uses_by_key ON $S.rate_uses (key, at_ms);
ALTER TABLE $S.jobs ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
CREATE INDEX jobs_cancel_requested ON $S.jobs (node) WHERE cancel_requested;
)sql",
      // 4: a job's status changes three times, and each change added an entry to jobs_by_status
      // (and left a dead one behind for vacuum). Listing by status needs an index only where the
      // rows are few: the active jobs (jobs_active) and the failed and cancelled ones. Completed
      // runs are most of the table, so a listing of them walks the primary key newest first.
      // IF EXISTS: a database administrator may have dropped or added either by hand.
      R"sql(
DROP INDEX IF EXISTS $S.jobs_by_status;
CREATE INDEX IF NOT EXISTS jobs_unsuccessful ON $S.jobs (id) WHERE status IN (3, 4);
)sql",
  };
  return migrations;
}

// ------------------------------------------------------------------ connections

std::unique_ptr<pqxx::connection> PostgresJobStore::connect() {
  auto c = std::make_unique<pqxx::connection>(with_timeout(opts_.url, opts_.connect_timeout));
  pqxx::nontransaction tx(*c);
  tx.exec("SET statement_timeout = " + std::to_string(opts_.statement_timeout.count()));
  tx.exec("SET lock_timeout = " + std::to_string(opts_.statement_timeout.count()));
  return c;
}

// A connection that holds the store's lock: the writer's, at open and after a reconnect.
Result<std::unique_ptr<pqxx::connection>> PostgresJobStore::connect_locked() {
  auto c = connect();
  pqxx::nontransaction tx(*c);
  // A cluster's nodes share the lock; a lone engine takes it alone. Either refuses the other.
  const char* take = opts_.shared ? "SELECT pg_try_advisory_lock_shared(hashtext('shelfjobs.store.' || $1))"
                                  : "SELECT pg_try_advisory_lock(hashtext('shelfjobs.store.' || $1))";
  // A session that just closed (an engine stopped a moment ago) holds its lock until its
  // server process has exited, which may come a little after the close: asked again for up to
  // a second before the store counts as in use.
  bool locked = tx.exec_params1(take, opts_.schema)[0].as<bool>();
  for (int attempt = 0; !locked && attempt < 20; ++attempt) {
    std::this_thread::sleep_for(milliseconds(50));
    locked = tx.exec_params1(take, opts_.schema)[0].as<bool>();
  }
  if (!locked) {
    return Error{errc::store_error, "job store " + where_ + " is in use by " +
                                        (opts_.shared ? "an engine that does not share it"
                                                      : "another engine (or a cluster of engines)")};
  }
  return c;
}

// The writer's connection after it broke: the lock again, then the statements.
Status PostgresJobStore::reconnect_writer() {
  writer_.reset();
  auto c = connect_locked();
  if (!c) return c.error();
  prepare(**c);
  writer_ = std::move(c).value();
  return Ok{};
}

void PostgresJobStore::prepare(pqxx::connection& c) {
  // Set-based: each takes arrays, one element per row (postgres_batch.hpp).
  c.prepare(
      "insert_jobs",
      sql("INSERT INTO $S.jobs (id, name, body, priority, trigger, event, status, queued_at, started_at, "
          "ended_at, duration_ms, attempt, progress_current, progress_total, progress_message, message, "
          "error_kind, error, not_before, max_attempts, task) SELECT * FROM unnest($1::bigint[], "
          "$2::text[], $3::text[], $4::smallint[], $5::smallint[], $6::text[], $7::smallint[], $8::bigint[], "
          "$9::bigint[], $10::bigint[], $11::bigint[], $12::integer[], $13::bigint[], $14::bigint[], "
          "$15::text[], $16::text[], $17::smallint[], $18::text[], $19::bigint[], $20::integer[], "
          "$21::text[])"));
  c.prepare(
      "update_jobs",
      sql("UPDATE $S.jobs AS j SET "
          "priority = CASE WHEN u.q THEN u.priority ELSE j.priority END, "
          "trigger = CASE WHEN u.q THEN u.trigger ELSE j.trigger END, "
          "event = CASE WHEN u.q THEN u.event ELSE j.event END, "
          "status = CASE WHEN u.s THEN u.status ELSE j.status END, "
          "started_at = CASE WHEN u.s THEN u.started_at ELSE j.started_at END, "
          "attempt = CASE WHEN u.s THEN u.attempt ELSE j.attempt END, "
          "progress_current = CASE WHEN u.p THEN u.progress_current ELSE j.progress_current END, "
          "progress_total = CASE WHEN u.p THEN u.progress_total ELSE j.progress_total END, "
          "progress_message = CASE WHEN u.p THEN u.progress_message ELSE j.progress_message END, "
          "ended_at = CASE WHEN u.f THEN u.ended_at ELSE j.ended_at END, "
          "duration_ms = CASE WHEN u.f THEN u.duration_ms ELSE j.duration_ms END, "
          "message = CASE WHEN u.f THEN u.message ELSE j.message END, "
          "error_kind = CASE WHEN u.f THEN u.error_kind ELSE j.error_kind END, "
          "error = CASE WHEN u.f THEN u.error ELSE j.error END, "
          "not_before = CASE WHEN u.f THEN u.not_before ELSE j.not_before END, "
          "max_attempts = CASE WHEN u.f THEN u.max_attempts ELSE j.max_attempts END, "
          "task = CASE WHEN u.f THEN u.task ELSE j.task END, "
          // A shared queue's job leaves its node when it is queued again, and stops being a
          // dedup target once it has run.
          "node = CASE WHEN u.f AND u.status = 0 THEN NULL ELSE j.node END, "
          "dedup_key = CASE WHEN u.f THEN NULL ELSE j.dedup_key END "
          "FROM unnest($1::bigint[], $2::boolean[], $3::boolean[], $4::boolean[], $5::boolean[], "
          "$6::smallint[], $7::smallint[], $8::text[], $9::smallint[], $10::bigint[], $11::integer[], "
          "$12::bigint[], $13::bigint[], $14::text[], $15::bigint[], $16::bigint[], $17::text[], "
          "$18::smallint[], $19::text[], $20::bigint[], $21::integer[], $22::text[], $23::bigint[]) AS u(id, "
          "q, s, p, f, priority, trigger, event, status, started_at, attempt, progress_current, "
          "progress_total, progress_message, ended_at, duration_ms, message, error_kind, error, not_before, "
          "max_attempts, task, node) "
          // The attempt token: a node writes a row only while it owns it.
          "WHERE j.id = u.id AND (u.node = 0 OR j.node = u.node) RETURNING j.id"));
  c.prepare(
      "insert_shared",
      sql("INSERT INTO $S.jobs (id, name, body, priority, trigger, event, status, queued_at, started_at, "
          "ended_at, duration_ms, attempt, progress_current, progress_total, progress_message, message, "
          "error_kind, error, not_before, max_attempts, task, dedup_key, tick_key) SELECT * FROM "
          "unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::smallint[], $6::text[], "
          "$7::smallint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::integer[], "
          "$13::bigint[], $14::bigint[], $15::text[], $16::text[], $17::smallint[], $18::text[], "
          "$19::bigint[], $20::integer[], $21::text[], $22::text[], $23::text[]) "
          "ON CONFLICT DO NOTHING RETURNING id"));
  // An equal push that found its twin queued: the twin takes the higher priority, and a manual
  // request makes it manual.
  c.prepare("merge_shared",
            sql("UPDATE $S.jobs AS j SET priority = GREATEST(j.priority, m.priority), "
                "trigger = CASE WHEN m.manual THEN 0 ELSE j.trigger END, "
                "event = CASE WHEN m.manual THEN '' ELSE j.event END "
                "FROM unnest($1::text[], $2::smallint[], $3::boolean[]) AS m(key, priority, manual) "
                "WHERE j.dedup_key = m.key AND j.status = 0"));
  c.prepare("release_locks", sql("DELETE FROM $S.locks WHERE job = ANY($1::bigint[])"));
  c.prepare("notify", "SELECT pg_notify($1, '')");
  c.prepare("notify_changes", "SELECT pg_notify($1, $2)");
  c.prepare("statuses", sql("SELECT id, status FROM $S.jobs WHERE id = ANY($1::bigint[])"));
  c.prepare("add_totals",
            sql("INSERT INTO $S.job_stats AS t (name, completed, failed, cancelled, duration_ms_total, "
                "last_start, last_finish, last_status) SELECT * FROM unnest($1::text[], $2::bigint[], "
                "$3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::smallint[]) "
                "ON CONFLICT (name) DO UPDATE SET completed = t.completed + EXCLUDED.completed, "
                "failed = t.failed + EXCLUDED.failed, cancelled = t.cancelled + EXCLUDED.cancelled, "
                "duration_ms_total = t.duration_ms_total + EXCLUDED.duration_ms_total, "
                "last_start = GREATEST(t.last_start, EXCLUDED.last_start), "
                "last_finish = COALESCE(EXCLUDED.last_finish, t.last_finish), "
                "last_status = EXCLUDED.last_status"));
  c.prepare(
      "save_task",
      sql("INSERT INTO $S.scheduled_tasks (name, command, body, interval_s, time_of_day_min, time_zone, "
          "jitter_s, next_due, last_start, last_finish, last_status, last_message, last_duration_ms, "
          "last_job) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
          "ON CONFLICT (name) DO UPDATE SET command = EXCLUDED.command, body = EXCLUDED.body, "
          "interval_s = EXCLUDED.interval_s, time_of_day_min = EXCLUDED.time_of_day_min, "
          "time_zone = EXCLUDED.time_zone, jitter_s = EXCLUDED.jitter_s, next_due = EXCLUDED.next_due, "
          "last_start = EXCLUDED.last_start, last_finish = EXCLUDED.last_finish, "
          "last_status = EXCLUDED.last_status, last_message = EXCLUDED.last_message, "
          "last_duration_ms = EXCLUDED.last_duration_ms, last_job = EXCLUDED.last_job"));
  c.prepare("drop_minutes", sql("DELETE FROM $S.job_minutes WHERE minute < $1"));
  c.prepare("read_minutes",
            sql("SELECT m.minute, m.name, m.completed, m.failed, m.cancelled, m.duration_sum_ms, "
                "m.durations FROM $S.job_minutes m JOIN unnest($1::bigint[], $2::text[]) AS "
                "k(minute, name) ON m.minute = k.minute AND m.name = k.name"));
  c.prepare("write_minutes",
            sql("INSERT INTO $S.job_minutes (minute, name, completed, failed, cancelled, duration_sum_ms, "
                "durations) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], "
                "$5::bigint[], $6::bigint[], $7::text[]) ON CONFLICT (minute, name) DO UPDATE SET "
                "completed = EXCLUDED.completed, failed = EXCLUDED.failed, cancelled = EXCLUDED.cancelled, "
                "duration_sum_ms = EXCLUDED.duration_sum_ms, durations = EXCLUDED.durations"));
  c.prepare("write_max_id", sql("INSERT INTO $S.meta AS m (key, value) VALUES ('max_job_id', $1) "
                                "ON CONFLICT (key) DO UPDATE SET value = GREATEST(m.value, EXCLUDED.value)"));
}

Result<std::unique_ptr<PostgresJobStore>> PostgresJobStore::open(PostgresStoreOptions options) {
  if (!options.logger) options.logger = spdlog::default_logger();
  if (options.url.empty())
    return Error{errc::invalid_argument, "PostgreSQL job store: the connection string is empty"};
  if (!valid_schema(options.schema)) {
    return Error{errc::invalid_argument,
                 "PostgreSQL job store: schema '" + options.schema +
                     "' must be letters, digits and '_', start with a letter, at most 48 characters"};
  }
  auto store = std::unique_ptr<PostgresJobStore>(new PostgresJobStore(std::move(options)));
  try {
    auto locked = store->connect_locked();
    if (!locked) return locked.error();
    store->writer_ = std::move(locked).value();
    // Migrations: one transaction, serialized across processes by a transaction advisory lock,
    // so two hosts opening a new database at once cannot both apply version 1.
    const auto& migrations = postgres_job_store_migrations();
    pqxx::work tx(*store->writer_);
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('shelfjobs.migrate.' || $1))", store->opts_.schema);
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + store->schema_);
    tx.exec(
        store->sql("CREATE TABLE IF NOT EXISTS $S.schema_migrations (version integer PRIMARY KEY, "
                   "applied_at timestamptz NOT NULL DEFAULT now())"));
    const int have =
        tx.exec(store->sql("SELECT COALESCE(MAX(version), 0) FROM $S.schema_migrations"))[0][0].as<int>();
    if (have > static_cast<int>(migrations.size())) {
      return Error{errc::store_error, "job store " + store->where_ + " has schema version " +
                                          std::to_string(have) + ", newer than this build's " +
                                          std::to_string(migrations.size())};
    }
    for (std::size_t v = static_cast<std::size_t>(have); v < migrations.size(); ++v) {
      tx.exec(in_schema(migrations[v], store->schema_));
      tx.exec_params(store->sql("INSERT INTO $S.schema_migrations (version) VALUES ($1)"),
                     static_cast<int>(v + 1));
    }
    tx.commit();
    // The statements name tables that exist only now.
    store->prepare(*store->writer_);
    store->measure_size(*store->writer_);
  } catch (const std::exception& e) {
    return Error{errc::store_error, "cannot open job store " + store->where_ + ": " + e.what()};
  }
  return store;
}

// ------------------------------------------------------------------ before start()

Result<StoredState> PostgresJobStore::load(TimePoint since) {
  try {
    // Before start() the writer's connection; after close() a connection without the lock (a
    // tool reading what a stopped engine left).
    std::unique_ptr<pqxx::connection> own;
    if (!writer_ || !writer_->is_open()) own = connect();
    pqxx::connection& c = own ? *own : *writer_;
    StoredState out;
    pqxx::transaction<pqxx::isolation_level::repeatable_read> tx(c);  // one view of all five
    for (const auto& r :
         tx.exec(sql("SELECT ") + kJobColumns + sql(" FROM $S.jobs WHERE status IN (0, 1) ORDER BY id")))
      out.active.push_back(row_to_job(r));
    out.max_id =
        tx.exec(sql("SELECT GREATEST(COALESCE((SELECT value FROM $S.meta WHERE key = 'max_job_id'), 0), "
                    "COALESCE((SELECT MAX(id) FROM $S.jobs), 0))"))[0][0]
            .as<std::int64_t>();
    for (const auto& r :
         tx.exec(sql("SELECT ") + kTaskColumns + sql(" FROM $S.scheduled_tasks ORDER BY name")))
      out.tasks.push_back(row_to_task(r));
    for (const auto& r : tx.exec(sql("SELECT name, completed, failed, cancelled, last_start, last_finish, "
                                     "last_status FROM $S.job_stats ORDER BY name"))) {
      TypeTotals t;
      t.name = r["name"].c_str();
      t.completed = r["completed"].as<std::int64_t>();
      t.failed = r["failed"].as<std::int64_t>();
      t.cancelled = r["cancelled"].as<std::int64_t>();
      t.last_start = nullable_time(r["last_start"]);
      t.last_finish = nullable_time(r["last_finish"]);
      if (auto s = nullable<int>(r["last_status"])) t.last_status = static_cast<JobStatus>(*s);
      out.totals.push_back(std::move(t));
    }
    for (const auto& r :
         tx.exec_params(sql("SELECT minute, name, completed, failed, cancelled, duration_sum_ms, "
                            "durations FROM $S.job_minutes WHERE minute >= $1 ORDER BY minute, name"),
                        ms(since))) {
      MinuteFigures m;
      m.minute = at_ms(r["minute"].as<std::int64_t>());
      m.name = r["name"].c_str();
      m.completed = r["completed"].as<std::int64_t>();
      m.failed = r["failed"].as<std::int64_t>();
      m.cancelled = r["cancelled"].as<std::int64_t>();
      m.duration_sum_ms = r["duration_sum_ms"].as<std::int64_t>();
      m.durations = decode_histogram(r["durations"].c_str());
      out.minutes.push_back(std::move(m));
    }
    tx.commit();
    return out;
  } catch (const std::exception& e) {
    return Error{errc::store_error, "cannot read job store " + where_ + ": " + e.what()};
  }
}

Status PostgresJobStore::write_recovered(const std::vector<JobInfo>& jobs) {
  try {
    MinuteDeltas minutes;
    JobId max_inserted = 0;
    pg::JobWriteFolder folder;
    for (const auto& j : jobs) folder.finish(j);
    pqxx::work tx(*writer_);
    bool changed_queue = false;
    write_jobs(tx, folder.take(), minutes, max_inserted, changed_queue);
    write_minutes(tx, minutes);
    tx.commit();
    return Ok{};
  } catch (const std::exception& e) {
    return Error{errc::store_error, "cannot write recovered jobs to " + where_ + ": " + e.what()};
  }
}

// ------------------------------------------------------------------ writes

void PostgresJobStore::enqueue(Payload payload, Done done, std::optional<std::int64_t> node) {
  Op op{std::move(payload), std::move(done)};
  if (opts_.shared) op.node = node ? *node : node_.load();
  if (writes_.push(op)) return;
  if (!writes_.closing()) log_->error("job store {}: write before start(); dropped", where_);
  const Error not_running{errc::store_error, "job store " + where_ + " is not running"};
  if (auto* pr = std::get_if<Prune>(&op.payload)) pr->result->set_value(not_running);
  if (auto* m = std::get_if<Maintain>(&op.payload)) m->result->set_value(not_running);
  if (op.done) op.done(false);
}

namespace {
// Text of a value for an array literal; none for NULL.
Opt text(std::int64_t v) { return std::to_string(v); }
Opt text(int v) { return std::to_string(v); }
Opt text(bool v) { return std::string(v ? "t" : "f"); }
Opt text(const std::string& v) { return v; }
Opt text(const Opt& v) { return v; }
Opt text(TimePoint t) { return std::to_string(ms(t)); }
Opt text(const std::optional<TimePoint>& t) { return opt(t); }

// One array parameter per column.
struct Columns {
  explicit Columns(std::size_t n) : cols(n) {}
  template <class... V>
  void row(const V&... values) {
    std::size_t c = 0;
    (cols[c++].push_back(text(values)), ...);
  }
  std::vector<std::string> literals() const {
    std::vector<std::string> out;
    for (const auto& c : cols) out.push_back(pg::array_literal(c));
    return out;
  }
  std::vector<std::vector<Opt>> cols;
};

// The duration a finished row stores: its duration once it ended, else none.
Opt stored_duration(const JobInfo& j) {
  return j.ended_at ? Opt(std::to_string(j.duration.count())) : std::nullopt;
}
}  // namespace

// A batch's job writes as sets: the figures' prior statuses, one INSERT of the new rows, one
// UPDATE of the changed ones, the totals; minutes are gathered for write_minutes.
void PostgresJobStore::write_jobs(pqxx::work& tx, pg::JobWriteSet set, MinuteDeltas& minutes,
                                  JobId& max_inserted, bool& changed_queue) {
  std::unordered_set<JobId> new_rows;
  for (const auto& n : set.inserts) new_rows.insert(n.row.id);
  // A terminal finish counts when its row was not terminal before it. The rows' statuses before
  // this batch are read before it changes them.
  std::unordered_map<JobId, JobStatus> before;
  {
    std::vector<Opt> ids;
    for (const auto& f : set.finishes)
      if (!f.prior) ids.push_back(std::to_string(f.job.id));
    if (!ids.empty()) {
      for (const auto& r : tx.exec_prepared("statuses", pg::array_literal(ids)))
        before[r[0].as<std::int64_t>()] = static_cast<JobStatus>(r[1].as<int>());
    }
  }
  if (!set.inserts.empty()) {
    // A shared queue's rows carry keys that may find a twin; a lone engine's never do.
    const bool keyed = opts_.shared;
    Columns c(keyed ? 23 : 21);
    for (const auto& n : set.inserts) {
      const JobInfo& j = n.row;
      if (keyed) {
        c.row(j.id, j.name, n.body, i(j.priority), i(j.trigger), j.event, i(j.status), j.queued_at,
              j.started_at, j.ended_at, stored_duration(j), j.attempt, j.progress.current, j.progress.total,
              j.progress.message, j.message, i(j.error_kind), j.error, j.not_before, j.max_attempts, j.task,
              n.keys.dedup.empty() ? Opt() : Opt(n.keys.dedup),
              n.keys.tick.empty() ? Opt() : Opt(n.keys.tick));
      } else {
        c.row(j.id, j.name, n.body, i(j.priority), i(j.trigger), j.event, i(j.status), j.queued_at,
              j.started_at, j.ended_at, stored_duration(j), j.attempt, j.progress.current, j.progress.total,
              j.progress.message, j.message, i(j.error_kind), j.error, j.not_before, j.max_attempts, j.task);
      }
      max_inserted = std::max(max_inserted, j.id);
    }
    const auto a = c.literals();
    if (!keyed) {
      tx.exec_prepared("insert_jobs", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
                       a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20]);
    } else {
      std::unordered_set<JobId> stored;
      for (const auto& r : tx.exec_prepared("insert_shared", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                                            a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16],
                                            a[17], a[18], a[19], a[20], a[21], a[22]))
        stored.insert(r[0].as<std::int64_t>());
      Columns merged(3);
      for (const auto& n : set.inserts) {
        if (stored.count(n.row.id) != 0 || n.keys.dedup.empty()) continue;
        merged.row(n.keys.dedup, i(n.row.priority), n.row.trigger == Trigger::manual);
      }
      if (!merged.cols[0].empty()) {
        const auto m = merged.literals();
        tx.exec_prepared("merge_shared", m[0], m[1], m[2]);
      }
      if (!stored.empty()) changed_queue = true;
      for (JobId id : stored) changed_jobs_.push_back(id);
    }
  }
  std::unordered_set<JobId> applied;  // updated rows (a node's token may refuse some)
  if (!set.updates.empty()) {
    Columns c(23);
    for (const auto& u : set.updates) {
      const JobInfo& j = u.row;
      c.row(j.id, u.queued_fields, u.start_fields, u.progress_fields, u.finish_fields, i(j.priority),
            i(j.trigger), j.event, i(j.status), j.started_at, j.attempt, j.progress.current, j.progress.total,
            j.progress.message, j.ended_at, stored_duration(j), j.message, i(j.error_kind), j.error,
            j.not_before, j.max_attempts, j.task, u.node);
    }
    const auto a = c.literals();
    for (const auto& r :
         tx.exec_prepared("update_jobs", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
                          a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22]))
      applied.insert(r[0].as<std::int64_t>());
    if (opts_.shared) {
      for (const auto& u : set.updates) {
        if ((u.start_fields || u.finish_fields) && applied.count(u.row.id) != 0)
          changed_jobs_.push_back(u.row.id);
      }
      // A finished or requeued job frees its locks in the commit that ends its run.
      std::vector<Opt> freed;
      for (const auto& u : set.updates) {
        if (u.finish_fields && applied.count(u.row.id) != 0) freed.push_back(std::to_string(u.row.id));
      }
      // Others claim again when a lock came free or a job went back to the queue (a retry,
      // a rescued job), not at every finish.
      if (!freed.empty() && tx.exec_prepared("release_locks", pg::array_literal(freed)).affected_rows() > 0) {
        changed_queue = true;
      }
      for (const auto& u : set.updates) {
        if (u.finish_fields && u.row.status == JobStatus::queued && applied.count(u.row.id) != 0) {
          changed_queue = true;
        }
      }
      for (const auto& u : set.updates) {
        if (applied.count(u.row.id) == 0) {
          log_->warn("job store {}: job {} no longer belongs to node {}; its write is dropped", where_,
                     u.row.id, u.node);
        }
      }
    }
  }
  // Totals per type, in call order: counts add up, the latest start wins, the last finish that
  // has an end and the last status are the batch's last (as finish() by finish() would leave).
  std::map<std::string, TypeTotals> totals;
  std::map<std::string, std::int64_t> duration_total;
  for (const auto& f : set.finishes) {
    const JobInfo& j = f.job;
    std::optional<JobStatus> prior = f.prior;
    if (!prior) {
      if (auto b = before.find(j.id); b != before.end()) prior = b->second;
    }
    if (!prior || is_terminal(*prior)) continue;                  // not stored, or counted already
    if (!applied.count(j.id) && !new_rows.count(j.id)) continue;  // another node owns it now
    auto& t = totals[j.name];
    t.name = j.name;
    switch (j.status) {
      case JobStatus::completed: ++t.completed; break;
      case JobStatus::failed: ++t.failed; break;
      default: ++t.cancelled; break;
    }
    const std::int64_t duration_ms = has_duration(j) ? std::max<std::int64_t>(0, j.duration.count()) : 0;
    duration_total[j.name] += duration_ms;
    if (j.started_at && (!t.last_start || *j.started_at > *t.last_start)) t.last_start = j.started_at;
    if (j.ended_at) t.last_finish = j.ended_at;
    t.last_status = j.status;
    if (!j.ended_at) continue;  // no minute to count it in
    auto& m = minutes[{minute_of(ms(*j.ended_at)), j.name}];
    switch (j.status) {
      case JobStatus::completed: ++m.completed; break;
      case JobStatus::failed: ++m.failed; break;
      default: ++m.cancelled; break;
    }
    if (has_duration(j)) {
      m.duration_sum_ms += duration_ms;
      ++m.durations[duration_bin(milliseconds(duration_ms))];
    }
  }
  if (!totals.empty()) {
    Columns c(8);
    for (const auto& [name, t] : totals) {
      c.row(name, t.completed, t.failed, t.cancelled, duration_total[name], t.last_start, t.last_finish,
            i(*t.last_status));
    }
    const auto a = c.literals();
    tx.exec_prepared("add_totals", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
  }
}

// Every (minute, type) the batch counted: one read of their rows, one write of them all.
void PostgresJobStore::write_minutes(pqxx::work& tx, MinuteDeltas& minutes) {
  if (minutes.empty()) return;
  {
    Columns keys(2);
    for (const auto& [key, delta] : minutes) keys.row(key.first, key.second);
    const auto k = keys.literals();
    for (const auto& r : tx.exec_prepared("read_minutes", k[0], k[1])) {
      auto found = minutes.find({r[0].as<std::int64_t>(), r[1].c_str()});
      if (found == minutes.end()) continue;
      auto& delta = found->second;
      delta.completed += r[2].as<std::int64_t>();
      delta.failed += r[3].as<std::int64_t>();
      delta.cancelled += r[4].as<std::int64_t>();
      delta.duration_sum_ms += r[5].as<std::int64_t>();
      const auto h = decode_histogram(r[6].c_str());
      for (std::size_t b = 0; b < h.size(); ++b) delta.durations[b] += h[b];
    }
  }
  Columns c(7);
  for (const auto& [key, d] : minutes) {
    c.row(key.first, key.second, d.completed, d.failed, d.cancelled, d.duration_sum_ms,
          encode_histogram(d.durations));
  }
  const auto a = c.literals();
  tx.exec_prepared("write_minutes", a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
  minutes.clear();
}

// The batch in call order: job writes are folded until a task save or a minute drop, which
// needs what came before it written first.
void PostgresJobStore::apply_range(pqxx::work& tx, std::vector<Op>& ops, std::size_t begin, std::size_t end,
                                   JobId& max_inserted, bool& changed_queue) {
  MinuteDeltas minutes;
  pg::JobWriteFolder folder;
  auto flush_jobs = [&] {
    if (!folder.empty()) write_jobs(tx, folder.take(), minutes, max_inserted, changed_queue);
  };
  for (std::size_t k = begin; k < end; ++k) {
    folder.at_node(ops[k].node);
    std::visit(
        [&](const auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, Insert>) {
            folder.insert(op.job, op.body_text, op.keys);
          } else if constexpr (std::is_same_v<T, UpdateQueued>) {
            folder.update_queued(op.id, op.priority, op.trigger, op.event);
          } else if constexpr (std::is_same_v<T, StartJob>) {
            folder.start(op.id, op.started_at, op.attempt);
          } else if constexpr (std::is_same_v<T, ProgressOp>) {
            folder.progress(op.id, op.progress);
          } else if constexpr (std::is_same_v<T, Finish>) {
            folder.finish(op.job);
          } else if constexpr (std::is_same_v<T, SaveTask>) {
            flush_jobs();
            const TaskRow& t = op.row;
            tx.exec_prepared("save_task", t.name, t.command, t.body, t.interval_s, p(opt(t.time_of_day_min)),
                             t.time_zone, t.jitter_s, p(opt(t.next_due)), p(opt(t.last_start)),
                             p(opt(t.last_finish)), p(opt(t.last_status)), t.last_message,
                             p(opt(t.last_duration_ms)),
                             p(t.last_job ? Opt(std::to_string(*t.last_job)) : std::nullopt));
          } else if constexpr (std::is_same_v<T, DropMinutes>) {
            flush_jobs();
            write_minutes(tx, minutes);  // a drop called after a finish drops that finish's minute too
            tx.exec_prepared("drop_minutes", ms(op.before));
          }
        },
        ops[k].payload);
  }
  flush_jobs();
  write_minutes(tx, minutes);
}

// ------------------------------------------------------------------ the writer

void PostgresJobStore::measure_size(pqxx::connection& c) {
  sized_at_ = std::chrono::steady_clock::now();
  try {
    pqxx::nontransaction tx(c);
    const auto bytes = tx.exec_params1(
                             "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                             "JOIN pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE n.nspname = $1 AND c.relkind = 'r'",
                             opts_.schema)[0]
                           .as<std::int64_t>();
    size_bytes_.store(static_cast<std::uintmax_t>(std::max<std::int64_t>(0, bytes)),
                      std::memory_order_relaxed);
  } catch (const std::exception& e) {
    log_->warn("job store {}: cannot measure its size: {}", where_, e.what());
  }
}

// "node:id,id,...", in payloads below PostgreSQL's 8000-byte limit.
void PostgresJobStore::notify_changes(pqxx::work& tx) {
  if (changed_jobs_.empty()) return;
  const std::string head = std::to_string(node_.load()) + ":";
  std::string payload = head;
  for (JobId id : changed_jobs_) {
    if (payload.size() > 7000) {
      tx.exec_prepared("notify_changes", events_channel(), payload);
      payload = head;
    }
    if (payload.size() > head.size()) payload += ',';
    payload += std::to_string(id);
  }
  tx.exec_prepared("notify_changes", events_channel(), payload);
  changed_jobs_.clear();
}

void PostgresJobStore::commit_range(std::vector<Op>& ops, std::size_t begin, std::size_t end) {
  if (begin == end) return;
  // A failed commit is retried with the same writes, after a reconnect when the connection
  // broke (a server restart): a dropped state change would make the store disagree with what
  // the engine already told observers. Everything behind it waits.
  auto backoff = milliseconds(50);
  for (int attempt = 1;; ++attempt) {
    try {
      pqxx::connection& conn = writer();
      const auto t0 = std::chrono::steady_clock::now();
      JobId max_inserted = 0;
      pqxx::work tx(conn);
      bool changed_queue = false;
      changed_jobs_.clear();  // of a failed attempt
      apply_range(tx, ops, begin, end, max_inserted, changed_queue);
      if (max_inserted > 0) tx.exec_prepared("write_max_id", max_inserted);
      // Delivered at commit: the other nodes claim what this commit queued or unlocked, and
      // tell their hosts about the jobs it changed.
      if (changed_queue) tx.exec_prepared("notify", channel());
      notify_changes(tx);
      tx.commit();
      counters_.committed(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0));
      if (std::chrono::steady_clock::now() - sized_at_ > std::chrono::minutes(1)) measure_size(*writer_);
      break;
    } catch (const pqxx::in_doubt_error& e) {
      // The connection broke during COMMIT: the transaction may or may not have committed. The
      // inserts would then fail as duplicates on retry, so ask the server which it was.
      counters_.commit_failed();
      log_->error("job store {}: commit of {} writes in doubt: {}", where_, end - begin, e.what());
      writer_.reset();
      bool committed = false;
      try {
        if (auto c = reconnect_writer(); c) {
          // Any new row of the batch tells: the batch committed whole or not at all. A batch
          // without one is safe to repeat (every other write sets values, and a finish counts in
          // the figures only when its row was not terminal yet).
          for (std::size_t k = begin; k < end && !committed; ++k) {
            const auto* insert = std::get_if<Insert>(&ops[k].payload);
            if (insert == nullptr) continue;
            pqxx::nontransaction q(*writer_);
            committed = !q.exec_params(sql("SELECT 1 FROM $S.jobs WHERE id = $1"), insert->job.id).empty();
            break;
          }
        }
      } catch (const std::exception&) {
      }
      if (committed) break;
      std::this_thread::sleep_for(backoff);
    } catch (const std::exception& e) {
      counters_.commit_failed();
      if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr || (writer_ && !writer_->is_open())) {
        writer_.reset();
      }
      const bool give_up = attempt >= 5 && writes_.closing();
      log_->error("job store {}: commit of {} writes failed (attempt {}): {}", where_, end - begin, attempt,
                  e.what());
      if (give_up) {
        writes_.complete(ops.begin() + begin, ops.begin() + end, false);
        return;
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, milliseconds(2000));
    }
  }
  writes_.complete(ops.begin() + begin, ops.begin() + end, true);
}

void PostgresJobStore::run_prune(Op& op) {
  auto& pr = std::get<Prune>(op.payload);
  Result<std::int64_t> result = std::int64_t{0};
  try {
    pqxx::work tx(writer());
    tx.exec(
        sql("INSERT INTO $S.meta AS m (key, value) SELECT 'max_job_id', MAX(id) FROM $S.jobs HAVING MAX(id) "
            "IS NOT NULL ON CONFLICT (key) DO UPDATE SET value = GREATEST(m.value, EXCLUDED.value)"));
    std::int64_t removed = 0;
    if (pr.cutoff) {
      removed += tx.exec_params(sql("DELETE FROM $S.jobs WHERE status IN (2, 3, 4) AND ended_at < $1"),
                                ms(*pr.cutoff))
                     .affected_rows();
    }
    if (pr.max_rows > 0) {
      removed += tx.exec_params(sql("DELETE FROM $S.jobs WHERE id IN (SELECT id FROM $S.jobs WHERE status IN "
                                    "(2, 3, 4) ORDER BY id DESC OFFSET $1)"),
                                pr.max_rows)
                     .affected_rows();
    }
    tx.commit();
    result = removed;
  } catch (const std::exception& e) {
    counters_.write_failed();
    log_->error("job store {}: prune failed: {}", where_, e.what());
    result = Error{errc::store_error, "cannot prune job store " + where_ + ": " + e.what()};
  }
  pr.result->set_value(std::move(result));
  writes_.complete(&op, &op + 1, true);
}

// The server keeps its own files (checkpoints, integrity): maintenance here refreshes the
// planner's statistics and reclaims dead rows of the store's tables.
void PostgresJobStore::run_maintain(Op& op) {
  auto& m = std::get<Maintain>(op.payload);
  StoreMaintenanceReport report;
  report.file = where_;
  try {
    pqxx::nontransaction tx(writer());
    const auto size = [&] {
      return tx
          .exec_params(
              "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
              "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
              opts_.schema)[0][0]
          .as<std::int64_t>();
    };
    report.bytes_before = size();
    for (const char* table : {"jobs", "job_minutes", "job_stats", "scheduled_tasks", "meta"}) {
      tx.exec(std::string(m.options.optimize ? "VACUUM (ANALYZE) " : "VACUUM ") + schema_ + "." + table);
    }
    report.vacuumed = true;
    report.optimized = m.options.optimize;
    report.bytes_after = size();
    report.notes.push_back("integrity check and checkpoints are the server's own (PostgreSQL)");
  } catch (const std::exception& e) {
    report.notes.push_back(std::string("vacuum: ") + e.what());
  }
  m.result->set_value(std::move(report));
  writes_.complete(&op, &op + 1, true);
}

void PostgresJobStore::commit_batch(std::vector<Op>& batch) {
  store_ops::commit_split(
      batch,
      [this](std::vector<Op>& ops, std::size_t begin, std::size_t end) { commit_range(ops, begin, end); },
      [this](Op& op) { run_prune(op); }, [this](Op& op) { run_maintain(op); });
}

// ------------------------------------------------------------------ reads

template <class F>
auto PostgresJobStore::read(const char* what, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
  // A read sees every write called before it, or fails: with the server unreachable those writes
  // wait for it, and a read that waited with them would hang its caller (an HTTP request) for as
  // long as the server is down. It waits as long as a connection attempt may take.
  if (!writes_.wait_settled_for(opts_.connect_timeout)) {
    return Error{errc::store_error, std::string("cannot ") + what + " in job store " + where_ +
                                        ": the writes before it are not committed yet (is the server down?)"};
  }
  std::lock_guard lock(read_mutex_);
  std::string last_error;
  for (int attempt = 1; attempt <= 2; ++attempt) {  // once more on a new connection
    try {
      if (!reader_ || !reader_->is_open()) reader_ = connect();
      return f(*reader_);
    } catch (const std::exception& e) {
      last_error = e.what();
      reader_.reset();
    }
  }
  log_->error("job store {}: {} failed: {}", where_, what, last_error);
  return Error{errc::store_error,
               std::string("cannot ") + what + " in job store " + where_ + ": " + last_error};
}

Result<std::optional<JobInfo>> PostgresJobStore::get(JobId id) {
  return read("read a job", [&](pqxx::connection& c) -> Result<std::optional<JobInfo>> {
    pqxx::nontransaction tx(c);
    const auto r = tx.exec_params(sql("SELECT ") + kJobColumns + sql(" FROM $S.jobs WHERE id = $1"), id);
    std::optional<JobInfo> out;
    if (!r.empty()) out = row_to_job(r[0]);
    return out;
  });
}

Result<JobPage> PostgresJobStore::list(const JobQuery& query) {
  if (query.limit < 1 || query.limit > 1000) {
    return Error{errc::invalid_argument,
                 "limit must be between 1 and 1000, not " + std::to_string(query.limit)};
  }
  return read("list jobs", [&](pqxx::connection& c) -> Result<JobPage> {
    pqxx::nontransaction tx(c);
    std::string q = sql("SELECT ") + kJobColumns + sql(" FROM $S.jobs WHERE true");
    if (!query.statuses.empty()) {
      q += " AND status IN (";
      for (std::size_t k = 0; k < query.statuses.size(); ++k)
        q += (k ? "," : "") + std::to_string(static_cast<int>(query.statuses[k]));
      q += ")";
    }
    if (!query.names.empty()) {
      q += " AND name IN (";
      for (std::size_t k = 0; k < query.names.size(); ++k) q += (k ? "," : "") + tx.quote(query.names[k]);
      q += ")";
    }
    if (query.before_id > 0) q += " AND id < " + std::to_string(query.before_id);
    q += " ORDER BY id DESC LIMIT " + std::to_string(query.limit + 1);
    JobPage page;
    for (const auto& r : tx.exec(q)) page.jobs.push_back(row_to_job(r));
    if (page.jobs.size() > static_cast<std::size_t>(query.limit)) {
      page.jobs.pop_back();
      page.next_before_id = page.jobs.back().id;
    }
    return page;
  });
}

Result<std::int64_t> PostgresJobStore::prune(std::optional<TimePoint> cutoff, std::int64_t max_rows) {
  return await_prune([this](Payload p, Done d) { enqueue(std::move(p), std::move(d)); }, cutoff, max_rows);
}

Result<StoreMaintenanceReport> PostgresJobStore::maintain(const StoreMaintenanceOptions& options) {
  return await_maintain([this](Payload p, Done d) { enqueue(std::move(p), std::move(d)); }, options);
}

}  // namespace detail

Result<std::unique_ptr<JobStore>> open_postgres_job_store(PostgresStoreOptions options) {
  auto opened = detail::PostgresJobStore::open(std::move(options));
  if (!opened) return opened.error();
  return std::unique_ptr<JobStore>(std::move(opened).value());
}

int postgres_job_store_schema_version() noexcept {
  return static_cast<int>(detail::postgres_job_store_migrations().size());
}

}  // namespace shelfjobs
