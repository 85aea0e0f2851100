// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Download decisions: which releases of an indexer feed or search are wanted, which are
/// rejected and why, and which one is grabbed for each book. Pure (no I/O): the acquisition
/// service builds a `WantedBooks` index from the catalog and a `DecisionContext` from its
/// stores, then calls `decide` and `best_per_book`. rss_bench measures it.
///
/// Matching (as the library scan matches names, scan/match.hpp): a release's parsed author is
/// compared with the library's author names with case, accents, punctuation and "Last, First"
/// aside; its parsed title with that author's book titles the same way, a subtitle after ':'
/// optional on either side ("Jane Eyre" is "Jane Eyre: An Autobiography" and the reverse), and a
/// series prefix before the last " - " of a release's title dropped as a last try ("Series 02 -
/// Title"). A title that does not parse is rejected as `unparsable`.
///
/// Kind: a release is audio when its parsed title says so (`ParsedReleaseTitle::audio`) or one of
/// its categories is in Newznab's Audio range 3000-3999 (3030 Audio/Audiobook); else an ebook.
///
/// Format: of the formats its title names, the best its kind's profile allows; when the profile
/// allows none of them, the first named (rejected as `format_not_allowed`). A release that names
/// no format is allowed and ranked as its profile's worst format (an audio release as mp3, an
/// ebook as pdf with the default profiles): such uploads are usually plain MP3s or ebooks, and
/// ranking them last means any release that names a format wins over them, and a book with a
/// file of the worst format or better does not take them as an upgrade.
///
/// Rejections: `unparsable`, `unknown_author` and `unknown_book` end the decision (one reason).
/// Once the book is known every other rejection that applies is listed, in the enum's order
/// (Readarr lists all reasons): not_wanted, not_an_upgrade, format_not_allowed, size,
/// blocklisted, already_queued, no_download_client (the only temporary one), min_seeders.
///
/// Wanted: the book is monitored, its author is monitored, and it has no file of the
/// release's kind (ebook or audio) at or above the profile's cutoff. A book with an ebook file
/// of format pdf and an ebook profile whose cutoff is epub still wants an epub (an upgrade);
/// an audio release for it is judged by the audio profile on its own.
///
/// Thread-safety: `WantedBooks` is read-only once built and may be shared by threads; the
/// functions are pure.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "shelfjobs/adapters/newznab.hpp"
#include "shelfjobs/adapters/release_title.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs {

/// An ordered list of allowed formats, best first, and the cutoff: a book with a file of the
/// cutoff format or better is not wanted any more.
struct FormatProfile {
  std::string name;
  std::vector<std::string> formats;  ///< allowed, best first, lower-case
  std::string cutoff;                ///< one of `formats`

  /// The format's place (0 best); nullopt when not allowed.
  std::optional<int> rank(std::string_view format) const noexcept;
  /// True when a file of `format` meets the cutoff.
  bool meets_cutoff(std::string_view format) const noexcept;
};

/// The two profiles a library uses: ebook epub > azw3 > mobi > pdf (cutoff epub), audio m4b >
/// flac > mp3 (cutoff m4b).
struct FormatProfiles {
  FormatProfile ebook{"ebook", {"epub", "azw3", "mobi", "pdf"}, "epub"};
  FormatProfile audio{"audio", {"m4b", "flac", "mp3"}, "m4b"};
  const FormatProfile& of(bool audio_release) const noexcept { return audio_release ? audio : ebook; }
};

/// One book as decisions see it.
struct WantedBook {
  RowId book_id = 0;
  RowId author_id = 0;
  std::string title;
  std::string author_name;
  bool monitored = false;                 ///< the book and its author are monitored
  std::optional<int> year;                ///< of its release date
  std::vector<std::string> file_formats;  ///< formats of its files ("epub", "mp3"), any order
};

/// The library's books keyed for release matching.
class WantedBooks {
 public:
  void add(WantedBook book);
  /// Loads every book of the catalog (`for_each_book_identity`, each author's monitored flag
  /// and each book's files). Errors: the catalog's.
  static Result<WantedBooks> load(Catalog& catalog);

  /// The book by id, or null.
  const WantedBook* book(RowId book_id) const;
  /// Whether any author of the library has this name (matched as above).
  bool knows_author(std::string_view author) const;
  /// The book of that author with that title, or null. Where the author has several books with
  /// that title, the one whose year is `year`, else the first added.
  const WantedBook* find(std::string_view author, std::string_view title,
                         std::optional<int> year = std::nullopt) const;
  /// Both answers at once (the author's name is keyed once): whether the author is known, and
  /// the book as `find` gives it.
  struct Lookup {
    bool author_known = false;
    const WantedBook* book = nullptr;
  };
  Lookup lookup(std::string_view author, std::string_view title,
                std::optional<int> year = std::nullopt) const;
  std::size_t size() const noexcept { return books_.size(); }

 private:
  // The keys an RSS sync looks up by the thousand, each found through a flat hash table: a
  // release of an author the library does not know (most of a feed) costs a probe of `slots`
  // and no walk through nodes. The tables and their probing are the .cpp's (KeyIndex there).
  struct AuthorEntry {
    std::string key;  // author_key of the name
    std::vector<RowId> ids;
    std::uint64_t hash = 0;
  };
  // An author's title key: of the whole title ('F') or of the title before its subtitle ('S').
  struct TitleEntry {
    RowId author = 0;
    char which = 'F';
    std::string key;
    std::vector<std::size_t> books;  // indexes into books_, in the order added
    std::uint64_t hash = 0;
  };
  const AuthorEntry* find_author(std::string_view key) const;
  const TitleEntry* find_title(RowId author, char which, std::string_view key) const;

  std::vector<WantedBook> books_;
  std::unordered_map<RowId, std::size_t> by_id_;
  std::vector<AuthorEntry> authors_;
  std::vector<TitleEntry> titles_;
  // Open addressing over a power of two of 64-bit words: 0 an empty slot, else the upper half
  // of the key's hash and the entry's index + 1.
  std::vector<std::uint64_t> author_slots_, title_slots_;
};

/// Why a release is not grabbed. Readarr's rejection reasons, by kind.
enum class RejectionKind {
  unparsable,          ///< no author and title could be read from its title
  unknown_author,      ///< no author of the library has that name
  unknown_book,        ///< the author has no book of that title
  not_wanted,          ///< unmonitored, or a file at the cutoff is there already
  not_an_upgrade,      ///< the book has a file of this format or better
  size,                ///< outside the size limits
  format_not_allowed,  ///< not in the profile (or no format named where one is required)
  blocklisted,
  already_queued,      ///< grabbed already, in the queue, or grabbed earlier in this batch
  no_download_client,  ///< no enabled client for its protocol
  min_seeders,         ///< Torznab seeders below the minimum
};
/// "unparsable", "unknownAuthor", ... (camelCase, the API's `kind`).
const char* to_string(RejectionKind kind) noexcept;

struct ReleaseRejection {
  RejectionKind kind = RejectionKind::unparsable;
  /// For people: "Size 1.2 GB is above the limit of 500 MB". Its own text (InlineText,
  /// release_title.hpp: a reason of up to 88 bytes is held inline, without an allocation).
  InlineText<88> reason;
  /// Temporary rejections may clear by waiting (a client unavailable); permanent ones do not.
  bool temporary = false;
};

/// A decision's rejections, in the order found: a list with room for one inline (nearly every
/// rejected release of a feed has one reason: its author or book is unknown), so that the
/// usual decision allocates no list; a second moves them all to the heap.
///
/// Ownership: a value (copies copy the rejections). Iterators and references are invalidated
/// by `push_back` and `clear`, as a std::vector's. Thread-safety: as a std::vector.
class ReleaseRejections {
 public:
  using value_type = ReleaseRejection;
  using iterator = ReleaseRejection*;
  using const_iterator = const ReleaseRejection*;
  using size_type = std::size_t;

  void push_back(ReleaseRejection rejection) {
    if (size_ == 0) {
      first_ = std::move(rejection);
    } else {
      if (size_ == 1) {
        more_.reserve(4);
        more_.push_back(std::move(first_));
      }
      more_.push_back(std::move(rejection));
    }
    ++size_;
  }
  void clear() noexcept {
    size_ = 0;
    first_ = ReleaseRejection{};
    more_.clear();
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  ReleaseRejection* data() noexcept { return size_ <= 1 ? &first_ : more_.data(); }
  const ReleaseRejection* data() const noexcept { return size_ <= 1 ? &first_ : more_.data(); }
  iterator begin() noexcept { return data(); }
  iterator end() noexcept { return data() + size_; }
  const_iterator begin() const noexcept { return data(); }
  const_iterator end() const noexcept { return data() + size_; }
  ReleaseRejection& operator[](std::size_t i) noexcept { return data()[i]; }
  const ReleaseRejection& operator[](std::size_t i) const noexcept { return data()[i]; }
  const ReleaseRejection& front() const noexcept { return data()[0]; }
  const ReleaseRejection& back() const noexcept { return data()[size_ - 1]; }

 private:
  // One rejection in first_; more than one all in more_.
  std::size_t size_ = 0;
  ReleaseRejection first_;
  std::vector<ReleaseRejection> more_;
};

/// What decisions need besides the books.
struct DecisionContext {
  const WantedBooks* books = nullptr;  ///< required
  FormatProfiles profiles;
  /// Size limits in bytes per release kind; 0: no limit. An unknown size (0) passes.
  std::int64_t min_size_ebook = 0, max_size_ebook = 200LL << 20;
  std::int64_t min_size_audio = 0, max_size_audio = 0;
  /// Torznab releases with fewer seeders are rejected; a release that reports none passes.
  int min_seeders = 1;
  /// Protocols with at least one enabled download client ("torrent", "usenet").
  std::unordered_set<std::string> protocols;
  /// Books already grabbed or in the queue (tracked downloads not finished).
  std::unordered_set<RowId> queued_books;
  /// Blocklisted releases: by guid, by download URL, and by title (lower-case) per indexer id.
  std::unordered_set<std::string> blocked_guids;
  std::unordered_set<std::string> blocked_urls;
  std::unordered_set<std::string> blocked_titles;  ///< "indexerId\ttitle lower-case" (ASCII letters only)
};

/// One release's decision.
struct ReleaseDecision {
  Release release;
  RowId indexer_id = 0;
  std::string indexer;  ///< its name
  IndexerKind kind = IndexerKind::newznab;
  std::optional<ParsedReleaseTitle> parsed;
  RowId author_id = 0;  ///< 0 when unknown
  RowId book_id = 0;    ///< 0 when unknown
  std::string format;   ///< the release's format (see Format above; "" none named)
  bool audio = false;
  std::optional<int> format_rank;  ///< in its profile (0 best); nullopt when not allowed
  ReleaseRejections rejections;

  bool approved() const noexcept { return rejections.empty(); }
  /// Only temporary rejections: may be grabbed later.
  bool temporarily_rejected() const noexcept;
  /// "torrent" or "usenet" by its indexer kind.
  std::string protocol() const;
  /// The release as stored (history, blocklist, pending, tracked downloads).
  ReleaseRecord record() const;
};

/// A release fetched from one indexer, to be decided.
struct IndexedRelease {
  Release release;
  RowId indexer_id = 0;
  std::string indexer;
  IndexerKind kind = IndexerKind::newznab;
};

/// Decides every release. Never throws for a release: one that cannot be read is rejected.
std::vector<ReleaseDecision> decide(const std::vector<IndexedRelease>& releases,
                                    const DecisionContext& context);
/// The same, moving each release into its decision instead of copying it (a sync's batch is
/// not needed after its decisions).
std::vector<ReleaseDecision> decide(std::vector<IndexedRelease>&& releases, const DecisionContext& context);
/// One release decided (the same rules).
ReleaseDecision decide_one(const IndexedRelease& release, const DecisionContext& context);

/// Readarr's prioritiser: among the approved decisions, the best per book and kind (an ebook and
/// an audio release of one book are judged by different profiles, so each kind has its best),
/// best first: better format rank, then (torrent) more seeders, then the indexer's priority
/// (lower first, `indexer_priority` by indexer id, 25 when absent), then newer (an undated
/// release last), then larger. Equal releases keep their order in `decisions`. Returns indexes
/// into `decisions`.
std::vector<std::size_t> best_per_book(const std::vector<ReleaseDecision>& decisions,
                                       const std::unordered_map<RowId, int>& indexer_priority = {});

}  // namespace shelfjobs
