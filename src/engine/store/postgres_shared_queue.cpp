// SPDX-License-Identifier: MIT
// The PostgreSQL store's SharedQueue side: the queue several engines share (job_store.hpp).
//
// Why it is shaped so:
//  - Claims read candidates with FOR UPDATE SKIP LOCKED, so nodes claiming at once take
//    different rows instead of queueing behind each other's row locks.
//  - Locks are rows (`locks`, keyed by the lock's name): the primary key lets exactly one job
//    hold a name, whichever node inserts first, and a finish frees them in its own commit.
//    "Exclusive" cannot be a row per name: it excludes everything. Claims hold a transaction
//    advisory lock in shared mode and an exclusive claim holds it alone, so an exclusive claim's
//    check "nothing is claimed or running anywhere" and a plain claim's check "no exclusive job
//    runs" never interleave.
//  - A claimed job belongs to its node (`jobs.node`); every later write of it checks that (the
//    writer's UPDATE ... WHERE node = token). A node's id is new at each join, so a node whose
//    lease expired, whose jobs another node rescued, can no longer touch them: its late finish
//    is dropped, not applied twice.
//  - Leases use the server's clock (now()), never the nodes', so clocks that disagree cannot
//    rescue a live node.
//  - Wake-ups: every commit that queues a job or frees a lock notifies; a node waits on its
//    LISTEN connection and on its own wake fd at once (poll), so it neither polls the table
//    nor misses its own capacity freeing. After a reconnect it assumes it missed something.
//  - Ids: blocks of 1024 from a sequence, so nodes never collide and a push costs no round
//    trip; ids stay increasing per node, not across nodes.

#include <poll.h>
#include <unistd.h>

#include "engine/store/postgres_store.hpp"

namespace shelfjobs::detail {

namespace {

constexpr std::int64_t kIdBlock = 1024;

std::string ids_text(const std::vector<JobId>& ids) {
  std::vector<Opt> v;
  v.reserve(ids.size());
  for (JobId id : ids) v.push_back(std::to_string(id));
  return pg::array_literal(v);
}

std::string keys_text(const std::vector<std::string>& keys) {
  std::vector<Opt> v(keys.begin(), keys.end());
  return pg::array_literal(v);
}

}  // namespace

pqxx::connection& PostgresJobStore::feed() {
  if (!feed_ || !feed_->conn || !feed_->conn->is_open()) {
    feed_.reset();
    auto f = std::make_unique<FeedConnection>();
    f->conn = connect();
    f->listener = std::make_unique<FeedConnection::Listener>(*f->conn, channel());
    f->changes = std::make_unique<FeedConnection::ChangeListener>(*f->conn, events_channel());
    feed_ = std::move(f);
    feed_fresh_ = true;
    cancel_look_ = true;  // requests notified before it listened are lost
  }
  return *feed_->conn;
}

template <class F>
auto PostgresJobStore::on_feed(const char* what, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
  try {
    return f(feed());
  } catch (const std::exception& e) {
    feed_.reset();  // made again at the next call
    return Error{errc::store_error, std::string("job store ") + where_ + ": " + what + ": " + e.what()};
  }
}

template <class F>
auto PostgresJobStore::on_any_thread(const std::string& what, F&& f)
    -> decltype(f(std::declval<pqxx::connection&>())) {
  std::lock_guard<std::mutex> lock(ids_mutex_);
  for (int attempt = 1;; ++attempt) {
    try {
      if (!ids_ || !ids_->is_open()) ids_ = connect();
      return f(*ids_);
    } catch (const std::exception& e) {
      ids_.reset();
      if (attempt < 2) continue;
      return Error{errc::store_error, "job store " + where_ + ": " + what + ": " + e.what()};
    }
  }
}

Result<std::int64_t> PostgresJobStore::join(const std::string& name, std::chrono::milliseconds lease) {
  return on_feed("cannot join the shared queue", [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::work tx(c);
    const auto id = tx.exec_params1(sql("INSERT INTO $S.nodes (name, lease_until) VALUES ($1, now() + $2 * "
                                        "interval '1 millisecond') RETURNING id"),
                                    name, static_cast<std::int64_t>(lease.count()))[0]
                        .as<std::int64_t>();
    tx.commit();
    node_name_ = name;
    node_ = id;
    return id;
  });
}

Status PostgresJobStore::heartbeat(std::chrono::milliseconds lease, int running, int claimed) {
  const std::int64_t me = node_.load();
  return on_feed("cannot renew the node's lease", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    const auto r = tx.exec_params(sql("UPDATE $S.nodes SET heartbeat_at = now(), lease_until = now() + $2 * "
                                      "interval '1 millisecond', running = $3, claimed = $4 WHERE id = $1"),
                                  me, static_cast<std::int64_t>(lease.count()), running, claimed);
    tx.commit();
    if (r.affected_rows() == 0) {
      return Error{errc::conflict, "node " + std::to_string(me) + " (" + node_name_ +
                                       ") lost its lease: another node rescued its jobs"};
    }
    return Ok{};
  });
}

Result<std::vector<JobInfo>> PostgresJobStore::take_orphans() {
  const std::int64_t me = node_.load();
  auto taken = on_feed("cannot rescue jobs", [&](pqxx::connection& c) -> Result<std::vector<JobInfo>> {
    pqxx::work tx(c);
    std::vector<JobInfo> out;
    if (orphans_in_doubt_) {
      // The last rescue failed, maybe after the server committed it (a connection lost at
      // COMMIT): the running jobs it took are this node's but never reached the engine. Handed
      // over again with this node's own running jobs; the engine skips the ones it holds.
      for (const auto& r : tx.exec_params(
               sql("SELECT ") + kJobColumns + sql(" FROM $S.jobs WHERE status = 1 AND node = $1 ORDER BY id"),
               me))
        out.push_back(row_to_job(r));
    }
    const auto dead =
        tx.exec_params(sql("DELETE FROM $S.nodes WHERE lease_until < now() AND id <> $1 RETURNING id, "
                           "name"),
                       me);
    for (const auto& r : dead) {
      log_->warn("job store {}: node {} ({}) stopped renewing its lease; rescuing its jobs", where_,
                 r[0].as<std::int64_t>(), r[1].c_str());
    }
    // Queued jobs it had claimed go back to the queue; jobs it was running come here, to be
    // ended or queued again by the rules of a crash (recovery.hpp); its locks go.
    const auto unclaimed =
        tx.exec(sql("UPDATE $S.jobs AS j SET node = NULL WHERE j.status = 0 AND j.node IS NOT NULL AND NOT "
                    "EXISTS (SELECT 1 FROM $S.nodes n WHERE n.id = j.node)"));
    for (const auto& r : tx.exec_params(
             sql("UPDATE $S.jobs AS j SET node = $1 WHERE j.status = 1 AND (j.node IS NULL OR NOT EXISTS "
                 "(SELECT 1 FROM $S.nodes n WHERE n.id = j.node)) RETURNING ") +
                 kJobColumns,
             me))
      out.push_back(row_to_job(r));
    const auto freed = tx.exec(
        sql("DELETE FROM $S.locks AS l WHERE NOT EXISTS (SELECT 1 FROM $S.nodes n WHERE n.id = l.node)"));
    if (unclaimed.affected_rows() > 0 || freed.affected_rows() > 0)
      tx.exec_params("SELECT pg_notify($1, '')", channel());  // the writer alone prepares statements
    tx.commit();
    return out;
  });
  orphans_in_doubt_ = !taken && taken.error().code == errc::store_error;
  return taken;
}

Result<SharedQueue::Claimed> PostgresJobStore::claim(int max, TimePoint now,
                                                     const std::vector<std::string>& names,
                                                     const LockOf& locks) {
  auto claimed = claim_once(max, now, names, locks);
  if (claimed) {
    claim_in_doubt_ = false;
  } else if (claimed.error().code == errc::store_error) {
    claim_in_doubt_ = true;
  }
  return claimed;
}

Result<SharedQueue::Claimed> PostgresJobStore::claim_once(int max, TimePoint now,
                                                          const std::vector<std::string>& names,
                                                          const LockOf& locks) {
  const std::int64_t me = node_.load();
  const std::int64_t now_ms = ms(now);
  return on_feed("cannot claim jobs", [&](pqxx::connection& c) -> Result<Claimed> {
    Claimed out;
    std::optional<JobInfo> exclusive;  // the first exclusive job met, claimed alone below
    {
      pqxx::work tx(c);
      // One round trip for the claim lock, the lease and the exclusive lock: a claim is a few
      // round trips whatever its size, so nodes claim in batches.
      const auto state = tx.exec_params1(
          sql("SELECT pg_advisory_xact_lock_shared(hashtext('shelfjobs.claim.' || $1)) IS NOT NULL, "
              "EXISTS (SELECT 1 FROM $S.nodes WHERE id = $2), EXISTS (SELECT 1 FROM $S.locks WHERE key = "
              "'*')"),
          opts_.schema, me);
      if (!state[1].as<bool>())
        return Error{errc::conflict, "node " + std::to_string(me) + " lost its lease"};
      const bool exclusive_runs = state[2].as<bool>();
      if (claim_in_doubt_) {
        // The last claim failed, maybe after the server committed it (a connection lost at
        // COMMIT): what it took is this node's but never reached the engine. Handed over
        // again; the engine skips the ones it holds or whose row is older than its own write
        // still on its way (take_claimed in engine/cluster_feed.hpp).
        for (const auto& r :
             tx.exec_params(sql("SELECT ") + kJobColumns +
                                sql(" FROM $S.jobs WHERE status = 0 AND node = $1 ORDER BY id"),
                            me))
          out.jobs.push_back(row_to_job(r));
      }
      const std::size_t again = out.jobs.size();
      std::vector<JobId> taken;
      if (!exclusive_runs && max > 0) {
        // More candidates than wanted: some may wait for a lock another job holds.
        const auto rows = tx.exec_params(sql("SELECT ") + kJobColumns +
                                             sql(" FROM $S.jobs WHERE status = 0 AND node IS NULL AND "
                                                 "(not_before IS NULL OR not_before <= $1) AND name = "
                                                 "ANY($3::text[]) ORDER BY priority DESC, id LIMIT $2 FOR "
                                                 "UPDATE SKIP LOCKED"),
                                         now_ms, max * 2 + 8, keys_text(names));
        for (const auto& r : rows) {
          if (static_cast<int>(out.jobs.size() - again) >= max) {
            out.more = true;
            break;
          }
          JobInfo job = row_to_job(r);
          const SharedLocks need = locks(job);
          if (need.exclusive) {
            // Nothing behind it is claimed: the cluster drains, then it runs alone.
            exclusive = std::move(job);
            break;
          }
          if (!need.keys.empty()) {
            const auto got =
                tx.exec_params(sql("INSERT INTO $S.locks (key, job, node) SELECT k, $2, $3 FROM "
                                   "unnest($1::text[]) AS k ON CONFLICT DO NOTHING RETURNING key"),
                               keys_text(need.keys), job.id, me);
            if (got.size() < need.keys.size()) {
              // Another job holds one: give back what this one took, leave it queued.
              tx.exec_params(sql("DELETE FROM $S.locks WHERE job = $1"), job.id);
              continue;
            }
          }
          if (!need.one_of.empty()) {
            // A free slot of its type's cap. Two claims racing for the same slot: the loser
            // takes none this time (ON CONFLICT), and the job waits for a later claim.
            const auto slot =
                tx.exec_params(sql("INSERT INTO $S.locks (key, job, node) SELECT k, $2, $3 FROM "
                                   "unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT 1 FROM $S.locks l "
                                   "WHERE l.key = k) LIMIT 1 ON CONFLICT DO NOTHING RETURNING key"),
                               keys_text(need.one_of), job.id, me);
            if (slot.empty()) {
              if (!need.keys.empty()) tx.exec_params(sql("DELETE FROM $S.locks WHERE job = $1"), job.id);
              continue;
            }
          }
          taken.push_back(job.id);
          out.jobs.push_back(std::move(job));
        }
        if (!taken.empty()) {
          // A job some node was asked to cancel before it went back to the queue (that node
          // left or died): this node looks for its requests at once.
          for (const auto& r : tx.exec_params(sql("UPDATE $S.jobs SET node = $1 WHERE id = ANY($2::bigint[]) "
                                                  "RETURNING cancel_requested"),
                                              me, ids_text(taken)))
            if (r[0].as<bool>()) cancel_look_ = true;
        }
      }
      if (!out.more) {
        // The due jobs are taken: when does a delayed one fall due?
        const auto next = tx.exec_params1(
            sql("SELECT MIN(not_before) FROM $S.jobs WHERE status = 0 AND node IS NULL AND not_before > $1"),
            now_ms);
        if (!next[0].is_null()) out.next_due = at_ms(next[0].as<std::int64_t>());
      }
      tx.commit();
    }
    if (exclusive && out.jobs.empty()) {
      pqxx::work tx(c);
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('shelfjobs.claim.' || $1))", opts_.schema);
      const bool busy =
          !tx.exec(sql("SELECT 1 FROM $S.jobs WHERE node IS NOT NULL AND status IN (0, 1) LIMIT 1")).empty();
      if (!busy) {
        const auto row =
            tx.exec_params(sql("UPDATE $S.jobs SET node = $1 WHERE id = $2 AND status = 0 AND node IS "
                               "NULL RETURNING ") +
                               kJobColumns,
                           me, exclusive->id);
        if (!row.empty()) {
          tx.exec_params(sql("INSERT INTO $S.locks (key, job, node) VALUES ('*', $1, $2)"), exclusive->id,
                         me);
          out.jobs.push_back(row_to_job(row[0]));
        }
      }
      tx.commit();
    }
    return out;
  });
}

Status PostgresJobStore::release(const std::vector<JobId>& ids) {
  if (ids.empty()) return Ok{};
  const std::int64_t me = node_.load();
  return on_feed("cannot release jobs", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    tx.exec_params(
        sql("UPDATE $S.jobs SET node = NULL WHERE id = ANY($1::bigint[]) AND node = $2 AND status = 0"),
        ids_text(ids), me);
    tx.exec_params(sql("DELETE FROM $S.locks WHERE job = ANY($1::bigint[]) AND node = $2"), ids_text(ids),
                   me);
    tx.exec_params("SELECT pg_notify($1, '')", channel());  // the writer alone prepares statements
    tx.commit();
    return Ok{};
  });
}

Result<bool> PostgresJobStore::wait(std::chrono::milliseconds timeout, int wake_fd) {
  return on_feed("cannot wait for notifications", [&](pqxx::connection& c) -> Result<bool> {
    if (feed_fresh_) {
      // A new connection: what was notified before it listened is lost; look again.
      feed_fresh_ = false;
      return true;
    }
    auto& listener = *feed_->listener;
    listener.count = 0;
    c.get_notifs();
    if (listener.cancels) cancel_look_ = true;
    listener.cancels = false;
    if (listener.count > 0) return true;
    pollfd fds[2] = {{c.sock(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
    if (n > 0 && wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      std::uint64_t drained = 0;
      [[maybe_unused]] const auto got = ::read(wake_fd, &drained, sizeof drained);
    }
    c.get_notifs();
    if (!c.is_open()) throw pqxx::broken_connection("the connection closed");
    // Heard of a request, or timed out (a notification may have been lost): look.
    if (listener.cancels || listener.count == 0) cancel_look_ = true;
    listener.cancels = false;
    return listener.count > 0;
  });
}

Result<SharedQueue::CancelRequest> PostgresJobStore::request_cancel(JobId id) {
  const std::int64_t me = node_.load();
  return on_any_thread(
      "cannot cancel job " + std::to_string(id), [&](pqxx::connection& c) -> Result<CancelRequest> {
        pqxx::work tx(c);
        CancelRequest out;
        // Claimed by nobody: this node takes it (no other node can claim it any more) and
        // cancels it as its own, so the end is written, counted and told as any other.
        const auto taken = tx.exec_params(
            sql("UPDATE $S.jobs SET node = $2 WHERE id = $1 AND status = 0 AND node IS NULL RETURNING ") +
                kJobColumns,
            id, me);
        if (!taken.empty()) {
          out.taken = row_to_job(taken[0]);
        } else {
          const auto asked =
              tx.exec_params(sql("UPDATE $S.jobs SET cancel_requested = true WHERE id = $1 AND "
                                 "status IN (0, 1) AND node IS NOT NULL RETURNING ") +
                                 kJobColumns,
                             id);
          if (!asked.empty()) {
            out.asked = row_to_job(asked[0]);
            tx.exec_params("SELECT pg_notify($1, 'cancel')", channel());
          }
        }
        tx.commit();
        return out;
      });
}

Result<std::vector<JobId>> PostgresJobStore::take_cancels() {
  if (!cancel_look_) return std::vector<JobId>{};
  const std::int64_t me = node_.load();
  return on_feed("cannot read cancel requests", [&](pqxx::connection& c) -> Result<std::vector<JobId>> {
    pqxx::work tx(c);
    std::vector<JobId> ids;
    for (const auto& r : tx.exec_params(sql("UPDATE $S.jobs SET cancel_requested = false WHERE node = $1 AND "
                                            "cancel_requested RETURNING id"),
                                        me))
      ids.push_back(r[0].as<JobId>());
    tx.commit();
    cancel_look_ = false;
    return ids;
  });
}

Status PostgresJobStore::leave() {
  const std::int64_t me = node_.load();
  if (me == 0) return Ok{};
  return on_feed("cannot leave the shared queue", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    tx.exec_params(sql("UPDATE $S.jobs SET node = NULL WHERE node = $1 AND status = 0"), me);
    tx.exec_params(sql("DELETE FROM $S.locks WHERE node = $1"), me);
    tx.exec_params(sql("DELETE FROM $S.nodes WHERE id = $1"), me);
    tx.exec_params("SELECT pg_notify($1, '')", channel());  // the writer alone prepares statements
    tx.commit();
    return Ok{};
  });
}

Result<JobId> PostgresJobStore::reserve_ids(int count) {
  if (count < 1 || count > kIdBlock) {
    return Error{errc::invalid_argument, "reserve_ids: count must be 1.." + std::to_string(kIdBlock)};
  }
  std::lock_guard<std::mutex> lock(ids_mutex_);
  // A connection that broke (a server restart) is made again once before giving up.
  for (int attempt = 1; ids_end_ - ids_next_ < count; ++attempt) {
    try {
      if (!ids_ || !ids_->is_open()) ids_ = connect();
      pqxx::work tx(*ids_);
      std::int64_t block = tx.exec(sql("SELECT nextval('$S.id_blocks')"))[0][0].as<std::int64_t>();
      // The first block of a node must lie above every id a lone engine handed out before the
      // store was shared: the sequence only moves forward, so concurrent nodes stay apart.
      const auto max_id =
          tx.exec(sql("SELECT GREATEST(COALESCE((SELECT value FROM $S.meta WHERE key = 'max_job_id'), 0), "
                      "COALESCE((SELECT MAX(id) FROM $S.jobs), 0))"))[0][0]
              .as<std::int64_t>();
      if (block * kIdBlock <= max_id) {
        block = tx.exec_params1(sql("SELECT MAX(nextval('$S.id_blocks')) FROM generate_series(1, $1)"),
                                max_id / kIdBlock + 1 - block)[0]
                    .as<std::int64_t>();
      }
      tx.commit();
      ids_next_ = block * kIdBlock;
      ids_end_ = ids_next_ + kIdBlock;
    } catch (const std::exception& e) {
      ids_.reset();
      if (attempt < 2) continue;
      return Error{errc::store_error, "job store " + where_ + ": cannot reserve job ids: " + e.what()};
    }
  }
  const JobId first = ids_next_;
  ids_next_ += count;
  return first;
}

// The key's row, locked for the transaction, orders concurrent reservations; the server's
// clock is the only one used, so nodes whose clocks disagree still space their uses. The caller
// gets a wait, not a time, for the same reason. Rate-keyed jobs are slow ones (requests to an
// indexer), so a few round trips per reservation cost nothing that shows.
Result<std::chrono::milliseconds> PostgresJobStore::reserve_rate(const std::string& key,
                                                                 const RateLimit& limit) {
  const std::int64_t spacing = limit.min_spacing.count();
  const std::int64_t window = limit.window.count();
  if (spacing < 0 || limit.budget < 0 || window < 0 || (spacing == 0 && limit.budget == 0) ||
      (limit.budget > 0 && window == 0)) {
    return Error{errc::invalid_argument, "reserve_rate: the limit of rate key '" + key + "' limits nothing"};
  }
  return on_any_thread(
      "cannot reserve a use of rate key '" + key + "'",
      [&](pqxx::connection& c) -> Result<std::chrono::milliseconds> {
        pqxx::work tx(c);
        tx.exec_params(sql("INSERT INTO $S.rates (key, next_ms) VALUES ($1, 0) ON CONFLICT DO NOTHING"), key);
        const auto row =
            tx.exec_params1(sql("SELECT next_ms, (extract(epoch FROM clock_timestamp()) * 1000)::bigint "
                                "FROM $S.rates WHERE key = $1 FOR UPDATE"),
                            key);
        const std::int64_t now = row[1].as<std::int64_t>();
        std::int64_t slot = std::max(now, row[0].as<std::int64_t>());
        if (limit.budget > 0) {
          // At most `budget` uses in any window: the new one goes a window after the
          // budget-th latest.
          const auto kth = tx.exec_params(
              sql("SELECT at_ms FROM $S.rate_uses WHERE key = $1 ORDER BY at_ms DESC OFFSET $2 LIMIT 1"), key,
              limit.budget - 1);
          if (!kth.empty()) slot = std::max(slot, kth[0][0].as<std::int64_t>() + window);
          tx.exec_params(sql("DELETE FROM $S.rate_uses WHERE key = $1 AND at_ms <= $2"), key, now - window);
          tx.exec_params(sql("INSERT INTO $S.rate_uses (key, at_ms) VALUES ($1, $2)"), key, slot);
        }
        tx.exec_params(sql("UPDATE $S.rates SET next_ms = $2 WHERE key = $1"), key, slot + spacing);
        tx.commit();
        return std::chrono::milliseconds(slot - now);
      });
}

Result<ClusterHealth> PostgresJobStore::cluster_health() {
  const std::int64_t me = node_.load();
  std::lock_guard<std::mutex> lock(ids_mutex_);
  try {
    if (!ids_ || !ids_->is_open()) ids_ = connect();
    pqxx::work tx(*ids_);
    ClusterHealth out;
    for (const auto& r :
         tx.exec(sql("SELECT id, name, (extract(epoch FROM started_at) * 1000)::bigint, "
                     "(extract(epoch FROM heartbeat_at) * 1000)::bigint, "
                     "(extract(epoch FROM lease_until) * 1000)::bigint, running, claimed FROM "
                     "$S.nodes ORDER BY id"))) {
      ClusterNode n;
      n.id = r[0].as<std::int64_t>();
      n.name = r[1].c_str();
      n.started_at = at_ms(r[2].as<std::int64_t>());
      n.heartbeat_at = at_ms(r[3].as<std::int64_t>());
      n.lease_until = at_ms(r[4].as<std::int64_t>());
      n.running = r[5].as<int>();
      n.claimed = r[6].as<int>();
      n.self = n.id == me;
      out.nodes.push_back(std::move(n));
    }
    const auto counts =
        tx.exec1(sql("SELECT COUNT(*) FILTER (WHERE status = 0 AND node IS NULL), COUNT(*) FILTER "
                     "(WHERE status = 0 AND node IS NOT NULL), COUNT(*) FILTER (WHERE status = 1) "
                     "FROM $S.jobs WHERE status IN (0, 1)"));
    out.queued = counts[0].as<std::int64_t>();
    out.claimed = counts[1].as<std::int64_t>();
    out.running = counts[2].as<std::int64_t>();
    tx.commit();
    return out;
  } catch (const std::exception& e) {
    ids_.reset();
    return Error{errc::store_error,
                 "job store " + where_ + ": cannot read the cluster's figures: " + e.what()};
  }
}

Result<std::vector<JobInfo>> PostgresJobStore::changed_elsewhere(std::size_t max) {
  if (!feed_ || !feed_->changes || feed_->changes->payloads.empty()) return std::vector<JobInfo>{};
  const std::string mine = std::to_string(node_.load()) + ":";
  std::vector<JobId> ids;
  for (const auto& payload : feed_->changes->payloads) {
    if (payload.rfind(mine, 0) == 0) continue;  // this node's own commits: its host heard already
    const auto colon = payload.find(':');
    if (colon == std::string::npos) continue;
    std::size_t at = colon + 1;
    while (at < payload.size() && ids.size() < max) {
      const auto comma = payload.find(',', at);
      const auto part = payload.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      try {
        ids.push_back(std::stoll(part));
      } catch (const std::exception&) {
        // not an id: a payload of another version; skipped
      }
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
  }
  feed_->changes->payloads.clear();
  if (ids.empty()) return std::vector<JobInfo>{};
  return on_feed(
      "cannot read jobs other nodes changed", [&](pqxx::connection& c) -> Result<std::vector<JobInfo>> {
        pqxx::nontransaction tx(c);
        std::vector<JobInfo> out;
        for (const auto& r : tx.exec_params(
                 sql("SELECT ") + kJobColumns + sql(" FROM $S.jobs WHERE id = ANY($1::bigint[]) ORDER BY id"),
                 ids_text(ids)))
          out.push_back(row_to_job(r));
        return out;
      });
}

}  // namespace shelfjobs::detail
