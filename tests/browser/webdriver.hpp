// SPDX-License-Identifier: MIT
#pragma once
// A small W3C WebDriver client for the browser tests: it starts chromedriver as a child process
// and drives headless Chromium over chromedriver's HTTP API with libcurl. Only what the tests
// use is here; every call throws webdriver::Error when chromedriver reports an error.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace webdriver {

/// An error from chromedriver (`code` is the W3C error code, e.g. "no such element") or from
/// the transport (`code` is "transport").
class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(code + ": " + message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

/// The reply to one HTTP request.
struct Response {
  long status = 0;
  std::string body;
};

/// One blocking HTTP request with libcurl, never through a proxy (everything the tests talk to
/// is on the loopback interface). Throws Error{"transport"} when no answer came.
Response http(const std::string& method, const std::string& url, const std::string& body = {},
              const std::vector<std::string>& headers = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// A free TCP port on 127.0.0.1 (free when asked: bind it soon).
int free_port();

/// A child process in its own process group, so stopping it also stops what it started (for
/// chromedriver, the browser).
class Process {
 public:
  /// Starts `argv[0]` with `argv`; stdout and stderr go to `log_path` (or /dev/null if empty).
  Process(const std::vector<std::string>& argv, const std::string& log_path = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  /// True while the process has not exited (reaps it when it has).
  bool running();
  /// Waits up to `timeout` for the exit; the exit code (-signal if a signal ended it) or nullopt.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// Sends `signal` and waits up to `grace` for the exit; then SIGKILLs the process group.
  /// Returns the exit code, or -signal when a signal ended it.
  int stop(int signal, std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_;
  bool stopped_ = false;
};

/// chromedriver listening on a free 127.0.0.1 port, stopped by the destructor.
class Driver {
 public:
  explicit Driver(const std::string& chromedriver = "/usr/bin/chromedriver",
                  const std::string& log_path = {});
  const std::string& url() const { return url_; }

 private:
  std::string url_;
  std::optional<Process> process_;
};

/// A reference to an element of the current page.
struct Element {
  std::string id;
};

struct BrowserOptions {
  std::string binary = "/usr/bin/chromium";
  std::string user_data_dir;  ///< a fresh folder per session
  std::vector<std::string> extra_args;
  int width = 1280, height = 1024;
};

/// A browser session; the destructor ends it (and with it the browser).
class Session {
 public:
  Session(const Driver& driver, const BrowserOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void navigate(const std::string& url);
  std::string current_url();
  /// The first element matching a CSS selector, or nullopt when there is none.
  std::optional<Element> find(const std::string& css);
  std::vector<Element> find_all(const std::string& css);
  void click(const Element& element);
  /// An attribute's value, or nullopt when the element does not have it.
  std::optional<std::string> attribute(const Element& element, const std::string& name);
  /// The element's rendered text.
  std::string text(const Element& element);
  /// Runs a script (the body of a function; `arguments` holds `args`) and returns its result.
  nlohmann::json execute(const std::string& script, const nlohmann::json& args = nlohmann::json::array());
  /// A PNG of the viewport, base64-encoded.
  std::string screenshot_base64();

 private:
  nlohmann::json command(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nullptr);
  std::string base_;  // <driver>/session/<id>
  std::string driver_url_;
};

}  // namespace webdriver
