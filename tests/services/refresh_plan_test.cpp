// SPDX-License-Identifier: MIT
// Refresh planning as tables: given the local author and the fetched data, what is written, what
// is kept, what is removed (Readarr's rules, and where shelfjobs keeps more than Readarr did).

#include <algorithm>

#include <catch2/catch.hpp>

#include "services/refresh_plan.hpp"

using namespace shelfjobs;
using namespace shelfjobs::detail;
using namespace std::chrono_literals;

namespace {

const TimePoint kPlanNow = TimePoint{} + std::chrono::hours(24 * 365 * 50);
constexpr std::chrono::hours kMinAge{12};

Author local_author(std::string hash = "h1", std::optional<TimePoint> synced = kPlanNow - 48h) {
  Author a;
  a.id = 7;
  a.foreign_id = "100";
  a.name = "Ann Writer";
  a.metadata_hash = std::move(hash);
  a.last_info_sync = synced;
  a.monitored = true;
  return a;
}

Book local_book(RowId id, std::string fid, std::string hash, RowId author = 7, bool by_hand = false) {
  Book b;
  b.id = id;
  b.author_id = author;
  b.foreign_id = std::move(fid);
  b.title = "Book " + b.foreign_id;
  b.metadata_hash = std::move(hash);
  b.manually_added = by_hand;
  return b;
}

WorkData work(std::string fid, std::string hash) {
  WorkData w;
  w.foreign_id = std::move(fid);
  w.title = "Work " + w.foreign_id;
  w.hash = std::move(hash);
  return w;
}

AuthorData fetched(std::string hash, std::vector<WorkData> works, std::string name = "Ann Writer",
                   std::string fid = "100") {
  AuthorData d;
  d.foreign_id = std::move(fid);
  d.name = std::move(name);
  d.hash = std::move(hash);
  d.works = std::move(works);
  return d;
}

bool removes(const AuthorPlan& p, RowId id) {
  return std::find(p.w.removed_books.begin(), p.w.removed_books.end(), id) != p.w.removed_books.end();
}

}  // namespace

TEST_CASE("an unchanged author writes nothing, or only its sync time past the minimum age",
          "[services][plan]") {
  struct Row {
    const char* what;
    std::optional<TimePoint> synced;
    bool write;
  };
  for (const Row& r :
       {Row{"checked an hour ago", kPlanNow - 1h, false}, Row{"checked 11 h ago", kPlanNow - 11h, false},
        Row{"checked 13 h ago", kPlanNow - 13h, true}, Row{"never checked", std::nullopt, true}}) {
    INFO(r.what);
    const auto plan =
        plan_author(local_author("h1", r.synced), fetched("h1", {work("1", "w1")}), {}, 0, kPlanNow, kMinAge);
    CHECK_FALSE(plan.changed);
    CHECK(plan.write == r.write);
    CHECK(plan.w.books.empty());
    CHECK(plan.w.removed_books.empty());
    if (r.write) CHECK(plan.w.author->last_info_sync == kPlanNow);
  }
}

TEST_CASE("a changed author's works are added, updated, moved, left alone or removed", "[services][plan]") {
  LocalFacts local;
  local.books = {local_book(1, "same", "s"),               // same hash, same author: untouched
                 local_book(2, "edited", "old"),           // hash differs: updated
                 local_book(3, "gone", "g"),               // missing upstream, no files: removed
                 local_book(4, "gone-files", "g"),         // missing upstream, files: kept
                 local_book(5, "by-hand", "b", 7, true)};  // missing upstream, added by hand: kept
  local.files = {{3, 0}, {4, 2}};
  local.elsewhere = {{"moved", local_book(9, "moved", "m", 8)}};  // under author 8 today
  const auto data = fetched("h2", {work("same", "s"), work("edited", "new"), work("new", "n"),
                                   work("moved", "m"), work("new", "n")});  // "new" repeated upstream: once

  const auto plan = plan_author(local_author("h1"), data, local, 0, kPlanNow, kMinAge);
  REQUIRE(plan.changed);
  REQUIRE(plan.write);
  CHECK(plan.w.author->metadata_hash == "h2");
  CHECK(plan.w.author->last_info_sync == kPlanNow);

  std::map<std::string, const BookWrite*> written;
  for (const auto& bw : plan.w.books) written[bw.book.foreign_id] = &bw;
  CHECK(written.size() == plan.w.books.size());  // no work twice
  CHECK_FALSE(written.contains("same"));
  REQUIRE(written.contains("edited"));
  CHECK(written["edited"]->book.id == 2);
  CHECK(written["edited"]->book.metadata_hash == "new");
  REQUIRE(written.contains("moved"));
  CHECK(written["moved"]->book.id == 9);         // the existing row ...
  CHECK(written["moved"]->book.author_id == 7);  // ... moves to this author
  REQUIRE(written.contains("new"));
  CHECK(written["new"]->book.id == 0);
  CHECK(written["new"]->book.added == kPlanNow);
  CHECK(plan.updated == 2);
  REQUIRE(plan.added.size() == 1);
  CHECK(plan.w.books[plan.added[0]].book.foreign_id == "new");

  CHECK(removes(plan, 3));
  CHECK_FALSE(removes(plan, 4));
  CHECK_FALSE(removes(plan, 5));
  REQUIRE(plan.kept_with_files.size() == 1);
  CHECK(plan.kept_with_files[0].id == 4);
  CHECK_FALSE(plan.renamed_from.has_value());
}

TEST_CASE("which works need a lookup elsewhere and which books need their file counts", "[services][plan]") {
  const std::vector<Book> local = {local_book(1, "a", "x"), local_book(2, "b", "x"),
                                   local_book(3, "c", "x", 7, true)};
  const auto data = fetched("h", {work("a", "x"), work("d", "x"), work("d", "x")});
  CHECK(works_new_to(local, data) == std::vector<std::string>{"d"});
  CHECK(books_gone_upstream(local, data) == std::vector<RowId>{2});  // c was added by hand
}

TEST_CASE("a rename, a merge and a re-key are changes even with an equal hash", "[services][plan]") {
  SECTION("renamed upstream") {
    const auto plan =
        plan_author(local_author("h1"), fetched("h2", {}, "Ann Q. Writer"), {}, 0, kPlanNow, kMinAge);
    REQUIRE(plan.renamed_from.has_value());
    CHECK(*plan.renamed_from == "Ann Writer");
    CHECK(plan.w.author->name == "Ann Q. Writer");
    CHECK(plan.w.author->sort_name == sort_name_of("Ann Q. Writer"));
  }
  SECTION("merged into a local author") {
    const auto plan = plan_author(local_author("h1"), fetched("h1", {}), {}, 3, kPlanNow, kMinAge);
    CHECK(plan.changed);
    CHECK(plan.w.merge_from == 3);
  }
  SECTION("re-keyed: the source answers with another id") {
    const auto plan =
        plan_author(local_author("h1"), fetched("h1", {}, "Ann Writer", "200"), {}, 0, kPlanNow, kMinAge);
    CHECK(plan.changed);
    CHECK(plan.w.author->foreign_id == "200");
    CHECK(plan.w.merge_from == 0);
  }
}

TEST_CASE("a book refresh writes a change, a stale check's time, or nothing", "[services][plan]") {
  struct Row {
    const char* what;
    std::string hash;
    std::optional<TimePoint> synced;
    bool write, changed;
  };
  for (const Row& r : {Row{"changed", "new", kPlanNow - 1h, true, true},
                       Row{"unchanged, checked recently", "old", kPlanNow - 1h, false, false},
                       Row{"unchanged, checked long ago", "old", kPlanNow - 13h, true, false},
                       Row{"unchanged, never checked", "old", std::nullopt, true, false}}) {
    INFO(r.what);
    Book b = local_book(1, "w", "old");
    b.last_info_sync = r.synced;
    const auto plan = plan_book(b, work("w", r.hash), kPlanNow, kMinAge);
    CHECK(plan.write == r.write);
    CHECK(plan.changed == r.changed);
    if (plan.write) {
      REQUIRE(plan.w.books.size() == 1);
      CHECK(plan.w.books[0].book.id == 1);
      CHECK(plan.w.books[0].book.last_info_sync == kPlanNow);
    }
  }
}

TEST_CASE("an entity gone upstream is removed only without files and not added by hand", "[services][plan]") {
  struct Row {
    std::int64_t files;
    bool by_hand, defer;
    NotFound want;
  };
  for (const Row& r :
       {Row{0, false, false, NotFound::remove}, Row{0, false, true, NotFound::remove_at_end},
        Row{1, false, false, NotFound::keep_has_files}, Row{3, true, true, NotFound::keep_has_files},
        Row{0, true, false, NotFound::keep_added_by_hand},
        Row{0, true, true, NotFound::keep_added_by_hand}}) {
    INFO("files " << r.files << " by hand " << r.by_hand << " defer " << r.defer);
    CHECK(decide_not_found(r.files, r.by_hand, r.defer) == r.want);
  }
}

TEST_CASE("a run removes nobody when so many authors are missing that the source looks wrong",
          "[services][plan]") {
  struct Row {
    int missing, asked;
    bool guarded;
  };
  // Defaults: at least 3 missing and more than half of those asked.
  for (const Row& r : {Row{1, 1, false}, Row{2, 2, false}, Row{3, 4, true}, Row{3, 6, false}, Row{3, 5, true},
                       Row{10, 100, false}, Row{51, 100, true}, Row{50, 100, false}}) {
    INFO(r.missing << " of " << r.asked);
    CHECK(removal_guarded(r.missing, r.asked, 3, 0.5) == r.guarded);
  }
}
