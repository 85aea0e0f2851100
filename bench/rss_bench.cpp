// SPDX-License-Identifier: MIT
// rss_bench: what an RSS sync's CPU part costs (reading a Torznab page and deciding every
// release against the library's wanted books), next to pugixml alone reading the same bytes, in
// the same run on the same machine.
//
//   rss_bench [--items N] [--books B] [--runs R] [--reps K] [--json]
//
// Set-up, once per process and untimed: a real SQLite catalog in a temp folder with B books
// (default 5,000) of B/5 authors, every one monitored, one in eight with a pdf file and one in
// twenty with an epub (so some releases are upgrades and some not wanted); a Torznab feed of N
// items (default 1,000) with realistic titles ("Author Name - Book Title (2019) [EPUB]", scene
// names, audiobooks), torznab:attr seeders, peers, size, category, infohash, and a pubDate. One
// item in five names a book of the catalog (one shape or another), the rest authors it does not
// know. `WantedBooks::load` runs once; its time is `load_wanted_ms`.
//
// Figures of one run (each part repeated K times, default 20, the two interleaved so both
// see the same load of the machine; items / seconds over the K repetitions):
//   items_per_s            shelfjobs::parse_releases (Torznab) + decide over the page's releases
//   raw_parse_items_per_s  pugixml alone: load_buffer of the same bytes, and for each item its
//                          title, guid, link, pubDate, enclosure url/length/type and every
//                          torznab:attr's name and value read (the reference)
//   ratio                  items_per_s / raw_parse_items_per_s (target >= 0.5)
//   parse_items_per_s      parse_releases alone, and decide_items_per_s decide alone (where the
//                          time goes)
//   ratio_cpu              the ratio of the two parts' thread CPU times: the same comparison,
//                          steady on a machine that other work shares (the wall-clock figures
//                          then count the time the bench waited for a core)
// Medians over R runs (default 5), each run's values beside them; --json adds one JSON line.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <malloc.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "bench_report.hpp"
#include "shelfjobs/adapters/newznab.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/release_decision.hpp"

using bench::median;
using bench::Target;

namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;
using namespace shelfjobs;

double seconds_since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

// CPU seconds this thread has used.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "rss_bench: %s\n", what.c_str());
  std::exit(1);
}

// Names from small word lists, so the feed's unknown authors look like the library's.
const char* const kFirst[] = {"Ann",   "Iain",   "Ursula", "Frank", "Octavia", "Neal",    "Martha", "Becky",
                              "Terry", "Robin",  "Ada",    "Liu",   "Arkady",  "Susanna", "Ted",    "Nnedi",
                              "Kim",   "Connie", "Lois",   "Gene",  "Jo",      "Mary",    "Vernor", "Cixin"};
const char* const kLast[] = {"Leckie",      "Banks",    "Le Guin",   "Herbert",  "Butler", "Stephenson",
                             "Wells",       "Chambers", "Pratchett", "Hobb",     "Palmer", "Martine",
                             "Clarke",      "Chiang",   "Okorafor",  "Robinson", "Willis", "Bujold",
                             "Wolfe",       "Walton",   "Shelley",   "Vinge",    "Brontë", "Ishiguro",
                             "Tchaikovsky", "Jemisin",  "Mandel",    "Scalzi"};
const char* const kWords[] = {
    "Ancillary", "Justice", "Sword",    "Mercy", "Player",   "Games",        "Left",     "Hand",   "Darkness",
    "Dune",      "Kindred", "Parable",  "Sower", "Anathem",  "Murderbot",    "Diaries",  "Long",   "Way",
    "Small",     "Angry",   "Planet",   "Mort",  "Assassin", "Apprentice",   "Memory",   "Called", "Empire",
    "Piranesi",  "Stories", "Life",     "Binti", "Red",      "Mars",         "Doomsday", "Book",   "Shards",
    "Honor",     "Shadow",  "Torturer", "Among", "Others",   "Frankenstein", "Deepness", "Sky",    "Three",
    "Body",      "Problem", "Children", "Time"};

template <class T, std::size_t N>
const T& pick(const T (&a)[N], std::uint64_t i) {
  return a[i % N];
}

struct LibraryBook {
  std::string author, title;
  int year = 0;
};

std::string author_name(int a) {
  // Distinct for every author number: a first and last name, and a middle initial past the
  // list's combinations.
  const int combos = static_cast<int>(std::size(kFirst) * std::size(kLast));
  std::string n = pick(kFirst, static_cast<std::uint64_t>(a)) + std::string(" ");
  if (a >= combos) n += std::string(1, static_cast<char>('A' + (a / combos) % 26)) + ". ";
  return n + pick(kLast, static_cast<std::uint64_t>(a / static_cast<int>(std::size(kFirst))));
}

std::string book_title(std::mt19937_64& rng, int n) {
  std::string t;
  const int words = 1 + static_cast<int>(rng() % 4);
  for (int w = 0; w < words; ++w) t += (w ? " " : "") + std::string(pick(kWords, rng()));
  return t + " " + std::to_string(n);  // distinct within the author
}

struct Library {
  fs::path dir;
  std::shared_ptr<Catalog> catalog;
  std::vector<LibraryBook> books;
};

Library make_library(int book_count) {
  Library lib;
  std::random_device rd;
  lib.dir = fs::temp_directory_path() / ("shelfjobs-rss-bench-" + std::to_string(rd()));
  fs::create_directories(lib.dir / "books");
  auto cat = open_sqlite_catalog({lib.dir / "catalog.db"});
  if (!cat) die("catalog: " + cat.error().message);
  lib.catalog = *cat;
  Catalog& c = *lib.catalog;
  auto root = c.add_root_folder(lib.dir / "books", "Books");
  if (!root) die("root folder: " + root.error().message);

  std::mt19937_64 rng(42);
  const int per_author = 5;
  const int authors = std::max(1, book_count / per_author);
  FileBatch files;
  int made = 0;
  for (int a = 0; a < authors && made < book_count; ++a) {
    Author au;
    au.foreign_id = "a" + std::to_string(a);
    au.name = author_name(a);
    au.path = root->path / safe_folder_name(au.name);
    au.root_folder_id = root->id;
    auto added = c.add_author(au);
    if (!added) die("author: " + added.error().message);
    AuthorWrite w;
    w.author = *added;
    std::vector<LibraryBook> mine;
    for (int b = 0; b < per_author && made < book_count; ++b, ++made) {
      LibraryBook lb{au.name, book_title(rng, b + 1), 1990 + static_cast<int>(rng() % 35)};
      BookWrite bw;
      bw.book.author_id = added->id;
      bw.book.foreign_id = "b" + std::to_string(made);
      bw.book.title = lb.title;
      bw.book.release_date = Date(std::chrono::year(lb.year) / std::chrono::March / 1);
      w.books.push_back(bw);
      mine.push_back(lb);
    }
    auto applied = c.apply(w);
    if (!applied) die("books: " + applied.error().message);
    for (std::size_t i = 0; i < mine.size(); ++i) {
      const std::size_t n = lib.books.size();
      if (n % 8 == 3 || n % 20 == 7) {
        BookFile f;
        f.author_id = added->id;
        f.book_id = applied->new_book_ids[i];
        f.format = n % 8 == 3 ? "pdf" : "epub";
        f.path =
            au.path / safe_folder_name(mine[i].title) / (safe_folder_name(mine[i].title) + "." + f.format);
        f.size = 1 << 20;
        files.upserts.push_back(f);
      }
      lib.books.push_back(mine[i]);
    }
  }
  auto batch = c.apply_files(files);
  if (!batch) die("files: " + batch.error().message);
  return lib;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string scene(std::string_view s) {
  std::string out;
  for (char c : s) out += c == ' ' ? '.' : c;
  return out;
}

// One release title for an author and a book in one of the shapes indexers list.
std::string release_title(std::mt19937_64& rng, const std::string& author, const std::string& title, int year,
                          bool& audio) {
  static const char* const kEbook[] = {"EPUB", "MOBI", "AZW3", "PDF", "epub"};
  static const char* const kAudio[] = {"M4B", "MP3", "FLAC"};
  static const char* const kGroups[] = {"BitBook", "DeBTBook", "GRP", "eBookz"};
  const auto shape = rng() % 10;
  audio = shape >= 8;
  char b[512];
  if (shape < 4)
    std::snprintf(b, sizeof b, "%s - %s (%d) [%s]", author.c_str(), title.c_str(), year, pick(kEbook, rng()));
  else if (shape < 6)
    std::snprintf(b, sizeof b, "%s-%s.%d.RETAIL.%s-%s", scene(author).c_str(), scene(title).c_str(), year,
                  pick(kEbook, rng()), pick(kGroups, rng()));
  else if (shape < 7)
    std::snprintf(b, sizeof b, "%s - %s - %d - %s", author.c_str(), title.c_str(), year, pick(kEbook, rng()));
  else if (shape < 8)
    std::snprintf(b, sizeof b, "%s by %s [%s]", title.c_str(), author.c_str(), pick(kEbook, rng()));
  else if (shape < 9)
    std::snprintf(b, sizeof b, "%s - %s (Unabridged) [%s] {128k}", author.c_str(), title.c_str(),
                  pick(kAudio, rng()));
  else
    std::snprintf(b, sizeof b, "%s - %s (Unabridged) MP3 64kbps", author.c_str(), title.c_str());
  return b;
}

std::string make_feed(const Library& lib, int items) {
  std::mt19937_64 rng(7);
  std::string x;
  x.reserve(static_cast<std::size_t>(items) * 1200);
  x += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
       "<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\" "
       "xmlns:torznab=\"http://torznab.com/schemas/2015/feed\">\n<channel>\n"
       "<atom:link href=\"https://indexer.example/api\" rel=\"self\" type=\"application/rss+xml\" />\n"
       "<title>Indexer</title>\n<description>Indexer "
       "feed</description>\n<link>https://indexer.example/</link>\n"
       "<language>en-US</language>\n<category>search</category>\n";
  static const char* const kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  for (int i = 0; i < items; ++i) {
    std::string author, title;
    int year = 2000 + static_cast<int>(rng() % 25);
    if (i % 5 == 0 && !lib.books.empty()) {  // a book of the library
      const auto& b = lib.books[rng() % lib.books.size()];
      author = b.author;
      title = b.title;
      year = b.year;
    } else {  // an author the library does not know
      author = std::string(pick(kFirst, rng())) + " " + pick(kWords, rng()) + "son";
      title = book_title(rng, static_cast<int>(rng() % 9) + 1);
    }
    bool audio = false;
    const std::string t = xml_escape(release_title(rng, author, title, year, audio));
    const auto size = audio ? (50LL << 20) + static_cast<std::int64_t>(rng() % (900LL << 20))
                            : (200LL << 10) + static_cast<std::int64_t>(rng() % (20LL << 20));
    char hash[41];
    std::snprintf(hash, sizeof hash, "%016llx%016llx%08x", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()), static_cast<unsigned>(i));
    const int seeders = static_cast<int>(rng() % 60);
    char b[4096];
    std::snprintf(b, sizeof b,
                  "<item>\n"
                  "  <title>%s</title>\n"
                  "  <guid>https://indexer.example/details/%d</guid>\n"
                  "  <jackettindexer id=\"idx\">Indexer</jackettindexer>\n"
                  "  <type>public</type>\n"
                  "  <comments>https://indexer.example/details/%d</comments>\n"
                  "  <pubDate>%s, %02d Nov 2026 %02d:%02d:%02d +0000</pubDate>\n"
                  "  <size>%lld</size>\n"
                  "  <description>%s</description>\n"
                  "  <link>https://indexer.example/dl/%d.torrent?jackett_apikey=abc&amp;path=x</link>\n"
                  "  <category>%d</category>\n"
                  "  <enclosure url=\"https://indexer.example/dl/%d.torrent?jackett_apikey=abc&amp;path=x\" "
                  "length=\"%lld\" "
                  "type=\"application/x-bittorrent\" />\n"
                  "  <torznab:attr name=\"category\" value=\"%d\" />\n"
                  "  <torznab:attr name=\"seeders\" value=\"%d\" />\n"
                  "  <torznab:attr name=\"peers\" value=\"%d\" />\n"
                  "  <torznab:attr name=\"infohash\" value=\"%s\" />\n"
                  "  <torznab:attr name=\"downloadvolumefactor\" value=\"1\" />\n"
                  "  <torznab:attr name=\"uploadvolumefactor\" value=\"1\" />\n"
                  "  <torznab:attr name=\"size\" value=\"%lld\" />\n"
                  "</item>\n",
                  t.c_str(), i, i, pick(kDays, static_cast<std::uint64_t>(i)), 1 + i % 28, i % 24, i % 60,
                  (i * 7) % 60, static_cast<long long>(size), t.c_str(), i, audio ? 3030 : 7020, i,
                  static_cast<long long>(size), audio ? 3030 : 7020, seeders,
                  seeders + static_cast<int>(rng() % 20), hash, static_cast<long long>(size));
    x += b;
  }
  x += "</channel>\n</rss>\n";
  return x;
}

// The reference: pugixml reading what a feed parser must read, nothing more.
std::size_t raw_parse(const std::string& xml, std::size_t& items) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_auto))
    die("raw parse failed");
  std::size_t sum = 0;
  items = 0;
  for (pugi::xml_node item : doc.child("rss").child("channel").children("item")) {
    ++items;
    sum += std::strlen(item.child_value("title"));
    sum += std::strlen(item.child_value("guid"));
    sum += std::strlen(item.child_value("link"));
    sum += std::strlen(item.child_value("pubDate"));
    const pugi::xml_node enc = item.child("enclosure");
    sum += std::strlen(enc.attribute("url").value()) + std::strlen(enc.attribute("type").value());
    sum += static_cast<std::size_t>(enc.attribute("length").as_llong());
    for (pugi::xml_node attr : item.children("torznab:attr"))
      sum += std::strlen(attr.attribute("name").value()) + std::strlen(attr.attribute("value").value());
  }
  return sum;
}

struct Decided {
  std::size_t items = 0, approved = 0, matched = 0;
};

Decided parse_and_decide(const std::string& xml, const DecisionContext& ctx, double* parse_s = nullptr) {
  const auto t0 = Steady::now();
  auto page = parse_releases(xml, IndexerKind::torznab, "bench");
  if (!page) die("parse_releases: " + page.error().message);
  if (parse_s) *parse_s += seconds_since(t0);
  std::vector<IndexedRelease> in;
  in.reserve(page->releases.size());
  for (auto& r : page->releases) in.push_back(IndexedRelease{std::move(r), 1, "bench", IndexerKind::torznab});
  const auto decisions = decide(std::move(in), ctx);
  Decided d;
  d.items = decisions.size();
  for (const auto& x : decisions) {
    d.approved += x.approved() ? 1 : 0;
    d.matched += x.book_id != 0 ? 1 : 0;
  }
  return d;
}

const std::vector<Target> kTargets = {
    {"items_per_s", "raw_parse_items_per_s", 0.5, false, false, ">= 0.5x raw_parse_items_per_s"},
};

void usage() {
  std::fprintf(stderr, "usage: rss_bench [--items N] [--books B] [--runs R] [--reps K] [--json]\n");
}

}  // namespace

int main(int argc, char** argv) {
  int items = 1000, books = 5000, runs = 5, reps = 20;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--items")
      items = next();
    else if (a == "--books")
      books = next();
    else if (a == "--runs")
      runs = next();
    else if (a == "--reps")
      reps = next();
    else if (a == "--json")
      json = true;
    else {
      usage();
      return 2;
    }
  }
  if (items < 1 || books < 1 || runs < 1 || reps < 1) {
    std::fprintf(stderr, "rss_bench: --items, --books, --runs and --reps must be >= 1\n");
    return 2;
  }

  // Freed memory stays in the process between parses, as in a daemon that syncs all day. By
  // default glibc hands the top of the heap back to the kernel once 128 KB of it is free, so
  // every parse of a 1 MB page (pugixml's copy of the buffer and its node pages) would fault
  // ~1,000 pages back in: on these virtual machines a fault costs 5-30 us, varying with the
  // host's load, which made both figures swing 6x from run to run. Set before anything is
  // allocated; it applies to both parts alike.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);

  const auto g0 = Steady::now();
  Library lib = make_library(books);
  const std::string feed = make_feed(lib, items);
  const double generate_s = seconds_since(g0);

  const auto l0 = Steady::now();
  auto wanted = WantedBooks::load(*lib.catalog);
  const double load_wanted_ms = seconds_since(l0) * 1000;
  if (!wanted) die("WantedBooks::load: " + wanted.error().message);
  DecisionContext ctx;
  ctx.books = &*wanted;
  ctx.protocols = {"torrent"};
  ctx.max_size_audio = 2LL << 30;

  // One untimed pass: warms the caches and gives the counts.
  const Decided counts = parse_and_decide(feed, ctx);
  std::size_t raw_items = 0;
  raw_parse(feed, raw_items);
  if (raw_items != static_cast<std::size_t>(items) || counts.items != raw_items)
    die("the feed's items were not all read (" + std::to_string(counts.items) + " of " +
        std::to_string(items) + ")");

  std::map<std::string, std::vector<double>> per_run;
  std::size_t sink = 0;
  for (int r = 0; r < runs; ++r) {
    double full_s = 0, raw_s = 0, parse_s = 0, parse_only_s = 0, full_cpu = 0, raw_cpu = 0;
    for (int k = 0; k < reps; ++k) {
      auto t = Steady::now();
      double c = thread_cpu_s();
      sink += raw_parse(feed, raw_items);
      raw_s += seconds_since(t);
      raw_cpu += thread_cpu_s() - c;
      t = Steady::now();
      c = thread_cpu_s();
      sink += parse_and_decide(feed, ctx, &parse_s).approved;
      full_s += seconds_since(t);
      full_cpu += thread_cpu_s() - c;
      t = Steady::now();
      auto page = parse_releases(feed, IndexerKind::torznab, "bench");
      parse_only_s += seconds_since(t);
      sink += page ? page->releases.size() : 0;
    }
    const double n = static_cast<double>(items) * reps;
    per_run["items_per_s"].push_back(n / full_s);
    per_run["raw_parse_items_per_s"].push_back(n / raw_s);
    per_run["ratio"].push_back(raw_s / full_s);
    per_run["ratio_cpu"].push_back(raw_cpu / std::max(1e-9, full_cpu));
    per_run["parse_items_per_s"].push_back(n / parse_only_s);
    // decide alone: the full pass less its parse.
    per_run["decide_items_per_s"].push_back(n / std::max(1e-9, full_s - parse_s));
  }
  std::error_code ec;
  fs::remove_all(lib.dir, ec);

  bench::Medians med;
  for (const auto& [k, v] : per_run) med[k] = median(v);
  med["load_wanted_ms"] = load_wanted_ms;

  std::printf(
      "rss_bench: %d Torznab items (%zu name a library book, %zu approved) against %zu wanted books, %d "
      "run(s) of "
      "%d repetitions; figures are medians over the runs\n",
      items, counts.matched, counts.approved, wanted->size(), runs, reps);
  const nlohmann::json targets = bench::print_figures(kTargets, med, per_run, runs, 26);
  if (json) {
    nlohmann::json out = {{"items", items},
                          {"books", wanted->size()},
                          {"runs", runs},
                          {"reps", reps},
                          {"feed_bytes", feed.size()},
                          {"matched", counts.matched},
                          {"approved", counts.approved},
                          {"generate_s", generate_s}};
    for (const auto& [k, v] : med) out[k] = v;
    out["per_run"] = per_run;
    out["targets"] = targets;
    std::printf("%s\n", out.dump().c_str());
  }
  return sink == 0 ? 1 : 0;
}
