// SPDX-License-Identifier: MIT
#pragma once
// shelfd's server-sent event stream: the messages kept for listening clients (SseHub), and the
// one engine subscription that turns host events into those messages (EventForwarder).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "shelfjobs/shelfjobs.hpp"

namespace shelfd {

/// The stream's recent messages, for every client. A client that falls more than 1000
/// messages behind loses the oldest and refetches its lists when it reconnects.
///
/// Thread-safety: every member may be called from any thread.
class SseHub {
 public:
  /// Adds `event: <event>` with one line of `data`.
  void publish(const std::string& event, const std::string& data);
  /// Blocks up to `wait` for messages after `*cursor`; appends them, in SSE format, to `out`.
  /// Returns false once the hub is closed.
  bool next(std::uint64_t* cursor, std::string* out, std::chrono::milliseconds wait);
  std::uint64_t cursor() const;
  void close();

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::uint64_t, std::string>> recent_;  // last 1000 messages
  std::uint64_t next_seq_ = 1;
  bool closed_ = false;
};

/// shelfd's one engine subscription. On the subscription's delivery thread (never the engine's
/// strand) it turns each host event into a message of the stream:
///   - JobEvent -> "command": Readarr's command resource;
///   - TaskChanged -> "task": Readarr's task resource;
///   - AlertChanged -> "health": the open alerts as Readarr's health items (the whole list);
///   - MinuteClosed -> "minute": the closed minute's figures;
///   - ServiceEvent -> the event's own name ("AuthorAdded", ...) with its JSON data.
/// Task ids and the open alerts are read from the engine once, at start; events keep them.
///
/// Thread-safety: start and stop from one thread; stop waits for a delivery in progress.
class EventForwarder {
 public:
  EventForwarder(shelfjobs::Engine& engine, SseHub& hub) : engine_(engine), hub_(hub) {}
  ~EventForwarder() { stop(); }
  EventForwarder(const EventForwarder&) = delete;
  EventForwarder& operator=(const EventForwarder&) = delete;

  void start();
  void stop();

 private:
  void deliver(const shelfjobs::HostEvent& event);
  void read_task_ids();  // with mu_ held

  shelfjobs::Engine& engine_;
  SseHub& hub_;
  std::uint64_t subscription_ = 0;
  std::mutex mu_;                                     // guards what follows, against start()
  std::map<std::string, int, std::less<>> task_ids_;  // name -> position in tasks() + 1
  std::vector<shelfjobs::Alert> alerts_;              // open now, by raise time
};

}  // namespace shelfd
