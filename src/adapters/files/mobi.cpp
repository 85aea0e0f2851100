// SPDX-License-Identifier: MIT
// MOBI and AZW3 (Kindle) with libmobi: the PalmDB header, record 0 (the PalmDOC and MOBI
// headers, the EXTH header that holds the metadata, the full name) and, for a hybrid KF7/KF8
// file, the KF8 part's record 0.
//
// mobi_load_file reads every record of the book into memory (text, images, fonts): tens of
// megabytes for an illustrated book, for the few hundred bytes of metadata a scan wants. So the
// reader reads the PalmDB header, the record list and the header records itself, bounded, and
// hands libmobi an image of the file in memory in which every other record is one byte long.
// libmobi then parses headers and EXTH exactly as it would from the file (encodings, the KF8
// boundary, its sanity checks), and nothing else is read from the disk.
//
// libmobi returns success from a record 0 whose MOBI header it could not parse (it parses what
// it can), so the reader checks the header itself and reports "truncated MOBI header" or
// "no MOBI header" rather than an empty result.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <mobi.h>

#include "adapters/files/file_util.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"

namespace shelfjobs {

namespace {
namespace mobi_reader {

constexpr std::size_t kPdbHeader = 78;
constexpr std::size_t kRecordEntry = 8;
// Header records are a few kilobytes; a record 0 larger than this is not one.
constexpr std::size_t kMaxHeaderRecord = 1u << 20;

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint16_t be16(const unsigned char* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
void put32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}

struct MobiFree {
  void operator()(MOBIData* m) const noexcept { mobi_free(m); }
};
struct CFree {
  void operator()(char* p) const noexcept { std::free(p); }
};
struct FileClose {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

// A string libmobi allocated (mobi_meta_get_*, mobi_decode_exthstring): taken and freed.
std::string take(char* p) {
  std::unique_ptr<char, CFree> owned(p);
  return p ? std::string(p) : std::string();
}

// The KF8 boundary (EXTH 121) of record 0, or 0: which records a hybrid file's KF8 header
// lives in. Only this one value is looked up here; libmobi parses the EXTH properly.
std::uint32_t kf8_boundary(const std::string& rec0) {
  const auto* p = reinterpret_cast<const unsigned char*>(rec0.data());
  const std::size_t n = rec0.size();
  if (n < 24) return 0;
  const std::uint32_t header_length = be32(p + 20);
  if (n < 0x84 || header_length < 0x74 || !(be32(p + 0x80) & 0x40)) return 0;
  std::size_t pos = 16 + std::size_t{header_length};
  if (pos + 12 > n || std::memcmp(p + pos, "EXTH", 4) != 0) return 0;
  const std::uint32_t count = be32(p + pos + 8);
  pos += 12;
  for (std::uint32_t i = 0; i < count && pos + 8 <= n; ++i) {
    const std::uint32_t tag = be32(p + pos);
    const std::uint32_t len = be32(p + pos + 4);
    if (len < 8 || pos + len > n) break;
    if (tag == 121 && len >= 12) return be32(p + pos + 8);
    pos += len;
  }
  return 0;
}

Result<BookMetadata> read(const std::filesystem::path& path) {
  auto checked = files::check_file(path);
  if (!checked) return checked.error();
  const std::uint64_t size = *checked;
  std::ifstream in(path, std::ios::binary);
  if (!in) return files::file_error(errc::unavailable, path, "cannot open");
  auto read_at = [&](std::uint64_t offset, std::size_t len, std::string& out) {
    out.assign(len, '\0');
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(out.data(), static_cast<std::streamsize>(len));
    return in.good() || static_cast<std::size_t>(in.gcount()) == len;
  };

  std::string header;
  if (size < kPdbHeader || !read_at(0, kPdbHeader, header))
    return files::bad_file(path, "truncated PalmDB header");
  const std::string_view type_creator(header.data() + 60, 8);
  if (type_creator != "BOOKMOBI")
    return files::bad_file(path, "not a MOBI file (PalmDB type '" + files::valid_utf8(type_creator) + "')");
  const auto* hp = reinterpret_cast<const unsigned char*>(header.data());
  const std::size_t count = be16(hp + 76);
  if (count == 0) return files::bad_file(path, "MOBI file without records");
  std::string list;
  if (size < kPdbHeader + count * kRecordEntry || !read_at(kPdbHeader, count * kRecordEntry, list))
    return files::bad_file(path, "truncated PalmDB record list");
  const auto* lp = reinterpret_cast<const unsigned char*>(list.data());
  std::vector<std::uint64_t> offsets(count + 1);
  for (std::size_t i = 0; i < count; ++i) offsets[i] = be32(lp + i * kRecordEntry);
  offsets[count] = size;
  for (std::size_t i = 0; i < count; ++i) {
    if (offsets[i] >= size)
      return files::bad_file(path, "truncated file (record " + std::to_string(i) + " starts at " +
                                       std::to_string(offsets[i]) + ", the file has " + std::to_string(size) +
                                       " bytes)");
    if (offsets[i] > offsets[i + 1])
      return files::bad_file(path, "corrupt PalmDB record list (record " + std::to_string(i) + ")");
  }

  // The header records: 0, and for a hybrid the boundary record and the KF8 record 0 after it.
  std::vector<std::string> data(count);
  auto load = [&](std::size_t i) -> Status {
    const std::uint64_t len = offsets[i + 1] - offsets[i];
    if (len > kMaxHeaderRecord)
      return files::bad_file(
          path, "MOBI header record " + std::to_string(i) + " too large (" + std::to_string(len) + " bytes)");
    if (!read_at(offsets[i], static_cast<std::size_t>(len), data[i]))
      return files::file_error(errc::unavailable, path, "read error");
    return Ok{};
  };
  if (auto s = load(0); !s) return s.error();
  const std::string& rec0 = data[0];
  if (rec0.size() < 24) return files::bad_file(path, "truncated MOBI header");
  if (rec0.compare(16, 4, "MOBI") != 0) return files::bad_file(path, "no MOBI header in record 0");
  const std::uint32_t header_length = be32(reinterpret_cast<const unsigned char*>(rec0.data()) + 20);
  if (16 + std::uint64_t{header_length} > rec0.size() || header_length < 0x74)
    return files::bad_file(path, "truncated MOBI header");
  if (const std::uint32_t boundary = kf8_boundary(rec0); boundary >= 2 && boundary < count) {
    for (const std::size_t i : {std::size_t{boundary} - 1, std::size_t{boundary}})
      if (auto s = load(i); !s) return s.error();
  }

  // The image: the PalmDB header, the record list with new offsets, then the records; one
  // byte for each record that was not loaded (libmobi allocates and reads every record, and
  // gives the last one the file's remaining length, which must not be zero).
  std::size_t total = kPdbHeader + count * kRecordEntry + 2;
  for (std::size_t i = 0; i < count; ++i) total += data[i].empty() ? 1 : data[i].size();
  std::vector<unsigned char> image(total, 0);
  std::memcpy(image.data(), header.data(), kPdbHeader);
  std::memcpy(image.data() + kPdbHeader, list.data(), list.size());
  std::size_t pos = kPdbHeader + count * kRecordEntry + 2;
  for (std::size_t i = 0; i < count; ++i) {
    put32(image.data() + kPdbHeader + i * kRecordEntry, static_cast<std::uint32_t>(pos));
    if (!data[i].empty()) std::memcpy(image.data() + pos, data[i].data(), data[i].size());
    pos += data[i].empty() ? 1 : data[i].size();
  }

  std::unique_ptr<std::FILE, FileClose> mem(fmemopen(image.data(), image.size(), "rb"));
  if (!mem) return files::file_error(errc::unavailable, path, "fmemopen: " + files::errno_text(errno));
  std::unique_ptr<MOBIData, MobiFree> m(mobi_init());
  if (!m) return files::file_error(errc::unavailable, path, "libmobi: out of memory");
  const MOBI_RET ret = mobi_load_file(m.get(), mem.get());
  if (ret != MOBI_SUCCESS) {
    switch (ret) {
      case MOBI_FILE_UNSUPPORTED: return files::bad_file(path, "unsupported MOBI document type");
      case MOBI_MALLOC_FAILED: return files::file_error(errc::unavailable, path, "libmobi: out of memory");
      default: return files::bad_file(path, "corrupt MOBI data (libmobi error " + std::to_string(ret) + ")");
    }
  }
  if (!m->mh) return files::bad_file(path, "truncated MOBI header");

  BookMetadata meta;
  const auto by_name = book_format_of(path);
  meta.format = by_name == BookFormat::azw3 || by_name == BookFormat::mobi ? *by_name
                : mobi_is_kf8(m.get())                                     ? BookFormat::azw3
                                                                           : BookFormat::mobi;
  meta.title = files::clean_text(take(mobi_meta_get_title(m.get())));
  // EXTH values are in the book's text encoding (CP-1252 or UTF-8); mobi_decode_exthstring
  // converts them to UTF-8. Each author is a record of its own.
  auto each = [&](MOBIExthTag tag, auto&& fn) {
    MOBIExthHeader* start = nullptr;
    while (MOBIExthHeader* r = mobi_next_exthrecord_by_tag(m.get(), tag, &start)) {
      fn(take(mobi_decode_exthstring(m.get(), static_cast<const unsigned char*>(r->data), r->size)));
      if (!start) break;
    }
  };
  each(EXTH_AUTHOR, [&](const std::string& a) { files::add_contributor(meta, a, "aut"); });
  std::vector<std::string> isbns;
  each(EXTH_ISBN, [&](std::string s) { isbns.push_back(std::move(s)); });
  files::choose_isbn(meta, isbns);
  for (const MOBIExthTag tag : {EXTH_ASIN, EXTH_ASIN504}) {
    if (meta.asin.empty())
      each(tag, [&](const std::string& s) {
        if (meta.asin.empty()) meta.asin = files::clean_text(s);
      });
  }
  meta.publisher = files::clean_text(take(mobi_meta_get_publisher(m.get())));
  meta.language = files::clean_text(take(mobi_meta_get_language(m.get())));
  if (std::string d = files::clean_text(take(mobi_meta_get_description(m.get()))); !d.empty())
    meta.description = std::move(d);
  files::set_date(meta, take(mobi_meta_get_publishdate(m.get())));
  return meta;
}

}  // namespace mobi_reader
}  // namespace

Result<BookMetadata> read_mobi(const std::filesystem::path& path) {
  try {
    return mobi_reader::read(path);
  } catch (const std::exception& e) {  // bad_alloc, filesystem_error
    return files::bad_file(path, e.what());
  }
}

}  // namespace shelfjobs
