// SPDX-License-Identifier: MIT
#pragma once
// The loop every job shares that works through many entities (the refresh's authors and books;
// the library scan's folders next): cancellation between entities, "k of N: name" progress,
// skipping what is not due, one entity's failure counted and logged while the run goes on, a
// 429 from the metadata source stopping the run (the job waits out Retry-After without spending
// an attempt, then starts again), and cancellation always passed through.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/engine/context.hpp"

namespace shelfjobs::detail {

/// How one entity of a run ended; the caller counts it.
enum class EntityOutcome { refreshed, unchanged, removed, kept, pending, skipped, failed, deferred };

template <class T>
struct EntityLoop {
  /// What the entity is called in progress and logs ("Ann Leckie").
  std::function<std::string(const T&)> name;
  /// Null: every entity is due. Else false skips it (counted as `skipped`, not fetched).
  std::function<bool(const T&)> due;
  /// Does one entity. May throw MetadataError (the source's failure) or JobError.
  std::function<EntityOutcome(const T&)> one;
  /// Null: a not-ready answer is a failure. Else called for it (the entity is `deferred`).
  std::function<void(const T&)> not_ready;
  /// Receives every outcome, in order.
  std::function<void(EntityOutcome)> count;
  /// The run's summary so far, for the message of a rate-limit stop and the last progress.
  std::function<std::string()> so_far;
};

/// Runs `loop` over `items`; the caller makes the last progress report (after what it does at
/// the end of the run). Throws JobError(cancelled) when the job is cancelled and
/// JobError(rate_limited) with the source's retry time on a 429.
template <class T>
void run_each(const std::vector<T>& items, JobContext* ctx, spdlog::logger& log, const char* kind,
              const EntityLoop<T>& loop) {
  const auto n = static_cast<std::int64_t>(items.size());
  std::int64_t k = 0;
  for (const T& item : items) {
    ++k;
    if (ctx) ctx->throw_if_cancelled();
    if (loop.due && !loop.due(item)) {
      loop.count(EntityOutcome::skipped);
      continue;
    }
    const std::string name = loop.name(item);
    if (ctx) ctx->report(k - 1, n, std::to_string(k) + " of " + std::to_string(n) + ": " + name);
    try {
      loop.count(loop.one(item));
    } catch (const MetadataError& e) {
      if (e.code() == MetadataErrc::cancelled) throw;
      if (e.code() == MetadataErrc::rate_limited) {
        throw JobError(
            ErrorKind::rate_limited,
            "the metadata source is rate limiting (" + std::string(e.what()) + "); after " + loop.so_far(),
            e.retry_after());
      }
      if (e.code() == MetadataErrc::not_ready && loop.not_ready) {
        log.info("{} '{}' is still loading upstream; refreshing it again later", kind, name);
        loop.not_ready(item);
        loop.count(EntityOutcome::deferred);
        continue;
      }
      log.warn("refresh of {} '{}' failed ({}): {}; the catalog keeps its data", kind, name,
               to_string(e.code()), e.what());
      loop.count(EntityOutcome::failed);
    } catch (const JobError& e) {
      if (e.kind() == ErrorKind::cancelled) throw;
      log.warn("refresh of {} '{}' failed: {}", kind, name, e.what());
      loop.count(EntityOutcome::failed);
    }
  }
}

}  // namespace shelfjobs::detail
