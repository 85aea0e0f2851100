// SPDX-License-Identifier: MIT
#include "pg_reference.hpp"

#include <chrono>
#include <memory>

#include <pqxx/pqxx>

namespace bench_pg {

void drop_schema(const std::string& url, const std::string& schema) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  tx.exec("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
}

double reference(const std::string& url, const std::string& schema, int jobs, int per_tx) {
  drop_schema(url, schema);
  pqxx::connection c(url);
  const std::string t = "\"" + schema + "\".jobs";
  {
    pqxx::nontransaction tx(c);
    tx.exec("CREATE SCHEMA \"" + schema + "\"");
    // As wide as a job row, like the SQLite reference's table.
    tx.exec(
        "CREATE TABLE " + t +
        " (id bigint PRIMARY KEY, name text NOT NULL, body text NOT NULL, priority smallint NOT NULL, "
        "trigger smallint NOT NULL, event text NOT NULL, status smallint NOT NULL, queued_at bigint NOT "
        "NULL, "
        "started_at bigint, ended_at bigint, duration_ms bigint, attempt integer NOT NULL, progress_current "
        "bigint NOT NULL DEFAULT 0, progress_total bigint NOT NULL DEFAULT 0, progress_message text NOT NULL "
        "DEFAULT '', message text NOT NULL DEFAULT '', error_kind smallint NOT NULL DEFAULT 0, error text "
        "NOT "
        "NULL DEFAULT '')");
    tx.exec("CREATE INDEX ON " + t + " (status, id)");
  }
  c.prepare("ins", "INSERT INTO " + t +
                       " (id, name, body, priority, trigger, event, status, queued_at, attempt) VALUES ($1, "
                       "'Unique', $2, 1, 0, '', 0, $3, 1)");
  c.prepare("start", "UPDATE " + t + " SET status = 1, started_at = $1, attempt = 1 WHERE id = $2");
  c.prepare("finish", "UPDATE " + t +
                          " SET status = 2, started_at = $1, ended_at = $2, duration_ms = 0, attempt = 1, "
                          "progress_current = 0, progress_total = 0, progress_message = '', message = '', "
                          "error_kind = 0, error = '', priority = 1, trigger = 0 WHERE id = $3");
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<pqxx::work> tx;
  int in_tx = 0;
  auto written = [&] {
    if (++in_tx >= per_tx) {
      tx->commit();
      tx.reset();
      in_tx = 0;
    }
  };
  const long long ms = 1'700'000'000'000;
  for (long long i = 1; i <= jobs; ++i) {
    if (!tx) tx = std::make_unique<pqxx::work>(c);
    tx->exec_prepared("ins", i, "{\"n\":" + std::to_string(i) + "}", ms);
    written();
    if (!tx) tx = std::make_unique<pqxx::work>(c);
    tx->exec_prepared("start", ms, i);
    written();
    if (!tx) tx = std::make_unique<pqxx::work>(c);
    tx->exec_prepared("finish", ms, ms, i);
    written();
  }
  if (tx) tx->commit();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  drop_schema(url, schema);
  return jobs / s;
}

}  // namespace bench_pg
