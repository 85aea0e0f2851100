// SPDX-License-Identifier: MIT
// EPUB and KEPUB (a Kobo EPUB: the same container) with libzip and pugixml:
// META-INF/container.xml names the package document (the OPF), and opf.cpp reads that.
//
// Only the two small entries are read, each through a bounded loop over zip_fread: the size in
// the zip's directory is a claim, not a promise, so the bytes actually read are counted too.

#include <memory>
#include <string>
#include <string_view>

#include <zip.h>
#include <pugixml.hpp>

#include "adapters/files/file_util.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"

namespace shelfjobs {

namespace {
namespace epub_reader {

constexpr const char* kContainer = "META-INF/container.xml";

struct ZipCloser {
  void operator()(zip_t* z) const noexcept { zip_discard(z); }  // read-only: nothing to write
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const noexcept { zip_fclose(f); }
};

// libzip's text for an error code; system errors through errno_text (thread-safe).
std::string zip_text(int zip_code, int system_code) {
  if (system_code != 0 && (zip_code == ZIP_ER_OPEN || zip_code == ZIP_ER_READ || zip_code == ZIP_ER_SEEK))
    return files::errno_text(system_code);
  zip_error_t e;
  zip_error_init_with_code(&e, zip_code);
  std::string text = zip_error_strerror(&e);
  zip_error_fini(&e);
  return text;
}

Error open_error(const std::filesystem::path& path, int code, int system_code) {
  switch (code) {
    case ZIP_ER_NOZIP: return files::bad_file(path, "not a zip archive");
    case ZIP_ER_INCONS: return files::bad_file(path, "inconsistent zip archive");
    case ZIP_ER_MULTIDISK: return files::bad_file(path, "multi-disk zip archive");
    case ZIP_ER_NOENT: return files::file_error(errc::not_found, path, "no such file");
    case ZIP_ER_OPEN:
    case ZIP_ER_READ:
    case ZIP_ER_SEEK:
    case ZIP_ER_MEMORY: return files::file_error(errc::unavailable, path, zip_text(code, system_code));
    default: return files::bad_file(path, "zip archive: " + zip_text(code, system_code));
  }
}

// The entry `name` (exact, else without regard to case: archives made on Windows), at most
// `limit` bytes of it. `what` names it in a "too large" message ("OPF", "container.xml").
Result<std::string> read_entry(zip_t* zip, const std::filesystem::path& path, const std::string& name,
                               std::size_t limit, std::string_view what, bool& missing) {
  missing = false;
  zip_int64_t index = zip_name_locate(zip, name.c_str(), 0);
  if (index < 0) index = zip_name_locate(zip, name.c_str(), ZIP_FL_NOCASE);
  if (index < 0) {
    missing = true;
    return files::bad_file(path, name + " missing");
  }
  const auto too_large = [&](std::uint64_t bytes, bool at_least) {
    return files::bad_file(path, std::string(what) + " too large (" + (at_least ? "over " : "") +
                                     std::to_string(bytes) + " bytes, limit " + std::to_string(limit) + ")");
  };
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(zip, static_cast<zip_uint64_t>(index), 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE) &&
      st.size > limit)
    return too_large(st.size, false);
  std::unique_ptr<zip_file_t, ZipFileCloser> file(zip_fopen_index(zip, static_cast<zip_uint64_t>(index), 0));
  if (!file) {
    zip_error_t* e = zip_get_error(zip);
    const int code = zip_error_code_zip(e);
    if (code == ZIP_ER_NOPASSWD || code == ZIP_ER_WRONGPASSWD || code == ZIP_ER_ENCRNOTSUPP)
      return files::bad_file(path, name + " is encrypted");
    return files::bad_file(path, name + ": " + zip_text(code, zip_error_code_system(e)));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    const zip_int64_t n = zip_fread(file.get(), buf, sizeof buf);
    if (n < 0) {
      zip_error_t* e = zip_file_get_error(file.get());
      return files::bad_file(path, name + ": " + zip_text(zip_error_code_zip(e), zip_error_code_system(e)));
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > limit) return too_large(limit, true);
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// The package document's path from container.xml: the first rootfile of the OPF media type
// (a container may list other renditions first), else the first rootfile at all.
Result<std::string> rootfile_path(const std::filesystem::path& path, const std::string& xml) {
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed)
    return files::bad_file(path, std::string(kContainer) + " is not well-formed XML at offset " +
                                     std::to_string(parsed.offset) + " (" + parsed.description() + ")");
  std::string first, opf;
  for (const pugi::xpath_node& x : doc.select_nodes("//*[local-name()='rootfile']")) {
    const pugi::xml_node n = x.node();
    const std::string full = n.attribute("full-path").value();
    if (full.empty()) continue;
    if (first.empty()) first = full;
    if (opf.empty() && std::string_view(n.attribute("media-type").value()) == "application/oebps-package+xml")
      opf = full;
  }
  if (!opf.empty()) return opf;
  if (!first.empty()) return first;
  return files::bad_file(path, std::string(kContainer) + " names no rootfile");
}

Result<BookMetadata> read(const std::filesystem::path& path) {
  auto size = files::check_file(path);
  if (!size) return size.error();
  int code = 0;
  errno = 0;
  std::unique_ptr<zip_t, ZipCloser> zip(zip_open(path.c_str(), ZIP_RDONLY, &code));
  if (!zip) return open_error(path, code, errno);
  bool missing = false;
  auto container = read_entry(zip.get(), path, kContainer, kMaxOpfBytes, "container.xml", missing);
  if (!container) return container.error();
  auto opf_path = rootfile_path(path, *container);
  if (!opf_path) return opf_path.error();
  auto opf = read_entry(zip.get(), path, *opf_path, kMaxOpfBytes, "OPF", missing);
  if (!opf) {
    if (missing)
      return files::bad_file(path,
                             *opf_path + " missing (the rootfile named by " + std::string(kContainer) + ")");
    return opf.error();
  }
  auto meta = parse_opf(*opf, path.string() + ": " + *opf_path);
  if (!meta) return meta.error();
  const auto format = book_format_of(path);
  meta->format = format == BookFormat::kepub ? BookFormat::kepub : BookFormat::epub;
  return meta;
}

}  // namespace epub_reader
}  // namespace

Result<BookMetadata> read_epub(const std::filesystem::path& path) {
  try {
    return epub_reader::read(path);
  } catch (const std::exception& e) {  // bad_alloc, filesystem_error
    return files::bad_file(path, e.what());
  }
}

}  // namespace shelfjobs
