// SPDX-License-Identifier: MIT
// How the gathering stays safe (see wal_writes.hpp for why it exists):
//  - Only whole frames appended to the log are gathered: a 24-byte frame header, then the write
//    right after it (its page). Any other write (the log's own header after a reset, SQLite
//    rewriting a page of the same transaction in place, a frame split around a sync point)
//    writes the run first, then goes through as it is.
//  - A commit frame (its header's nTruncate, bytes 4..7, is not zero) ends a transaction: the run
//    is written with its page, inside that xWrite, so its error is SQLite's to see before it
//    publishes the frames in the shared-memory index (an xShmBarrier on the database file, not
//    on the log). Padding frames after it (synchronous=FULL on a device without powersafe
//    overwrite) are commit frames too, and each goes at once.
//  - Every other call that could observe the log writes the run first: xRead (a checkpoint
//    reading frames back), xSync, xTruncate, xFileSize, xFileControl, xClose.
//  - A run is written once it reaches kMaxRun (a transaction that spills its cache), in pieces
//    of at most kMaxWrite: the unix VFS writes at most 128 KiB - 1 bytes per call.
// The database file and every other file SQLite opens pass through untouched.

#include "engine/sqlite/wal_writes.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

namespace shelfjobs::sqlite {
namespace {

constexpr int kFrameHeader = 24;  // WAL_FRAME_HDRSIZE
// The unix VFS writes at most 128 KiB - 1 in one call (it masks the length), so a run goes in
// pieces of this size, and is written once it is this long.
constexpr std::size_t kMaxWrite = 64 * 1024;
constexpr std::size_t kMaxRun = kMaxWrite;
constexpr const char* kName = "shelfjobs-wal";

struct Run {
  std::vector<unsigned char> bytes;
  sqlite3_int64 offset = 0;
  bool page_next = false;     // the run ends with a frame header: the next write is its page
  bool commit_frame = false;  // ... of a commit frame
};

// SQLite allocates szOsFile bytes and hands them to xOpen: this header, then the wrapped file.
struct File {
  sqlite3_file base;   // base.pMethods: kMethods once open
  sqlite3_file* real;  // the wrapped VFS's file, right behind this header
  Run* run;            // log files only
};

constexpr int kHeaderSize = static_cast<int>((sizeof(File) + 7) & ~std::size_t{7});

File* as(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods* real_methods(File* f) { return f->real->pMethods; }

int write_run(File* f) {
  Run* run = f->run;
  if (run == nullptr || run->bytes.empty()) return SQLITE_OK;
  int rc = SQLITE_OK;
  for (std::size_t at = 0; at < run->bytes.size() && rc == SQLITE_OK; at += kMaxWrite) {
    const std::size_t n = std::min(kMaxWrite, run->bytes.size() - at);
    rc = real_methods(f)->xWrite(f->real, run->bytes.data() + at, static_cast<int>(n),
                                 run->offset + static_cast<sqlite3_int64>(at));
  }
  run->bytes.clear();
  run->page_next = false;
  return rc;
}

// A write that is not gathered: what is gathered goes first, then this write as it is.
int write_through(File* f, const void* data, int amount, sqlite3_int64 offset) {
  if (const int rc = write_run(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xWrite(f->real, data, amount, offset);
}

std::uint32_t big_endian32(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

int x_close(sqlite3_file* file) {
  File* f = as(file);
  const int written = write_run(f);
  delete f->run;
  f->run = nullptr;
  const int rc = real_methods(f)->xClose(f->real);
  return written != SQLITE_OK ? written : rc;
}

int x_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  File* f = as(file);
  if (const int rc = write_run(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xRead(f->real, out, amount, offset);
}

int x_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* f = as(file);
  Run* run = f->run;
  if (run == nullptr) return real_methods(f)->xWrite(f->real, data, amount, offset);
  const bool appends =
      run->bytes.empty() || offset == run->offset + static_cast<sqlite3_int64>(run->bytes.size());
  const bool header = !run->page_next && amount == kFrameHeader;
  if (!appends || !(header || run->page_next))
    return write_through(f, data, amount, offset);  // not part of a whole frame
  if (run->bytes.empty()) run->offset = offset;
  const auto* bytes = static_cast<const unsigned char*>(data);
  try {
    run->bytes.insert(run->bytes.end(), bytes, bytes + amount);
  } catch (const std::bad_alloc&) {
    return write_through(f, data, amount, offset);  // the run is as it was (insert's strong guarantee)
  }
  if (header) {
    run->page_next = true;
    run->commit_frame = big_endian32(bytes + 4) != 0;
    return SQLITE_OK;
  }
  run->page_next = false;
  if (run->commit_frame || run->bytes.size() >= kMaxRun) return write_run(f);
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = as(file);
  if (const int rc = write_run(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xTruncate(f->real, size);
}

int x_sync(sqlite3_file* file, int flags) {
  File* f = as(file);
  if (const int rc = write_run(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xSync(f->real, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  File* f = as(file);
  if (const int rc = write_run(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileSize(f->real, size);
}

int x_lock(sqlite3_file* file, int level) { return real_methods(as(file))->xLock(as(file)->real, level); }
int x_unlock(sqlite3_file* file, int level) { return real_methods(as(file))->xUnlock(as(file)->real, level); }
int x_check_reserved(sqlite3_file* file, int* out) {
  return real_methods(as(file))->xCheckReservedLock(as(file)->real, out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  File* f = as(file);
  if (const int rc = write_run(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileControl(f->real, op, arg);
}

int x_sector_size(sqlite3_file* file) { return real_methods(as(file))->xSectorSize(as(file)->real); }
int x_device_characteristics(sqlite3_file* file) {
  return real_methods(as(file))->xDeviceCharacteristics(as(file)->real);
}
int x_shm_map(sqlite3_file* file, int page, int page_size, int extend, void volatile** out) {
  return real_methods(as(file))->xShmMap(as(file)->real, page, page_size, extend, out);
}
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return real_methods(as(file))->xShmLock(as(file)->real, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* file) { real_methods(as(file))->xShmBarrier(as(file)->real); }
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  return real_methods(as(file))->xShmUnmap(as(file)->real, delete_flag);
}
int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  return real_methods(as(file))->xFetch(as(file)->real, offset, amount, out);
}
int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return real_methods(as(file))->xUnfetch(as(file)->real, offset, page);
}

// One table per version the wrapped file may have: SQLite calls only what the version names.
constexpr sqlite3_io_methods methods(int version) {
  return {version,
          x_close,
          x_read,
          x_write,
          x_truncate,
          x_sync,
          x_file_size,
          x_lock,
          x_unlock,
          x_check_reserved,
          x_file_control,
          x_sector_size,
          x_device_characteristics,
          x_shm_map,
          x_shm_lock,
          x_shm_barrier,
          x_shm_unmap,
          x_fetch,
          x_unfetch};
}
constexpr sqlite3_io_methods kMethods[] = {methods(1), methods(2), methods(3)};

sqlite3_vfs* wrapped(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = as(file);
  f->base.pMethods = nullptr;
  f->run = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kHeaderSize);
  sqlite3_vfs* inner = wrapped(vfs);
  const int rc = inner->xOpen(inner, name, f->real, flags, out_flags);
  if (f->real->pMethods == nullptr) return rc;  // nothing to close
  // The wrapped file's version decides which calls exist (2: shared memory, 3: mmap).
  const int version = std::clamp(f->real->pMethods->iVersion, 1, 3);
  f->base.pMethods = &kMethods[version - 1];
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0) f->run = new (std::nothrow) Run;
  return rc;
}

sqlite3_vfs make_vfs(sqlite3_vfs* inner) {
  sqlite3_vfs vfs = *inner;  // every call but xOpen goes to the wrapped VFS's own functions
  vfs.iVersion = inner->iVersion;
  vfs.szOsFile = kHeaderSize + inner->szOsFile;
  vfs.pNext = nullptr;
  vfs.zName = kName;
  vfs.pAppData = inner;
  vfs.xOpen = x_open;
  // These take the VFS as their first argument: give them the one they belong to.
  vfs.xDelete = [](sqlite3_vfs* v, const char* n, int sync) {
    return wrapped(v)->xDelete(wrapped(v), n, sync);
  };
  vfs.xAccess = [](sqlite3_vfs* v, const char* n, int flags, int* out) {
    return wrapped(v)->xAccess(wrapped(v), n, flags, out);
  };
  vfs.xFullPathname = [](sqlite3_vfs* v, const char* n, int size, char* out) {
    return wrapped(v)->xFullPathname(wrapped(v), n, size, out);
  };
  vfs.xDlOpen = [](sqlite3_vfs* v, const char* n) { return wrapped(v)->xDlOpen(wrapped(v), n); };
  vfs.xDlError = [](sqlite3_vfs* v, int size, char* out) { wrapped(v)->xDlError(wrapped(v), size, out); };
  vfs.xDlSym = [](sqlite3_vfs* v, void* h, const char* s) { return wrapped(v)->xDlSym(wrapped(v), h, s); };
  vfs.xDlClose = [](sqlite3_vfs* v, void* h) { wrapped(v)->xDlClose(wrapped(v), h); };
  vfs.xRandomness = [](sqlite3_vfs* v, int size, char* out) {
    return wrapped(v)->xRandomness(wrapped(v), size, out);
  };
  vfs.xSleep = [](sqlite3_vfs* v, int us) { return wrapped(v)->xSleep(wrapped(v), us); };
  vfs.xCurrentTime = [](sqlite3_vfs* v, double* out) { return wrapped(v)->xCurrentTime(wrapped(v), out); };
  vfs.xGetLastError = [](sqlite3_vfs* v, int size, char* out) {
    return wrapped(v)->xGetLastError(wrapped(v), size, out);
  };
  if (inner->iVersion >= 2 && inner->xCurrentTimeInt64 != nullptr) {
    vfs.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
      return wrapped(v)->xCurrentTimeInt64(wrapped(v), out);
    };
  }
  if (inner->iVersion >= 3) {
    vfs.xSetSystemCall = [](sqlite3_vfs* v, const char* n, sqlite3_syscall_ptr p) {
      return wrapped(v)->xSetSystemCall(wrapped(v), n, p);
    };
    vfs.xGetSystemCall = [](sqlite3_vfs* v, const char* n) {
      return wrapped(v)->xGetSystemCall(wrapped(v), n);
    };
    vfs.xNextSystemCall = [](sqlite3_vfs* v, const char* n) {
      return wrapped(v)->xNextSystemCall(wrapped(v), n);
    };
  }
  return vfs;
}

}  // namespace

const char* coalescing_vfs() {
  static const char* const name = []() -> const char* {
    sqlite3_vfs* inner = sqlite3_vfs_find(nullptr);
    if (inner == nullptr) return nullptr;
    static sqlite3_vfs vfs = make_vfs(inner);
    if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK) return nullptr;
    return kName;
  }();
  return name;
}

}  // namespace shelfjobs::sqlite
