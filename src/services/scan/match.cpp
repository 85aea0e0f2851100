// SPDX-License-Identifier: MIT
#include "services/scan/match.hpp"

#include <algorithm>
#include <cctype>

namespace shelfjobs::scan {
namespace {

// Latin-1 letters with accents (U+00C0..U+00FF, two UTF-8 bytes C3 xx) folded to ASCII: the
// accents a book's tags and the catalog spell differently most often ("Bronte" / "Brontë").
// Other scripts pass through as bytes and compare exactly.
char fold_latin1(unsigned char second) {
  static const char kFold[64 + 1] =
      "AAAAAAACEEEEIIII"   // C3 80..8F: À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï
      "DNOOOOOxOUUUUYTs"   // C3 90..9F: Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß
      "aaaaaaaceeeeiiii"   // C3 A0..AF
      "dnooooo/ouuuuyty";  // C3 B0..BF
  if (second < 0x80 || second > 0xBF) return 0;
  return kFold[second - 0x80];
}

bool is_article(std::string_view w) { return w == "the" || w == "a" || w == "an"; }

std::string lower_words(std::string_view s) {
  // Lower case, accents folded, "&" spelled out; every other non-alphanumeric ASCII byte is a
  // word break.
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0xC3 && i + 1 < s.size()) {
      if (char f = fold_latin1(static_cast<unsigned char>(s[i + 1]));
          f != 0 && std::isalpha(static_cast<unsigned char>(f))) {
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(f)));
        ++i;
        continue;
      }
    }
    if (c >= 0x80) {
      out += static_cast<char>(c);
    } else if (std::isalnum(c)) {
      out += static_cast<char>(std::tolower(c));
    } else if (c == '&') {
      out += " and ";
    } else if (c == '\'') {
      // "Ender's" and "Enders" are one word.
    } else {
      out += ' ';
    }
  }
  return out;
}

std::string squeeze(std::string_view words, bool drop_article) {
  std::string out;
  std::size_t i = 0;
  bool first = true;
  while (i < words.size()) {
    while (i < words.size() && words[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < words.size() && words[i] != ' ') ++i;
    if (start == i) break;
    const std::string_view w = words.substr(start, i - start);
    const bool more = words.find_first_not_of(' ', i) != std::string_view::npos;
    if (first && drop_article && more && is_article(w)) {
      first = false;
      continue;
    }
    first = false;
    out += w;
  }
  return out;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t._-");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t._-");
  return std::string(s.substr(b, e - b + 1));
}

// Calibre names book folders "Title (123)": the id is not part of the title.
std::string without_calibre_id(std::string_view s) {
  if (s.size() > 3 && s.back() == ')') {
    const auto open = s.rfind(" (");
    if (open != std::string_view::npos &&
        std::all_of(s.begin() + static_cast<std::ptrdiff_t>(open) + 2, s.end() - 1,
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }) &&
        open + 3 < s.size())
      return std::string(s.substr(0, open));
  }
  return std::string(s);
}

}  // namespace

std::string name_key(std::string_view name) { return squeeze(lower_words(name), false); }

std::string title_key(std::string_view title) { return squeeze(lower_words(title), true); }

std::string short_title_key(std::string_view title) {
  std::size_t cut = std::string_view::npos;
  for (std::string_view sep : {std::string_view(": "), std::string_view(" - "), std::string_view(" (")}) {
    const auto at = title.find(sep);
    if (at != std::string_view::npos && at > 0) cut = std::min(cut, at);
  }
  if (cut == std::string_view::npos) return {};
  return title_key(title.substr(0, cut));
}

std::string author_key(std::string_view author) {
  const auto comma = author.find(',');
  if (comma != std::string_view::npos && author.find(',', comma + 1) == std::string_view::npos) {
    const std::string_view last = author.substr(0, comma);
    const std::string_view first = author.substr(comma + 1);
    // "Leckie, Ann" but not "Leckie, Jr." style suffixes, which stay where they are.
    const std::string first_key = name_key(first);
    if (!first_key.empty() && first_key != "jr" && first_key != "sr" && first_key != "iii")
      return first_key + name_key(last);
  }
  return name_key(author);
}

FileFacts facts_of(const BookMetadata& m) {
  FileFacts f;
  f.title = m.title;
  f.authors = m.authors();
  f.isbn13 = m.isbn13;
  f.asin = m.asin;
  return f;
}

FileFacts facts_of(const BookFile& row) {
  FileFacts f;
  f.title = row.title;
  if (!row.author.empty()) f.authors.push_back(row.author);
  f.isbn13 = row.isbn13;
  f.asin = row.asin;
  return f;
}

void overlay(FileFacts& facts, const BookMetadata& sidecar) {
  if (!sidecar.title.empty()) facts.title = sidecar.title;
  if (auto a = sidecar.authors(); !a.empty()) facts.authors = std::move(a);
  if (!sidecar.isbn13.empty()) facts.isbn13 = sidecar.isbn13;
  if (!sidecar.asin.empty()) facts.asin = sidecar.asin;
}

FileFacts fill_from_path(FileFacts facts, const std::filesystem::path& root,
                         const std::filesystem::path& file) {
  const std::string stem = without_calibre_id(file.stem().string());
  std::string stem_author, stem_title;
  if (const auto dash = stem.find(" - "); dash != std::string::npos) {
    stem_author = trim(stem.substr(0, dash));
    stem_title = trim(stem.substr(dash + 3));
  } else {
    stem_title = trim(stem);
  }
  // The author folder: the first folder under the root, when the file lies deeper than that.
  std::string folder_author;
  const auto rel = file.lexically_relative(root);
  if (!rel.empty() && *rel.begin() != ".." && std::distance(rel.begin(), rel.end()) >= 2)
    folder_author = rel.begin()->string();

  if (facts.authors.empty()) {
    if (!folder_author.empty())
      facts.authors.push_back(folder_author);
    else if (!stem_author.empty())
      facts.authors.push_back(stem_author);
  }
  if (facts.title.empty()) {
    // "Author - Title" whose left side is the author: the right side is the title. Calibre's
    // "Title - Author" puts them the other way round.
    const std::string main = facts.authors.empty() ? std::string() : author_key(facts.authors.front());
    if (!stem_author.empty() && author_key(stem_author) == main)
      facts.title = stem_title;
    else if (!stem_author.empty() && author_key(stem_title) == main)
      facts.title = stem_author;
    else if (!stem_author.empty() && main.empty())
      facts.title = stem_title;
    else
      facts.title = stem;
    if (!main.empty() && author_key(facts.title) == main) facts.title.clear();  // only the author
  }
  return facts;
}

const char* to_string(Match::By by) noexcept {
  switch (by) {
    case Match::By::none: return "none";
    case Match::By::isbn: return "isbn";
    case Match::By::asin: return "asin";
    case Match::By::title: return "title";
  }
  return "none";
}

void BookIndex::add(const BookIdentity& book) {
  ++books_;
  author_names_.emplace(book.author_id, book.author_name);
  auto& same_name = authors_[author_key(book.author_name)];
  if (std::find(same_name.begin(), same_name.end(), book.author_id) == same_name.end())
    same_name.push_back(book.author_id);
  titles_.emplace(std::pair{book.author_id, title_key(book.title)}, book.book_id);
  if (auto s = short_title_key(book.title); !s.empty())
    short_titles_.emplace(std::pair{book.author_id, std::move(s)}, book.book_id);
  for (const auto& e : book.editions) {
    const Hit hit{book.author_id, book.book_id, e.id};
    if (!e.isbn13.empty()) isbn_.emplace(e.isbn13, hit);
    if (!e.asin.empty()) asin_.emplace(e.asin, hit);
  }
}

Match BookIndex::match(const FileFacts& facts, RowId folder_author) const {
  Match m;
  if (!facts.isbn13.empty()) {
    if (auto it = isbn_.find(facts.isbn13); it != isbn_.end()) {
      m.by = Match::By::isbn;
      m.author_id = it->second.author_id;
      m.book_id = it->second.book_id;
      m.edition_id = it->second.edition_id;
      return m;
    }
  }
  if (!facts.asin.empty()) {
    if (auto it = asin_.find(facts.asin); it != asin_.end()) {
      m.by = Match::By::asin;
      m.author_id = it->second.author_id;
      m.book_id = it->second.book_id;
      m.edition_id = it->second.edition_id;
      return m;
    }
  }
  // The authors the file may belong to: those its tags name, else the folder's.
  std::vector<RowId> candidates;
  for (const auto& a : facts.authors)
    if (auto it = authors_.find(author_key(a)); it != authors_.end())
      candidates.insert(candidates.end(), it->second.begin(), it->second.end());
  if (candidates.empty() && folder_author != 0 && author_names_.count(folder_author))
    candidates.push_back(folder_author);
  if (candidates.empty()) {
    m.reason = facts.authors.empty() ? "the file names no author and lies in no author's folder"
                                     : "author '" + facts.authors.front() + "' is not in the library";
    return m;
  }
  m.author_id = candidates.front();
  if (facts.title.empty()) {
    m.reason = "the file has no title in its metadata or its name";
    return m;
  }
  const std::string key = title_key(facts.title);
  const std::string short_key = short_title_key(facts.title);
  for (RowId author : candidates) {
    if (auto it = titles_.find({author, key}); it != titles_.end()) {
      m = Match{Match::By::title, author, it->second, 0, {}};
      return m;
    }
  }
  // A subtitle one side has and the other lacks ("Dune" / "Dune: Deluxe Edition").
  for (RowId author : candidates) {
    if (auto it = short_titles_.find({author, key}); it != short_titles_.end()) {
      m = Match{Match::By::title, author, it->second, 0, {}};
      return m;
    }
    if (!short_key.empty()) {
      if (auto it = titles_.find({author, short_key}); it != titles_.end()) {
        m = Match{Match::By::title, author, it->second, 0, {}};
        return m;
      }
    }
  }
  const auto name = author_names_.find(m.author_id);
  m.reason = "no book of '" + (name != author_names_.end() ? name->second : facts.authors.front()) +
             "' is titled '" + facts.title + "'";
  return m;
}

}  // namespace shelfjobs::scan
