// SPDX-License-Identifier: MIT
// Validation, canonical bodies, and which live job an equal push merges into.

#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>

#include <catch2/catch.hpp>

#include "engine/admission.hpp"
#include "engine/debouncer.hpp"
#include "engine/timer_queue.hpp"

using namespace shelfjobs;
using namespace std::chrono_literals;

namespace {
const TimePoint kAdmissionT0 = TimePoint{} + std::chrono::hours(24 * 365 * 50);

struct Refresh : Command {
  static constexpr std::string_view kName = "RefreshAuthor";
  std::int64_t authorId = 0;
};
void to_json(nlohmann::json& j, const Refresh& r) { j = {{"authorId", r.authorId}}; }
void from_json(const nlohmann::json& j, Refresh& r) { j.at("authorId").get_to(r.authorId); }
}  // namespace

TEST_CASE("prepare validates and canonicalises a push", "[engine][admission]") {
  Registry reg;
  reg.add<Refresh>([](const Refresh&, JobContext&) {});
  auto p = detail::prepare(reg, "refreshauthor", {{"authorId", 7}, {"ignored", true}}, {});
  REQUIRE(p);
  CHECK(p->type->name == "RefreshAuthor");
  CHECK(p->body_text == R"({"authorId":7})");
  CHECK(p->key == "RefreshAuthor\n{\"authorId\":7}");

  auto unknown = detail::prepare(reg, "Nope", {}, {});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == errc::unknown_command);
  auto array = detail::prepare(reg, "RefreshAuthor", nlohmann::json::array(), {});
  REQUIRE_FALSE(array);
  CHECK(array.error().code == errc::invalid_body);
  auto wrong = detail::prepare(reg, "RefreshAuthor", {{"authorId", "seven"}}, {});
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().message.find("authorId") != std::string::npos);
  auto prio = detail::prepare(reg, "RefreshAuthor", {{"authorId", 1}},
                              PushOptions{.priority = static_cast<Priority>(9)});
  REQUIRE_FALSE(prio);
  CHECK(prio.error().code == errc::invalid_argument);
}

TEST_CASE("a number the command's field cannot hold is refused, never wrapped or cut",
          "[engine][admission]") {
  Registry reg;
  reg.add<Refresh>([](const Refresh&, JobContext&) {});
  struct Case {
    nlohmann::json id;
    bool ok;
  };
  const nlohmann::json huge = nlohmann::json::parse("12345678901234567890");  // > INT64_MAX
  for (const Case& c : {Case{7, true}, Case{-7, true}, Case{nlohmann::json(std::int64_t(INT64_MAX)), true},
                        Case{nlohmann::json(std::uint64_t(INT64_MAX)), true}, Case{7.0, true},
                        Case{huge, false}, Case{7.5, false}}) {
    INFO(c.id.dump());
    auto p = detail::prepare(reg, "RefreshAuthor", {{"authorId", c.id}}, {});
    CHECK(p.has_value() == c.ok);
    if (!p) {
      CHECK(p.error().code == errc::invalid_body);
      CHECK(p.error().message.find("authorId") != std::string::npos);
    }
  }
}

TEST_CASE("changed_number names the first number that reads back differently", "[engine][admission]") {
  using nlohmann::json;
  CHECK(detail::changed_number(json{{"a", 1}}, json{{"a", 1}}).empty());
  CHECK(detail::changed_number(json{{"a", 1.0}}, json{{"a", 1}}).empty());
  CHECK(detail::changed_number(json{{"a", 1.5}}, json{{"a", 1}}) == "a");
  CHECK(detail::changed_number(json{{"o", {{"b", json::parse("18446744073709551615")}}}},
                               json{{"o", {{"b", -1}}}}) == "o.b");
  CHECK(detail::changed_number(json{{"ids", {1, json::parse("9223372036854775808")}}},
                               json{{"ids", {1, std::numeric_limits<std::int64_t>::min()}}}) == "ids[1]");
  // Fields the command does not have are not compared.
  CHECK(detail::changed_number(json{{"extra", 5}}, json::object()).empty());
}

TEST_CASE("an equal push merges into the queued twin, not into a running one", "[engine][admission]") {
  detail::DedupIndex ix;
  CHECK_FALSE(ix.twin("k", false));
  auto first = ix.twin_or_queue("k", false, 1);
  REQUIRE(first.slot != nullptr);
  CHECK_FALSE(first.twin);
  auto& slot = *first.slot;
  CHECK(ix.twin("k", false) == JobId{1});
  CHECK(ix.twin_or_queue("k", false, 7).twin == JobId{1});  // merges: 7 is not queued
  detail::DedupIndex::started(slot, 1);
  CHECK_FALSE(ix.twin("k", false));       // coalesce: a new run after the running one
  CHECK(ix.twin("k", true) == JobId{1});  // a type that allows it merges into the runner
  auto second = ix.twin_or_queue("k", false, 2);
  CHECK(second.slot == &slot);             // one slot per key, where the first job is
  CHECK(ix.twin("k", false) == JobId{2});  // further pushes merge into the queued one
  CHECK(ix.twin("k", true) == JobId{2});   // the queued one is preferred
  detail::DedupIndex::queued(slot, 1);     // the runner failed and waits for a retry
  CHECK(ix.twin("k", false) == JobId{1});
  // Other keys come and go; the slot stays where it is while a job is in it.
  for (int i = 0; i < 10000; ++i) ix.queued("other" + std::to_string(i), 100 + i);
  CHECK(&ix.queued("k", 2) == &slot);
  ix.ended(slot, 1);
  CHECK(ix.twin("k", true) == JobId{2});
  ix.ended(slot, 2);  // the last one: the slot goes
  CHECK_FALSE(ix.twin("k", true));
  CHECK(ix.size() == 10000);
}

// The index is open addressing: a key's entry may sit past its home, and dropping an entry moves
// later ones back. A model (a std::map of each key's queued and running ids) checks every answer
// while keys come and go in random order and the table grows.
TEST_CASE("the dedup index answers as a map of keys would while keys come and go", "[engine][admission]") {
  struct Live {
    std::set<JobId> queued, running;
    detail::DedupIndex::Slot* slot = nullptr;
  };
  detail::DedupIndex ix;
  std::map<std::string, Live> model;
  std::map<JobId, std::string> key_of;
  std::mt19937 rng(20261207);
  JobId next = 1;
  std::size_t most = 0;
  auto check = [&](const std::string& key) {
    auto it = model.find(key);
    std::optional<JobId> queued_twin, any_twin;
    if (it != model.end()) {
      if (!it->second.queued.empty())
        queued_twin = any_twin = *it->second.queued.begin();
      else if (!it->second.running.empty())
        any_twin = *it->second.running.begin();
    }
    CHECK(ix.twin(key, false) == queued_twin);
    CHECK(ix.twin(key, true) == any_twin);
  };
  for (int step = 0; step < 20000; ++step) {
    const std::string key = "Unique\n{\"n\":" + std::to_string(rng() % 700) + "}";
    // Pushes outnumber the rest for the first half (the table grows), then not (it drains).
    const auto op = step < 10000 && rng() % 2 == 0 ? 0 : rng() % 4;
    if (op == 0 || key_of.empty()) {  // a push: merges into a twin or waits
      const bool into_running = rng() % 2 == 0;
      auto admitted = ix.twin_or_queue(key, into_running, next);
      auto& live = model[key];
      std::optional<JobId> expected;
      if (!live.queued.empty())
        expected = *live.queued.begin();
      else if (into_running && !live.running.empty())
        expected = *live.running.begin();
      REQUIRE(admitted.twin == expected);
      if (!admitted.twin) {
        REQUIRE(admitted.slot != nullptr);
        if (live.slot) REQUIRE(admitted.slot == live.slot);  // one slot per key, and it stays put
        live.slot = admitted.slot;
        live.queued.insert(next);
        key_of[next++] = key;
      }
    } else {  // a live job starts, waits again (a retry) or ends
      auto it = key_of.begin();
      std::advance(it, rng() % key_of.size());
      const JobId id = it->first;
      const std::string k = it->second;
      auto& live = model.at(k);
      if (op == 1) {
        detail::DedupIndex::started(*live.slot, id);
        live.queued.erase(id);
        live.running.insert(id);
      } else if (op == 2) {
        detail::DedupIndex::queued(*live.slot, id);
        live.running.erase(id);
        live.queued.insert(id);
      } else {
        ix.ended(*live.slot, id);
        live.queued.erase(id);
        live.running.erase(id);
        key_of.erase(it);
        if (live.queued.empty() && live.running.empty()) model.erase(k);
      }
      check(k);
    }
    check(key);
    if (step % 1000 == 0) {
      for (int n = 0; n < 700; ++n) check("Unique\n{\"n\":" + std::to_string(n) + "}");
    }
    REQUIRE(ix.size() == model.size());
    most = std::max(most, ix.size());
  }
  CHECK(most > 300);  // the table grew several times
  CHECK(ix.size() < most);
}

TEST_CASE("the debouncer pushes once per quiet window, and at least once per maximum wait",
          "[engine][debounce]") {
  Registry reg;
  reg.add<Refresh>([](const Refresh&, JobContext&) {});
  auto req = [&] { return detail::prepare(reg, "RefreshAuthor", {{"authorId", 1}}, {}).value(); };
  detail::Debouncer d;
  const std::string key = req().key;
  CHECK(d.request(req(), kAdmissionT0, 10s, 0s) == kAdmissionT0 + 10s);
  CHECK(d.request(req(), kAdmissionT0 + 5s, 10s, 0s) == kAdmissionT0 + 15s);
  CHECK_FALSE(d.due(key, kAdmissionT0 + 10s));  // the first deadline was moved
  CHECK(d.due(key, kAdmissionT0 + 15s));
  CHECK(d.pending() == 0);

  // A steady stream: every 5 s, window 10 s, maximum wait 30 s.
  std::vector<TimePoint> pushes;
  for (int s = 0; s <= 70; s += 5) {
    const TimePoint now = kAdmissionT0 + std::chrono::seconds(s);
    if (d.due(key, now)) pushes.push_back(now);
    d.request(req(), now, 10s, 30s);
  }
  CHECK(pushes == std::vector<TimePoint>{kAdmissionT0 + 30s, kAdmissionT0 + 60s});
}

TEST_CASE("the timer queue hands out due callbacks in deadline order", "[engine][timers]") {
  detail::TimerQueue q;
  std::vector<int> ran;
  CHECK(q.add(kAdmissionT0 + 2s, [&] { ran.push_back(2); }));
  CHECK_FALSE(q.add(kAdmissionT0 + 3s, [&] { ran.push_back(3); }));
  CHECK(q.add(kAdmissionT0 + 1s, [&] { ran.push_back(1); }));
  CHECK_FALSE(q.add(kAdmissionT0 + 1s, [&] { ran.push_back(11); }));  // same deadline: after the first
  CHECK(q.next() == kAdmissionT0 + 1s);
  for (auto& fn : q.take_due(kAdmissionT0 + 2s)) fn();
  CHECK(ran == std::vector<int>{1, 11, 2});
  CHECK(q.take_due(kAdmissionT0 + 2s).empty());
  CHECK(q.next() == kAdmissionT0 + 3s);
  q.clear();
  CHECK_FALSE(q.next());
}
