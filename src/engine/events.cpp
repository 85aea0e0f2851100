// SPDX-License-Identifier: MIT
// The event bus, and the push side of event rules.

#include "shelfjobs/engine/events.hpp"

#include "shelfjobs/engine/engine.hpp"

#include <spdlog/spdlog.h>

namespace shelfjobs {

EventBus::EventBus(std::shared_ptr<spdlog::logger> logger)
    : log_(logger ? std::move(logger) : spdlog::default_logger()) {}

std::uint64_t EventBus::add(std::string_view name, Erased fn) {
  std::lock_guard lock(mu_);
  const auto id = ++next_id_;
  auto it = subs_.find(name);
  if (it == subs_.end()) it = subs_.emplace(std::string(name), decltype(subs_)::mapped_type{}).first;
  it->second.emplace_back(id, std::make_shared<const Erased>(std::move(fn)));
  return id;
}

void EventBus::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  for (auto& [name, list] : subs_) {
    std::erase_if(list, [id](const auto& s) { return s.first == id; });
  }
}

void EventBus::set_forwarder(Forwarder forwarder) {
  std::lock_guard lock(mu_);
  forwarder_ = forwarder ? std::make_shared<const Forwarder>(std::move(forwarder)) : nullptr;
}

std::shared_ptr<const EventBus::Forwarder> EventBus::forwarder() const {
  std::lock_guard lock(mu_);
  return forwarder_;
}

void EventBus::forward(const Forwarder& f, std::string_view name,
                       const std::function<nlohmann::json()>& data) {
  // Called outside the lock, like the subscribers: the forwarder may publish.
  try {
    f(name, data());
  } catch (const std::exception& e) {
    log_->error("the forwarder of {} threw: {}", name, e.what());
  } catch (...) {
    log_->error("the forwarder of {} threw", name);
  }
}

std::size_t EventBus::deliver(std::string_view name, const void* event) {
  // Call a copy of the list outside the lock: a subscriber may publish or (un)subscribe.
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const Erased>>> targets;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(name);
    if (it == subs_.end()) return 0;
    targets = it->second;
  }
  std::size_t delivered = 0;
  for (const auto& [id, fn] : targets) {
    try {
      (*fn)(event);
      ++delivered;
    } catch (const std::exception& e) {
      log_->error("subscriber {} of {} threw: {}", id, name, e.what());
    } catch (...) {
      log_->error("subscriber {} of {} threw", id, name);
    }
  }
  return delivered;
}

namespace detail {
void push_from_rule(Engine& engine, std::string_view event, std::vector<PushRequest> requests,
                    const RuleOptions& options) {
  for (auto& r : requests) {
    r.options.trigger = Trigger::event;
    r.options.event = std::string(event);
    // A publisher (a handler, a scan) must not wait for the store on every event.
    r.options.durable = false;
    if (options.priority) r.options.priority = options.priority;
    std::string refused;
    if (options.debounce.count() > 0) {
      const std::string name = r.name;
      if (auto ok = engine.push_debounced(std::move(r), options.debounce, options.max_wait); !ok) {
        refused = name + ": " + ok.error().message;
      }
    } else if (auto pushed = engine.push(r.name, r.body, r.options); !pushed) {
      refused = r.name + ": " + pushed.error().message;
    }
    if (!refused.empty()) {
      spdlog::default_logger()->error("a rule for {} could not push {}", event, refused);
    }
  }
}
}  // namespace detail

}  // namespace shelfjobs
