// SPDX-License-Identifier: MIT
#pragma once
// The scan's readers: a few threads that open book files and read their metadata while the
// walk goes on, so a scan's time is the slower of walking and reading, not their sum.
//
// The queue is bounded (a walk far ahead of its readers would hold every path it found), and
// an optional rate limit spaces the files handed out, so a scan can leave the disk to others.
// Results come back in the order they finish; the scan does not need them in walk order.
//
// Thread-safety: submit, drain and finish are called by one thread (the scan's); the readers
// are internal.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs::scan {

struct ReadTask {
  std::filesystem::path path;
  std::uint64_t size = 0;
  TimePoint mtime{};
  std::filesystem::path sidecar;  ///< a metadata.opf beside the file, or empty
  std::optional<BookFile> known;  ///< the file's row, when the catalog has one
};

struct ReadResult {
  ReadTask task;
  Result<BookMetadata> metadata = Error{errc::cancelled, "not read"};
  std::optional<Result<BookMetadata>> sidecar;
};

class ReadPool {
 public:
  /// `threads` at least 1; `files_per_second` 0 for no limit.
  ReadPool(int threads, double files_per_second);
  ~ReadPool();
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  /// Queues a file, waiting while the queue is full (and for the rate limit).
  void submit(ReadTask task);
  /// Hands every result ready now to `fn`.
  void drain(const std::function<void(ReadResult&)>& fn);
  /// Waits for every queued file and hands the rest to `fn`; `abandon` drops the files not yet
  /// started instead (a cancelled scan).
  void finish(const std::function<void(ReadResult&)>& fn, bool abandon = false);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable work_cv_, space_cv_, done_cv_;
  std::deque<ReadTask> queue_;
  std::vector<ReadResult> results_;
  std::size_t in_flight_ = 0;  // taken by a reader, result not yet in `results_`
  bool closing_ = false;
  std::size_t capacity_;
  std::chrono::nanoseconds spacing_{0};
  std::chrono::steady_clock::time_point next_slot_{};
  std::vector<std::thread> threads_;
};

}  // namespace shelfjobs::scan
