// SPDX-License-Identifier: MIT
// Names: author status names, sort names and folder names.

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text.hpp"
#include "engine/utf8.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs {

std::string_view to_string(AuthorStatus s) noexcept {
  switch (s) {
    case AuthorStatus::continuing: return "continuing";
    case AuthorStatus::ended: return "ended";
  }
  return "continuing";
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string lower(std::string_view s) { return detail::ascii_lower(s); }

std::vector<std::string> words_of(std::string_view s) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

std::string join(const std::vector<std::string>& words, std::size_t begin, std::size_t end) {
  std::string out;
  for (std::size_t i = begin; i < end; ++i) {
    if (!out.empty()) out += ' ';
    out += words[i];
  }
  return out;
}

// Generational and academic suffixes stay after the given names ("King, Martin Luther Jr.").
bool is_suffix(std::string_view word) {
  static constexpr std::array<std::string_view, 12> kSuffixes = {"jr", "jr.", "sr",    "sr.", "ii",   "iii",
                                                                 "iv", "phd", "ph.d.", "md",  "m.d.", "esq."};
  const std::string w = lower(word);
  for (auto s : kSuffixes)
    if (w == s) return true;
  return false;
}

// Particles belong to the surname ("Ursula K. Le Guin" sorts under "Le Guin").
bool is_particle(std::string_view word) {
  static constexpr std::array<std::string_view, 16> kParticles = {"van", "von", "de",  "da", "del", "della",
                                                                  "der", "den", "di",  "du", "la",  "le",
                                                                  "ter", "ten", "dos", "das"};
  const std::string w = lower(word);
  for (auto p : kParticles)
    if (w == p) return true;
  return false;
}

// sort_name_of without a closing parenthetical.
std::string sort_name_of_words(std::vector<std::string> words) {
  if (words.size() <= 1) return join(words, 0, words.size());

  // "Martin Luther King, Jr.": the comma only separates the suffix.
  std::string suffix;
  if (words.size() >= 3 && is_suffix(words.back())) {
    suffix = words.back();
    words.pop_back();
    if (!words.back().empty() && words.back().back() == ',') words.back().pop_back();
  }
  // A name that still holds a comma is already "Last, First".
  for (const auto& w : words)
    if (w.find(',') != std::string::npos) {
      std::string already = join(words, 0, words.size());
      if (!suffix.empty()) already += ' ' + suffix;
      return already;
    }
  if (words.size() == 1) return suffix.empty() ? words[0] : words[0] + ' ' + suffix;

  std::size_t last = words.size() - 1;
  while (last > 1 && is_particle(words[last - 1])) --last;
  std::string out = join(words, last, words.size()) + ", " + join(words, 0, last);
  if (!suffix.empty()) out += ' ' + suffix;
  return out;
}
}  // namespace

std::string sort_name_of(std::string_view name) {
  std::vector<std::string> words = words_of(name);
  // "Ann Leckie (Editor)": a closing parenthetical stays at the end, as a suffix does.
  std::string note;
  if (words.size() >= 2 && words.back().back() == ')') {
    for (std::size_t i = words.size() - 1; i >= 1; --i) {
      if (words[i].front() == '(') {
        note = join(words, i, words.size());
        words.resize(i);
        break;
      }
    }
  }
  std::string out = sort_name_of_words(std::move(words));
  if (!note.empty()) out += out.empty() ? note : ' ' + note;
  return out;
}

// Readarr's replacements where there is a readable one (": " reads as " - "), dropped where
// there is none. Only ASCII bytes are touched, so valid UTF-8 stays valid.
std::string replace_unsafe_characters(std::string_view name) {
  const std::string s = detail::utf8_repair(name);
  std::string out;
  out.reserve(s.size() + 4);
  auto put = [&out](char c) {
    if (c == ' ' && !out.empty() && out.back() == ' ') return;  // one space per run
    out += c;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case ':':
        if (i + 1 < s.size() && s[i + 1] == ' ') put(' ');
        put('-');
        continue;
      case '/':
      case '\\': put('+'); continue;
      case '"': put('\''); continue;
      case '*':
      case '?':
      case '<':
      case '>':
      case '|': continue;
      case '\t':
      case '\n':
      case '\r': put(' '); continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7f) continue;
    put(ch);
  }
  return out;
}

// Windows reserves device names, with or without an extension.
bool is_reserved_name(std::string_view name) {
  const std::string stem = lower(name.substr(0, name.find('.')));
  for (std::string_view d : {"con", "prn", "aux", "nul"})
    if (stem == d) return true;
  return stem.size() == 4 && (stem.compare(0, 3, "com") == 0 || stem.compare(0, 3, "lpt") == 0) &&
         stem[3] >= '1' && stem[3] <= '9';
}

std::string safe_folder_name(std::string_view name, std::size_t max_bytes) {
  max_bytes = std::max<std::size_t>(max_bytes, 8);
  // Windows drops trailing dots and spaces silently (so two names would meet), and a leading
  // dot hides the folder on Linux and macOS.
  auto trim = [](std::string& s) {
    const auto first = s.find_first_not_of(". ");
    if (first == std::string::npos) {
      s.clear();
      return;
    }
    s.erase(0, first);
    s.erase(s.find_last_not_of(". ") + 1);
  };
  // Most file systems limit a name to 255 bytes; cut on a UTF-8 character boundary.
  auto cut = [&trim, max_bytes](std::string& s) {
    if (s.size() <= max_bytes) return;
    s.resize(detail::utf8_prefix_length(s, max_bytes));
    trim(s);
  };
  std::string out = replace_unsafe_characters(name);
  trim(out);
  cut(out);
  if (is_reserved_name(out)) {
    out.insert(std::min(out.find('.'), out.size()), "_");
    cut(out);  // the device name itself is short: only the end can go
  }
  if (out.empty()) return "_";
  return out;
}

}  // namespace shelfjobs
