// SPDX-License-Identifier: MIT
#include "event_stream.hpp"

#include <httplib.h>
#include "api.hpp"

#include <algorithm>
#include <cctype>

#include "resources.hpp"

namespace shelfd {

using namespace shelfjobs;

// ---------------------------------------------------------------- SseHub

void SseHub::publish(const std::string& event, const std::string& data) {
  {
    std::lock_guard lock(mu_);
    recent_.emplace_back(next_seq_++, "event: " + event + "\ndata: " + data + "\n\n");
    if (recent_.size() > 1000) recent_.pop_front();
  }
  cv_.notify_all();
}

std::uint64_t SseHub::cursor() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

bool SseHub::next(std::uint64_t* cursor, std::string* out, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return closed_ || next_seq_ - 1 > *cursor; });
  if (closed_) return false;
  for (const auto& [seq, text] : recent_) {
    if (seq > *cursor) {
      *out += text;
      *cursor = seq;
    }
  }
  return true;
}

void SseHub::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

// ---------------------------------------------------------------- EventForwarder

namespace {
// An SSE event name must be one line, and must not pass for one of shelfd's own messages.
bool usable_event_name(const std::string& name) {
  if (name.empty() || name.size() > 100) return false;
  for (const char* own : {"hello", "command", "task", "health", "minute"}) {
    if (name == own) return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}
}  // namespace

void EventForwarder::start() {
  std::lock_guard lock(mu_);
  if (subscription_) return;
  // Subscribe first, then read: a change between the two reaches deliver(), which waits for
  // this lock and so applies it on top of what was read.
  subscription_ = engine_.subscribe([this](const HostEvent& e) { deliver(e); });
  read_task_ids();
  alerts_ = engine_.health().alerts;
}

void EventForwarder::stop() {
  if (!subscription_) return;
  engine_.unsubscribe(subscription_);  // waits for a delivery in progress
  subscription_ = 0;
}

void EventForwarder::read_task_ids() {
  task_ids_.clear();
  const auto tasks = engine_.tasks();
  for (std::size_t i = 0; i < tasks.size(); ++i) task_ids_[tasks[i].name] = static_cast<int>(i) + 1;
}

void EventForwarder::deliver(const HostEvent& event) {
  struct Visit {
    EventForwarder& f;
    void operator()(const JobEvent& e) const { f.hub_.publish("command", command_resource(e.job).dump()); }
    void operator()(const TaskChanged& e) const {
      int id = 0;
      {
        std::lock_guard lock(f.mu_);
        auto it = f.task_ids_.find(e.task.name);
        if (it == f.task_ids_.end()) {  // a task added after start: the ids moved
          f.read_task_ids();
          it = f.task_ids_.find(e.task.name);
        }
        if (it != f.task_ids_.end()) id = it->second;
      }
      f.hub_.publish("task", task_resource(e.task, id).dump());
    }
    void operator()(const AlertChanged& e) const {
      std::string items;
      {
        std::lock_guard lock(f.mu_);
        std::erase_if(f.alerts_, [&](const Alert& a) { return a.key == e.alert.key; });
        if (e.raised) f.alerts_.push_back(e.alert);
        items = health_items(f.alerts_).dump();
      }
      f.hub_.publish("health", items);
    }
    void operator()(const MinuteClosed& e) const { f.hub_.publish("minute", to_json(e.minute).dump()); }
    void operator()(const ServiceEvent& e) const {
      if (usable_event_name(e.name)) f.hub_.publish(e.name, e.data.dump());
    }
  };
  std::visit(Visit{*this}, event);
}

// The event stream's route: every client gets a cursor into the hub from the moment it connects.
void ApiServer::event_routes() {
  auto& s = *server_;
  s.Get("/api/v1/events", [this](const httplib::Request&, httplib::Response& res) {
    auto cursor = std::make_shared<std::uint64_t>(hub_.cursor());
    auto first = std::make_shared<bool>(true);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream",
                                     [this, cursor, first](std::size_t, httplib::DataSink& sink) {
                                       std::string out;
                                       if (*first) {
                                         // Tell the client to refetch its lists: events before this moment
                                         // are not replayed.
                                         out = "retry: 2000\nevent: hello\ndata: {}\n\n";
                                         *first = false;
                                       } else if (!hub_.next(cursor.get(), &out, std::chrono::seconds(15))) {
                                         sink.done();
                                         return false;
                                       }
                                       if (out.empty()) out = ": ping\n\n";
                                       return sink.write(out.data(), out.size());
                                     });
  });
}

}  // namespace shelfd
