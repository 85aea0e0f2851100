// SPDX-License-Identifier: MIT
// The group-commit queue every job store writes through, stepped directly: each write is
// committed once and in order, each caller is answered, flushes wait for what came before them,
// and closing drains the queue. Both stores' behaviour rests on these.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/store/store_ops.hpp"
#include "engine/store/write_queue.hpp"

using namespace std::chrono_literals;

namespace {

struct TestOp {
  std::uint64_t seq = 0;
  int value = 0;
  std::function<void(bool)> done;
};

using Queue = shelfjobs::detail::WriteQueue<TestOp>;

// What the commit function saw and what the callers were told, in order.
struct Log {
  std::mutex mu;
  std::vector<int> committed;
  std::vector<std::size_t> batch_sizes;
  std::vector<std::pair<int, bool>> answered;
  std::vector<std::thread::id> answered_on;  // the thread of each answer
  std::thread::id writer;                    // the thread the commit function ran on

  TestOp op(int value) {
    TestOp o;
    o.value = value;
    o.done = [this, value](bool ok) {
      std::lock_guard lock(mu);
      answered.emplace_back(value, ok);
      answered_on.push_back(std::this_thread::get_id());
    };
    return o;
  }
};

// A write nobody waits for: no Done callback (a job's start, finish or progress).
TestOp quiet(int value) {
  TestOp o;
  o.value = value;
  return o;
}

// Waits (up to 10 s) until `n` writes were committed; false if they were not.
bool committed_within(Log& log, std::size_t n) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    {
      std::lock_guard lock(log.mu);
      if (log.committed.size() >= n) return true;
    }
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
}

// A commit function that records the batch and answers it with `ok`.
Queue::Commit recording(Queue& q, Log& log, bool ok = true) {
  return [&q, &log, ok](std::vector<TestOp>& batch) {
    {
      std::lock_guard lock(log.mu);
      for (const auto& o : batch) log.committed.push_back(o.value);
      log.batch_sizes.push_back(batch.size());
      log.writer = std::this_thread::get_id();
    }
    q.complete(batch.begin(), batch.end(), ok);
  };
}

// Holds the commit function until opened, so that writes pile up behind it.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  bool entered = false;
  void wait() {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  }
  void wait_entered() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  void release() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
};

// Starts `q` with a commit function that holds its first batch (write 0) at `gate`, then queues
// writes 1..`behind` while the writer holds it.
void queue_behind_first(Queue& q, Log& log, Gate& gate, int behind) {
  auto first = std::make_shared<bool>(true);
  REQUIRE(q.start([&q, &log, &gate, first](std::vector<TestOp>& batch) {
    if (std::exchange(*first, false)) gate.wait();
    recording(q, log)(batch);
  }));
  TestOp o = log.op(0);
  REQUIRE(q.push(o));
  gate.wait_entered();  // the writer holds the first write's batch
  for (int i = 1; i <= behind; ++i) {
    TestOp w = log.op(i);
    REQUIRE(q.push(w));
  }
}

}  // namespace

TEST_CASE("a write queue refuses writes before start and after close", "[engine][write_queue]") {
  Queue q;
  Log log;
  TestOp early = log.op(1);
  CHECK_FALSE(q.push(early));
  CHECK(early.done);  // untouched: the caller answers for it
  REQUIRE(q.start(recording(q, log)));
  CHECK_FALSE(q.start(recording(q, log)));  // once only
  CHECK(q.running());
  q.close();
  CHECK_FALSE(q.running());
  CHECK(q.closing());
  TestOp late = log.op(2);
  CHECK_FALSE(q.push(late));
  CHECK(late.done);
  CHECK(log.committed.empty());
}

TEST_CASE("writes queued behind a commit go together in the next batch, in order", "[engine][write_queue]") {
  Queue q;
  Log log;
  Gate gate;
  queue_behind_first(q, log, gate, 5);
  gate.release();
  q.wait_settled();
  std::lock_guard lock(log.mu);
  CHECK(log.committed == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(log.batch_sizes == std::vector<std::size_t>{1, 5});
  // Answered in commit order, each by the writer itself: a few callers cost it less to wake
  // than a hand-over to the completion thread.
  REQUIRE(log.answered.size() == 6);
  for (int i = 0; i < 6; ++i) {
    CHECK(log.answered[static_cast<std::size_t>(i)] == std::pair{i, true});
    CHECK(log.answered_on[static_cast<std::size_t>(i)] == log.writer);
  }
  q.close();
}

TEST_CASE(
    "a batch with more callers than the writer wakes itself is answered by the completion thread, in order",
    "[engine][write_queue]") {
  Queue q;
  Log log;
  Gate gate;
  const int behind = static_cast<int>(Queue::kInlineCallbacks) + 4;
  queue_behind_first(q, log, gate, behind);
  gate.release();
  q.wait_settled();  // returns once every callback before it ran, wherever it ran
  std::lock_guard lock(log.mu);
  CHECK(log.batch_sizes == std::vector<std::size_t>{1, static_cast<std::size_t>(behind)});
  REQUIRE(log.answered.size() == static_cast<std::size_t>(behind) + 1);
  CHECK(log.answered_on[0] == log.writer);  // the first batch: one caller
  for (int i = 0; i <= behind; ++i) {
    CHECK(log.answered[static_cast<std::size_t>(i)] == std::pair{i, true});
    if (i > 0) CHECK(log.answered_on[static_cast<std::size_t>(i)] != log.writer);
  }
  q.close();
}

TEST_CASE("wait_settled returns only once every earlier write is answered", "[engine][write_queue]") {
  Queue q;
  Log log;
  REQUIRE(q.start([&](std::vector<TestOp>& batch) {
    std::this_thread::sleep_for(20ms);  // a slow disk
    recording(q, log)(batch);
  }));
  for (int i = 0; i < 3; ++i) {
    TestOp o = log.op(i);
    REQUIRE(q.push(o));
  }
  q.wait_settled();
  {
    std::lock_guard lock(log.mu);
    CHECK(log.answered.size() == 3);
  }
  // With nothing queued, a flush does not wait for the writer at all.
  q.wait_settled();
  CHECK(q.wait_settled_for(0ms));
  q.close();
}

TEST_CASE("wait_settled_for gives up on a commit that does not end", "[engine][write_queue]") {
  Queue q;
  Log log;
  Gate gate;
  REQUIRE(q.start([&](std::vector<TestOp>& batch) {
    gate.wait();
    recording(q, log)(batch);
  }));
  TestOp o = log.op(7);
  REQUIRE(q.push(o));
  gate.wait_entered();
  CHECK_FALSE(q.wait_settled_for(30ms));
  gate.release();
  CHECK(q.wait_settled_for(10s));
  q.close();
}

TEST_CASE("a dropped batch answers each of its writes with false", "[engine][write_queue]") {
  Queue q;
  Log log;
  REQUIRE(q.start(recording(q, log, false)));
  for (int i = 0; i < 4; ++i) {
    TestOp o = log.op(i);
    REQUIRE(q.push(o));
  }
  q.wait_settled();
  std::lock_guard lock(log.mu);
  REQUIRE(log.answered.size() == 4);
  for (const auto& [value, ok] : log.answered) CHECK_FALSE(ok);
}

TEST_CASE("close commits what is queued before the writer stops", "[engine][write_queue]") {
  Queue q;
  Log log;
  Gate gate;
  queue_behind_first(q, log, gate, 9);
  std::thread closer([&] { q.close(); });
  // close() waits for the writer, which waits at the gate; no write is refused meanwhile
  // except those pushed after closing began.
  gate.release();
  closer.join();
  std::lock_guard lock(log.mu);
  CHECK(log.committed.size() == 10);
  CHECK(log.answered.size() == 10);
}

TEST_CASE("a closed queue starts again after reset", "[engine][write_queue]") {
  Queue q;
  Log log;
  REQUIRE(q.start(recording(q, log)));
  TestOp a = log.op(1);
  REQUIRE(q.push(a));
  q.close();
  q.reset();
  REQUIRE(q.start(recording(q, log)));
  TestOp b = log.op(2);
  REQUIRE(q.push(b));
  q.wait_settled();
  q.close();
  std::lock_guard lock(log.mu);
  CHECK(log.committed == std::vector<int>{1, 2});
  CHECK(log.answered.size() == 2);
}

TEST_CASE("writes from many threads are each committed and answered once, in each thread's order",
          "[engine][write_queue][concurrency]") {
  Queue q;
  Log log;
  REQUIRE(q.start(recording(q, log)));
  constexpr int kThreads = 6;
  constexpr int kEach = 400;
  std::atomic<int> refused{0};  // Catch's assertions are for the test's own thread
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // A third of the writes wait for nobody (a job's start or end), so batches linger too,
        // and a waited write often arrives while one does.
        const int v = t * kEach + i;
        TestOp o = i % 3 == 1 ? quiet(v) : log.op(v);
        if (!q.push(o)) ++refused;
        // Now and then wait for the write, as a durable push does; in between, write on at
        // once, so that the writer meets both a stream and pauses (the one it sleeps through,
        // the other it looks for before sleeping).
        if (i % 50 == 0) q.wait_settled();
      }
    });
  }
  for (auto& w : writers) w.join();
  CHECK(refused == 0);
  q.wait_settled();
  q.close();
  std::lock_guard lock(log.mu);
  REQUIRE(log.committed.size() == kThreads * kEach);
  std::vector<int> waited;  // the writes with a Done, in commit order: the order they are answered in
  for (const int v : log.committed)
    if (v % kEach % 3 != 1) waited.push_back(v);
  REQUIRE(log.answered.size() == waited.size());
  for (std::size_t i = 0; i < waited.size(); ++i) {
    CHECK(log.answered[i].first == waited[i]);
    CHECK(log.answered[i].second);
  }
  std::vector<int> last(kThreads, -1);
  std::vector<int> seen(kThreads * kEach, 0);
  for (std::size_t i = 0; i < log.committed.size(); ++i) {
    const int v = log.committed[i];
    ++seen[static_cast<std::size_t>(v)];
    const int t = v / kEach;
    CHECK(v > last[static_cast<std::size_t>(t)]);
    last[static_cast<std::size_t>(t)] = v;
  }
  for (int n : seen) CHECK(n == 1);
}

// The linger: a batch nobody waits for waits for company; anyone waiting ends that at once. The
// queues here linger far longer than any test waits, so each "at once" is exact.
TEST_CASE("a write someone waits for never lingers", "[engine][write_queue]") {
  Queue q(std::chrono::hours(1));
  Log log;
  REQUIRE(q.start(recording(q, log)));
  auto answered = std::make_shared<std::promise<bool>>();
  auto future = answered->get_future();
  TestOp o = quiet(1);
  o.done = [answered](bool ok) { answered->set_value(ok); };
  REQUIRE(q.push(o));  // to an empty queue: the write that wakes the writer is itself waited for
  REQUIRE(future.wait_for(10s) == std::future_status::ready);
  CHECK(future.get());
  q.close();
}

TEST_CASE("the first waited write takes the lingering ones along in one batch", "[engine][write_queue]") {
  Queue q(std::chrono::hours(1));
  Log log;
  REQUIRE(q.start(recording(q, log)));
  for (int i = 1; i <= 3; ++i) {
    TestOp o = quiet(i);
    REQUIRE(q.push(o));
  }
  std::this_thread::sleep_for(20ms);  // the writer wakes for the first and lingers
  {
    std::lock_guard lock(log.mu);
    CHECK(log.committed.empty());
  }
  TestOp waited = log.op(4);
  REQUIRE(q.push(waited));
  REQUIRE(committed_within(log, 4));
  {
    std::lock_guard lock(log.mu);
    CHECK(log.committed == std::vector<int>{1, 2, 3, 4});
    CHECK(log.batch_sizes == std::vector<std::size_t>{4});
  }
  q.close();
}

TEST_CASE("a flush, a bounded flush and close each end a linger", "[engine][write_queue]") {
  Queue q(std::chrono::hours(1));
  Log log;
  REQUIRE(q.start(recording(q, log)));
  TestOp a = quiet(1);
  REQUIRE(q.push(a));
  REQUIRE(q.wait_settled_for(10s));  // bounded, so a flush that fails to end the linger fails here
  q.wait_settled();                  // and the unbounded one, with nothing left to wait for
  {
    std::lock_guard lock(log.mu);
    CHECK(log.committed == std::vector<int>{1});
  }
  TestOp b = quiet(2);
  REQUIRE(q.push(b));
  CHECK(q.wait_settled_for(10s));
  TestOp c = quiet(3);
  REQUIRE(q.push(c));
  q.close();
  std::lock_guard lock(log.mu);
  CHECK(log.committed == std::vector<int>{1, 2, 3});
}

TEST_CASE("a lingering write commits by itself once the linger ends", "[engine][write_queue]") {
  Queue q(300ms);
  Log log;
  REQUIRE(q.start(recording(q, log)));
  const auto pushed = std::chrono::steady_clock::now();
  TestOp o = quiet(1);
  REQUIRE(q.push(o));
  // Nothing else came and nobody asked: it went anyway, and not before the linger ended (the
  // writer starts the linger after this push, so the bound is exact however slow the machine).
  REQUIRE(committed_within(log, 1));
  CHECK(std::chrono::steady_clock::now() - pushed >= 300ms);
  q.close();
}

TEST_CASE("a lingering batch goes once it holds kLingerOps writes", "[engine][write_queue]") {
  Queue q(std::chrono::hours(1));
  Log log;
  REQUIRE(q.start(recording(q, log)));
  const int n = static_cast<int>(Queue::kLingerOps);
  for (int i = 0; i < n; ++i) {
    TestOp o = quiet(i);
    REQUIRE(q.push(o));
    if (i == 0) std::this_thread::sleep_for(20ms);  // the writer is lingering when the rest come
  }
  REQUIRE(committed_within(log, Queue::kLingerOps));
  {
    std::lock_guard lock(log.mu);
    CHECK(log.batch_sizes == std::vector<std::size_t>{Queue::kLingerOps});
  }
  q.close();
}

TEST_CASE("a queue lingers again after close, reset and start", "[engine][write_queue]") {
  Queue q(std::chrono::hours(1));
  Log log;
  for (int cycle = 0; cycle < 2; ++cycle) {
    REQUIRE(q.start(recording(q, log)));
    TestOp a = quiet(10 * cycle + 1);
    REQUIRE(q.push(a));
    std::this_thread::sleep_for(10ms);
    {
      std::lock_guard lock(log.mu);
      CHECK(log.committed.size() == static_cast<std::size_t>(cycle));  // still lingering
    }
    q.close();  // commits it at once
    q.reset();
  }
  std::lock_guard lock(log.mu);
  CHECK(log.committed == std::vector<int>{1, 11});
}

namespace {

namespace ops = shelfjobs::detail::store_ops;

// What commit_split asked of the store, as "commit 0-2", "prune 2", "maintain 4".
std::vector<std::string> split_calls(std::vector<ops::Op>& batch) {
  std::vector<std::string> calls;
  const auto at = [&](const ops::Op& op) { return std::to_string(&op - batch.data()); };
  ops::commit_split(
      batch,
      [&](std::vector<ops::Op>& b, std::size_t begin, std::size_t end) {
        CHECK(&b == &batch);
        calls.push_back("commit " + std::to_string(begin) + "-" + std::to_string(end));
      },
      [&](ops::Op& op) { calls.push_back("prune " + at(op)); },
      [&](ops::Op& op) { calls.push_back("maintain " + at(op)); });
  return calls;
}

std::vector<ops::Op> batch_of(std::initializer_list<char> kinds) {
  std::vector<ops::Op> batch;
  for (char k : kinds) {
    ops::Op op;
    if (k == 'p') {
      op.payload = ops::Prune{};
    } else if (k == 'm') {
      op.payload = ops::Maintain{};
    } else {
      op.payload = ops::StartJob{static_cast<shelfjobs::JobId>(batch.size() + 1)};
    }
    batch.push_back(std::move(op));
  }
  return batch;
}

}  // namespace

TEST_CASE("a store's batch commits in runs split where a prune or a maintenance stands",
          "[engine][write_queue]") {
  using Calls = std::vector<std::string>;
  auto plain = batch_of({'w', 'w', 'w'});
  CHECK(split_calls(plain) == Calls{"commit 0-3"});

  auto mixed = batch_of({'w', 'w', 'p', 'w', 'm', 'p', 'w'});
  CHECK(split_calls(mixed) ==
        Calls{"commit 0-2", "prune 2", "commit 3-4", "maintain 4", "prune 5", "commit 6-7"});

  // No empty run is committed: a batch that is only housekeeping opens no transaction.
  auto alone = batch_of({'m', 'p'});
  CHECK(split_calls(alone) == Calls{"maintain 0", "prune 1"});

  std::vector<ops::Op> none;
  CHECK(split_calls(none).empty());
}
