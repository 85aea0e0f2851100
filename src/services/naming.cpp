// SPDX-License-Identifier: MIT
// Naming patterns and safe names.
//
// Tokens are replaced first and each value is made safe on its own (so a "/" inside a title
// becomes "+" instead of starting a folder); only then is the text split at the pattern's own
// "/" and each name tidied and made safe as a whole. Doing it the other way round (split after
// the values are in) would let a title create folders, and one with ".." climb out of the root.
#include "shelfjobs/services/naming.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "engine/text.hpp"
#include "engine/utf8.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxName = 255;  // bytes per name on ext4, XFS, Btrfs, NTFS (in UTF-16 units there)

void trim(std::string& s, std::string_view chars) {
  const auto first = s.find_first_not_of(chars);
  if (first == std::string::npos) {
    s.clear();
    return;
  }
  s.erase(0, first);
  s.erase(s.find_last_not_of(chars) + 1);
}

// replace, collapse, trim: a name without the "_" fallback and without the length cut.
std::string clean(std::string_view name) {
  std::string s = replace_unsafe_characters(name);
  trim(s, " .");
  return s;
}

void cut(std::string& s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return;
  s.resize(detail::utf8_prefix_length(s, max_bytes));
  trim(s, " .");
}

// Separators an empty token left behind: "Ada - " -> "Ada", "- Title" -> "Title",
// "Ada -  - Title" (after collapsing: "Ada - - Title") -> "Ada - Title".
std::string drop_dangling_separators(std::string s) {
  for (std::size_t at; (at = s.find(" - - ")) != std::string::npos;) s.erase(at, 2);
  for (bool changed = true; changed && !s.empty();) {
    changed = false;
    if (s == "-") {
      s.clear();
      break;
    }
    if (s.size() >= 2 && s.compare(s.size() - 2, 2, " -") == 0) {
      s.erase(s.size() - 2);
      changed = true;
    }
    if (s.size() >= 2 && s.compare(0, 2, "- ") == 0) {
      s.erase(0, 2);
      changed = true;
    }
    trim(s, " .");
  }
  return s;
}

std::string ascii_upper(std::string s) {
  for (auto& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

// "2" with format "000" -> "002"; "2.5" with "00" -> "02.5". Only the whole part is padded.
std::string pad(const std::string& value, std::size_t width) {
  if (value.empty()) return value;
  std::size_t whole = 0;
  while (whole < value.size() && std::isdigit(static_cast<unsigned char>(value[whole]))) ++whole;
  if (whole == 0 || whole >= width) return value;
  return std::string(width - whole, '0') + value;
}

struct Token {
  std::string prefix, suffix;
  std::string key;  // lower-case words joined by one space: "author name"
  char separator = ' ';
  enum class Case { keep, lower, upper } letter_case = Case::keep;
  std::size_t pad_width = 0;  // from a ":00" format
  bool has_format = false;
};

constexpr std::string_view kPrefixChars = " -._[(";
constexpr std::string_view kSuffixChars = " -._)]";

Result<Token> parse_token(std::string_view inner) {
  Token t;
  std::size_t i = 0, j = inner.size();
  while (i < j && kPrefixChars.find(inner[i]) != std::string_view::npos) ++i;
  while (j > i && kSuffixChars.find(inner[j - 1]) != std::string_view::npos) --j;
  t.prefix = std::string(inner.substr(0, i));
  t.suffix = std::string(inner.substr(j));
  std::string_view name = inner.substr(i, j - i);
  if (const auto colon = name.find(':'); colon != std::string_view::npos) {
    const std::string_view format = name.substr(colon + 1);
    if (format.empty() || format.size() > 9 || format.find_first_not_of('0') != std::string_view::npos) {
      return Error{errc::invalid_argument, "naming: the format of {" + std::string(inner) +
                                               "} must be zeros (\"00\" pads to two digits)"};
    }
    t.has_format = true;
    t.pad_width = format.size();
    name = name.substr(0, colon);
  }
  if (name.empty()) return Error{errc::invalid_argument, "naming: empty token {" + std::string(inner) + "}"};
  const auto sep = name.find_first_of(" ._-");
  if (sep != std::string_view::npos) t.separator = name[sep];
  bool lower = false, upper = false;
  std::string key;
  for (char c : name) {
    if (c == t.separator) {
      if (!key.empty() && key.back() != ' ') key += ' ';
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      return Error{errc::invalid_argument, "naming: unknown token {" + std::string(inner) + "}"};
    }
    lower = lower || (c >= 'a' && c <= 'z');
    upper = upper || (c >= 'A' && c <= 'Z');
    key += detail::ascii_lower(c);
  }
  t.key = key;
  if (lower && !upper) t.letter_case = Token::Case::lower;
  if (upper && !lower) t.letter_case = Token::Case::upper;
  return t;
}

std::string year(const std::optional<int>& y) { return y ? std::to_string(*y) : std::string(); }

// The value of a token; nullopt for an unknown one. `padded` says whether the token takes a
// format.
std::optional<std::string> value_of(const std::string& key, const NamingValues& v, bool& padded) {
  padded = false;
  if (key == "author name") return v.author_name;
  if (key == "author sortname")
    return v.author_sort_name.empty() ? sort_name_of(v.author_name) : v.author_sort_name;
  if (key == "author namethe") return title_the(v.author_name);
  if (key == "author namefirstcharacter") {
    const std::string the = detail::utf8_repair(title_the(v.author_name));
    if (the.empty()) return std::string();
    return ascii_upper(the.substr(0, detail::utf8_sequence_length(the, 0)));
  }
  if (key == "book title") return v.book_title;
  if (key == "book titlethe") return title_the(v.book_title);
  if (key == "book disambiguation") return v.book_disambiguation;
  if (key == "book series") return v.series_title;
  if (key == "release year") return year(v.release_year);
  if (key == "edition year") return year(v.edition_year);
  padded = true;
  if (key == "book seriesposition") return v.series_position;
  if (key == "partnumber") return v.part_number > 0 ? std::to_string(v.part_number) : std::string();
  if (key == "partcount") return v.part_count > 0 ? std::to_string(v.part_count) : std::string();
  padded = false;
  return std::nullopt;
}

Result<std::string> render_token(std::string_view inner, const NamingValues& values) {
  auto token = parse_token(inner);
  if (!token) return token.error();
  bool takes_format = false;
  auto value = value_of(token->key, values, takes_format);
  if (!value) return Error{errc::invalid_argument, "naming: unknown token {" + std::string(inner) + "}"};
  if (token->has_format && !takes_format) {
    return Error{errc::invalid_argument, "naming: {" + std::string(inner) + "} takes no format"};
  }
  // Made safe here, before the split at "/": a value never adds a folder.
  std::string s = replace_unsafe_characters(*value);
  trim(s, " ");
  if (s.empty()) return std::string();
  if (token->has_format) s = pad(s, token->pad_width);
  if (token->letter_case == Token::Case::lower) s = detail::ascii_lower(s);
  if (token->letter_case == Token::Case::upper) s = ascii_upper(s);
  if (token->separator != ' ')
    for (auto& c : s)
      if (c == ' ') c = token->separator;
  return token->prefix + s + token->suffix;
}

std::string_view strip_dot(std::string_view ext) {
  if (!ext.empty() && ext.front() == '.') ext.remove_prefix(1);
  return ext;
}

}  // namespace

std::string repair_utf8(std::string_view text) { return detail::utf8_repair(text); }

std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
  const std::string s = detail::utf8_repair(text);
  return s.substr(0, detail::utf8_prefix_length(s, max_bytes));
}

std::string safe_name(std::string_view name, std::size_t max_bytes) {
  return safe_folder_name(name, max_bytes);
}

std::string safe_file_name(std::string_view stem, std::string_view extension) {
  std::string ext = clean(strip_dot(extension));
  cut(ext, 32);
  if (ext.empty()) return safe_name(stem);
  return safe_name(stem, kMaxName - ext.size() - 1) + "." + ext;
}

std::string title_the(std::string_view title) {
  for (std::string_view article : {"The", "An", "A"}) {
    if (title.size() > article.size() + 1 && detail::istarts_with(title, article) &&
        title[article.size()] == ' ') {
      std::string rest(title.substr(article.size() + 1));
      trim(rest, " ");
      if (rest.empty()) break;
      return rest + ", " + std::string(title.substr(0, article.size()));
    }
  }
  return std::string(title);
}

Result<fs::path> render_book_path(std::string_view pattern, const NamingValues& values,
                                  std::string_view extension) {
  if (pattern.empty()) return Error{errc::invalid_argument, "naming: the pattern is empty"};
  const std::string_view ext = strip_dot(extension);
  if (ext.size() > 16 || std::any_of(ext.begin(), ext.end(),
                                     [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); })) {
    return Error{errc::invalid_argument,
                 "naming: '" + detail::utf8_repair(extension) + "' is not a file extension"};
  }

  std::string text;
  for (std::size_t i = 0; i < pattern.size();) {
    const char c = pattern[i];
    if (c == '}') return Error{errc::invalid_argument, "naming: '}' without '{' at " + std::to_string(i)};
    if (c != '{') {
      text += c;
      ++i;
      continue;
    }
    const auto close = pattern.find_first_of("{}", i + 1);
    if (close == std::string_view::npos || pattern[close] == '{') {
      return Error{errc::invalid_argument, "naming: '{' without '}' at " + std::to_string(i)};
    }
    auto rendered = render_token(pattern.substr(i + 1, close - i - 1), values);
    if (!rendered) return rendered.error();
    text += *rendered;
    i = close + 1;
  }

  std::vector<std::string> names;
  std::size_t start = 0;
  for (;;) {
    const auto slash = text.find('/', start);
    names.push_back(text.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  fs::path out;
  for (std::size_t k = 0; k < names.size(); ++k) {
    const bool last = k + 1 == names.size();
    const std::string tidy = drop_dangling_separators(clean(names[k]));
    if (tidy.empty()) {
      if (last) {
        return Error{errc::invalid_argument, "naming: the file name of '" + detail::utf8_repair(pattern) +
                                                 "' renders empty for this book"};
      }
      continue;  // an empty level ("{Book Series}/" without a series) disappears
    }
    out /= last ? safe_file_name(tidy, ext) : safe_name(tidy);
  }
  return out;
}

Status validate_naming(std::string_view pattern) {
  NamingValues sample;
  sample.author_name = "Ada Example";
  sample.book_title = "First Book";
  sample.book_disambiguation = "Revised";
  sample.series_title = "Example Series";
  sample.series_position = "1";
  sample.release_year = 2001;
  sample.edition_year = 2002;
  sample.part_number = 1;
  sample.part_count = 2;
  auto r = render_book_path(pattern, sample, "epub");
  if (!r) return r.error();
  return Ok{};
}

}  // namespace shelfjobs
