// SPDX-License-Identifier: MIT
// Names: author status names, sort names and folder names.

#include <array>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text.hpp"
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

}  // namespace

std::string sort_name_of(std::string_view name) {
  std::vector<std::string> words = words_of(name);
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

std::string safe_folder_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  bool pending_space = false;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    // Whitespace controls (tab, newline) separate words like a space; other controls go.
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = true;
      continue;
    }
    if (c < 0x20 || c == 0x7f) continue;
    if (std::string_view("<>:\"/\\|?*").find(ch) != std::string_view::npos) continue;
    if (pending_space && !out.empty()) out += ' ';
    pending_space = false;
    out += ch;
  }
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
  trim(out);
  // Most file systems limit a name to 255 bytes; cut on a UTF-8 character boundary.
  if (out.size() > 255) {
    std::size_t cut = 255;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    trim(out);
  }
  if (out.empty()) return "_";

  // Windows reserves device names, with or without an extension ("CON", "nul.txt").
  const std::size_t dot = out.find('.');
  const std::string stem = lower(std::string_view(out).substr(0, dot));
  static constexpr std::array<std::string_view, 4> kDevices = {"con", "prn", "aux", "nul"};
  bool reserved = false;
  for (auto d : kDevices) reserved = reserved || stem == d;
  if (stem.size() == 4 && (stem.rfind("com", 0) == 0 || stem.rfind("lpt", 0) == 0) && stem[3] >= '1' &&
      stem[3] <= '9')
    reserved = true;
  if (reserved) out.insert(dot == std::string::npos ? out.size() : dot, "_");
  return out;
}

}  // namespace shelfjobs
