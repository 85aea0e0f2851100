// SPDX-License-Identifier: MIT
#pragma once
// The PostgreSQL job store's class and the helpers its two source files share:
// postgres_job_store.cpp (the JobStore side: open, migrations, the writer, reads) and
// postgres_shared_queue.cpp (the SharedQueue side: nodes, leases, claims, notifications).
// Internal: included by those two files only (both outside the unity build).

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <spdlog/spdlog.h>

#include "engine/store/figures.hpp"
#include "engine/store/postgres_batch.hpp"
#include "engine/store/store_ops.hpp"
#include "engine/store/write_queue.hpp"
#include "shelfjobs/engine/postgres_job_store.hpp"

namespace shelfjobs::detail {

// Conversions and row readers of both files.
namespace pgx {

using std::chrono::milliseconds;

inline std::int64_t ms(TimePoint t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}
inline TimePoint at_ms(std::int64_t v) { return TimePoint{milliseconds(v)}; }

// A nullable parameter: its text, or none (passed as a null `const char*`).
using Opt = std::optional<std::string>;
inline Opt opt(const std::optional<TimePoint>& t) { return t ? Opt(std::to_string(ms(*t))) : std::nullopt; }
inline Opt opt(const std::optional<std::int64_t>& v) { return v ? Opt(std::to_string(*v)) : std::nullopt; }
inline Opt opt(const std::optional<JobStatus>& s) {
  return s ? Opt(std::to_string(static_cast<int>(*s))) : std::nullopt;
}
inline const char* p(const Opt& o) { return o ? o->c_str() : nullptr; }
inline int i(Priority v) { return static_cast<int>(v); }
inline int i(Trigger v) { return static_cast<int>(v); }
inline int i(JobStatus v) { return static_cast<int>(v); }
inline int i(ErrorKind v) { return static_cast<int>(v); }

template <class T>
inline std::optional<T> nullable(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}
inline std::optional<TimePoint> nullable_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return at_ms(f.as<std::int64_t>());
}

// The job columns in SELECT order; rows are read by name.
constexpr const char* kJobColumns =
    "id, name, body, priority, trigger, event, status, queued_at, started_at, ended_at, duration_ms, "
    "attempt, progress_current, progress_total, progress_message, message, error_kind, error, "
    "not_before, max_attempts, task";
constexpr const char* kTaskColumns =
    "name, command, body, interval_s, time_of_day_min, time_zone, jitter_s, next_due, last_start, "
    "last_finish, last_status, last_message, last_duration_ms, last_job";

inline JobInfo row_to_job(const pqxx::row& r) {
  JobInfo j;
  j.id = r["id"].as<std::int64_t>();
  j.name = r["name"].c_str();
  j.body = nlohmann::json::parse(r["body"].c_str(), nullptr, false);
  if (j.body.is_discarded()) j.body = nlohmann::json::object();
  j.priority = static_cast<Priority>(r["priority"].as<int>());
  j.trigger = static_cast<Trigger>(r["trigger"].as<int>());
  j.event = r["event"].c_str();
  j.status = static_cast<JobStatus>(r["status"].as<int>());
  j.queued_at = at_ms(r["queued_at"].as<std::int64_t>());
  j.started_at = nullable_time(r["started_at"]);
  j.ended_at = nullable_time(r["ended_at"]);
  j.duration = milliseconds(nullable<std::int64_t>(r["duration_ms"]).value_or(0));
  j.attempt = r["attempt"].as<int>();
  j.progress.current = r["progress_current"].as<std::int64_t>();
  j.progress.total = r["progress_total"].as<std::int64_t>();
  j.progress.message = r["progress_message"].c_str();
  j.message = r["message"].c_str();
  j.error_kind = static_cast<ErrorKind>(r["error_kind"].as<int>());
  j.error = r["error"].c_str();
  j.not_before = nullable_time(r["not_before"]);
  j.max_attempts = r["max_attempts"].as<int>();
  j.task = r["task"].c_str();
  return j;
}

inline TaskRow row_to_task(const pqxx::row& r) {
  TaskRow t;
  t.name = r["name"].c_str();
  t.command = r["command"].c_str();
  t.body = r["body"].c_str();
  t.interval_s = r["interval_s"].as<std::int64_t>();
  t.time_of_day_min = nullable<std::int64_t>(r["time_of_day_min"]);
  t.time_zone = r["time_zone"].c_str();
  t.jitter_s = r["jitter_s"].as<std::int64_t>();
  t.next_due = nullable_time(r["next_due"]);
  t.last_start = nullable_time(r["last_start"]);
  t.last_finish = nullable_time(r["last_finish"]);
  if (auto s = nullable<int>(r["last_status"])) t.last_status = static_cast<JobStatus>(*s);
  t.last_message = r["last_message"].c_str();
  t.last_duration_ms = nullable<std::int64_t>(r["last_duration_ms"]);
  t.last_job = nullable<std::int64_t>(r["last_job"]);
  return t;
}

// A connection string without its password, for messages and logs.
inline std::string redact(const std::string& url) {
  static const std::regex uri_password(R"(^(postgres(?:ql)?://[^:@/]*):[^@/]*@)");
  static const std::regex keyword_password(R"((password\s*=\s*)('[^']*'|\S+))");
  std::string out = std::regex_replace(url, uri_password, "$1:***@");
  return std::regex_replace(out, keyword_password, "$1***");
}

// The connection string with the connect timeout added.
inline std::string with_timeout(const std::string& url, milliseconds timeout) {
  const auto seconds = std::max<std::int64_t>(1, (timeout.count() + 999) / 1000);
  if (is_postgres_url(url)) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") +
           "connect_timeout=" + std::to_string(seconds) + "&application_name=shelfjobs";
  }
  return url + " connect_timeout=" + std::to_string(seconds) + " application_name=shelfjobs";
}

inline bool valid_schema(const std::string& s) {
  if (s.empty() || s.size() > 48 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

inline std::string in_schema(std::string sql, const std::string& quoted) {
  for (std::size_t at = sql.find("$S"); at != std::string::npos; at = sql.find("$S", at + quoted.size())) {
    sql.replace(at, 2, quoted);
  }
  return sql;
}

}  // namespace pgx

using namespace pgx;
using namespace store_ops;

/// The migration scripts, oldest first (index + 1 = version).
const std::vector<std::string>& postgres_job_store_migrations();

class PostgresJobStore final : public JobStore, public SharedQueue {
 public:
  static Result<std::unique_ptr<PostgresJobStore>> open(PostgresStoreOptions options);
  ~PostgresJobStore() override { close(); }

  Result<StoredState> load(TimePoint since) override;
  Status write_recovered(const std::vector<JobInfo>& jobs) override;
  void start() override {
    writes_.start([this](std::vector<Op>& batch) { commit_batch(batch); });
  }

  void insert(const JobInfo& job, std::string body_text, Done done) override {
    if (body_text.empty()) body_text = job.body.dump();
    JobInfo row = job;
    row.body = nullptr;
    enqueue(Insert{std::move(row), std::move(body_text)}, std::move(done));
  }
  void update_queued(JobId id, Priority priority, Trigger trigger, const std::string& event) override {
    enqueue(UpdateQueued{id, priority, trigger, event}, {});
  }
  void start_job(JobId id, TimePoint started_at, int attempt) override {
    enqueue(StartJob{id, started_at, attempt}, {});
  }
  void progress(JobId id, const Progress& progress) override { enqueue(ProgressOp{id, progress}, {}); }
  void finish(const JobInfo& job, Done done) override { finish_under(job, std::move(done), std::nullopt); }
  void finish_as(const JobInfo& job, std::int64_t node, Done done) override {
    finish_under(job, std::move(done), node);
  }
  void save_task(const TaskRow& row) override { enqueue(SaveTask{row}, {}); }
  void flush() override { writes_.wait_settled(); }

  Result<std::optional<JobInfo>> get(JobId id) override;
  Result<JobPage> list(const JobQuery& query) override;
  Result<std::int64_t> prune(std::optional<TimePoint> cutoff, std::int64_t max_rows) override;
  Result<StoreMaintenanceReport> maintain(const StoreMaintenanceOptions& options) override;
  void drop_minutes(TimePoint before) override { enqueue(DropMinutes{before}, {}); }

  StoreHealth stats() const override {
    StoreHealth h;
    counters_.fill(h);
    h.file_bytes = size_bytes_.load(std::memory_order_relaxed);
    return h;
  }
  // The writer's connection goes with the writer, and with it the store's lock: another engine
  // may take the store while this object lives on (a stopped engine whose handler ignored its
  // cancellation keeps its parts alive). A later `load` reads on a connection of its own.
  void close() override {
    writes_.close();
    writer_.reset();
  }
  SharedQueue* shared() override { return opts_.shared ? this : nullptr; }

  // --- SharedQueue (postgres_shared_queue.cpp) ---
  Result<std::int64_t> join(const std::string& name, std::chrono::milliseconds lease) override;
  Status heartbeat(std::chrono::milliseconds lease, int running, int claimed) override;
  Result<std::vector<JobInfo>> take_orphans() override;
  Result<Claimed> claim(int max, TimePoint now, const std::vector<std::string>& names,
                        const LockOf& locks) override;
  Status release(const std::vector<JobId>& ids) override;
  Result<bool> wait(std::chrono::milliseconds timeout, int wake_fd) override;
  Status leave() override;
  Result<JobId> reserve_ids(int count) override;
  void insert(const JobInfo& job, std::string body_text, SharedKeys keys, JobStore::Done done) override {
    if (body_text.empty()) body_text = job.body.dump();
    JobInfo row = job;
    row.body = nullptr;
    enqueue(Insert{std::move(row), std::move(body_text), std::move(keys)}, std::move(done));
  }
  Result<std::chrono::milliseconds> reserve_rate(const std::string& key, const RateLimit& limit) override;
  Result<CancelRequest> request_cancel(JobId id) override;
  Result<std::vector<JobId>> take_cancels() override;
  std::int64_t node() const override { return node_.load(); }
  Result<ClusterHealth> cluster_health() override;
  Result<std::vector<JobInfo>> changed_elsewhere(std::size_t max) override;

 private:
  using Payload = store_ops::Payload;
  using Op = store_ops::Op;
  using MinuteDeltas = store_ops::MinuteDeltas;

  explicit PostgresJobStore(PostgresStoreOptions options)
      : opts_(std::move(options)),
        log_(opts_.logger),
        schema_("\"" + opts_.schema + "\""),
        where_(redact(opts_.url) + " (schema " + opts_.schema + ")") {}

  std::string sql(const char* text) const { return in_schema(text, schema_); }
  // The writer's connection, made again (with the lock and the statements) when it broke.
  pqxx::connection& writer() {
    if (!writer_ || !writer_->is_open()) {
      if (auto c = reconnect_writer(); !c) throw std::runtime_error(c.error().message);
    }
    return *writer_;
  }
  std::unique_ptr<pqxx::connection> connect();
  Result<std::unique_ptr<pqxx::connection>> connect_locked();
  Status reconnect_writer();
  void prepare(pqxx::connection& c);
  // `node`: the attempt token the write carries; by default this node's id now.
  void enqueue(Payload payload, Done done, std::optional<std::int64_t> node = std::nullopt);
  // A job's end, its body left out (the row has it), under `node` as enqueue() takes it.
  void finish_under(const JobInfo& job, Done done, std::optional<std::int64_t> node) {
    JobInfo row = job;
    row.body = nullptr;
    enqueue(Finish{std::move(row)}, std::move(done), node);
  }
  void commit_batch(std::vector<Op>& batch);
  void commit_range(std::vector<Op>& ops, std::size_t begin, std::size_t end);
  void run_prune(Op& op);
  void run_maintain(Op& op);
  // `changed_queue`: set when the writes queued a job or freed a lock another node may want.
  void apply_range(pqxx::work& tx, std::vector<Op>& ops, std::size_t begin, std::size_t end,
                   JobId& max_inserted, bool& changed_queue);
  void write_jobs(pqxx::work& tx, pg::JobWriteSet set, MinuteDeltas& minutes, JobId& max_inserted,
                  bool& changed_queue);
  void write_minutes(pqxx::work& tx, MinuteDeltas& minutes);
  template <class F>
  auto read(const char* what, F&& f) -> decltype(f(std::declval<pqxx::connection&>()));

  PostgresStoreOptions opts_;
  std::shared_ptr<spdlog::logger> log_;
  const std::string schema_;                  // quoted
  const std::string where_;                   // for messages: the server without password, and the schema
  std::unique_ptr<pqxx::connection> writer_;  // the opening thread's until start(), then the writer's
  std::mutex read_mutex_;
  std::unique_ptr<pqxx::connection> reader_;  // GUARDED by read_mutex_; opened on first read
  WriteQueue<Op> writes_;

  store_ops::CommitCounters counters_;
  // The schema's tables and indexes on the server, as the writer last measured them (at open,
  // then at most once a minute after a commit): health's store size without a query per call.
  std::atomic<std::uintmax_t> size_bytes_{0};
  std::chrono::steady_clock::time_point sized_at_{};  // the writer's
  void measure_size(pqxx::connection& c);

  // The shared queue's side. `feed_` is the feed thread's connection (it LISTENs); `ids_`
  // serves the calls of any thread (id blocks, rate slots, cluster health), one at a time.
  std::string channel() const { return "shelfjobs." + opts_.schema; }
  std::string events_channel() const { return "shelfjobs." + opts_.schema + ".jobs"; }
  void notify_changes(pqxx::work& tx);
  std::vector<JobId> changed_jobs_;  // the writer's: jobs the commit being written changes
  pqxx::connection& feed();
  template <class F>
  auto on_feed(const char* what, F&& f) -> decltype(f(std::declval<pqxx::connection&>()));
  // Runs `f` on `ids_` under its mutex, once more on a new connection when the first try fails
  // (a server restart broke it); the second failure is store_error naming `what`.
  template <class F>
  auto on_any_thread(const std::string& what, F&& f) -> decltype(f(std::declval<pqxx::connection&>()));
  std::atomic<std::int64_t> node_{0};
  std::string node_name_;
  struct FeedConnection {
    // Counts notifications on the shared queue's channel; registering it LISTENs. A "cancel"
    // says a node was asked to cancel a job.
    class Listener final : public pqxx::notification_receiver {
     public:
      using pqxx::notification_receiver::notification_receiver;
      void operator()(const std::string& payload, int /*backend_pid*/) override {
        ++count;
        if (payload == "cancel") cancels = true;
      }
      int count = 0;
      bool cancels = false;
    };
    // Collects what other nodes' commits changed ("node:id,id,...").
    class ChangeListener final : public pqxx::notification_receiver {
     public:
      using pqxx::notification_receiver::notification_receiver;
      void operator()(const std::string& payload, int /*backend_pid*/) override {
        payloads.push_back(payload);
      }
      std::vector<std::string> payloads;
    };
    std::unique_ptr<pqxx::connection> conn;
    std::unique_ptr<Listener> listener;  // these go before their connection
    std::unique_ptr<ChangeListener> changes;
    ~FeedConnection() {
      listener.reset();
      changes.reset();
    }
  };
  std::unique_ptr<FeedConnection> feed_;
  bool feed_fresh_ = false;        // the feed connection is new: notifications before it are lost
  bool cancel_look_ = true;        // take_cancels() must look: a request may be waiting
  bool claim_in_doubt_ = false;    // the last claim failed: it may have committed
  bool orphans_in_doubt_ = false;  // the last rescue failed: it may have committed
  Result<Claimed> claim_once(int max, TimePoint now, const std::vector<std::string>& names,
                             const LockOf& locks);
  std::mutex ids_mutex_;
  std::unique_ptr<pqxx::connection> ids_;  // GUARDED by ids_mutex_
  JobId ids_next_ = 0, ids_end_ = 0;       // GUARDED by ids_mutex_: the rest of the current block
};

}  // namespace shelfjobs::detail
