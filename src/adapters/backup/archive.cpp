// SPDX-License-Identifier: MIT
// Backup archives on libzip, checksums on OpenSSL's SHA-256.
//
// Why the archive is read entry by entry through zip_fread with our own counters instead of
// trusting zip_stat: the sizes in a zip's directory are the writer's claims. An archive made to
// exhaust the disk (a "zip bomb") declares small sizes and inflates to gigabytes; counting the
// bytes that come out, against the declared size and the limits, stops it at the first byte
// too many, whatever the directory says.
#include "shelfjobs/adapters/backup_archive.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>

namespace shelfjobs {

namespace fs = std::filesystem;

namespace {

struct DigestCloser {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("SHA-256 is not available");
  }
  void update(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md.data(), &len);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 0xF];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, DigestCloser> ctx_;
};

struct ArchiveCloser {
  void operator()(zip_t* z) const noexcept { zip_discard(z); }
};
struct EntryCloser {
  void operator()(zip_file_t* f) const noexcept { zip_fclose(f); }
};

errc errno_code(int e) {
  if (e == ENOENT) return errc::not_found;
  return errc::unavailable;
}

Error io_error(const fs::path& file, int e, const std::string& doing) {
  return Error{errno_code(e), file.string() + ": " + doing + ": " + std::strerror(e)};
}

// Why a name is refused, or empty when it is acceptable.
std::string name_problem(const std::string& name) {
  if (name.empty()) return "an empty name";
  if (name.front() == '/') return "an absolute path";
  if (name.find('\\') != std::string::npos) return "a backslash in the name";
  if (name.find('\0') != std::string::npos) return "a NUL in the name";
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view part(name.data() + start, end - start);
    if (part == "..") return "a '..' part";
    if (part == ".") return "a '.' part";
    if (part.empty()) return "an empty part";
    start = end + 1;
  }
  return {};
}

std::string archive_error_text(zip_error_t* e) {
  std::string text = zip_error_strerror(e);
  return text;
}

Result<std::unique_ptr<zip_t, ArchiveCloser>> open_for_reading(const fs::path& zip) {
  std::error_code ec;
  if (!fs::exists(zip, ec)) return Error{errc::not_found, zip.string() + ": no such file"};
  int code = 0;
  zip_t* z = zip_open(zip.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!z) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    std::string text = zip_error_strerror(&e);
    zip_error_fini(&e);
    if (code == ZIP_ER_NOZIP || code == ZIP_ER_INCONS || code == ZIP_ER_CRC || code == ZIP_ER_NOENT ||
        code == ZIP_ER_COMPNOTSUPP || code == ZIP_ER_ENCRNOTSUPP)
      return Error{errc::invalid_argument, zip.string() + ": not a readable zip archive (" + text + ")"};
    return Error{errc::unavailable, zip.string() + ": " + text};
  }
  return std::unique_ptr<zip_t, ArchiveCloser>(z);
}

}  // namespace

Result<std::string> sha256_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path, errno, "cannot open");
  std::array<char, 1 << 16> buf{};
  Sha256 sha;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return io_error(path, e, "cannot read");
    }
    if (n == 0) break;
    sha.update(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return sha.hex();
}

Status write_archive(const fs::path& path, const std::string& manifest_name, const std::string& manifest,
                     const std::vector<ArchiveFile>& files, const ArchiveWriteOptions& options) {
  if (options.compression_level < 0 || options.compression_level > 9)
    return Error{errc::invalid_argument,
                 "compression level " + std::to_string(options.compression_level) + " is outside 0..9"};
  std::set<std::string> names{manifest_name};
  if (auto why = name_problem(manifest_name); !why.empty())
    return Error{errc::invalid_argument, "entry '" + manifest_name + "': " + why};
  for (const auto& f : files) {
    if (auto why = name_problem(f.name); !why.empty())
      return Error{errc::invalid_argument, "entry '" + f.name + "': " + why};
    if (!names.insert(f.name).second) return Error{errc::invalid_argument, "entry '" + f.name + "' twice"};
  }
  std::error_code ec;
  if (fs::exists(path, ec)) return Error{errc::invalid_argument, path.string() + " already exists"};
  const fs::path partial = path.string() + ".partial";
  fs::remove(partial, ec);  // a leftover of a killed run under the same name

  int code = 0;
  std::unique_ptr<zip_t, ArchiveCloser> z(zip_open(partial.c_str(), ZIP_CREATE | ZIP_EXCL, &code));
  if (!z) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    const std::string text = zip_error_strerror(&e);
    zip_error_fini(&e);
    return Error{errc::unavailable, partial.string() + ": cannot create: " + text};
  }
  const zip_int32_t method = options.compression_level == 0 ? ZIP_CM_STORE : ZIP_CM_DEFLATE;
  auto add = [&](const std::string& name, zip_source_t* src, const std::string& what) -> Status {
    if (!src) return Error{errc::unavailable, what + ": " + archive_error_text(zip_get_error(z.get()))};
    const zip_int64_t index = zip_file_add(z.get(), name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(src);
      return Error{errc::unavailable, what + ": " + archive_error_text(zip_get_error(z.get()))};
    }
    zip_set_file_compression(z.get(), static_cast<zip_uint64_t>(index), method,
                             static_cast<zip_uint32_t>(options.compression_level));
    // Unix mode bits of a regular file readable by its owner only, as the archive itself is.
    zip_file_set_external_attributes(z.get(), static_cast<zip_uint64_t>(index), 0, ZIP_OPSYS_UNIX,
                                     static_cast<zip_uint32_t>(S_IFREG | 0600) << 16);
    return Ok{};
  };
  if (auto st =
          add(manifest_name, zip_source_buffer(z.get(), manifest.data(), manifest.size(), 0), manifest_name);
      !st)
    return st;
  for (const auto& f : files) {
    if (!fs::is_regular_file(f.source, ec))
      return Error{errc::not_found, f.source.string() + ": no such file"};
    if (auto st = add(f.name, zip_source_file(z.get(), f.source.c_str(), 0, -1), f.source.string()); !st)
      return st;
  }
  if (options.progress) {
    zip_register_progress_callback_with_state(
        z.get(), 0.01,
        [](zip_t*, double done, void* ud) { (*static_cast<const std::function<void(double)>*>(ud))(done); },
        nullptr, const_cast<std::function<void(double)>*>(&options.progress));
  }
  if (options.cancelled) {
    zip_register_cancel_callback_with_state(
        z.get(), [](zip_t*, void* ud) { return (*static_cast<const std::function<bool()>*>(ud))() ? 1 : 0; },
        nullptr, const_cast<std::function<bool()>*>(&options.cancelled));
  }
  // zip_close writes everything; on failure the archive stays open and its temporary file is
  // gone once it is discarded (the deleter).
  if (zip_close(z.get()) != 0) {
    zip_error_t* e = zip_get_error(z.get());
    const bool cancelled = zip_error_code_zip(e) == ZIP_ER_CANCELLED;
    const std::string text = archive_error_text(e);
    z.reset();
    fs::remove(partial, ec);
    if (cancelled) return Error{errc::shutting_down, path.string() + ": cancelled"};
    return Error{errc::unavailable, path.string() + ": cannot write: " + text};
  }
  z.release();  // closed: freed by zip_close
  if (::chmod(partial.c_str(), 0600) != 0) {
    const int e = errno;
    fs::remove(partial, ec);
    return io_error(partial, e, "cannot set its mode");
  }
  // The data reach the disk before the name does, so a power cut cannot leave a complete
  // name on an incomplete file.
  if (const int fd = ::open(partial.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    const int rc = ::fsync(fd);
    const int e = errno;
    ::close(fd);
    if (rc != 0) {
      fs::remove(partial, ec);
      return io_error(partial, e, "cannot sync");
    }
  }
  fs::rename(partial, path, ec);
  if (ec) {
    fs::remove(partial, ec);
    return Error{errc::unavailable, path.string() + ": cannot rename into place: " + ec.message()};
  }
  if (const int dfd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(),
                             O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok{};
}

Result<std::string> read_archive_entry(const fs::path& zip, const std::string& name,
                                       std::uint64_t max_bytes) {
  auto z = open_for_reading(zip);
  if (!z) return z.error();
  const zip_int64_t index = zip_name_locate(z->get(), name.c_str(), 0);
  if (index < 0) return Error{errc::not_found, zip.string() + ": no entry '" + name + "'"};
  std::unique_ptr<zip_file_t, EntryCloser> f(zip_fopen_index(z->get(), static_cast<zip_uint64_t>(index), 0));
  if (!f) return Error{errc::invalid_argument, zip.string() + ": entry '" + name + "' cannot be read"};
  std::string out;
  std::array<char, 1 << 14> buf{};
  for (;;) {
    const zip_int64_t n = zip_fread(f.get(), buf.data(), buf.size());
    if (n < 0)
      return Error{errc::invalid_argument, zip.string() + ": entry '" + name + "' is damaged: " +
                                               archive_error_text(zip_file_get_error(f.get()))};
    if (n == 0) break;
    if (out.size() + static_cast<std::uint64_t>(n) > max_bytes)
      return Error{errc::invalid_argument, zip.string() + ": entry '" + name + "' is larger than " +
                                               std::to_string(max_bytes) + " bytes"};
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

Result<std::vector<ArchiveEntry>> extract_archive(const fs::path& zip, const fs::path& folder,
                                                  const ArchiveLimits& limits) {
  auto opened = open_for_reading(zip);
  if (!opened) return opened.error();
  zip_t* z = opened->get();
  const std::string where = zip.string() + ": ";
  const zip_int64_t count = zip_get_num_entries(z, 0);
  if (count < 0 || static_cast<std::uint64_t>(count) > limits.max_entries)
    return Error{errc::invalid_argument,
                 where + "more than " + std::to_string(limits.max_entries) + " entries"};

  // Every check that needs no byte of content comes before the first byte is written.
  struct Planned {
    zip_uint64_t index;
    std::string name;
    std::uint64_t size;
  };
  std::vector<Planned> plan;
  std::set<std::string> seen;
  std::uint64_t total = 0;
  for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(count); ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
      return Error{errc::invalid_argument, where + "entry " + std::to_string(i) + " cannot be read"};
    std::string name = st.name;
    zip_uint8_t opsys = 0;
    zip_uint32_t attributes = 0;
    if (zip_file_get_external_attributes(z, i, 0, &opsys, &attributes) == 0 && opsys == ZIP_OPSYS_UNIX) {
      const mode_t mode = static_cast<mode_t>(attributes >> 16);
      if (S_ISLNK(mode))
        return Error{errc::invalid_argument, where + "entry '" + name + "' is a symbolic link"};
      if (mode != 0 && !S_ISREG(mode) && !S_ISDIR(mode))
        return Error{errc::invalid_argument, where + "entry '" + name + "' is not a regular file"};
      if (S_ISDIR(mode)) continue;
    }
    if (!name.empty() && name.back() == '/') {  // a folder entry
      name.pop_back();
      if (auto why = name_problem(name); !why.empty())
        return Error{errc::invalid_argument, where + "entry '" + st.name + "': " + why};
      continue;
    }
    if (auto why = name_problem(name); !why.empty())
      return Error{errc::invalid_argument, where + "entry '" + name + "': " + why};
    if (!seen.insert(name).second) return Error{errc::invalid_argument, where + "entry '" + name + "' twice"};
    if (st.size > limits.max_entry_bytes)
      return Error{errc::invalid_argument, where + "entry '" + name + "' is " + std::to_string(st.size) +
                                               " bytes, over the limit of " +
                                               std::to_string(limits.max_entry_bytes)};
    total += st.size;
    if (total > limits.max_total_bytes)
      return Error{errc::invalid_argument, where + "the entries add up to more than " +
                                               std::to_string(limits.max_total_bytes) + " bytes"};
    plan.push_back({i, std::move(name), st.size});
  }

  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return Error{errc::unavailable, folder.string() + ": cannot create: " + ec.message()};
  if (!fs::is_empty(folder, ec)) return Error{errc::invalid_argument, folder.string() + " is not empty"};
  struct Cleanup {
    const fs::path& folder;
    bool keep = false;
    ~Cleanup() {
      if (keep) return;
      std::error_code e;
      for (const auto& entry : fs::directory_iterator(folder, e)) fs::remove_all(entry.path(), e);
    }
  } cleanup{folder};

  std::vector<ArchiveEntry> out;
  std::uint64_t written_total = 0;
  std::vector<char> buf(1 << 16);
  for (const auto& p : plan) {
    const fs::path target = folder / p.name;
    if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
    std::unique_ptr<zip_file_t, EntryCloser> f(zip_fopen_index(z, p.index, 0));
    if (!f)
      return Error{errc::invalid_argument, where + "entry '" + p.name +
                                               "' cannot be opened: " + archive_error_text(zip_get_error(z))};
    const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return io_error(target, errno, "cannot create");
    Sha256 sha;
    std::uint64_t n_entry = 0;
    for (;;) {
      const zip_int64_t n = zip_fread(f.get(), buf.data(), buf.size());
      if (n < 0) {
        ::close(fd);
        return Error{errc::invalid_argument, where + "entry '" + p.name + "' is damaged: " +
                                                 archive_error_text(zip_file_get_error(f.get()))};
      }
      if (n == 0) break;
      n_entry += static_cast<std::uint64_t>(n);
      written_total += static_cast<std::uint64_t>(n);
      if (n_entry > p.size || n_entry > limits.max_entry_bytes || written_total > limits.max_total_bytes) {
        ::close(fd);
        return Error{errc::invalid_argument,
                     where + "entry '" + p.name + "' inflates past its declared size or the limits"};
      }
      sha.update(buf.data(), static_cast<std::size_t>(n));
      const char* data = buf.data();
      std::size_t left = static_cast<std::size_t>(n);
      while (left > 0) {
        const ssize_t w = ::write(fd, data, left);
        if (w < 0) {
          if (errno == EINTR) continue;
          const int e = errno;
          ::close(fd);
          return io_error(target, e, "cannot write");
        }
        data += w;
        left -= static_cast<std::size_t>(w);
      }
    }
    const int synced = ::fsync(fd) == 0 ? 0 : errno;
    const int closed = ::close(fd) == 0 ? 0 : errno;
    if (synced || closed) return io_error(target, synced ? synced : closed, "cannot write");
    out.push_back({p.name, n_entry, sha.hex()});
  }
  cleanup.keep = true;
  return out;
}

}  // namespace shelfjobs
