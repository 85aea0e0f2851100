// SPDX-License-Identifier: MIT
#include "services/scan/match.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <stdexcept>

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

// The key of `s` into `out` (replaced; reused by a caller that looks up many), in one pass: lower case,
// accents folded, "&" spelled out as a word, every other non-alphanumeric ASCII byte a word break, the words
// joined without spaces; with `drop_article`, a leading article goes when another word follows.
void words_key(std::string_view s, bool drop_article, std::string& out) {
  // Written through a pointer into room for the longest key (each '&' becomes three bytes), then
  // cut to size: appending byte by byte checked the capacity and stored a terminator per byte,
  // for every release of a feed.
  out.resize(s.size() + 2 * static_cast<std::size_t>(std::count(s.begin(), s.end(), '&')));
  char* const begin = out.data();
  char* to = begin;
  std::size_t words = 0, first_len = 0;
  bool in_word = false;
  auto put = [&](char c) {
    if (!in_word) {
      in_word = true;
      ++words;
    }
    *to++ = c;
    if (words == 1) ++first_len;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0xC3 && i + 1 < s.size()) {
      if (char f = fold_latin1(static_cast<unsigned char>(s[i + 1]));
          f != 0 && std::isalpha(static_cast<unsigned char>(f))) {
        put(static_cast<char>(std::tolower(static_cast<unsigned char>(f))));
        ++i;
        continue;
      }
    }
    if (c >= 0x80) {
      put(static_cast<char>(c));
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      put(static_cast<char>(c));
    } else if (c >= 'A' && c <= 'Z') {
      put(static_cast<char>(c - 'A' + 'a'));
    } else if (c == '&') {
      in_word = false;
      put('a');
      put('n');
      put('d');
      in_word = false;
    } else if (c == '\'') {
      // "Ender's" and "Enders" are one word.
    } else {
      in_word = false;
    }
  }
  out.resize(static_cast<std::size_t>(to - begin));
  if (drop_article && words > 1 && is_article(std::string_view(out).substr(0, first_len)))
    out.erase(0, first_len);
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

void name_key_to(std::string_view name, std::string& out) { words_key(name, false, out); }

void title_key_to(std::string_view title, std::string& out) { words_key(title, true, out); }

void short_title_key_to(std::string_view title, std::string& out) {
  std::size_t cut = std::string_view::npos;
  for (std::string_view sep : {std::string_view(": "), std::string_view(" - "), std::string_view(" (")}) {
    const auto at = title.find(sep);
    if (at != std::string_view::npos && at > 0) cut = std::min(cut, at);
  }
  if (cut == std::string_view::npos) {
    out.clear();
    return;
  }
  title_key_to(title.substr(0, cut), out);
}

void author_key_to(std::string_view author, std::string& out) {
  const auto comma = author.find(',');
  if (comma != std::string_view::npos && author.find(',', comma + 1) == std::string_view::npos) {
    const std::string_view last = author.substr(0, comma);
    const std::string_view first = author.substr(comma + 1);
    // "Leckie, Ann" but not "Leckie, Jr." style suffixes, which stay where they are.
    name_key_to(first, out);
    if (!out.empty() && out != "jr" && out != "sr" && out != "iii") {
      out += name_key(last);
      return;
    }
  }
  name_key_to(author, out);
}

std::string name_key(std::string_view name) {
  std::string out;
  name_key_to(name, out);
  return out;
}

std::string title_key(std::string_view title) {
  std::string out;
  title_key_to(title, out);
  return out;
}

std::string short_title_key(std::string_view title) {
  std::string out;
  short_title_key_to(title, out);
  return out;
}

std::string author_key(std::string_view author) {
  std::string out;
  author_key_to(author, out);
  return out;
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

namespace {

// A 64-bit finaliser (splitmix64): spreads the bits of the hash over the slots and the tags.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::uint64_t bytes_hash(std::string_view s) { return mix(std::hash<std::string_view>{}(s)); }

}  // namespace

std::uint32_t BookIndex::store(std::string_view bytes) {
  // The length as a varint (keys are short: one byte up to 127), then the bytes.
  if (bytes_.size() + bytes.size() + 5 > UINT32_MAX) throw std::length_error("the matching index is full");
  const auto at = static_cast<std::uint32_t>(bytes_.size());
  for (std::size_t n = bytes.size();; n >>= 7) {
    if (n < 0x80) {
      bytes_ += static_cast<char>(n);
      break;
    }
    bytes_ += static_cast<char>((n & 0x7F) | 0x80);
  }
  bytes_.append(bytes);
  return at;
}

std::string_view BookIndex::stored(std::uint32_t offset) const {
  std::size_t n = 0;
  std::size_t i = offset;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<unsigned char>(bytes_[i++]);
    n |= static_cast<std::size_t>(b & 0x7F) << shift;
    if (b < 0x80) break;
  }
  return std::string_view(bytes_).substr(i, n);
}

std::uint64_t BookIndex::title_hash(RowId author, std::string_view key) const {
  return mix(bytes_hash(key) ^ static_cast<std::uint64_t>(author));
}

void BookIndex::add_title(RefTable& table, std::vector<Title>& titles, std::uint32_t book,
                          std::string_view key) {
  const RowId author = books_[book].author_id;
  const auto ref = static_cast<std::uint32_t>(titles.size());
  auto same = [&](std::uint32_t r) {
    return books_[titles[r].book].author_id == author && stored(titles[r].key) == key;
  };
  auto hash_of = [&](std::uint32_t r) {
    return title_hash(books_[titles[r].book].author_id, stored(titles[r].key));
  };
  const std::uint64_t hash = title_hash(author, key);
  if (table.find(hash, same) != RefTable::npos) return;  // the first book stays
  titles.push_back(Title{store(key), book});
  table.add(hash, ref, hash_of);
}

void BookIndex::add_code(RefTable& table, std::vector<Code>& codes, std::uint32_t book, RowId edition,
                         std::string_view code) {
  const auto ref = static_cast<std::uint32_t>(codes.size());
  auto same = [&](std::uint32_t r) { return stored(codes[r].code) == code; };
  auto hash_of = [&](std::uint32_t r) { return bytes_hash(stored(codes[r].code)); };
  const std::uint64_t hash = bytes_hash(code);
  if (table.find(hash, same) != RefTable::npos) return;  // the first edition stays
  codes.push_back(Code{store(code), book, edition});
  table.add(hash, ref, hash_of);
}

const BookIndex::Book* BookIndex::find_title(const RefTable& table, const std::vector<Title>& titles,
                                             RowId author, std::string_view key) const {
  const auto r = table.find(title_hash(author, key), [&](std::uint32_t i) {
    return books_[titles[i].book].author_id == author && stored(titles[i].key) == key;
  });
  return r == RefTable::npos ? nullptr : &books_[titles[r].book];
}

const BookIndex::Code* BookIndex::find_code(const RefTable& table, const std::vector<Code>& codes,
                                            std::string_view code) const {
  const auto r = table.find(bytes_hash(code), [&](std::uint32_t i) { return stored(codes[i].code) == code; });
  return r == RefTable::npos ? nullptr : &codes[r];
}

void BookIndex::add(const BookIdentity& book) {
  if (books_.size() >= RefTable::npos) throw std::length_error("the matching index is full");
  const auto slot = static_cast<std::uint32_t>(books_.size());
  books_.push_back(Book{book.book_id, book.author_id});
  author_names_.emplace(book.author_id, book.author_name);
  auto& same_name = authors_[author_key(book.author_name)];
  if (std::find(same_name.begin(), same_name.end(), book.author_id) == same_name.end())
    same_name.push_back(book.author_id);
  add_title(title_table_, titles_, slot, title_key(book.title));
  if (auto s = short_title_key(book.title); !s.empty()) add_title(short_title_table_, short_titles_, slot, s);
  for (const auto& e : book.editions) {
    if (!e.isbn13.empty()) add_code(isbn_table_, isbns_, slot, e.id, e.isbn13);
    if (!e.asin.empty()) add_code(asin_table_, asins_, slot, e.id, e.asin);
  }
}

Match BookIndex::match(const FileFacts& facts, RowId folder_author) const {
  Match m;
  auto by_code = [&](const Code& c, Match::By by) {
    m.by = by;
    m.author_id = books_[c.book].author_id;
    m.book_id = books_[c.book].book_id;
    m.edition_id = c.edition_id;
  };
  if (!facts.isbn13.empty()) {
    if (const Code* c = find_code(isbn_table_, isbns_, facts.isbn13)) {
      by_code(*c, Match::By::isbn);
      return m;
    }
  }
  if (!facts.asin.empty()) {
    if (const Code* c = find_code(asin_table_, asins_, facts.asin)) {
      by_code(*c, Match::By::asin);
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
    if (const Book* b = find_title(title_table_, titles_, author, key)) {
      m = Match{Match::By::title, author, b->book_id, 0, {}};
      return m;
    }
  }
  // A subtitle one side has and the other lacks ("Dune" / "Dune: Deluxe Edition").
  for (RowId author : candidates) {
    if (const Book* b = find_title(short_title_table_, short_titles_, author, key)) {
      m = Match{Match::By::title, author, b->book_id, 0, {}};
      return m;
    }
    if (!short_key.empty()) {
      if (const Book* b = find_title(title_table_, titles_, author, short_key)) {
        m = Match{Match::By::title, author, b->book_id, 0, {}};
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
