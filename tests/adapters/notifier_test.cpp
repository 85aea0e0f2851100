// SPDX-License-Identifier: MIT
// Notifications as JSON, the log notifier, and the webhook notifier against a real HTTP server
// on the loopback interface.

#include <catch2/catch.hpp>

#include <httplib.h>

#include "http_task_queue.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "adapters/http_client.hpp"
#include "loopback.hpp"
#include "shelfjobs/adapters/webhook_notifier.hpp"
#include "shelfjobs/engine/notifier.hpp"
#include "shelfjobs/version.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;

namespace {

/// One request as the server saw it.
struct Seen {
  std::string method;
  std::string path;
  std::string body;
  httplib::Headers headers;
  std::chrono::steady_clock::time_point at;
};

/// A cpp-httplib server on 127.0.0.1 and a random port, run on its own thread. `answer` decides
/// each response from the request's number (0 for the first).
class HookServer {
 public:
  using Answer = std::function<void(int n, httplib::Response&)>;

  explicit HookServer(Answer answer) : answer_(std::move(answer)) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      int n = 0;
      {
        std::lock_guard lock(mu_);
        n = static_cast<int>(seen_.size());
        seen_.push_back({req.method, req.path, req.body, req.headers, std::chrono::steady_clock::now()});
      }
      answer_(n, res);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() only works once the server runs; connections made before that wait in the
    // listen backlog, so this only matters for the destructor.
    REQUIRE(eventually([&] { return server_.is_running(); }));
  }
  ~HookServer() {
    server_.stop();
    thread_.join();
  }
  HookServer(const HookServer&) = delete;
  HookServer& operator=(const HookServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return seen_.size();
  }

 private:
  Answer answer_;
  http_pool::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
};

/// Holds server handlers until the test opens it (or a safety timeout passes).
class Latch {
 public:
  void wait(std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return open_; });
  }
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// A log sink the test can read while the notifier's thread writes to it.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    text_.append(buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

struct Captured {
  std::shared_ptr<CaptureSink> sink = std::make_shared<CaptureSink>();
  std::shared_ptr<spdlog::logger> logger = [this] {
    auto l = std::make_shared<spdlog::logger>("webhook-test", sink);
    l->set_level(spdlog::level::debug);
    return l;
  }();
};

// 2026-11-28T09:25:45.123Z
const TimePoint kTime{std::chrono::milliseconds(1795857945123)};

Notification failed_job_notification() {
  JobInfo job;
  job.id = 42;
  job.name = "RefreshAuthor";
  job.body = {{"authorId", 7}};
  job.status = JobStatus::failed;
  job.queued_at = kTime;
  job.error_kind = ErrorKind::network;
  job.error = "indexer unreachable";
  job.message = "indexer unreachable";
  return {.event = "job_failed",
          .job = job,
          .message = "RefreshAuthor failed: indexer unreachable",
          .time = kTime,
          .details = {{"attempts", 3}}};
}

Notification numbered(int i) {
  return {.event = "alert_raised", .message = std::to_string(i), .time = kTime};
}

void ok(int, httplib::Response& res) { res.status = 200; }

}  // namespace

TEST_CASE("a notification becomes the documented JSON", "[notifier]") {
  const auto j = to_json(failed_job_notification());
  CHECK(j.at("event") == "job_failed");
  CHECK(j.at("message") == "RefreshAuthor failed: indexer unreachable");
  CHECK(j.at("time") == "2026-11-28T09:25:45.123Z");
  CHECK(j.at("job") == to_json(*failed_job_notification().job));
  CHECK(j.at("job").at("id") == 42);
  CHECK(j.at("details") == nlohmann::json{{"attempts", 3}});

  const auto bare = to_json(numbered(1));
  CHECK(bare.at("job").is_null());
  CHECK(bare.at("details") == nlohmann::json::object());
}

TEST_CASE("the log notifier writes one line, at warn for failures", "[notifier]") {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>("log-notifier-test",
                                                 std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  logger->set_pattern("%l %v");
  LogNotifier n(logger);

  n.notify(failed_job_notification());
  const auto first = out.str();
  CHECK_THAT(first, Catch::StartsWith("warning job_failed: RefreshAuthor failed: indexer unreachable"));
  CHECK_THAT(first, Catch::Contains("job 42 RefreshAuthor"));
  CHECK_THAT(first, Catch::Contains("\"attempts\":3"));
  CHECK(std::count(first.begin(), first.end(), '\n') == 1);

  out.str("");
  n.notify({.event = "alert_cleared", .message = "queue is short again", .time = kTime});
  CHECK(out.str() == "info alert_cleared: queue is short again\n");
}

TEST_CASE("create refuses a missing or non-http URL", "[notifier]") {
  for (const std::string url : {"", "ftp://x", "http://", "mailto:a@b.c"}) {
    auto r = WebhookNotifier::create({.url = url, .logger = quiet_logger()});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_argument);
  }
  auto bad_header = WebhookNotifier::create(
      {.url = "http://127.0.0.1:1/x", .headers = {{"X-A", "b\r\nX-Injected: 1"}}, .logger = quiet_logger()});
  CHECK_FALSE(bad_header.has_value());
  auto no_room =
      WebhookNotifier::create({.url = "http://127.0.0.1:1/x", .max_pending = 0, .logger = quiet_logger()});
  CHECK_FALSE(no_room.has_value());
  CHECK(
      WebhookNotifier::create({.url = "HTTPS://example.invalid/hook", .logger = quiet_logger()}).has_value());
}

TEST_CASE("a webhook receives the notification as JSON with its headers", "[notifier]") {
  HookServer server(ok);
  auto hook = WebhookNotifier::create({.url = server.url(),
                                       .timeout = 5s,
                                       .headers = {{"Authorization", "Bearer t0ken"}},
                                       .logger = quiet_logger()})
                  .value();
  hook->notify(failed_job_notification());
  REQUIRE(hook->flush(10s));
  CHECK(hook->delivered() == 1);
  CHECK(hook->failed() == 0);

  const auto seen = server.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].path == "/hook");
  auto header = [&](const char* name) {
    auto it = seen[0].headers.find(name);
    return it == seen[0].headers.end() ? std::string("<none>") : it->second;
  };
  CHECK(header("Content-Type") == "application/json");
  CHECK(header("User-Agent") == detail::user_agent());
  CHECK(header("Authorization") == "Bearer t0ken");

  const auto body = nlohmann::json::parse(seen[0].body);
  CHECK(body == to_json(failed_job_notification()));
  CHECK(body.at("event") == "job_failed");
  CHECK(body.at("message") == "RefreshAuthor failed: indexer unreachable");
  CHECK(body.at("time") == "2026-11-28T09:25:45.123Z");
  CHECK(body.at("job").at("name") == "RefreshAuthor");
  CHECK(body.at("job").at("status") == "failed");
}

TEST_CASE("a webhook answering 500 is retried until it accepts", "[notifier]") {
  HookServer server([](int n, httplib::Response& res) { res.status = n < 2 ? 500 : 200; });
  auto hook =
      WebhookNotifier::create(
          {.url = server.url(), .timeout = 5s, .retries = 3, .backoff = 10ms, .logger = quiet_logger()})
          .value();
  hook->notify(numbered(1));
  REQUIRE(hook->flush(10s));
  CHECK(hook->delivered() == 1);
  CHECK(hook->failed() == 0);
  const auto seen = server.seen();
  REQUIRE(seen.size() == 3);
  for (const auto& s : seen) CHECK(s.body == seen[0].body);
}

TEST_CASE("a webhook answering 400 is not retried and the failure is logged", "[notifier]") {
  Captured log;
  HookServer server([](int, httplib::Response& res) { res.status = 400; });
  auto hook = WebhookNotifier::create(
                  {.url = server.url(), .timeout = 5s, .retries = 3, .backoff = 10ms, .logger = log.logger})
                  .value();
  hook->notify(numbered(1));
  REQUIRE(hook->flush(10s));
  CHECK(hook->failed() == 1);
  CHECK(hook->delivered() == 0);
  CHECK(server.count() == 1);
  const auto text = log.sink->text();
  CHECK_THAT(text, Catch::Contains("[warning]"));
  CHECK_THAT(text, Catch::Contains(server.url()));
  CHECK_THAT(text, Catch::Contains("HTTP 400"));
}

TEST_CASE("a webhook answering 429 is retried after its Retry-After", "[notifier]") {
  HookServer server([](int n, httplib::Response& res) {
    if (n == 0) {
      res.status = 429;
      res.set_header("Retry-After", "1");
    } else {
      res.status = 200;
    }
  });
  auto hook = WebhookNotifier::create({.url = server.url(),
                                       .timeout = 5s,
                                       .retries = 2,
                                       .backoff = 10ms,
                                       .max_backoff = 5s,
                                       .logger = quiet_logger()})
                  .value();
  hook->notify(numbered(1));
  REQUIRE(hook->flush(10s));
  CHECK(hook->delivered() == 1);
  const auto seen = server.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].at - seen[0].at >= 950ms);  // Retry-After: 1 beats the 10 ms backoff
}

TEST_CASE("a webhook slower than the timeout fails after its retries", "[notifier]") {
  Latch latch;
  HookServer server([&](int, httplib::Response& res) {
    latch.wait();
    res.status = 200;
  });
  {
    auto hook =
        WebhookNotifier::create(
            {.url = server.url(), .timeout = 200ms, .retries = 1, .backoff = 10ms, .logger = quiet_logger()})
            .value();
    hook->notify(numbered(1));
    REQUIRE(hook->flush(10s));
    CHECK(hook->failed() == 1);
    CHECK(hook->delivered() == 0);
  }
  latch.open();
}

TEST_CASE("a webhook on a closed port fails without throwing and notify does not wait", "[notifier]") {
  const int port = testing::closed_port();
  REQUIRE(port > 0);
  auto hook = WebhookNotifier::create({.url = "http://127.0.0.1:" + std::to_string(port) + "/hook",
                                       .timeout = 1s,
                                       .retries = 2,
                                       .backoff = 10ms,
                                       .logger = quiet_logger()})
                  .value();
  const auto start = std::chrono::steady_clock::now();
  CHECK_NOTHROW(hook->notify(numbered(1)));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < 50ms);  // notify only queues
  REQUIRE(hook->flush(10s));
  CHECK(hook->failed() == 1);
  CHECK(hook->delivered() == 0);
}

TEST_CASE("a full webhook queue drops the oldest notification", "[notifier]") {
  Latch latch;
  HookServer server([&](int, httplib::Response& res) {
    latch.wait();
    res.status = 200;
  });
  auto hook = WebhookNotifier::create(
                  {.url = server.url(), .timeout = 10s, .max_pending = 3, .logger = quiet_logger()})
                  .value();
  hook->notify(numbered(0));
  REQUIRE(eventually([&] { return server.count() == 1; }));  // 0 is in flight, held
  for (int i = 1; i <= 5; ++i) hook->notify(numbered(i));    // 1 and 2 fall out
  CHECK(hook->dropped() == 2);
  CHECK_FALSE(hook->flush(0ms));
  latch.open();
  REQUIRE(hook->flush(10s));
  CHECK(hook->delivered() == 4);
  CHECK(hook->dropped() == 2);

  std::vector<std::string> messages;
  for (const auto& s : server.seen())
    messages.push_back(nlohmann::json::parse(s.body).at("message").get<std::string>());
  CHECK(messages == std::vector<std::string>{"0", "3", "4", "5"});
}

TEST_CASE("a webhook notifier is destroyed promptly while waiting to retry", "[notifier]") {
  Captured log;
  HookServer server([](int, httplib::Response& res) { res.status = 503; });
  auto hook = WebhookNotifier::create({.url = server.url(),
                                       .timeout = 2s,
                                       .retries = 5,
                                       .backoff = 60s,
                                       .max_backoff = 60s,
                                       .logger = log.logger})
                  .value();
  hook->notify(numbered(1));
  REQUIRE(eventually([&] { return log.sink->text().find("retrying in") != std::string::npos; }));
  const auto start = std::chrono::steady_clock::now();
  hook.reset();
  // The backoff is a minute; the destructor must not sit it out.
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(server.count() == 1);
}

TEST_CASE("a webhook request carries the one User-Agent of shelfjobs", "[notifier]") {
  HookServer server(ok);
  auto hook = WebhookNotifier::create({.url = server.url(), .timeout = 5s, .logger = quiet_logger()}).value();
  hook->notify(numbered(1));
  REQUIRE(hook->flush(10s));
  const auto seen = server.seen();
  REQUIRE(seen.size() == 1);
  const auto ua = seen[0].headers.find("User-Agent");
  REQUIRE(ua != seen[0].headers.end());
  // The metadata client sends the same (bookinfo_test checks it through the fixture).
  CHECK(ua->second == detail::user_agent());
  CHECK(ua->second == std::string("shelfjobs/") + kVersion + " (+https://github.com/shelfjobs/shelfjobs)");
  CHECK(detail::HttpClientOptions{}.user_agent == detail::user_agent());
}

TEST_CASE("a webhook POST sends a large body at once and asks for no compression", "[notifier]") {
  HookServer server(ok);
  auto hook = WebhookNotifier::create({.url = server.url(), .timeout = 5s, .logger = quiet_logger()}).value();
  Notification big = numbered(1);
  big.message = std::string(2u << 20, 'x');  // past libcurl's threshold for Expect: 100-continue
  hook->notify(big);
  REQUIRE(hook->flush(10s));
  CHECK(hook->delivered() == 1);
  const auto seen = server.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].headers.count("Expect") == 0);
  CHECK(seen[0].headers.count("Accept-Encoding") == 0);
  CHECK(nlohmann::json::parse(seen[0].body).at("message").get<std::string>().size() == (2u << 20));
}

TEST_CASE("a webhook answering a redirect is not followed and not retried", "[notifier]") {
  Captured log;
  HookServer server([](int, httplib::Response& res) {
    res.status = 302;
    res.set_header("Location", "/elsewhere");
  });
  auto hook = WebhookNotifier::create(
                  {.url = server.url(), .timeout = 5s, .retries = 3, .backoff = 10ms, .logger = log.logger})
                  .value();
  hook->notify(numbered(1));
  REQUIRE(hook->flush(10s));
  CHECK(hook->failed() == 1);
  CHECK(server.count() == 1);
  CHECK_THAT(log.sink->text(), Catch::Contains("HTTP 302"));
}

TEST_CASE("the HTTP client POSTs a body with its content type, and a stop token cancels it",
          "[notifier][http]") {
  Latch latch;
  HookServer server([&](int n, httplib::Response& res) {
    if (n == 1) latch.wait();
    res.status = 201;
    res.set_content("made", "text/plain");
  });
  detail::HttpClient client({.timeout = 5s});
  detail::HttpRequest req;
  req.url = server.url();
  req.headers = {{"X-Extra", "1"}};

  const auto r = client.post(req, "a=1", "application/x-www-form-urlencoded");
  CHECK(r.error == detail::TransportError::none);
  CHECK(r.status == 201);
  CHECK(r.body == "made");
  CHECK(r.content_type == "text/plain");
  auto seen = server.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].body == "a=1");
  CHECK(seen[0].headers.find("Content-Type")->second == "application/x-www-form-urlencoded");
  CHECK(seen[0].headers.find("X-Extra")->second == "1");
  CHECK(seen[0].headers.find("User-Agent")->second == detail::user_agent());

  // The second request is held by the server; the token ends it at once, not at the timeout.
  std::stop_source stop;
  bool arrived = false;
  std::thread canceller([&] {
    // No REQUIRE off the test's thread: Catch2's assertions are not thread-safe.
    arrived = eventually([&] { return server.count() == 2; });
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  const auto c = client.post(req, "a=2", "application/x-www-form-urlencoded", stop.get_token());
  const auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  latch.open();
  CHECK(arrived);  // cancelled while the server held it, not before it was sent
  CHECK(c.error == detail::TransportError::cancelled);
  CHECK(took < 3s);
}
