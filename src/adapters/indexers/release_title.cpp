// SPDX-License-Identifier: MIT
// The release title parser. Token rules rather than one large regular expression: each token of
// a title is either part of the title or a marker (year, format, hint, bitrate), and the first
// marker after the title ends it. The same classification reads the bracketed groups, so a
// format in "[EPUB]", "(epub)" or ".EPUB-" is found alike.

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string>

#include "engine/text.hpp"
#include "shelfjobs/adapters/release_title.hpp"

namespace shelfjobs {

namespace {

constexpr std::array<std::string_view, 14> kEbookFormats{
    "epub", "kepub", "azw3", "azw", "mobi", "pdf", "cbz", "cbr", "djvu", "fb2", "lit", "txt", "rtf", "docx"};
constexpr std::array<std::string_view, 8> kAudioFormats{"m4b", "m4a", "mp3",  "flac",
                                                        "aac", "ogg", "opus", "wma"};

// A marker between title and the rest that is not a format: it ends the title too.
constexpr std::array<std::string_view, 10> kEndWords{"retail",     "unabridged", "abridged", "audiobook",
                                                     "audiobooks", "ebook",      "ebooks",   "e-book",
                                                     "audio",      "repack"};

std::string_view trim_title(std::string_view s) {
  while (!s.empty() &&
         (std::isspace(static_cast<unsigned char>(s.front())) || s.front() == '-' || s.front() == ','))
    s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == '-' ||
                        s.back() == ',' || s.back() == ':'))
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

struct Reader {
  ParsedReleaseTitle& out;

  // Classifies `raw` (one token) and records what it says. `next` is the following token (for
  // "64 kbps"). Returns how the token counts for the title.
  Token take(std::string_view raw, std::string_view next, bool bracketed) {
    if (raw == "-" || raw == "|") return Token::separator;
    const std::string t = detail::ascii_lower(raw);
    if (std::find(kEbookFormats.begin(), kEbookFormats.end(), t) != kEbookFormats.end() ||
        std::find(kAudioFormats.begin(), kAudioFormats.end(), t) != kAudioFormats.end()) {
      if (std::find(out.formats.begin(), out.formats.end(), t) == out.formats.end()) out.formats.push_back(t);
      if (is_audio_format(t)) out.audio = true;
      return Token::format;
    }
    if (t == "retail") {
      out.retail = true;
      return Token::hint;
    }
    if (t == "unabridged") {
      out.unabridged = out.audio = true;
      return Token::hint;
    }
    if (t == "abridged") {
      out.abridged = out.audio = true;
      return Token::hint;
    }
    if (std::find(kEndWords.begin(), kEndWords.end(), t) != kEndWords.end()) {
      if (t.rfind("audio", 0) == 0) out.audio = true;
      return Token::hint;
    }
    if (auto b = bitrate_of(t)) {
      out.bitrate_kbps = b;
      out.audio = true;
      return Token::hint;
    }
    if (all_digits(t) && t.size() <= 4 && (detail::iequals(next, "kbps") || detail::iequals(next, "kb/s"))) {
      int v = 0;
      std::from_chars(t.data(), t.data() + t.size(), v);
      out.bitrate_kbps = v;
      out.audio = true;
      return Token::hint;
    }
    if (t == "kbps" || t == "kb/s") return out.bitrate_kbps ? Token::hint : Token::word;
    if (auto y = year_of(t, bracketed)) {
      if (!out.year) out.year = y;
      return Token::year;
    }
    return Token::word;
  }
};

// A token that is never part of a title: a format, a hint word, a year, a bitrate.
bool is_marker(std::string_view raw) {
  const std::string t = detail::ascii_lower(raw);
  return std::find(kEbookFormats.begin(), kEbookFormats.end(), t) != kEbookFormats.end() ||
         is_audio_format(t) || std::find(kEndWords.begin(), kEndWords.end(), t) != kEndWords.end() ||
         year_of(t, false) || bitrate_of(t);
}

std::vector<std::string_view> split_words(std::string_view s, std::string_view seps) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || seps.find(s[i]) != std::string_view::npos) {
      if (i > start) out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string join_words(const std::vector<std::string_view>& words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return std::string(trim_title(out));
}

}  // namespace

bool is_audio_format(std::string_view format) noexcept {
  return std::find(kAudioFormats.begin(), kAudioFormats.end(), format) != kAudioFormats.end();
}

std::optional<ParsedReleaseTitle> parse_release_title(std::string_view input) {
  ParsedReleaseTitle out;
  Reader reader{out};
  std::string s(trim_title(input));
  if (s.empty()) return std::nullopt;

  // A file name's extension names the format ("Author - Title.epub").
  if (const auto dot = s.rfind('.'); dot != std::string::npos && s.size() - dot <= 6) {
    const std::string ext = detail::ascii_lower(s.substr(dot + 1));
    if (std::find(kEbookFormats.begin(), kEbookFormats.end(), ext) != kEbookFormats.end() ||
        is_audio_format(ext)) {
      reader.take(ext, {}, true);
      s.erase(dot);
    }
  }

  // Bracketed groups are hints, never title; each becomes a '|' that ends the title.
  std::string main;
  std::vector<std::string> groups;
  {
    int depth = 0;
    std::string group;
    for (char c : s) {
      if (c == '(' || c == '[' || c == '{') {
        if (depth++ == 0) {
          group.clear();
          main += " | ";
          continue;
        }
      } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
        if (--depth == 0) {
          groups.push_back(group);
          continue;
        }
      }
      (depth > 0 ? group : main) += c;
    }
    if (depth > 0) groups.push_back(group);
  }
  for (const auto& g : groups) {
    const auto words = split_words(g, " ._,;/+");
    for (std::size_t i = 0; i < words.size(); ++i)
      reader.take(words[i], i + 1 < words.size() ? words[i + 1] : std::string_view(), true);
  }

  std::string_view m = trim_title(main);
  // "| Title" when the whole name began with a bracketed group ("[GRP] Author - Title").
  while (!m.empty() && m.front() == '|') m = trim_title(m.substr(1));
  std::string author;
  std::string rest;
  const bool scene = m.find(' ') == std::string_view::npos &&
                     (m.find('.') != std::string_view::npos || m.find('_') != std::string_view::npos);
  if (scene) {
    auto segments = split_words(m, "-");
    if (segments.size() < 2) return std::nullopt;
    // "-GRP" at the end: a segment without dots after at least an author and a title.
    if (segments.size() >= 3 && segments.back().find_first_of("._") == std::string_view::npos) {
      const std::string_view g = segments.back();
      const std::string lower = detail::ascii_lower(g);
      if (!is_audio_format(lower) &&
          std::find(kEbookFormats.begin(), kEbookFormats.end(), lower) == kEbookFormats.end() &&
          !all_digits(g)) {
        out.release_group = std::string(g);
        segments.pop_back();
      }
    }
    author = join_words(split_words(segments.front(), "._"));
    // A '-' between two segments is kept inside a word ("Catch-22") unless the next segment
    // opens with a marker ("Excession-1996-RETAIL").
    for (std::size_t i = 1; i < segments.size(); ++i) {
      if (i > 1) {
        const auto next = split_words(segments[i], "._");
        rest += !next.empty() && is_marker(next.front()) ? ' ' : '-';
      }
      rest += segments[i];
    }
    for (char& c : rest)
      if (c == '.' || c == '_') c = ' ';
  } else {
    std::size_t sep = m.find(" - ");
    std::size_t sep_len = 3;
    if (const auto en = m.find(" \xE2\x80\x93 "); en != std::string_view::npos && en < sep) {
      sep = en;
      sep_len = 5;
    }
    if (sep != std::string_view::npos) {
      author = std::string(trim_title(m.substr(0, sep)));
      rest = std::string(m.substr(sep + sep_len));
    } else if (const auto by = m.rfind(" by "); by != std::string_view::npos) {
      // "Title by Author [EPUB]": the author ends at the first marker.
      rest = std::string(m.substr(0, by));
      std::vector<std::string_view> names;
      for (auto w : split_words(m.substr(by + 4), " ")) {
        if (w == "|" || reader.take(w, {}, false) != Token::word) break;
        names.push_back(w);
      }
      author = join_words(names);
    } else {
      return std::nullopt;
    }
  }

  // " - " inside the rest ("Series 02 - Title", "Title - 2019 - EPUB") stays a token of its own.
  std::vector<std::string_view> title_words;
  bool ended = false;
  const auto words = split_words(rest, " ");
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
    for (const auto& g : groups)
      for (auto w : split_words(g, " ._,;/+"))
        if (auto y = year_of(w, true)) {
          out.year = y;
          break;
        }
  }
  out.author = std::string(trim_title(author));
  out.title = join_words(title_words);
  if (out.author.empty() || out.title.empty()) return std::nullopt;
  return out;
}

}  // namespace shelfjobs
