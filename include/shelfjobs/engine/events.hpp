// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Domain events and the rules that turn them into jobs.
///
/// @code
///   struct AuthorAdded { static constexpr std::string_view kName = "AuthorAdded"; int64_t id; };
///   shelfjobs::EventBus bus;
///   shelfjobs::add_rule<AuthorAdded>(bus, engine, [](const AuthorAdded& e) {
///     return std::vector<shelfjobs::PushRequest>{{"RefreshAuthor", {{"authorId", e.id}}}};
///   });
///   bus.publish(AuthorAdded{42});   // -> RefreshAuthor {"authorId": 42}, trigger "event"
/// @endcode

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/engine/job.hpp"
#include "shelfjobs/engine/push.hpp"

namespace shelfjobs {

// The bus does not need the engine: a rule only pushes into one (include engine.hpp to call
// `add_rule` with yours).
class Engine;

/// A domain event: a plain struct that names itself with `static kName`.
template <class E>
concept DomainEvent = requires {
  {std::string_view(E::kName)};
};

/// Carries typed domain events to subscribers.
///
/// Thread-safety: every member may be called from any thread. `publish` calls the subscribers
/// of the event's type on the publishing thread, in subscription order; a subscriber may
/// subscribe, unsubscribe or publish from inside its call. A subscriber that throws is logged
/// and skipped; the others still run.
///
/// A host can also hear every event as JSON, whatever its type, through a forwarder (see
/// `set_forwarder`): shelfd hands them to `Engine::publish` for its event stream.
class EventBus {
 public:
  /// Receives an event's name and its JSON (from the event's `to_json`).
  using Forwarder = std::function<void(std::string_view name, const nlohmann::json& data)>;

  explicit EventBus(std::shared_ptr<spdlog::logger> logger = nullptr);

  /// Sets (or, with an empty function, removes) the forwarder. From then on, `publish` hands
  /// it every event whose type has a `to_json` (events without one are not forwarded), before
  /// the subscribers, on the publishing thread. The JSON is built only while a forwarder is
  /// set. A forwarder that throws is logged; the subscribers still run.
  void set_forwarder(Forwarder forwarder);

  template <DomainEvent E>
  std::uint64_t subscribe(std::function<void(const E&)> fn) {
    return add(E::kName, [fn = std::move(fn)](const void* e) { fn(*static_cast<const E*>(e)); });
  }

  void unsubscribe(std::uint64_t id);

  /// Delivers `event` to the subscribers of its type. Returns how many received it.
  /// The forwarder, when set, does not count.
  template <DomainEvent E>
  std::size_t publish(const E& event) {
    if constexpr (std::is_constructible_v<nlohmann::json, const E&>) {
      if (auto f = forwarder()) forward(*f, E::kName, [&] { return nlohmann::json(event); });
    }
    return deliver(E::kName, &event);
  }

 private:
  using Erased = std::function<void(const void*)>;
  std::uint64_t add(std::string_view name, Erased fn);
  std::size_t deliver(std::string_view name, const void* event);
  std::shared_ptr<const Forwarder> forwarder() const;
  void forward(const Forwarder& f, std::string_view name, const std::function<nlohmann::json()>& data);

  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mu_;
  std::shared_ptr<const Forwarder> forwarder_;
  std::uint64_t next_id_ = 0;
  std::map<std::string, std::vector<std::pair<std::uint64_t, std::shared_ptr<const Erased>>>, std::less<>>
      subs_;
};

/// How a rule pushes.
struct RuleOptions {
  /// 0: push at once. Otherwise equal commands produced within this window of each other fold
  /// into one job, pushed when the window has passed without another (see
  /// Engine::push_debounced).
  std::chrono::milliseconds debounce{0};
  /// With `debounce`: a steady stream of events still pushes at least once per `max_wait` (0: no
  /// maximum; the window may then move on forever).
  std::chrono::milliseconds max_wait{0};
  /// Priority of the pushed jobs; default: each command type's. DownloadCompleted rules use
  /// Priority::critical.
  std::optional<Priority> priority;
};

namespace detail {
/// Pushes what a rule produced, marked as triggered by `event`; refusals are logged.
void push_from_rule(Engine& engine, std::string_view event, std::vector<PushRequest> requests,
                    const RuleOptions& options);
}  // namespace detail

/// Maps events of type E to commands pushed into `engine` with trigger `event` and the event's
/// name. `map` runs on the publishing thread and returns the commands (none is fine). The
/// engine must outlive the subscription; returns the subscription id for
/// `EventBus::unsubscribe`.
template <DomainEvent E>
std::uint64_t add_rule(EventBus& bus, Engine& engine, std::function<std::vector<PushRequest>(const E&)> map,
                       RuleOptions options = {}) {
  return bus.subscribe<E>([&engine, map = std::move(map), options](const E& e) {
    detail::push_from_rule(engine, E::kName, map(e), options);
  });
}

}  // namespace shelfjobs
