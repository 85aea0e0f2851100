// SPDX-License-Identifier: MIT
// Names of enums and codes, time formatting, JobInfo as JSON, and the registry.

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

#include "engine/text.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/health.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

namespace {
using detail::iequals;
std::string lower(std::string_view s) { return detail::ascii_lower(s); }

template <class E, std::size_t N>
std::optional<E> parse(std::string_view s, const std::array<std::string_view, N>& names) {
  for (std::size_t i = 0; i < N; ++i)
    if (iequals(s, names[i])) return static_cast<E>(i);
  return std::nullopt;
}

constexpr std::array<std::string_view, 4> kPriorityNames = {"low", "normal", "high", "critical"};
constexpr std::array<std::string_view, 3> kTriggerNames = {"manual", "scheduled", "event"};
constexpr std::array<std::string_view, 5> kStatusNames = {"queued", "executing", "completed", "failed",
                                                          "cancelled"};
constexpr std::array<std::string_view, 8> kErrorKindNames = {
    "none", "network", "filesystem", "database", "rate_limited", "permanent", "timeout", "cancelled"};
}  // namespace

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::unknown_command: return "unknown_command";
    case errc::invalid_body: return "invalid_body";
    case errc::not_found: return "not_found";
    case errc::not_cancellable: return "not_cancellable";
    case errc::shutting_down: return "shutting_down";
    case errc::invalid_argument: return "invalid_argument";
    case errc::store_error: return "store_error";
    case errc::conflict: return "conflict";
    case errc::unavailable: return "unavailable";
    case errc::rate_limited: return "rate_limited";
    case errc::upstream_error: return "upstream_error";
    case errc::bad_file: return "bad_file";
    case errc::cancelled: return "cancelled";
    case errc::unauthorized: return "unauthorized";
  }
  return "unknown";
}

std::string_view to_string(Priority p) noexcept { return kPriorityNames.at(static_cast<std::size_t>(p)); }
std::string_view to_string(Trigger t) noexcept { return kTriggerNames.at(static_cast<std::size_t>(t)); }
std::string_view to_string(JobStatus s) noexcept { return kStatusNames.at(static_cast<std::size_t>(s)); }
std::string_view to_string(ErrorKind k) noexcept { return kErrorKindNames.at(static_cast<std::size_t>(k)); }

std::optional<Priority> priority_from_string(std::string_view s) noexcept {
  return parse<Priority>(s, kPriorityNames);
}
std::optional<Trigger> trigger_from_string(std::string_view s) noexcept {
  return parse<Trigger>(s, kTriggerNames);
}
std::optional<JobStatus> status_from_string(std::string_view s) noexcept {
  return parse<JobStatus>(s, kStatusNames);
}
std::optional<ErrorKind> error_kind_from_string(std::string_view s) noexcept {
  return parse<ErrorKind>(s, kErrorKindNames);
}

std::string format_time(TimePoint t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  long frac = static_cast<long>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

nlohmann::json to_json(const JobInfo& j) {
  nlohmann::json out = {
      {"id", j.id},
      {"name", j.name},
      {"body", j.body},
      {"priority", to_string(j.priority)},
      {"trigger", to_string(j.trigger)},
      {"status", to_string(j.status)},
      {"queued", format_time(j.queued_at)},
      {"attempt", j.attempt},
      {"progress",
       {{"current", j.progress.current}, {"total", j.progress.total}, {"message", j.progress.message}}},
      {"message", j.message},
  };
  if (!j.event.empty()) out["event"] = j.event;
  if (j.started_at) out["started"] = format_time(*j.started_at);
  if (j.ended_at) {
    out["ended"] = format_time(*j.ended_at);
    out["durationMs"] = j.duration.count();
  }
  if (j.error_kind != ErrorKind::none) out["errorKind"] = to_string(j.error_kind);
  if (!j.error.empty()) out["error"] = j.error;
  if (j.not_before) out["notBefore"] = format_time(*j.not_before);
  out["maxAttempts"] = j.max_attempts;
  if (!j.task.empty()) out["task"] = j.task;
  return out;
}

namespace detail {
namespace {
int category(const nlohmann::json& j) {
  if (j.is_number()) return 1;  // integer, unsigned and float are one kind here
  return 10 + static_cast<int>(j.type());
}
}  // namespace

std::string mismatched_field(const nlohmann::json& body, const nlohmann::json& defaults) {
  if (!body.is_object() || !defaults.is_object()) return {};
  for (const auto& [key, want] : defaults.items()) {
    auto it = body.find(key);
    if (it == body.end() || want.is_null()) continue;
    if (category(*it) != category(want)) return key;
    if (want.is_object()) {
      const std::string inner = mismatched_field(*it, want);
      if (!inner.empty()) return key + "." + inner;
    }
  }
  return {};
}
namespace {
// Whether two JSON numbers are the same number. nlohmann's operator== converts an unsigned
// value to signed before comparing, so a wrapped id would compare equal to its source.
bool same_number(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number_float() || b.is_number_float()) return a.get<double>() == b.get<double>();
  const bool a_neg = a.is_number_integer() && !a.is_number_unsigned() && a.get<std::int64_t>() < 0;
  const bool b_neg = b.is_number_integer() && !b.is_number_unsigned() && b.get<std::int64_t>() < 0;
  if (a_neg != b_neg) return false;
  if (a_neg) return a.get<std::int64_t>() == b.get<std::int64_t>();
  return a.get<std::uint64_t>() == b.get<std::uint64_t>();
}
}  // namespace

std::string changed_number(const nlohmann::json& body, const nlohmann::json& canonical) {
  if (body.is_object() && canonical.is_object()) {
    for (const auto& [key, value] : body.items()) {
      auto it = canonical.find(key);
      if (it == canonical.end()) continue;
      if (value.is_number() && it->is_number()) {
        if (!same_number(value, *it)) return key;
      } else if (const std::string inner = changed_number(value, *it); !inner.empty()) {
        return inner.front() == '[' ? key + inner : key + "." + inner;
      }
    }
  } else if (body.is_array() && canonical.is_array() && body.size() == canonical.size()) {
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body[i].is_number() && canonical[i].is_number()) {
        if (!same_number(body[i], canonical[i])) return "[" + std::to_string(i) + "]";
      } else if (const std::string inner = changed_number(body[i], canonical[i]); !inner.empty()) {
        return "[" + std::to_string(i) + "]." + inner;
      }
    }
  }
  return {};
}
}  // namespace detail

void Registry::add_type(CommandType type) {
  if (type.name.empty()) throw std::invalid_argument("command name must not be empty");
  if (!type.canonicalize || !type.execute)
    throw std::invalid_argument("command " + type.name + " needs a codec and a handler");
  auto key = lower(type.name);
  if (types_.count(key)) throw std::invalid_argument("command " + type.name + " is already registered");
  types_.emplace(std::move(key), std::move(type));
}

const CommandType* Registry::find(std::string_view name) const noexcept {
  auto it = types_.find(lower(name));
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& [k, t] : types_) out.push_back(t.name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace shelfjobs

namespace shelfjobs {

std::size_t duration_bin(std::chrono::milliseconds d) noexcept {
  const auto it = std::upper_bound(kDurationBinBoundsMs.begin(), kDurationBinBoundsMs.end(),
                                   std::max<std::int64_t>(0, d.count()));
  return static_cast<std::size_t>(it - kDurationBinBoundsMs.begin());
}

}  // namespace shelfjobs
