// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Commands, their handlers and the registry that binds them.
///
/// A command is a plain struct deriving from `Command` with a static `kName` and a JSON codec
/// (nlohmann's `to_json`/`from_json`; an empty struct needs none). A handler implements
/// `IExecute<T>`. The `Registry` maps each name to its codec, handler and `CommandTraits`.
///
/// @code
///   struct RefreshAuthor : shelfjobs::Command {
///     static constexpr std::string_view kName = "RefreshAuthor";
///     std::optional<std::int64_t> author_id;
///   };
///   void to_json(nlohmann::json& j, const RefreshAuthor& c) { ... }
///   void from_json(const nlohmann::json& j, RefreshAuthor& c) { ... }
///
///   shelfjobs::Registry registry;
///   registry.add<RefreshAuthor>(std::make_shared<RefreshHandler>(),
///                               {.priority = Priority::high, .locks = {"refresh"}});
/// @endcode

#include <chrono>
#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// Base of every command struct. Carries nothing: trigger, priority and attempt are the job's,
/// and a handler reads them from its `JobContext`.
struct Command {};

/// Handles commands of type `T`. `execute` runs on a worker thread; several jobs of one type
/// may run at once unless the type is type-exclusive or shares a lock, so a handler object
/// must be safe to call concurrently. Return to complete; throw to fail (see `JobError`).
template <class T>
class IExecute {
 public:
  virtual ~IExecute() = default;
  virtual void execute(const T& command, JobContext& ctx) = 0;
};

/// When a failed job runs again. Retries are persisted queued jobs that may not start before
/// their time; the job's message says "attempt 2 of 4, next try at ...".
struct RetryPolicy {
  /// Retries (not counting the first run) per failure kind. permanent and cancelled never retry.
  int network = 3;
  int filesystem = 1;
  int database = 0;
  int timeout = 0;
  /// Delay before retry n is base_delay * 2^(n-1), capped at max_delay, then a random part of
  /// up to half of it is taken off (jitter, so that retries of many jobs spread out).
  std::chrono::milliseconds base_delay{std::chrono::seconds(30)};
  std::chrono::milliseconds max_delay{std::chrono::minutes(30)};
  /// A rate_limited failure waits until its retry-after time without spending an attempt;
  /// one wait is at most this long, and a job that has waited this long in all fails.
  std::chrono::milliseconds max_rate_limit_wait{std::chrono::hours(6)};
  /// Used when a rate_limited failure carries no retry-after time.
  std::chrono::milliseconds default_rate_limit_wait{std::chrono::minutes(1)};

  /// Retries allowed for a kind (0 for permanent, cancelled, none).
  int retries_for(ErrorKind kind) const noexcept {
    switch (kind) {
      case ErrorKind::network: return network;
      case ErrorKind::filesystem: return filesystem;
      case ErrorKind::database: return database;
      case ErrorKind::timeout: return timeout;
      default: return 0;
    }
  }
};

/// How the dispatcher treats every job of one command type.
struct CommandTraits {
  /// Default priority of a push that names none.
  Priority priority = Priority::normal;
  /// Runs alone: nothing else starts while it runs. When it is the next pick it waits for the
  /// running jobs to finish, and jobs after it in pick order do not start meanwhile (a job of
  /// higher priority, or older and allowed, still may). Running alone implies its locks and
  /// type-exclusivity; its rate_key and max_concurrent are not checked.
  bool exclusive = false;
  /// At most one job of this name runs at a time.
  bool type_exclusive = false;
  /// Named resource locks ("disk", "refresh"): two jobs sharing a lock never run together.
  std::vector<std::string> locks;
  /// Starts only when nothing is running and no job that is not idle-only is queued (a queued
  /// job counts even if its own rules hold it back). Other idle-only jobs do not count, so two
  /// of them run one after the other; once it runs, other jobs may start beside it.
  bool idle_only = false;
  /// A job of this type that a crashed process left running is requeued (attempt + 1) when the
  /// store is reopened. False: it is marked Failed with message "interrupted" instead.
  bool rescue_on_restart = true;
  /// Dedup key of a canonical body. Default: name + canonical JSON body. Pushing a job whose key
  /// equals that of a queued job returns the queued job (merged). While an equal job runs, a push
  /// leaves exactly one queued run behind it (further equal pushes merge into that one): the
  /// running job may already have read its input, so merging into it could lose the request.
  std::function<std::string(const nlohmann::json& body)> dedup_key;
  /// True: an equal push while a job of this type runs (and none is queued) merges into the
  /// running job instead of queueing one run after it. Only for handlers for which a request
  /// that arrives mid-run is already covered by the run. Default: false.
  bool merge_into_running = false;
  /// Retry policy of this type; default: EngineOptions::retry.
  std::optional<RetryPolicy> retry;
  /// 0: none. Otherwise the token is cancelled at the deadline; a handler still running after
  /// EngineOptions::timeout_grace more is abandoned: the job fails with kind timeout, its locks
  /// are released and the pool gets a new thread in place of the stuck one.
  std::chrono::milliseconds timeout{0};
  /// A key of the engine's RateLimiter ("indexer:3"): a job starts only when the key allows a
  /// use, and uses it. Jobs waiting for their key do not hold back other jobs.
  std::string rate_key;
  /// At most this many jobs of the type run at once; 0: no cap.
  int max_concurrent = 0;
};

/// A registered command type, erased. Produced by `Registry::add`.
struct CommandType {
  std::string name;
  CommandTraits traits;
  /// Decodes `body` into the typed command and encodes it back: the canonical body.
  /// Throws `nlohmann::json::exception` (or the codec's own exception) when it does not decode.
  std::function<nlohmann::json(const nlohmann::json& body)> canonicalize;
  /// Decodes the canonical body and runs the handler.
  std::function<void(const nlohmann::json& body, JobContext& ctx)> execute;
};

namespace detail {
template <class T>
nlohmann::json encode(const T& command) {
  if constexpr (std::is_empty_v<T>) {
    (void)command;
    return nlohmann::json::object();
  } else {
    return nlohmann::json(command);
  }
}
template <class T>
T decode(const nlohmann::json& body) {
  if constexpr (std::is_empty_v<T>) {
    (void)body;
    return T{};
  } else {
    return body.get<T>();
  }
}

/// The first field (dotted path) of `body` whose JSON type differs from the same field of
/// `defaults` (the encoding of a default-constructed command); "" if none. Null defaults are
/// optional fields and match anything.
std::string mismatched_field(const nlohmann::json& body, const nlohmann::json& defaults);

/// The first field (dotted path) holding a number in `body` that reads back as a different
/// number in `canonical` (a 20-digit id wrapped into a negative one, 1.5 cut to 1); "" if none.
std::string changed_number(const nlohmann::json& body, const nlohmann::json& canonical);

/// Decodes and re-encodes; a type error, or a number the command's field cannot hold, is thrown
/// as `std::invalid_argument` naming the field.
template <class T>
nlohmann::json canonicalize(const nlohmann::json& body) {
  try {
    nlohmann::json canonical = encode<T>(decode<T>(body));
    if (const std::string field = changed_number(body, canonical); !field.empty()) {
      throw std::invalid_argument("field '" + field + "': the number does not fit the field");
    }
    return canonical;
  } catch (const nlohmann::json::type_error& e) {
    if constexpr (std::is_default_constructible_v<T>) {
      const std::string field = mismatched_field(body, encode<T>(T{}));
      if (!field.empty()) {
        std::string what = e.what();
        const auto close = what.find("] ");
        if (what.front() == '[' && close != std::string::npos) what.erase(0, close + 2);
        throw std::invalid_argument("field '" + field + "': " + what);
      }
    }
    throw;
  }
}
}  // namespace detail

/// A command struct: derives from `Command` and names itself with `static kName`.
template <class T>
concept CommandStruct = std::derived_from<T, Command> && requires {
  {std::string_view(T::kName)};
};

/// Maps command names to types, handlers and traits. Fill it before handing it to the engine;
/// after that it is read-only and so safe to share. Names are matched case-insensitively.
class Registry {
 public:
  /// Registers `T` with its handler. Throws `std::invalid_argument` if the name is taken or the
  /// handler is null (a programming error, found at start-up).
  template <CommandStruct T>
  void add(std::shared_ptr<IExecute<T>> handler, CommandTraits traits = {}) {
    if (!handler) throw std::invalid_argument("null handler for command " + std::string(T::kName));
    add<T>([h = std::move(handler)](const T& c, JobContext& ctx) { h->execute(c, ctx); }, std::move(traits));
  }

  /// Registers `T` with a callable `void(const T&, JobContext&)`.
  template <CommandStruct T>
  void add(std::function<void(const T&, JobContext&)> fn, CommandTraits traits = {}) {
    CommandType type;
    type.name = std::string(T::kName);
    type.traits = std::move(traits);
    type.canonicalize = [](const nlohmann::json& body) { return detail::canonicalize<T>(body); };
    type.execute = [fn = std::move(fn)](const nlohmann::json& body, JobContext& ctx) {
      const T command = detail::decode<T>(body);
      fn(command, ctx);
    };
    add_type(std::move(type));
  }

  /// Registers an already-erased type (for hosts that build commands at run time).
  void add_type(CommandType type);

  /// The type registered under `name` (case-insensitive), or null.
  const CommandType* find(std::string_view name) const noexcept;

  /// Every registered name, sorted.
  std::vector<std::string> names() const;

  /// Encodes a typed command as its canonical JSON body.
  template <CommandStruct T>
  static nlohmann::json body_of(const T& command) {
    return detail::encode<T>(command);
  }

 private:
  std::map<std::string, CommandType> types_;  // key: lower-cased name
};

template <class T>
requires requires { T::kName; }
Result<PushResult> JobContext::push(const T& command, PushOptions options) {
  static_assert(CommandStruct<T>, "JobContext::push takes a command struct (see Command)");
  return push(T::kName, Registry::body_of(command), std::move(options));
}

}  // namespace shelfjobs
