// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Release titles as indexers list them, read into author, title, year, format and edition
/// hints. A pure function: no catalog, no I/O; the matching to a wanted book comes later.
///
/// Shapes read (in the spirit of Readarr's book title parser, Parser.cs ReportTitleRegex:
/// "Author - Book (Year)", scene names with dots and a group):
///   - "Author Name - Book Title (2019) [EPUB]", "Author - Title (Unabridged) [M4B]",
///     "Author - Title - 2019 - EPUB", "Author - Series 02 - Title (retail) (azw3)"
///   - scene: "Author.Name-Book.Title.2019.RETAIL.EPUB-GRP", "Author_Name-Title-2019-GRP"
///   - audio: "Author - Title (Unabridged) MP3 64kbps", "... [M4B] {128k}"
///   - "Book Title by Author Name [EPUB]"
/// The title ends at the first year, format or hint token after it; the author is what comes
/// before the first " - " (or, in a scene name, the first '-'). Brackets, parentheses and braces
/// hold hints and are never part of the title.
///
/// Thread-safety: a pure function.

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace shelfjobs {

/// A short text held in the object itself: up to `N` bytes inline, longer text on the heap.
/// What a feed's parse and decisions make by the thousand (a release's parsed author and title,
/// a rejection's reason), so that the usual one costs no allocation and no free.
///
/// Ownership: a value, as a std::string: it owns its bytes (never a view of other text), copies
/// copy them, a move takes them. Not NUL-terminated (`str()` gives a std::string); the bytes
/// are kept as given (UTF-8 wherever this library makes one). Reads it as a std::string_view
/// (implicitly); compares with text by its bytes.
///
/// Thread-safety: as a std::string (const members may be read from several threads at once).
template <std::size_t N>
class InlineText {
 public:
  InlineText() noexcept = default;
  InlineText(std::string_view text) { assign(text); }                          // NOLINT: implicit by design
  InlineText(const std::string& text) : InlineText(std::string_view(text)) {}  // NOLINT
  InlineText(const char* text) : InlineText(std::string_view(text)) {}         // NOLINT
  InlineText(const InlineText& other) { assign(other.view()); }
  InlineText(InlineText&& other) noexcept { take(other); }
  InlineText& operator=(const InlineText& other) {
    if (this != &other) assign(other.view());
    return *this;
  }
  InlineText& operator=(InlineText&& other) noexcept {
    if (this != &other) {
      free_heap();
      take(other);
    }
    return *this;
  }
  InlineText& operator=(std::string_view text) {
    assign(text);
    return *this;
  }
  InlineText& operator=(const std::string& text) { return *this = std::string_view(text); }
  InlineText& operator=(const char* text) { return *this = std::string_view(text); }
  ~InlineText() { free_heap(); }

  /// Replaces the text with a copy of `text` (which may view this text itself).
  void assign(std::string_view text) {
    if (text.size() <= N) {
      if (!text.empty()) std::memmove(inline_, text.data(), text.size());
      free_heap();
    } else {
      char* bytes = new char[text.size()];
      std::memcpy(bytes, text.data(), text.size());
      free_heap();
      heap_ = bytes;
    }
    size_ = text.size();
  }
  void clear() noexcept {
    free_heap();
    size_ = 0;
  }

  std::string_view view() const noexcept { return {data(), size_}; }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit by design
  std::string str() const { return std::string(view()); }
  const char* data() const noexcept { return heap_ != nullptr ? heap_ : inline_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// As std::string::find (npos when not found).
  std::size_t find(std::string_view text, std::size_t from = 0) const noexcept {
    return view().find(text, from);
  }

  friend bool operator==(const InlineText& a, std::string_view b) noexcept { return a.view() == b; }
  friend std::ostream& operator<<(std::ostream& out, const InlineText& text) { return out << text.view(); }

 private:
  void free_heap() noexcept {
    delete[] heap_;
    heap_ = nullptr;
  }
  void take(InlineText& other) noexcept {
    heap_ = other.heap_;
    if (heap_ == nullptr && other.size_ != 0) std::memcpy(inline_, other.inline_, other.size_);
    size_ = other.size_;
    other.heap_ = nullptr;
    other.size_ = 0;
  }

  char inline_[N];  // the first size_ are read, when heap_ is null
  std::size_t size_ = 0;
  char* heap_ = nullptr;
};

/// The formats a release title names, each once, lower-case, in order of appearance; only the
/// known formats (`kKnown`) can be listed, so the list is held inline, with no allocation (a
/// feed's titles are read by the thousand on every sync). Reads like a small container of
/// std::string_view: the views are of static text, valid for the life of the program.
class ReleaseFormats {
 public:
  /// The formats a title can name: ebook formats first, then audio ones.
  static constexpr std::string_view kKnown[] = {"epub", "kepub", "azw3", "azw", "mobi", "pdf",  "cbz", "cbr",
                                                "djvu", "fb2",   "lit",  "txt", "rtf",  "docx", "m4b", "m4a",
                                                "mp3",  "flac",  "aac",  "ogg", "opus", "wma"};
  static constexpr std::size_t kCapacity = std::size(kKnown);

  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string_view*;
    using reference = std::string_view;

    const_iterator() noexcept = default;
    std::string_view operator*() const noexcept { return kKnown[*at_]; }
    std::string_view operator[](difference_type n) const noexcept { return kKnown[at_[n]]; }
    const_iterator& operator++() noexcept { return ++at_, *this; }
    const_iterator operator++(int) noexcept { return const_iterator(at_++); }
    const_iterator& operator--() noexcept { return --at_, *this; }
    const_iterator operator--(int) noexcept { return const_iterator(at_--); }
    const_iterator& operator+=(difference_type n) noexcept { return at_ += n, *this; }
    const_iterator& operator-=(difference_type n) noexcept { return at_ -= n, *this; }
    friend const_iterator operator+(const_iterator i, difference_type n) noexcept { return i += n; }
    friend const_iterator operator+(difference_type n, const_iterator i) noexcept { return i += n; }
    friend const_iterator operator-(const_iterator i, difference_type n) noexcept { return i -= n; }
    friend difference_type operator-(const_iterator a, const_iterator b) noexcept { return a.at_ - b.at_; }
    friend bool operator==(const_iterator a, const_iterator b) noexcept { return a.at_ == b.at_; }
    friend auto operator<=>(const_iterator a, const_iterator b) noexcept { return a.at_ <=> b.at_; }

   private:
    friend class ReleaseFormats;
    explicit const_iterator(const std::uint8_t* at) noexcept : at_(at) {}
    const std::uint8_t* at_ = nullptr;
  };
  using iterator = const_iterator;
  using value_type = std::string_view;
  using size_type = std::size_t;

  /// Adds `format` (lower-case) unless it is listed already. False, and nothing added, for a
  /// name that is not one of `kKnown`.
  bool add(std::string_view format) noexcept;
  /// Whether `format` is listed.
  bool contains(std::string_view format) const noexcept;
  void clear() noexcept { size_ = 0; }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view operator[](std::size_t i) const noexcept { return kKnown[index_[i]]; }
  std::string_view front() const noexcept { return kKnown[index_[0]]; }
  std::string_view back() const noexcept { return kKnown[index_[size_ - 1]]; }
  const_iterator begin() const noexcept { return const_iterator(index_); }
  const_iterator end() const noexcept { return const_iterator(index_ + size_); }

  /// The same formats in the same order.
  friend bool operator==(const ReleaseFormats& a, const ReleaseFormats& b) noexcept {
    if (a.size_ != b.size_) return false;
    for (std::size_t i = 0; i < a.size_; ++i)
      if (a.index_[i] != b.index_[i]) return false;
    return true;
  }

 private:
  std::uint8_t index_[kCapacity] = {};  // indexes into kKnown; the first size_ are read
  std::uint8_t size_ = 0;
};

/// What `parse_release_title` reads. Its text is its own (`InlineText`: an author and a title of
/// usual length are held inline, without an allocation); it does not view the title parsed.
struct ParsedReleaseTitle {
  InlineText<40> author;  ///< as written, separators turned to spaces ("Author Name")
  InlineText<72> title;
  std::optional<int> year;
  /// Every format named, lower-case, in order of appearance: epub, kepub, azw3, azw, mobi, pdf,
  /// cbz, cbr, djvu, fb2, lit, txt, rtf, docx, m4b, m4a, mp3, flac, aac, ogg, opus, wma.
  ReleaseFormats formats;
  bool audio = false;  ///< an audio format, "audiobook", "unabridged"/"abridged" or a bitrate
  bool retail = false;
  bool unabridged = false;
  bool abridged = false;
  std::optional<int> bitrate_kbps;  ///< "64kbps", "128k", "320 kbps"
  std::string release_group;        ///< a scene name's "-GRP"

  /// The first format, or "" when none is named (a view of static text, as `formats` gives).
  std::string_view format() const noexcept { return formats.empty() ? std::string_view() : formats.front(); }
};

/// Reads `title`; nullopt when no author and title can be told apart (a title with no
/// separator, an empty string).
std::optional<ParsedReleaseTitle> parse_release_title(std::string_view title);

/// Whether `format` (lower-case, as above) is an audio format.
bool is_audio_format(std::string_view format) noexcept;

}  // namespace shelfjobs
