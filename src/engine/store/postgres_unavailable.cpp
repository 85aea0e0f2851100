// SPDX-License-Identifier: MIT
// The PostgreSQL store's entry points in a build without libpqxx (SHELFJOBS_WITH_POSTGRES off):
// a connection string is still recognised, so a host that names one hears why it cannot be
// opened instead of getting a SQLite file of that name.
#include "shelfjobs/engine/postgres_job_store.hpp"

namespace shelfjobs {

bool is_postgres_url(std::string_view text) noexcept {
  return text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0;
}

bool postgres_store_available() noexcept { return false; }

Result<std::unique_ptr<JobStore>> open_postgres_job_store(PostgresStoreOptions) {
  return Error{errc::invalid_argument,
               "this build of shelfjobs has no PostgreSQL job store (built without libpqxx)"};
}

int postgres_job_store_schema_version() noexcept { return 0; }

}  // namespace shelfjobs
