// SPDX-License-Identifier: MIT
// The torrent and usenet blackholes (Readarr's TorrentBlackhole, UsenetBlackhole and
// ScanWatchFolder): files in, folders watched.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>

#include "adapters/download/download_util.hpp"
#include "shelfjobs/adapters/download_client.hpp"

namespace shelfjobs {
namespace {

namespace fs = std::filesystem;

Error folder_error(const fs::path& p, const std::string& what, const std::error_code& ec) {
  return Error{errc::unavailable, what + " '" + p.string() + "': " + ec.message()};
}

// Writes `bytes` to `target` through a hidden temporary file in the same folder, flushed and then
// renamed: a program watching the folder sees either no file or the whole file, never a part.
Status write_atomically(const fs::path& target, std::string_view bytes) {
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".partial");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return folder_error(tmp, "cannot create", std::error_code(errno, std::generic_category()));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::error_code ec(errno, std::generic_category());
      ::close(fd);
      ::unlink(tmp.c_str());
      return folder_error(tmp, "cannot write", ec);
    }
    done += static_cast<std::size_t>(n);
  }
  // fsync before the rename: after a crash the name must not point at an empty file.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::error_code ec(errno, std::generic_category());
    ::unlink(tmp.c_str());
    return folder_error(tmp, "cannot flush", ec);
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const std::error_code ec(errno, std::generic_category());
    ::unlink(tmp.c_str());
    return folder_error(target, "cannot rename into", ec);
  }
  return Ok{};
}

// The birth time of a path in 100 ns ticks (Readarr's .NET ticks unit), when the file system
// records one; 0 otherwise.
std::int64_t birth_ticks(const fs::path& p) {
#ifdef STATX_BTIME
  struct statx sx {};
  if (::statx(AT_FDCWD, p.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME))
    return static_cast<std::int64_t>(sx.stx_btime.tv_sec) * 10'000'000 + sx.stx_btime.tv_nsec / 100;
#else
  (void)p;
#endif
  return 0;
}

struct Snapshot {
  std::size_t hash = 0;
  std::int64_t bytes = 0;
  std::optional<TimePoint> newest_mtime;  // of the files under the item; none when empty
};

// The fingerprint of an item: the relative path, size and mtime of every file under it.
Snapshot snapshot(const fs::path& p) {
  Snapshot s;
  auto mix = [&s](const std::string& part) {
    s.hash ^= std::hash<std::string>{}(part) + 0x9e3779b97f4a7c15ULL + (s.hash << 6) + (s.hash >> 2);
  };
  auto add_file = [&](const fs::path& f, const std::string& rel) {
    struct stat st {};
    if (::lstat(f.c_str(), &st) != 0) return;
    s.bytes += st.st_size;
    const TimePoint mtime{std::chrono::duration_cast<TimePoint::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec))};
    if (!s.newest_mtime || mtime > *s.newest_mtime) s.newest_mtime = mtime;
    mix(rel + "|" + std::to_string(st.st_size) + "|" + std::to_string(st.st_mtim.tv_sec) + "." +
        std::to_string(st.st_mtim.tv_nsec));
  };
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(p, ec))) {
    for (fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec)) add_file(it->path(), fs::relative(it->path(), p, ec).string());
    }
  } else {
    add_file(p, p.filename().string());
  }
  return s;
}

class Blackhole final : public DownloadClient {
 public:
  Blackhole(BlackholeOptions options, DownloadProtocol protocol)
      : options_(std::move(options)), protocol_(protocol) {}

  std::string name() const override {
    return protocol_ == DownloadProtocol::torrent ? "Torrent Blackhole" : "Usenet Blackhole";
  }
  DownloadProtocol protocol() const override { return protocol_; }

  Status test(std::stop_token) override {
    for (const auto* folder : {&options_.drop_folder, &options_.watch_folder}) {
      std::error_code ec;
      if (folder->empty()) return Error{errc::invalid_argument, name() + ": a folder is not set"};
      if (!fs::is_directory(*folder, ec))
        return Error{errc::unavailable, name() + ": '" + folder->string() + "' is not a folder"};
      if (::access(folder->c_str(), W_OK | X_OK) != 0)
        return Error{errc::unavailable, name() + ": '" + folder->string() + "' cannot be written"};
    }
    return Ok{};
  }

  Result<std::string> add(const DownloadRequest& r, std::stop_token token) override {
    if (token.stop_requested()) return Error{errc::cancelled, name() + ": cancelled"};
    if (r.title.empty()) return Error{errc::invalid_argument, name() + ": the release has no title"};
    if (r.data.empty()) return Error{errc::invalid_argument, name() + ": the release is empty"};
    std::string ext;
    using Kind = DownloadRequest::Kind;
    if (protocol_ == DownloadProtocol::usenet) {
      if (r.kind != Kind::nzb_file) return Error{errc::invalid_argument, name() + " takes .nzb files only"};
      ext = ".nzb";
    } else if (r.kind == Kind::torrent_file) {
      ext = ".torrent";
    } else if (r.kind == Kind::magnet) {
      if (!options_.save_magnet_files)
        return Error{errc::invalid_argument,
                     name() + ": magnet links are not saved (save_magnet_files is off)"};
      if (r.data.rfind("magnet:?", 0) != 0)
        return Error{errc::invalid_argument, name() + ": not a magnet URI"};
      ext = options_.magnet_extension;
    } else {
      return Error{errc::invalid_argument, name() + " takes .torrent files and magnets only"};
    }
    const std::string file = detail::clean_file_name(r.title) + ext;
    auto written = write_atomically(options_.drop_folder / file, r.data);
    if (!written) return Error{written.error().code, name() + ": " + written.error().message};
    return file;
  }

  Result<std::vector<DownloadItem>> items(const std::string&, std::stop_token token) override {
    std::error_code ec;
    fs::directory_iterator it(options_.watch_folder, ec);
    if (ec)
      return Error{errc::unavailable,
                   name() + ": " + folder_error(options_.watch_folder, "cannot read", ec).message};
    const TimePoint now = options_.clock->now();
    std::vector<DownloadItem> out;
    std::lock_guard lock(mu_);
    std::map<std::string, Seen> still;
    for (fs::directory_iterator end; it != end; it.increment(ec)) {
      if (ec) break;
      if (token.stop_requested()) return Error{errc::cancelled, name() + ": cancelled"};
      const std::string entry = it->path().filename().string();
      if (entry.empty() || entry[0] == '.') continue;  // hidden, or a partial file being written
      std::error_code sec;
      const auto st = it->symlink_status(sec);
      if (sec || !(fs::is_directory(st) || fs::is_regular_file(st))) continue;
      const std::int64_t ticks = birth_ticks(it->path());
      const std::string id = ticks ? entry + "_" + std::to_string(ticks) : entry;
      const Snapshot snap = snapshot(it->path());
      // An item seen for the first time (or changed) changed last when its newest file did, if
      // that is earlier: a download that finished before shelfjobs looked (or before a restart)
      // is complete at once instead of one grace period later. A file still being written has a
      // current mtime, so it still waits.
      Seen seen{snap.hash, snap.newest_mtime ? std::min(now, *snap.newest_mtime) : now};
      if (auto old = seen_.find(id); old != seen_.end() && old->second.hash == snap.hash) seen = old->second;
      still[id] = seen;

      DownloadItem item;
      item.id = id;
      item.title = fs::is_directory(st) ? entry : it->path().stem().string();
      item.total_bytes = snap.bytes;
      item.output_path = it->path();
      const auto quiet = now - seen.changed;
      if (quiet >= options_.grace) {
        item.status = DownloadStatus::completed;
      } else {
        item.status = DownloadStatus::downloading;
        item.eta = std::chrono::ceil<std::chrono::seconds>(options_.grace - quiet);
        item.message = "changed within the last " + std::to_string(options_.grace.count()) + " s";
      }
      out.push_back(std::move(item));
    }
    if (ec)
      return Error{errc::unavailable,
                   name() + ": " + folder_error(options_.watch_folder, "cannot read", ec).message};
    // Items that left the folder are forgotten: one that comes back is new.
    seen_ = std::move(still);
    return out;
  }

  Status remove(const std::string& id, bool delete_data, std::stop_token) override {
    if (!delete_data)
      return Error{errc::invalid_argument,
                   name() + ": a blackhole item is its files; it is removed only with them"};
    std::error_code ec;
    for (fs::directory_iterator it(options_.watch_folder, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string entry = it->path().filename().string();
      const std::int64_t ticks = birth_ticks(it->path());
      const std::string item_id = ticks ? entry + "_" + std::to_string(ticks) : entry;
      if (item_id != id) continue;
      std::error_code rec;
      fs::remove_all(it->path(), rec);
      if (rec) return folder_error(it->path(), name() + ": cannot delete", rec);
      std::lock_guard lock(mu_);
      seen_.erase(id);
      return Ok{};
    }
    if (ec) return folder_error(options_.watch_folder, name() + ": cannot read", ec);
    return Error{errc::not_found,
                 name() + ": no item '" + id + "' in '" + options_.watch_folder.string() + "'"};
  }

 private:
  struct Seen {
    std::size_t hash = 0;
    TimePoint changed;
  };
  const BlackholeOptions options_;
  const DownloadProtocol protocol_;
  std::mutex mu_;
  std::map<std::string, Seen> seen_;  // by item id: its last fingerprint and when it last changed
};

}  // namespace

std::unique_ptr<DownloadClient> make_torrent_blackhole(BlackholeOptions options) {
  return std::make_unique<Blackhole>(std::move(options), DownloadProtocol::torrent);
}

std::unique_ptr<DownloadClient> make_usenet_blackhole(BlackholeOptions options) {
  return std::make_unique<Blackhole>(std::move(options), DownloadProtocol::usenet);
}

}  // namespace shelfjobs
