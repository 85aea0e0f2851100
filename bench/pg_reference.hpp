// SPDX-License-Identifier: MIT
#pragma once
// engine_bench's PostgreSQL side (built when shelfjobs has its PostgreSQL store): the raw
// reference, the same three row writes per job straight through libpqxx, and the schemas the
// bench creates for each measurement, dropped again.

#include <string>

namespace bench_pg {

/// Drops `schema` (and everything in it) in the database at `url`, if it is there.
void drop_schema(const std::string& url, const std::string& schema);

/// The engine's three row writes per job (insert queued, update executing, update completed)
/// for `jobs` jobs, `per_tx` writes per transaction, into a table of its own in `schema`; rows
/// per second.
double reference(const std::string& url, const std::string& schema, int jobs, int per_tx);

}  // namespace bench_pg
