// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by the services' handlers.

#include <optional>
#include <string>
#include <utility>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/services/refresh.hpp"

namespace shelfjobs {

// A catalog failure inside a handler becomes a JobError of the matching kind: SQLite errors are
// `database` (the engine retries them per policy), a missing or clashing row is `permanent`.
inline ErrorKind kind_of(errc code) {
  return code == errc::store_error ? ErrorKind::database : ErrorKind::permanent;
}

// A time as the services' JSON writes it (format_time), or null.
inline nlohmann::json time_or_null(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(format_time(*t)) : nlohmann::json(nullptr);
}

// An error's message as a job's: the catalog names what it did not find ("author 7"), so a
// not_found says so ("no author 7").
inline std::string job_message(const Error& e) {
  if (e.code == errc::not_found && e.message.rfind("no ", 0) != 0) return "no " + e.message;
  return e.message;
}

template <class T>
T must(Result<T> r, const std::string& what) {
  if (!r) throw JobError(kind_of(r.error().code), what + ": " + job_message(r.error()));
  return std::move(r).value();
}

// The MoveAuthor handler (move_author.cpp). `events` may be null; `ctx` may be null.
void move_author_folder(Catalog& catalog, EventBus* events, spdlog::logger& log, const MoveAuthor& command,
                        JobContext* ctx);

}  // namespace shelfjobs
