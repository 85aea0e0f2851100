// SPDX-License-Identifier: MIT
// Book file formats by extension, and the dispatcher to the reader of each format.

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "adapters/files/file_util.hpp"
#include "engine/text.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"

namespace shelfjobs {

namespace {
namespace format_table {

// In enum order; the name is also the extension (Readarr's MediaFileExtensions.cs).
constexpr std::array<std::pair<std::string_view, BookKind>, 21> kFormats = {{
    {"epub", BookKind::ebook}, {"kepub", BookKind::ebook},   {"mobi", BookKind::ebook},
    {"azw3", BookKind::ebook}, {"pdf", BookKind::ebook},     {"flac", BookKind::audio},
    {"ape", BookKind::audio},  {"wavpack", BookKind::audio}, {"wav", BookKind::audio},
    {"alac", BookKind::audio}, {"mp2", BookKind::audio},     {"mp3", BookKind::audio},
    {"wma", BookKind::audio},  {"m4a", BookKind::audio},     {"m4p", BookKind::audio},
    {"aac", BookKind::audio},  {"mp4a", BookKind::audio},    {"ogg", BookKind::audio},
    {"oga", BookKind::audio},  {"vorbis", BookKind::audio},  {"m4b", BookKind::audio},
}};
static_assert(static_cast<std::size_t>(BookFormat::m4b) + 1 == kFormats.size());

}  // namespace format_table
}  // namespace

std::string_view to_string(BookFormat format) noexcept {
  const auto i = static_cast<std::size_t>(format);
  return i < format_table::kFormats.size() ? format_table::kFormats[i].first : "unknown";
}

std::optional<BookFormat> book_format_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < format_table::kFormats.size(); ++i)
    if (format_table::kFormats[i].first == name) return static_cast<BookFormat>(i);
  return std::nullopt;
}

std::string_view to_string(BookKind kind) noexcept { return kind == BookKind::audio ? "audio" : "ebook"; }

BookKind kind_of(BookFormat format) noexcept {
  const auto i = static_cast<std::size_t>(format);
  return i < format_table::kFormats.size() ? format_table::kFormats[i].second : BookKind::ebook;
}

std::optional<BookFormat> book_format_of(const std::filesystem::path& path) noexcept {
  // path::extension() allocates; the name is looked at as bytes instead.
  const std::string& s = path.native();
  const std::size_t slash = s.rfind('/');
  return book_format_of_name(std::string_view(s).substr(slash == std::string::npos ? 0 : slash + 1));
}

std::optional<BookFormat> book_format_of_name(std::string_view name) noexcept {
  // ".epub" alone (a hidden file with no stem) is not a book, as extension() would also say.
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  const std::string_view ext = name.substr(dot + 1);
  for (std::size_t i = 0; i < format_table::kFormats.size(); ++i)
    if (detail::iequals(ext, format_table::kFormats[i].first)) return static_cast<BookFormat>(i);
  return std::nullopt;
}

std::vector<std::string> BookMetadata::authors() const {
  std::vector<std::string> out;
  for (const auto& c : contributors) {
    if (!c.role.empty() && c.role != "aut") continue;
    bool seen = false;
    for (const auto& o : out) seen = seen || o == c.name;
    if (!seen) out.push_back(c.name);
  }
  return out;
}

Result<BookMetadata> read_book_metadata(const std::filesystem::path& path) {
  const auto format = book_format_of(path);
  if (!format) return Error{errc::invalid_argument, path.string() + ": not a book file (unknown extension)"};
  switch (*format) {
    case BookFormat::epub:
    case BookFormat::kepub: return read_epub(path);
    case BookFormat::mobi:
    case BookFormat::azw3: return read_mobi(path);
    case BookFormat::pdf: return read_pdf(path);
    default: return read_audio(path);
  }
}

}  // namespace shelfjobs
