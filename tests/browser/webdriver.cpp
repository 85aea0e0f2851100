// SPDX-License-Identifier: MIT
#include "webdriver.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <curl/curl.h>

namespace webdriver {

using namespace std::chrono_literals;

namespace {
// The W3C spec's key for element references in JSON.
constexpr const char* kElementKey = "element-6066-11e4-a52e-4f735466cecf";

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Element element_of(const nlohmann::json& value) {
  if (!value.is_object() || !value.contains(kElementKey))
    throw Error("invalid reply", "not an element reference: " + value.dump());
  return Element{value.at(kElementKey).get<std::string>()};
}
}  // namespace

Response http(const std::string& method, const std::string& url, const std::string& body,
              const std::vector<std::string>& headers, std::chrono::milliseconds timeout) {
  global_init();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw Error("transport", "curl_easy_init failed");
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(list, curl_slist_free_all);

  Response res;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  // A configured proxy must not see loopback traffic.
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &res.body);
  if (method == "POST" || !body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (list) curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) throw Error("transport", method + " " + url + ": " + curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
  return res;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("transport", std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error("transport", std::string("bind: ") + std::strerror(err));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---- Process --------------------------------------------------------------------------------

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const char* log = log_path.empty() ? "/dev/null" : log_path.c_str();
  pid_ = ::fork();
  if (pid_ < 0) throw Error("spawn", std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    ::setpgid(0, 0);
    const int fd = ::open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    const int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in >= 0) ::dup2(null_in, STDIN_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  // Also from the parent, so a stop() right after the fork reaches the whole group.
  ::setpgid(pid_, pid_);
}

Process::~Process() {
  if (pid_ > 0 && !stopped_) stop(SIGTERM, 5s);
}

bool Process::running() {
  if (exit_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  exit_ = r == pid_ ? (WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status)) : -1;
  return false;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (running() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  return exit_;
}

int Process::stop(int signal, std::chrono::milliseconds grace) {
  if (running()) {
    ::kill(pid_, signal);
    if (!wait(grace)) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
  }
  // Whatever the process started and left behind in its group (browser helpers) goes too; only
  // once, as the group's id may be reused later.
  if (!stopped_) ::kill(-pid_, SIGKILL);
  stopped_ = true;
  return *exit_;
}

// ---- Driver ---------------------------------------------------------------------------------

Driver::Driver(const std::string& chromedriver, const std::string& log_path) {
  // The free port can be taken between the probe and chromedriver's bind: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = free_port();
    url_ = "http://127.0.0.1:" + std::to_string(port);
    process_.emplace(std::vector<std::string>{chromedriver, "--port=" + std::to_string(port)}, log_path);
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until && process_->running()) {
      try {
        const auto res = http("GET", url_ + "/status", {}, {}, 2s);
        if (res.status == 200 && nlohmann::json::parse(res.body).at("value").value("ready", false)) return;
      } catch (const std::exception&) {
        // not listening yet
      }
      std::this_thread::sleep_for(50ms);
    }
    process_.reset();
  }
  throw Error("spawn", chromedriver + " did not start (log: " + log_path + ")");
}

// ---- Session --------------------------------------------------------------------------------

Session::Session(const Driver& driver, const BrowserOptions& options) : driver_url_(driver.url()) {
  std::vector<std::string> args = {
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--window-size=" + std::to_string(options.width) + "," + std::to_string(options.height)};
  if (!options.user_data_dir.empty()) args.push_back("--user-data-dir=" + options.user_data_dir);
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  const nlohmann::json caps = {{"capabilities",
                                {{"alwaysMatch",
                                  {{"browserName", "chrome"},
                                   {"goog:chromeOptions", {{"binary", options.binary}, {"args", args}}}}}}}};
  const auto res =
      http("POST", driver_url_ + "/session", caps.dump(), {"Content-Type: application/json"}, 90s);
  nlohmann::json reply;
  try {
    reply = nlohmann::json::parse(res.body);
  } catch (const std::exception&) {
    throw Error("invalid reply", "new session: " + res.body);
  }
  const auto& value = reply.at("value");
  if (res.status != 200 || !value.contains("sessionId"))
    throw Error(value.value("error", "session not created"), value.value("message", res.body));
  base_ = driver_url_ + "/session/" + value.at("sessionId").get<std::string>();
}

Session::~Session() {
  try {
    http("DELETE", base_, {}, {}, 30s);
  } catch (const std::exception&) {
    // chromedriver is stopped next anyway, and takes the browser with it
  }
}

nlohmann::json Session::command(const std::string& method, const std::string& path,
                                const nlohmann::json& body) {
  const std::string payload = body.is_null() ? (method == "POST" ? "{}" : "") : body.dump();
  const auto res = http(method, base_ + path, payload, {"Content-Type: application/json"});
  nlohmann::json reply;
  try {
    reply = nlohmann::json::parse(res.body);
  } catch (const std::exception&) {
    throw Error("invalid reply",
                method + " " + path + " (" + std::to_string(res.status) + "): " + res.body.substr(0, 500));
  }
  nlohmann::json value = reply.contains("value") ? reply.at("value") : nlohmann::json(nullptr);
  if (res.status != 200) {
    const bool detailed = value.is_object();
    throw Error(detailed ? value.value("error", "unknown error") : "unknown error",
                detailed ? value.value("message", res.body) : res.body);
  }
  return value;
}

void Session::navigate(const std::string& url) { command("POST", "/url", {{"url", url}}); }

std::string Session::current_url() { return command("GET", "/url").get<std::string>(); }

std::optional<Element> Session::find(const std::string& css) {
  try {
    return element_of(command("POST", "/element", {{"using", "css selector"}, {"value", css}}));
  } catch (const Error& e) {
    if (e.code() == "no such element") return std::nullopt;
    throw;
  }
}

std::vector<Element> Session::find_all(const std::string& css) {
  std::vector<Element> out;
  for (const auto& v : command("POST", "/elements", {{"using", "css selector"}, {"value", css}}))
    out.push_back(element_of(v));
  return out;
}

void Session::click(const Element& element) { command("POST", "/element/" + element.id + "/click"); }

std::optional<std::string> Session::attribute(const Element& element, const std::string& name) {
  const auto v = command("GET", "/element/" + element.id + "/attribute/" + name);
  if (v.is_null()) return std::nullopt;
  return v.get<std::string>();
}

std::string Session::text(const Element& element) {
  return command("GET", "/element/" + element.id + "/text").get<std::string>();
}

nlohmann::json Session::execute(const std::string& script, const nlohmann::json& args) {
  return command("POST", "/execute/sync", {{"script", script}, {"args", args}});
}

std::string Session::screenshot_base64() { return command("GET", "/screenshot").get<std::string>(); }

}  // namespace webdriver
