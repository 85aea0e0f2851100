// SPDX-License-Identifier: MIT
#include "shelfjobs/services/release_decision.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "services/scan/match.hpp"

namespace shelfjobs {
namespace {

using scan::author_key;
using scan::short_title_key;
using scan::title_key;

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string human_size(std::int64_t bytes) {
  static const char* const kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  char b[48];
  if (unit == 0 || v >= 100 || v == static_cast<double>(static_cast<std::int64_t>(v)))
    std::snprintf(b, sizeof b, "%.0f %s", v, kUnits[unit]);
  else
    std::snprintf(b, sizeof b, "%.1f %s", v, kUnits[unit]);
  return b;
}

// Categories 3000-3999 are Newznab's Audio range (3030 Audio/Audiobook); an indexer that files
// a release there means sound, whatever the title says.
bool audio_category(const ReleaseCategories& categories) {
  return std::any_of(categories.begin(), categories.end(), [](int c) { return c >= 3000 && c <= 3999; });
}

void reject(ReleaseDecision& d, RejectionKind kind, std::string_view reason, bool temporary = false) {
  ReleaseRejection r;
  r.kind = kind;
  r.reason.assign(reason);
  r.temporary = temporary;
  d.rejections.push_back(std::move(r));
}

// The pieces joined into `d`'s reason (a reason per rejected release, most of a feed): on the
// stack, then copied into the rejection (inline when short, ReleaseRejection::reason).
void reject_joined(ReleaseDecision& d, RejectionKind kind, std::initializer_list<std::string_view> parts) {
  std::size_t n = 0;
  for (std::string_view p : parts) n += p.size();
  char stack[256];
  std::string heap;
  char* to = stack;
  if (n > sizeof stack) {
    heap.resize(n);
    to = heap.data();
  }
  std::size_t at = 0;
  for (std::string_view p : parts) {
    if (!p.empty()) std::memcpy(to + at, p.data(), p.size());
    at += p.size();
  }
  reject(d, kind, std::string_view(to, n));
}

// The checks that need no book: they run once the book is known, after the wanted checks, so
// a release lists every reason that applies (as Readarr's decision maker lists its specs').
void check_release(ReleaseDecision& d, const DecisionContext& ctx) {
  const Release& r = d.release;
  const std::int64_t min = d.audio ? ctx.min_size_audio : ctx.min_size_ebook;
  const std::int64_t max = d.audio ? ctx.max_size_audio : ctx.max_size_ebook;
  if (r.size > 0) {
    if (min > 0 && r.size < min)
      reject(d, RejectionKind::size,
             "Size " + human_size(r.size) + " is below the minimum of " + human_size(min));
    else if (max > 0 && r.size > max)
      reject(d, RejectionKind::size,
             "Size " + human_size(r.size) + " is above the limit of " + human_size(max));
  }

  // The sets key owned strings: a key is built only when there is something to look up.
  bool blocked =
      (!r.guid.empty() && !ctx.blocked_guids.empty() && ctx.blocked_guids.count(r.guid.str()) != 0) ||
      (!r.download_url.empty() && !ctx.blocked_urls.empty() &&
       ctx.blocked_urls.count(r.download_url.str()) != 0);
  if (!blocked && !ctx.blocked_titles.empty() && !r.title.empty())
    blocked = ctx.blocked_titles.count(std::to_string(d.indexer_id) + '\t' + ascii_lower(r.title)) != 0;
  if (blocked) reject(d, RejectionKind::blocklisted, "Release is blocklisted");

  if (d.book_id != 0 && ctx.queued_books.count(d.book_id) != 0)
    reject(d, RejectionKind::already_queued, "Book is already grabbed or in the download queue");

  const std::string protocol = d.protocol();
  if (ctx.protocols.count(protocol) == 0)
    reject(d, RejectionKind::no_download_client, "No enabled download client for " + protocol + " releases",
           true);

  if (d.kind == IndexerKind::torznab && r.seeders && *r.seeders < ctx.min_seeders)
    reject(d, RejectionKind::min_seeders,
           "Not enough seeders: " + std::to_string(*r.seeders) + " (minimum " +
               std::to_string(ctx.min_seeders) + ")");
}

// The release's format: of the formats its title names, the best one its kind's profile
// allows; when it allows none, the first named (rejected as not allowed).
void read_format(ReleaseDecision& d, const FormatProfile& profile) {
  const auto& formats = d.parsed->formats;
  std::optional<int> best;
  for (const auto& f : formats) {
    const auto r = profile.rank(f);
    if (r && (!best || *r < *best)) {
      best = r;
      d.format = f;
    }
  }
  if (best) {
    d.format_rank = best;
  } else if (!formats.empty()) {
    d.format = formats.front();
  } else if (!profile.formats.empty()) {
    // No format named: allowed, ranked as the profile's worst (header: a release that names
    // nothing is usually a plain ebook or MP3 upload; it never outranks a named format).
    d.format_rank = static_cast<int>(profile.formats.size()) - 1;
  }
}

void check_book(ReleaseDecision& d, const WantedBook& book, const FormatProfile& profile) {
  const char* kind = d.audio ? "audio" : "ebook";
  if (!book.monitored) reject(d, RejectionKind::not_wanted, "Book or its author is not monitored");

  // The book's files of the release's kind, judged by that kind's profile only.
  std::optional<int> best_file;
  std::string best_file_format;
  for (const auto& f : book.file_formats) {
    if (is_audio_format(f) != d.audio) continue;
    const auto r = profile.rank(f);
    if (r && (!best_file || *r < *best_file)) {
      best_file = r;
      best_file_format = f;
    }
  }
  if (best_file && profile.meets_cutoff(best_file_format))
    reject(d, RejectionKind::not_wanted,
           "Existing " + std::string(kind) + " file (" + best_file_format + ") meets the cutoff (" +
               profile.cutoff + ")");
  if (best_file && d.format_rank && *best_file <= *d.format_rank)
    reject(d, RejectionKind::not_an_upgrade,
           "Existing file (" + best_file_format + ") is as good as or better than " +
               (d.format.empty() ? std::string("a release naming no format") : d.format));

  if (!d.format_rank)
    reject(d, RejectionKind::format_not_allowed,
           "Format " + d.format + " is not allowed by the " + profile.name + " profile");
}

// Decides `d`, whose release and indexer are filled in.
void decide_unguarded(ReleaseDecision& d, const DecisionContext& ctx) {
  if (ctx.books == nullptr) {
    reject(d, RejectionKind::unparsable, "No wanted books given to the decision");
    return;
  }
  d.parsed = parse_release_title(d.release.title);
  if (!d.parsed) {
    reject_joined(d, RejectionKind::unparsable,
                  {"Unable to read an author and a title from '", d.release.title, "'"});
    return;
  }
  d.audio = d.parsed->audio || audio_category(d.release.categories);
  const FormatProfile& profile = ctx.profiles.of(d.audio);
  read_format(d, profile);

  const auto found = ctx.books->lookup(d.parsed->author, d.parsed->title, d.parsed->year);
  if (!found.author_known) {
    reject_joined(d, RejectionKind::unknown_author, {"Unknown author '", d.parsed->author, "'"});
    return;
  }
  if (found.book == nullptr) {
    reject_joined(d, RejectionKind::unknown_book,
                  {"Author '", d.parsed->author, "' has no book titled '", d.parsed->title, "'"});
    return;
  }
  d.author_id = found.book->author_id;
  d.book_id = found.book->book_id;
  check_book(d, *found.book, profile);
  check_release(d, ctx);
}

// Decides `d`, catching what should not happen: nothing above throws but allocation; a release
// that makes it throw anyway is one release lost, never the whole feed.
void decide_guarded(ReleaseDecision& d, const DecisionContext& ctx) {
  try {
    decide_unguarded(d, ctx);
  } catch (const std::exception& e) {
    d.rejections.clear();
    reject(d, RejectionKind::unparsable, std::string("Unable to read the release: ") + e.what());
  } catch (...) {
    d.rejections.clear();
    reject(d, RejectionKind::unparsable, "Unable to read the release");
  }
}

// A decision made in `out` for the release `in` (copied, or moved from an rvalue), before its
// decision is taken. The release is constructed in its place (a default Release assigned over
// was 400-odd bytes zeroed and then every field assigned, per release of a feed).
template <class In>
ReleaseDecision& start_decision(std::vector<ReleaseDecision>& out, In&& in) {
  return out.emplace_back(std::forward<In>(in).release, in.indexer_id, std::forward<In>(in).indexer, in.kind);
}

}  // namespace

// ---- profiles -----------------------------------------------------------------------------------

std::optional<int> FormatProfile::rank(std::string_view format) const noexcept {
  for (std::size_t i = 0; i < formats.size(); ++i)
    if (formats[i] == format) return static_cast<int>(i);
  return std::nullopt;
}

bool FormatProfile::meets_cutoff(std::string_view format) const noexcept {
  const auto r = rank(format);
  const auto c = rank(cutoff);
  return r && c && *r <= *c;
}

// ---- wanted books -------------------------------------------------------------------------------

namespace {

// The key tables (release_decision.hpp, WantedBooks' private part). A feed's releases are looked
// up by the thousand, most of them by authors the library does not know: with a node-based map
// each such miss walked a bucket's nodes, a cache miss apiece once the feed's parse had pushed
// the library out of the cache. Here a miss costs one probe of a flat array of 64-bit slots whose
// tag (the upper half of the hash) rules out nearly every other key without reading it. Entries
// keep their hash, so growing never hashes a key again.

constexpr std::uint64_t kTagBits = 0xFFFFFFFF00000000ull;
constexpr std::size_t kNoEntry = static_cast<std::size_t>(-1);

// splitmix64's finaliser: the slot comes from the low bits and the tag from the high ones, so
// both must be well mixed.
std::uint64_t mix(std::uint64_t h) noexcept {
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

std::uint64_t author_hash(std::string_view key) noexcept { return mix(std::hash<std::string_view>{}(key)); }

std::uint64_t title_hash(RowId author, char which, std::string_view key) noexcept {
  return mix(
      std::hash<std::string_view>{}(key) ^
      (static_cast<std::uint64_t>(author) * 0x9E3779B97F4A7C15ull + static_cast<unsigned char>(which)));
}

// The index of the entry under `hash` for which `same(index)` holds, or kNoEntry.
template <class Same>
std::size_t find_entry(const std::vector<std::uint64_t>& slots, std::uint64_t hash, const Same& same) {
  if (slots.empty()) return kNoEntry;
  const std::size_t mask = slots.size() - 1;
  const std::uint64_t tag = hash & kTagBits;
  for (std::size_t i = static_cast<std::size_t>(hash) & mask;; i = (i + 1) & mask) {
    const std::uint64_t s = slots[i];
    if (s == 0) return kNoEntry;
    if ((s & kTagBits) == tag) {
      const std::size_t index = static_cast<std::size_t>(s & ~kTagBits) - 1;
      if (same(index)) return index;
    }
  }
}

void place(std::vector<std::uint64_t>& slots, std::uint64_t hash, std::size_t index) {
  const std::size_t mask = slots.size() - 1;
  std::size_t i = static_cast<std::size_t>(hash) & mask;
  while (slots[i] != 0) i = (i + 1) & mask;
  slots[i] = (hash & kTagBits) | static_cast<std::uint64_t>(index + 1);
}

// Enters the last of `entries` (just added, not in the table yet), keeping the table at most
// three quarters full.
template <class Entry>
void enter_last(std::vector<std::uint64_t>& slots, const std::vector<Entry>& entries) {
  if (entries.size() >= (kTagBits >> 32)) throw std::length_error("too many keys in the wanted books");
  if (entries.size() * 4 > slots.size() * 3) {
    slots.assign(slots.empty() ? 16 : slots.size() * 2, 0);
    for (std::size_t i = 0; i < entries.size(); ++i) place(slots, entries[i].hash, i);
    return;
  }
  place(slots, entries.back().hash, entries.size() - 1);
}

}  // namespace

const WantedBooks::AuthorEntry* WantedBooks::find_author(std::string_view key) const {
  const std::size_t i =
      find_entry(author_slots_, author_hash(key), [&](std::size_t e) { return authors_[e].key == key; });
  return i == kNoEntry ? nullptr : &authors_[i];
}

const WantedBooks::TitleEntry* WantedBooks::find_title(RowId author, char which, std::string_view key) const {
  const std::size_t i = find_entry(title_slots_, title_hash(author, which, key), [&](std::size_t e) {
    const TitleEntry& t = titles_[e];
    return t.author == author && t.which == which && t.key == key;
  });
  return i == kNoEntry ? nullptr : &titles_[i];
}

void WantedBooks::add(WantedBook book) {
  const std::size_t slot = books_.size();
  by_id_[book.book_id] = slot;
  std::string akey = author_key(book.author_name);
  if (const AuthorEntry* a = find_author(akey)) {
    auto& ids = authors_[static_cast<std::size_t>(a - authors_.data())].ids;
    if (std::find(ids.begin(), ids.end(), book.author_id) == ids.end()) ids.push_back(book.author_id);
  } else {
    const std::uint64_t h = author_hash(akey);
    authors_.push_back(AuthorEntry{std::move(akey), {book.author_id}, h});
    enter_last(author_slots_, authors_);
  }
  auto add_title = [&](char which, std::string key) {
    if (const TitleEntry* t = find_title(book.author_id, which, key)) {
      titles_[static_cast<std::size_t>(t - titles_.data())].books.push_back(slot);
      return;
    }
    const std::uint64_t h = title_hash(book.author_id, which, key);
    titles_.push_back(TitleEntry{book.author_id, which, std::move(key), {slot}, h});
    enter_last(title_slots_, titles_);
  };
  add_title('F', title_key(book.title));
  if (auto s = short_title_key(book.title); !s.empty()) add_title('S', std::move(s));
  books_.push_back(std::move(book));
}

Result<WantedBooks> WantedBooks::load(Catalog& catalog) {
  auto authors = catalog.authors();
  if (!authors) return authors.error();
  std::unordered_map<RowId, bool> author_monitored;
  for (const auto& a : *authors) author_monitored[a.id] = a.monitored;

  auto all_books = catalog.books();
  if (!all_books) return all_books.error();
  std::unordered_map<RowId, std::optional<int>> years;
  years.reserve(all_books->size());
  for (const auto& b : *all_books)
    if (b.release_date) years[b.id] = static_cast<int>(std::chrono::year_month_day(*b.release_date).year());

  WantedBooks out;
  out.books_.reserve(all_books->size());
  Status walked = catalog.for_each_book_identity([&](const BookIdentity& id) {
    WantedBook b;
    b.book_id = id.book_id;
    b.author_id = id.author_id;
    b.title = id.title;
    b.author_name = id.author_name;
    const auto am = author_monitored.find(id.author_id);
    // The identity's flag is the book's and its author's in the SQLite catalog; another
    // catalog may give the book's alone, so the author's flag is applied here too.
    b.monitored = id.monitored && (am == author_monitored.end() || am->second);
    if (auto y = years.find(id.book_id); y != years.end()) b.year = y->second;
    out.add(std::move(b));
  });
  if (!walked) return walked.error();

  // Files: one ordered walk per root folder reads every file row once (files_of_author would be
  // one query per author). An author whose folder lies under no root folder is asked for alone.
  auto roots = catalog.root_folders();
  if (!roots) return roots.error();
  std::vector<std::string> root_paths;
  for (const auto& r : *roots) root_paths.push_back(catalog_path(r.path));
  // Nested root folders would walk the same rows twice.
  std::sort(root_paths.begin(), root_paths.end());
  std::vector<std::string> outer;
  for (const auto& p : root_paths)
    if (outer.empty() || !path_is_under(p, outer.back())) outer.push_back(p);

  auto take = [&out](const BookFile& f) {
    if (f.book_id == 0 || f.format.empty()) return;
    const auto it = out.by_id_.find(f.book_id);
    if (it == out.by_id_.end()) return;
    auto& formats = out.books_[it->second].file_formats;
    std::string format = ascii_lower(f.format);
    if (std::find(formats.begin(), formats.end(), format) == formats.end())
      formats.push_back(std::move(format));
  };
  for (const auto& root : outer) {
    Status s = catalog.for_each_file_under(root, take);
    if (!s) return s.error();
  }
  for (const auto& a : *authors) {
    const std::string p = a.path.empty() ? std::string() : catalog_path(a.path);
    const bool covered = !p.empty() && std::any_of(outer.begin(), outer.end(), [&](const std::string& root) {
      return path_is_under(p, root);
    });
    if (covered) continue;
    auto files = catalog.files_of_author(a.id);
    if (!files) return files.error();
    for (const auto& f : *files) take(f);
  }
  return out;
}

const WantedBook* WantedBooks::book(RowId book_id) const {
  const auto it = by_id_.find(book_id);
  return it == by_id_.end() ? nullptr : &books_[it->second];
}

bool WantedBooks::knows_author(std::string_view author) const {
  const std::string key = author_key(author);
  return !key.empty() && find_author(key) != nullptr;
}

const WantedBook* WantedBooks::find(std::string_view author, std::string_view title,
                                    std::optional<int> year) const {
  return lookup(author, title, year).book;
}

WantedBooks::Lookup WantedBooks::lookup(std::string_view author, std::string_view title,
                                        std::optional<int> year) const {
  Lookup out;
  // The keys are built in strings kept by the thread: a feed's releases are looked up by the
  // thousand, and a key per release was an allocation per release.
  thread_local std::string akey, full, short_key, tail;
  scan::author_key_to(author, akey);
  if (akey.empty()) return out;
  const AuthorEntry* a = find_author(akey);
  if (a == nullptr) return out;
  out.author_known = true;
  scan::title_key_to(title, full);
  scan::short_title_key_to(title, short_key);
  // A release titled "Series 02 - Title" names the book after the last " - ".
  tail.clear();
  if (const auto dash = title.rfind(" - "); dash != std::string_view::npos && dash + 3 < title.size())
    scan::title_key_to(title.substr(dash + 3), tail);

  // Several books of one author with one title (a reissue catalogued twice): the one of the
  // release's year, else the first added.
  auto pick = [&](const std::vector<std::size_t>& slots) -> const WantedBook* {
    if (year)
      for (std::size_t s : slots)
        if (books_[s].year == year) return &books_[s];
    return &books_[slots.front()];
  };
  for (RowId id : a->ids) {
    // Whole title to whole title; the release's title to the book's without its subtitle; the
    // release's without its subtitle to the book's whole title; a series prefix dropped.
    const std::pair<char, const std::string*> tries[] = {
        {'F', &full}, {'S', &full}, {'F', &short_key}, {'F', &tail}};
    for (const auto& [which, key] : tries) {
      if (key->empty()) continue;
      const TitleEntry* t = find_title(id, which, *key);
      if (t != nullptr && !t->books.empty()) {
        out.book = pick(t->books);
        return out;
      }
    }
  }
  return out;
}

// ---- decisions ----------------------------------------------------------------------------------

const char* to_string(RejectionKind kind) noexcept {
  switch (kind) {
    case RejectionKind::unparsable: return "unparsable";
    case RejectionKind::unknown_author: return "unknownAuthor";
    case RejectionKind::unknown_book: return "unknownBook";
    case RejectionKind::not_wanted: return "notWanted";
    case RejectionKind::not_an_upgrade: return "notAnUpgrade";
    case RejectionKind::size: return "size";
    case RejectionKind::format_not_allowed: return "formatNotAllowed";
    case RejectionKind::blocklisted: return "blocklisted";
    case RejectionKind::already_queued: return "alreadyQueued";
    case RejectionKind::no_download_client: return "noDownloadClient";
    case RejectionKind::min_seeders: return "minSeeders";
  }
  return "unknown";
}

bool ReleaseDecision::temporarily_rejected() const noexcept {
  return !rejections.empty() && std::all_of(rejections.begin(), rejections.end(),
                                            [](const ReleaseRejection& r) { return r.temporary; });
}

std::string ReleaseDecision::protocol() const { return kind == IndexerKind::torznab ? "torrent" : "usenet"; }

ReleaseRecord ReleaseDecision::record() const {
  ReleaseRecord r;
  r.title = release.title.str();
  r.guid = release.guid.str();
  r.download_url = release.download_url.str();
  r.info_url = release.info_url.str();
  r.indexer_id = indexer_id;
  r.indexer = indexer;
  r.protocol = protocol();
  r.size = release.size;
  r.publish_date = release.publish_date;
  r.seeders = release.seeders;
  r.peers = release.peers;
  r.format = format;
  r.infohash = release.infohash.str();
  r.magnet_url = release.magnet_url.str();
  return r;
}

ReleaseDecision decide_one(const IndexedRelease& release, const DecisionContext& context) {
  ReleaseDecision d{release.release, release.indexer_id, release.indexer, release.kind};
  decide_guarded(d, context);
  return d;
}

std::vector<ReleaseDecision> decide(const std::vector<IndexedRelease>& releases,
                                    const DecisionContext& context) {
  std::vector<ReleaseDecision> out;
  out.reserve(releases.size());
  for (const auto& r : releases) decide_guarded(start_decision(out, r), context);
  return out;
}

std::vector<ReleaseDecision> decide(std::vector<IndexedRelease>&& releases, const DecisionContext& context) {
  std::vector<ReleaseDecision> out;
  out.reserve(releases.size());
  for (auto& r : releases) decide_guarded(start_decision(out, std::move(r)), context);
  releases.clear();
  return out;
}

std::vector<std::size_t> best_per_book(const std::vector<ReleaseDecision>& decisions,
                                       const std::unordered_map<RowId, int>& indexer_priority) {
  auto priority = [&](RowId indexer) {
    const auto it = indexer_priority.find(indexer);
    return it == indexer_priority.end() ? 25 : it->second;
  };
  // A key per decision, smaller is better: rank, seeders (more first; a Usenet release has
  // none and compares as -1 among its own), priority, date (newer first), size (larger first).
  auto key = [&](std::size_t i) {
    const ReleaseDecision& d = decisions[i];
    const int rank = d.format_rank.value_or(1 << 20);
    const int seeders = d.kind == IndexerKind::torznab ? d.release.seeders.value_or(0) : -1;
    // Newer first, an undated release after every dated one (negating a sentinel would overflow).
    const bool undated = !d.release.publish_date;
    const auto date = undated ? 0 : d.release.publish_date->time_since_epoch().count();
    return std::make_tuple(rank, -static_cast<std::int64_t>(seeders), priority(d.indexer_id), undated, -date,
                           -d.release.size);
  };
  auto better = [&](std::size_t a, std::size_t b) { return key(a) < key(b); };

  // The best per book and kind: an audio release and an ebook release of one book are wanted
  // by different profiles and are not compared.
  std::unordered_map<RowId, std::size_t> best[2];
  std::vector<std::size_t> order;  // first appearance, for a stable result
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const ReleaseDecision& d = decisions[i];
    if (!d.approved() || d.book_id == 0) continue;
    auto& slot = best[d.audio ? 1 : 0];
    const auto [it, inserted] = slot.emplace(d.book_id, i);
    if (inserted)
      order.push_back(i);
    else if (better(i, it->second)) {
      std::replace(order.begin(), order.end(), it->second, i);
      it->second = i;
    }
  }
  std::stable_sort(order.begin(), order.end(), better);
  return order;
}

}  // namespace shelfjobs
