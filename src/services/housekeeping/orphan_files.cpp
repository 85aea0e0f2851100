// SPDX-License-Identifier: MIT
// Housekeeping's file removal: temporary entries, unfinished backups, covers of authors that
// are gone and covers that are not images; and the rotated log files target.
//
// Why ages and not names alone: a temporary folder or a `.partial` backup may belong to work
// running right now (an import unpacking, a backup being written). Only what has not been
// touched for `temp_max_age` is taken as abandoned. Removal never follows a symlink:
// `remove_all` removes a link itself, and the walks do not descend into linked folders.
#include <fstream>
#include <set>
#include <string_view>

#include "services/housekeeping/housekeeping_tasks.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;

namespace {

// A file's mtime as a system-clock time (the file clock's epoch differs).
TimePoint hk_mtime(const fs::directory_entry& e, std::error_code& ec) {
  const auto t = e.last_write_time(ec);
  if (ec) return {};
  return std::chrono::time_point_cast<TimePoint::duration>(std::chrono::file_clock::to_sys(t));
}

struct Removal {
  std::int64_t removed = 0;
  std::vector<std::string> errors;
  void remove(const fs::path& p) {
    std::error_code ec;
    fs::remove_all(p, ec);
    if (ec)
      errors.push_back(p.string() + ": " + ec.message());
    else
      ++removed;
  }
};

bool hk_partial_backup_name(std::string_view name) {
  return name.ends_with(".partial") || name.ends_with(".tmp") ||
         name.find(".partial.") != std::string_view::npos;
}

bool hk_all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

LogTarget rotated_log_files(fs::path folder, std::string prefix, std::string suffix, std::string current) {
  LogTarget t;
  t.name = "log files";
  t.trim = [folder = std::move(folder), prefix = std::move(prefix), suffix = std::move(suffix),
            current = std::move(current)](TimePoint cutoff) -> Result<std::int64_t> {
    std::error_code ec;
    fs::directory_iterator it(folder, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) return std::int64_t{0};
      return Error{errc::unavailable, "cannot list " + folder.string() + ": " + ec.message()};
    }
    std::int64_t removed = 0;
    for (const auto& e : it) {
      const std::string name = e.path().filename().string();
      if (name == current || !name.starts_with(prefix) || !name.ends_with(suffix)) continue;
      std::error_code fe;
      if (!e.is_regular_file(fe) || e.is_symlink(fe)) continue;
      const TimePoint m = hk_mtime(e, fe);
      if (fe || m >= cutoff) continue;
      if (fs::remove(e.path(), fe)) ++removed;
      if (fe) return Error{errc::unavailable, "cannot remove " + e.path().string() + ": " + fe.message()};
    }
    return removed;
  };
  return t;
}

namespace housekeeping {

bool looks_like_image(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char b[12] = {};
  in.read(reinterpret_cast<char*>(b), sizeof b);
  const auto n = in.gcount();
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return true;  // JPEG
  if (n >= 8 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G' && b[4] == '\r' && b[5] == '\n')
    return true;                                                                        // PNG
  if (n >= 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8') return true;  // GIF
  if (n >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' && b[9] == 'E' &&
      b[10] == 'B' && b[11] == 'P')
    return true;  // WebP
  return false;
}

std::string orphaned_files(HousekeepingService::Impl& s) {
  const TimePoint cutoff = s.now() - s.o.temp_max_age;
  Removal temp, backups, covers, not_images;

  for (const auto& folder : s.o.temp_folders) {
    std::error_code ec;
    fs::directory_iterator it(folder, ec);
    if (ec) {
      if (ec != std::errc::no_such_file_or_directory)
        temp.errors.push_back(folder.string() + ": " + ec.message());
      continue;
    }
    for (const auto& e : it) {
      std::error_code fe;
      const TimePoint m = hk_mtime(e, fe);  // of a link: its target's; a dangling link is old
      if (fe || m < cutoff) temp.remove(e.path());
    }
  }

  if (!s.o.backup_folder.empty()) {
    std::error_code ec;
    fs::recursive_directory_iterator it(s.o.backup_folder, fs::directory_options::skip_permission_denied, ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
      backups.errors.push_back(s.o.backup_folder.string() + ": " + ec.message());
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it.depth() > 1) {
        it.disable_recursion_pending();
        continue;
      }
      std::error_code fe;
      if (!it->is_regular_file(fe) || it->is_symlink(fe)) continue;
      if (!hk_partial_backup_name(it->path().filename().string())) continue;
      const TimePoint m = hk_mtime(*it, fe);
      if (!fe && m < cutoff) backups.remove(it->path());
    }
  }

  if (!s.o.cover_folder.empty()) {
    std::error_code ec;
    if (fs::is_directory(s.o.cover_folder, ec)) {
      const auto authors = author_ids(s.o.catalog.get());
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(s.o.cover_folder, ec)) {
        std::error_code fe;
        const std::string name = e.path().filename().string();
        if (e.is_directory(fe) && !e.is_symlink(fe)) {
          // A folder per author id; kept when the catalog cannot say (none, or no author at all).
          if (authors && !authors->empty() && hk_all_digits(name) && name.size() < 19 &&
              !authors->contains(std::stoll(name))) {
            covers.remove(e.path());
            continue;
          }
          for (const auto& f : fs::recursive_directory_iterator(e.path(), fe)) {
            std::error_code ge;
            if (f.is_regular_file(ge) && !f.is_symlink(ge)) files.push_back(f.path());
          }
        } else if (e.is_regular_file(fe) && !e.is_symlink(fe)) {
          files.push_back(e.path());
        }
      }
      for (const auto& f : files)
        if (!looks_like_image(f)) not_images.remove(f);
    }
  }

  std::string msg = std::to_string(temp.removed) + " temporary entries, " + std::to_string(backups.removed) +
                    " unfinished backups, " + std::to_string(covers.removed) +
                    " cover folders of deleted authors, " + std::to_string(not_images.removed) +
                    " covers that are not images removed";
  std::vector<std::string> errors;
  for (auto* r : {&temp, &backups, &covers, &not_images})
    errors.insert(errors.end(), r->errors.begin(), r->errors.end());
  if (!errors.empty()) {
    msg += "; " + std::to_string(errors.size()) + " could not be removed (first: " + errors.front() + ")";
    throw TaskFailure(msg);
  }
  return msg;
}

}  // namespace housekeeping
}  // namespace shelfjobs
