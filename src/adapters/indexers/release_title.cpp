// SPDX-License-Identifier: MIT
// The release title parser. Token rules rather than one large regular expression: each token of
// a title is either part of the title or a marker (year, format, hint, bitrate), and the first
// marker after the title ends it. The same classification reads the bracketed groups, so a
// format in "[EPUB]", "(epub)" or ".EPUB-" is found alike.

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cstring>
#include <span>
#include <string>

#include "engine/text.hpp"
#include "shelfjobs/adapters/release_title.hpp"

namespace shelfjobs {

namespace {

// The formats a title can name are ReleaseFormats::kKnown: its first 14 ebook formats, then
// the audio ones.
constexpr std::span<const std::string_view> kEbookFormats(ReleaseFormats::kKnown, 14);
constexpr std::span<const std::string_view> kAudioFormats(ReleaseFormats::kKnown + 14,
                                                          ReleaseFormats::kCapacity - 14);

// The words between title and the rest that are not formats but end the title too ("retail",
// "unabridged", "abridged", "audiobook(s)", "ebook(s)", "e-book", "audio", "repack") are listed
// by length in `kLetterMarkers`, with the formats above.

bool is_space(char c) noexcept { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string_view trim_title(std::string_view s) {
  while (!s.empty() && (is_space(s.front()) || s.front() == '-' || s.front() == ',')) s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '-' || s.back() == ',' || s.back() == ':'))
    s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int> year_of(std::string_view t, bool bracketed) {
  if (t.size() != 4 || !all_digits(t)) return std::nullopt;
  int y = 0;
  std::from_chars(t.data(), t.data() + 4, y);
  // A bare number is a year only when it is a plausible publication year of a release.
  if (y >= (bracketed ? 1000 : 1900) && y <= 2099) return y;
  return std::nullopt;
}

// "64kbps", "128k", "320kb/s"; a bare "64" followed by "kbps" is handled by the caller.
std::optional<int> bitrate_of(std::string_view t) {
  std::size_t i = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  if (i == 0 || i > 4) return std::nullopt;
  const std::string_view unit = t.substr(i);
  if (unit != "k" && unit != "kbps" && unit != "kb/s" && unit != "kbit" && unit != "kbit/s")
    return std::nullopt;
  int v = 0;
  std::from_chars(t.data(), t.data() + i, v);
  return v;
}

enum class Token { word, separator, year, format, hint };

// A token in lower case, on the stack. Every marker is short; a longer token is a word.
class LowerToken {
 public:
  static constexpr std::size_t kMax = 16;
  explicit LowerToken(std::string_view raw)
      : size_(raw.size() <= kMax ? raw.size() : 0), long_(raw.size() > kMax) {
    for (std::size_t i = 0; i < size_; ++i) text_[i] = detail::ascii_lower(raw[i]);
  }
  bool too_long() const noexcept { return long_; }
  std::string_view view() const noexcept { return {text_, size_}; }

 private:
  char text_[kMax];
  std::size_t size_;
  bool long_;
};

bool is_ebook_format(std::string_view t) {
  return std::find(kEbookFormats.begin(), kEbookFormats.end(), t) != kEbookFormats.end();
}

// What a lower-case token that opens with a letter says. Titles are parsed by the thousand on
// every sync, and most of their words are no marker at all.
enum class Marker { none, ebook, audio, retail, unabridged, abridged, end_word, kbps };

struct LetterMarker {
  std::string_view word;
  Marker marker;
};

// Every word that opens with a letter and says something: the formats (as ReleaseFormats::kKnown
// lists them), the hint words and the bitrate units. letter_marker and the table of the words'
// starts below (kMarkerStarts) are both read from this one list.
constexpr LetterMarker kLetterMarkers[] = {
    {"pdf", Marker::ebook},          {"azw", Marker::ebook},          {"cbz", Marker::ebook},
    {"cbr", Marker::ebook},          {"fb2", Marker::ebook},          {"lit", Marker::ebook},
    {"txt", Marker::ebook},          {"rtf", Marker::ebook},          {"m4b", Marker::audio},
    {"m4a", Marker::audio},          {"mp3", Marker::audio},          {"aac", Marker::audio},
    {"ogg", Marker::audio},          {"wma", Marker::audio},          {"epub", Marker::ebook},
    {"azw3", Marker::ebook},         {"mobi", Marker::ebook},         {"djvu", Marker::ebook},
    {"docx", Marker::ebook},         {"flac", Marker::audio},         {"opus", Marker::audio},
    {"kbps", Marker::kbps},          {"kb/s", Marker::kbps},          {"kepub", Marker::ebook},
    {"ebook", Marker::end_word},     {"audio", Marker::end_word},     {"retail", Marker::retail},
    {"ebooks", Marker::end_word},    {"e-book", Marker::end_word},    {"repack", Marker::end_word},
    {"abridged", Marker::abridged},  {"audiobook", Marker::end_word}, {"unabridged", Marker::unabridged},
    {"audiobooks", Marker::end_word}};

// The shortest and longest of them.
constexpr std::size_t kMarkerMin = 3, kMarkerMax = 10;

// The list's entries of each length, as [first, last) indexes: the list is kept in order of
// length, so a token is compared only with the words of its own length.
using LengthRanges = std::array<std::pair<std::size_t, std::size_t>, kMarkerMax + 1>;
constexpr LengthRanges kMarkersOfLength = [] {
  LengthRanges r{};
  for (std::size_t i = 0; i < std::size(kLetterMarkers); ++i) {
    const std::size_t n = kLetterMarkers[i].word.size();
    if (r[n].second == 0) r[n].first = i;
    r[n].second = i + 1;
  }
  return r;
}();

constexpr bool markers_in_order_of_length() {
  for (std::size_t i = 0; i < std::size(kLetterMarkers); ++i) {
    const std::string_view w = kLetterMarkers[i].word;
    if (w.size() < kMarkerMin || w.size() > kMarkerMax || w[0] < 'a' || w[0] > 'z') return false;
    if (i > 0 && w.size() < kLetterMarkers[i - 1].word.size()) return false;
  }
  return true;
}
static_assert(markers_in_order_of_length(), "kLetterMarkers: letters first, 3 to 10 bytes, by length");

constexpr Marker letter_marker(std::string_view t) noexcept {
  if (t.size() < kMarkerMin || t.size() > kMarkerMax) return Marker::none;
  const auto [first, last] = kMarkersOfLength[t.size()];
  for (std::size_t i = first; i < last; ++i)
    if (kLetterMarkers[i].word == t) return kLetterMarkers[i].marker;
  return Marker::none;
}

// The list names the same formats as ReleaseFormats::kKnown, as ebook or audio formats alike.
constexpr bool markers_agree() {
  for (std::string_view f : kEbookFormats)
    if (letter_marker(f) != Marker::ebook) return false;
  for (std::string_view f : kAudioFormats)
    if (letter_marker(f) != Marker::audio) return false;
  std::size_t formats = 0;
  for (const LetterMarker& m : kLetterMarkers)
    formats += m.marker == Marker::ebook || m.marker == Marker::audio;
  return formats == ReleaseFormats::kCapacity;
}
static_assert(markers_agree(), "kLetterMarkers and ReleaseFormats::kKnown disagree");

bool is_letter(char c) noexcept { return c >= 'a' && c <= 'z'; }

// The class of a marker's second byte, lower-cased: a letter 0-25, a digit 26, '-' 27, '/' 28,
// any other byte 29.
constexpr unsigned second_class(char c) noexcept {
  const char l = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  if (l >= 'a' && l <= 'z') return static_cast<unsigned>(l - 'a');
  if (l >= '0' && l <= '9') return 26;
  if (l == '-') return 27;
  return l == '/' ? 28 : 29;
}

// By a letter marker's length (3 to 10) and first letter, the classes of the second bytes it
// may have: a bit each.
using MarkerStarts = std::array<std::array<std::uint32_t, 26>, kMarkerMax + 1>;
constexpr MarkerStarts kMarkerStarts = [] {
  MarkerStarts t{};
  for (const LetterMarker& m : kLetterMarkers)
    t[m.word.size()][static_cast<std::size_t>(m.word[0] - 'a')] |= 1u << second_class(m.word[1]);
  return t;
}();

// False for a token that cannot be a marker, told by its length and first two bytes alone (a
// table of the letter markers' starts): most of a title's words open with a letter and are then
// not lower-cased and compared at all. A token that opens with another byte may be a year or a
// bitrate.
bool could_be_marker(std::string_view raw) noexcept {
  const std::size_t n = raw.size();
  if (n == 0 || n > LowerToken::kMax) return false;
  const char c = detail::ascii_lower(raw[0]);
  if (!is_letter(c)) return true;
  if (n < kMarkerMin || n > kMarkerMax) return false;  // letter_marker has no word of this length
  return (kMarkerStarts[n][static_cast<std::size_t>(c - 'a')] >> second_class(raw[1])) & 1u;
}

struct Reader {
  ParsedReleaseTitle& out;

  void add_format(std::string_view t) noexcept { out.formats.add(t); }

  // Classifies `raw` (one token) and records what it says. `next` is the following token (for
  // "64 kbps"). Returns how the token counts for the title.
  Token take(std::string_view raw, std::string_view next, bool bracketed) {
    if (raw == "-" || raw == "|") return Token::separator;
    if (!could_be_marker(raw)) return Token::word;
    const LowerToken lower(raw);
    if (lower.too_long()) return Token::word;
    const std::string_view t = lower.view();
    if (t.empty()) return Token::word;
    if (is_letter(t[0])) {
      // Formats, hint words and "kbps" open with a letter; years and bitrates with a digit.
      switch (letter_marker(t)) {
        case Marker::ebook: add_format(t); return Token::format;
        case Marker::audio:
          add_format(t);
          out.audio = true;
          return Token::format;
        case Marker::retail: out.retail = true; return Token::hint;
        case Marker::unabridged: out.unabridged = out.audio = true; return Token::hint;
        case Marker::abridged: out.abridged = out.audio = true; return Token::hint;
        case Marker::end_word:
          if (t.rfind("audio", 0) == 0) out.audio = true;
          return Token::hint;
        case Marker::kbps: return out.bitrate_kbps ? Token::hint : Token::word;
        case Marker::none: return Token::word;
      }
    }
    if (t[0] < '0' || t[0] > '9') return Token::word;
    // Digits and a unit may be a bitrate ("64kbps"); digits alone a bitrate before its unit
    // ("64 kbps") or a year, never the first.
    if (!all_digits(t)) {
      if (auto b = bitrate_of(t)) {
        out.bitrate_kbps = b;
        out.audio = true;
        return Token::hint;
      }
      return Token::word;
    }
    if (t.size() <= 4 && (detail::iequals(next, "kbps") || detail::iequals(next, "kb/s"))) {
      int v = 0;
      std::from_chars(t.data(), t.data() + t.size(), v);
      out.bitrate_kbps = v;
      out.audio = true;
      return Token::hint;
    }
    if (auto y = year_of(t, bracketed)) {
      if (!out.year) out.year = y;
      return Token::year;
    }
    return Token::word;
  }
};

// A token that is never part of a title: a format, a hint word, a year, a bitrate.
bool is_marker(std::string_view raw) {
  const LowerToken lower(raw);
  if (lower.too_long()) return false;
  const std::string_view t = lower.view();
  if (t.empty()) return false;
  if (is_letter(t[0])) {
    const Marker m = letter_marker(t);
    return m != Marker::none && m != Marker::kbps;
  }
  return year_of(t, false) || bitrate_of(t);
}

// Brackets, by byte: every other byte is text.
enum class Bracket : unsigned char { none, open, close };
constexpr std::array<Bracket, 256> kBracket = [] {
  std::array<Bracket, 256> t{};
  for (unsigned char c : {'(', '[', '{'}) t[c] = Bracket::open;
  for (unsigned char c : {')', ']', '}'}) t[c] = Bracket::close;
  return t;
}();

// The index of the first bracket (opening or closing) in `s` at or after `i`; s.size() when none.
// Eight bytes at a time: a title's plain runs are tens of bytes, and a loop with an exit at each
// byte was a third of a title's parse. A byte is told by its value with bit 5 set ('[' and '{',
// ']' and '}') or bit 0 clear ('(' and ')'), each compared as a zero byte of the difference: the
// lowest zero byte of each is exact, so the lowest of the three is the first bracket.
std::size_t next_bracket(std::string_view s, std::size_t i) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
    auto zero_bytes = [](std::uint64_t x) { return (x - kOnes) & ~x & kHighs; };
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      const std::uint64_t upper = w | (kOnes * 0x20);
      const std::uint64_t even = w & ~kOnes;
      const std::uint64_t hit = zero_bytes(upper ^ (kOnes * '{')) | zero_bytes(upper ^ (kOnes * '}')) |
                                zero_bytes(even ^ (kOnes * '('));
      if (hit != 0) return i + static_cast<std::size_t>(std::countr_zero(hit)) / 8;
    }
  }
  while (i < s.size() && kBracket[static_cast<unsigned char>(s[i])] == Bracket::none) ++i;
  return i;
}

std::size_t count_opens(std::string_view s) noexcept {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return kBracket[static_cast<unsigned char>(c)] == Bracket::open; }));
}

// Text built while parsing one title, on the stack when it fits (nearly always).
class Scratch {
 public:
  static constexpr std::size_t kInline = 256;
  explicit Scratch(std::size_t capacity) {
    if (capacity > kInline) {
      heap_.resize(capacity);
      data_ = heap_.data();
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void push_back(char c) noexcept { data_[size_++] = c; }
  void append(std::string_view s) noexcept {
    std::memcpy(data_ + size_, s.data(), s.size());
    size_ += s.size();
  }
  char* data() noexcept { return data_; }
  /// After writing through data() (a caller's loop that keeps its place in a local: a byte
  /// stored through a char pointer may alias this object's members, which the compiler then
  /// reloads for every byte pushed).
  void resize(std::size_t size) noexcept { size_ = size; }
  std::string_view view() const noexcept { return {data_, size_}; }

 private:
  char inline_[kInline];
  std::string heap_;
  char* data_ = inline_;
  std::size_t size_ = 0;
};

// A list of views with room for a title's words inline: a feed's titles are parsed by the
// thousand on every sync, and a vector per split was most of a parse's allocations.
class Views {
 public:
  void clear() noexcept {
    size_ = 0;
    more_.clear();
  }
  void push_back(std::string_view v) {
    if (size_ < kInline)
      inline_[size_] = Piece{v.data(), v.size()};
    else
      push_more(v);
    ++size_;
  }
  void pop_back() noexcept {
    --size_;
    if (size_ >= kInline) more_.pop_back();
  }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view operator[](std::size_t i) const noexcept {
    return i < kInline ? std::string_view(inline_[i].data, inline_[i].size) : more_[i - kInline];
  }
  std::string_view front() const noexcept { return (*this)[0]; }
  std::string_view back() const noexcept { return (*this)[size_ - 1]; }

 private:
  static constexpr std::size_t kInline = 24;
  // Not initialised: a title's parse makes several lists, and zeroing their room (a string_view
  // is constructed empty) cost more than filling it. Only the first size_ are read.
  struct Piece {
    const char* data;
    std::size_t size;
  };
  Piece inline_[kInline];
  std::size_t size_ = 0;
  std::vector<std::string_view> more_;

  // Out of line, so that the usual push_back is small enough to inline into the splits.
  [[gnu::noinline]] void push_more(std::string_view v) { more_.push_back(v); }
};

// A set of separator bytes, as a table: a title's bytes are each looked up once per split.
struct Separators {
  bool is[256] = {};
  constexpr explicit Separators(std::string_view seps) {
    for (char c : seps) is[static_cast<unsigned char>(c)] = true;
  }
};
constexpr Separators kGroupSeparators(" ._,;/+");  // inside brackets
constexpr Separators kDash("-");                   // a scene name's segments
constexpr Separators kSceneSpaces("._");           // a scene segment's words
constexpr Separators kSpace(" ");

// The words of `s` between any of `seps`, into `out` (cleared first: a caller reuses one
// list for all its splits). A text of up to 63 bytes (nearly every title) is split through a
// mask of its word bytes, a bit each: each word is then found by two bit counts, without the
// byte loops' exits at each word's ends (a title's words have any length).
void split_words(std::string_view s, const Separators& seps, Views& out) {
  out.clear();
  const char* p = s.data();
  const std::size_t n = s.size();
  if (n < 64) {
    std::uint64_t bits = 0;  // bit i: s[i] is a word's byte
    for (std::size_t i = 0; i < n; ++i)
      bits |= static_cast<std::uint64_t>(!seps.is[static_cast<unsigned char>(p[i])]) << i;
    // Bit 63 is never set, so the sum below cannot carry out of the word.
    while (bits != 0) {
      const std::uint64_t low = bits & (~bits + 1);  // the first byte of the next word
      const std::uint64_t past = bits + low;         // its run of ones carried to the byte after it
      const auto from = static_cast<std::size_t>(std::countr_zero(low));
      const auto to = static_cast<std::size_t>(std::countr_zero(past));
      out.push_back(std::string_view(p + from, to - from));
      bits &= past;
    }
    return;
  }
  const char* const end = p + n;
  while (p != end) {
    while (p != end && seps.is[static_cast<unsigned char>(*p)]) ++p;
    const char* const word = p;
    while (p != end && !seps.is[static_cast<unsigned char>(*p)]) ++p;
    if (p != word) out.push_back(std::string_view(word, static_cast<std::size_t>(p - word)));
  }
}

// The first word of `s` between any of `seps` ("" when none).
std::string_view first_word(std::string_view s, std::string_view seps) {
  const auto b = s.find_first_not_of(seps);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_first_of(seps, b) - b);
}

// The first " <mid> " in `s`, or npos. Found by `mid`'s first byte, rare in a title: a search
// for the whole (std::string_view::find) stops at every space, one memchr and compare each.
std::size_t find_spaced(std::string_view s, std::string_view mid) {
  for (std::size_t at = s.find(mid.front(), 1); at != std::string_view::npos;
       at = s.find(mid.front(), at + 1)) {
    if (at + mid.size() < s.size() && s[at - 1] == ' ' && s.compare(at, mid.size(), mid) == 0 &&
        s[at + mid.size()] == ' ')
      return at - 1;
  }
  return std::string_view::npos;
}

// The words joined by one space, trimmed as a title is, into `out` (an InlineText: joined on
// the stack, then copied once). `words` are views of one text, in order (a split's).
template <class Out>
void join_words(const Views& words, Out& out) {
  // Nearly always the words stand in their text one space apart already (a title split at its
  // spaces): the text from the first to the last is then the joined text, copied once.
  if (!words.empty()) {
    const char* end = words[0].data() + words[0].size();
    std::size_t i = 1;
    for (; i < words.size(); ++i) {
      const std::string_view w = words[i];
      if (w.data() != end + 1 || *end != ' ') break;
      end = w.data() + w.size();
    }
    if (i == words.size()) {
      out.assign(
          trim_title(std::string_view(words[0].data(), static_cast<std::size_t>(end - words[0].data()))));
      return;
    }
  }
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < words.size(); ++i) bytes += words[i].size() + 1;
  Scratch text(bytes);
  char* to = text.data();  // written through a local (Scratch::resize says why)
  std::size_t n = 0;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (n != 0) to[n++] = ' ';
    std::memcpy(to + n, words[i].data(), words[i].size());
    n += words[i].size();
  }
  text.resize(n);
  out.assign(trim_title(text.view()));
}

// The index of `format` in ReleaseFormats::kKnown, or kCapacity. Compared by length and then
// byte by byte in line: the names are three to five bytes, and a call to memcmp for each of the
// list's entries cost more than the bytes.
std::size_t known_format(std::string_view format) noexcept {
  for (std::size_t i = 0; i < ReleaseFormats::kCapacity; ++i) {
    const std::string_view k = ReleaseFormats::kKnown[i];
    if (k.size() != format.size()) continue;
    std::size_t j = 0;
    while (j < k.size() && k[j] == format[j]) ++j;
    if (j == k.size()) return i;
  }
  return ReleaseFormats::kCapacity;
}

}  // namespace

bool ReleaseFormats::add(std::string_view format) noexcept {
  const std::size_t k = known_format(format);
  if (k == kCapacity) return false;
  for (std::size_t i = 0; i < size_; ++i)
    if (index_[i] == k) return true;
  // Each known format once: the list cannot hold more than kCapacity.
  index_[size_++] = static_cast<std::uint8_t>(k);
  return true;
}

bool ReleaseFormats::contains(std::string_view format) const noexcept {
  const std::size_t k = known_format(format);
  for (std::size_t i = 0; i < size_; ++i)
    if (index_[i] == k) return true;
  return false;
}

bool is_audio_format(std::string_view format) noexcept {
  return std::find(kAudioFormats.begin(), kAudioFormats.end(), format) != kAudioFormats.end();
}

namespace {

// Reads `input` into `out` (fresh); false when no author and title can be told apart.
bool parse_into(std::string_view input, ParsedReleaseTitle& out) {
  // Views into `input` wherever the text is not rewritten: a feed's titles are parsed by the
  // thousand on every sync.
  Reader reader{out};
  std::string_view s = trim_title(input);
  if (s.empty()) return false;
  Views words;  // one list for every split below

  // A file name's extension names the format ("Author - Title.epub"): a '.' among the last six
  // bytes (looked for there only, not through the whole title).
  const std::size_t tail_from = s.size() > 6 ? s.size() - 6 : 0;
  if (auto dot = s.substr(tail_from).rfind('.'); dot != std::string_view::npos) {
    dot += tail_from;
    const LowerToken ext(s.substr(dot + 1));
    if (!ext.too_long() && (is_ebook_format(ext.view()) || is_audio_format(ext.view()))) {
      reader.take(ext.view(), {}, true);
      s = s.substr(0, dot);
    }
  }

  // Bracketed groups are hints, never title; each becomes a '|' that ends the title. Each
  // opening bracket becomes at most three bytes: room for three per byte of a short title
  // without counting them first, and for a long one the brackets are counted.
  const std::size_t room = 3 * s.size() <= Scratch::kInline ? 3 * s.size() : s.size() + 2 * count_opens(s);
  Scratch main(room);
  Views groups;
  {
    // Runs of plain bytes are found eight bytes at a time (next_bracket) and copied whole: a
    // byte-by-byte copy with six compares per byte was half of the parse of a title.
    char* to = main.data();  // written through a local (Scratch::resize says why)
    std::size_t n = 0;
    int depth = 0;
    std::size_t open = 0;
    for (std::size_t i = 0; i < s.size();) {
      const std::size_t j = next_bracket(s, i);
      if (depth == 0) {
        std::memcpy(to + n, s.data() + i, j - i);
        n += j - i;
      }
      if (j == s.size()) break;
      if (kBracket[static_cast<unsigned char>(s[j])] == Bracket::open) {
        if (depth++ == 0) {
          open = j + 1;
          to[n++] = ' ';
          to[n++] = '|';
          to[n++] = ' ';
        }
      } else if (depth > 0) {
        if (--depth == 0) groups.push_back(s.substr(open, j - open));
      } else {
        to[n++] = s[j];  // a closing bracket with none open is text
      }
      i = j + 1;
    }
    main.resize(n);
    if (depth > 0) groups.push_back(s.substr(open));
  }
  for (std::size_t gi = 0; gi < groups.size(); ++gi) {
    split_words(groups[gi], kGroupSeparators, words);
    for (std::size_t i = 0; i < words.size(); ++i)
      reader.take(words[i], i + 1 < words.size() ? words[i + 1] : std::string_view(), true);
  }

  std::string_view m = trim_title(main.view());
  // "| Title" when the whole name began with a bracketed group ("[GRP] Author - Title").
  while (!m.empty() && m.front() == '|') m = trim_title(m.substr(1));
  // The author is written into `out` at once (trimmed as a title is).
  std::string_view rest;
  Scratch rest_text(m.size());  // the scene form's rest, rewritten
  const bool scene = m.find(' ') == std::string_view::npos &&
                     (m.find('.') != std::string_view::npos || m.find('_') != std::string_view::npos);
  if (scene) {
    Views segments;
    split_words(m, kDash, segments);
    if (segments.size() < 2) return false;
    // "-GRP" at the end: a segment without dots after at least an author and a title.
    if (segments.size() >= 3 && segments.back().find_first_of("._") == std::string_view::npos) {
      const std::string_view g = segments.back();
      const LowerToken lower(g);
      if ((lower.too_long() || (!is_audio_format(lower.view()) && !is_ebook_format(lower.view()))) &&
          !all_digits(g)) {
        out.release_group = std::string(g);
        segments.pop_back();
      }
    }
    split_words(segments.front(), kSceneSpaces, words);
    join_words(words, out.author);
    // A '-' between two segments is kept inside a word ("Catch-22") unless the next segment
    // opens with a marker ("Excession-1996-RETAIL").
    for (std::size_t i = 1; i < segments.size(); ++i) {
      if (i > 1) {
        const std::string_view next = first_word(segments[i], "._");
        rest_text.push_back(!next.empty() && is_marker(next) ? ' ' : '-');
      }
      rest_text.append(segments[i]);
    }
    char* text = rest_text.data();
    for (std::size_t i = 0; i < rest_text.view().size(); ++i)
      if (text[i] == '.' || text[i] == '_') text[i] = ' ';
    rest = rest_text.view();
  } else {
    std::size_t sep = find_spaced(m, "-");
    std::size_t sep_len = 3;
    if (const auto en = find_spaced(m, "\xE2\x80\x93"); en != std::string_view::npos && en < sep) {
      sep = en;
      sep_len = 5;
    }
    if (sep != std::string_view::npos) {
      out.author.assign(trim_title(m.substr(0, sep)));
      rest = m.substr(sep + sep_len);
    } else if (const auto by = m.rfind(" by "); by != std::string_view::npos) {
      // "Title by Author [EPUB]": the author ends at the first marker.
      rest = m.substr(0, by);
      Views names;
      split_words(m.substr(by + 4), kSpace, words);
      for (std::size_t i = 0; i < words.size(); ++i) {
        if (words[i] == "|" || reader.take(words[i], {}, false) != Token::word) break;
        names.push_back(words[i]);
      }
      join_words(names, out.author);
    } else {
      return false;
    }
  }

  // " - " inside the rest ("Series 02 - Title", "Title - 2019 - EPUB") stays a token of its own.
  Views title_words;
  bool ended = false;
  split_words(rest, kSpace, words);
  for (std::size_t i = 0; i < words.size(); ++i) {
    const Token k = reader.take(words[i], i + 1 < words.size() ? words[i + 1] : std::string_view(), false);
    if (ended) continue;
    if (k == Token::word || (k == Token::separator && words[i] == "-")) {
      title_words.push_back(words[i]);
    } else if (k == Token::year && title_words.empty()) {
      // "George Orwell - 1984 (1949)": a number that opens the title is the title.
      title_words.push_back(words[i]);
      out.year.reset();
    } else if (k != Token::separator || !title_words.empty()) {
      ended = !title_words.empty();
    }
  }
  // A year that opened the title may be repeated later as the real year.
  if (!out.year) {
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      split_words(groups[gi], kGroupSeparators, words);
      for (std::size_t i = 0; i < words.size(); ++i)
        if (auto y = year_of(words[i], true)) {
          out.year = y;
          break;
        }
    }
  }
  join_words(title_words, out.title);
  return !out.author.empty() && !out.title.empty();
}

}  // namespace

std::optional<ParsedReleaseTitle> parse_release_title(std::string_view input) {
  // Parsed in the object returned (one object, no moves of its strings on the way out).
  std::optional<ParsedReleaseTitle> out(std::in_place);
  if (!parse_into(input, *out)) out.reset();
  return out;
}

}  // namespace shelfjobs
