// SPDX-License-Identifier: MIT
#pragma once
// A SQLite VFS that writes a commit's write-ahead-log frames with one system call instead of two
// per page.
//
// SQLite writes each frame of the log as two writes (its 24-byte header, then the page), so a
// commit that changes five pages costs ten pwrite calls; on a virtual machine each one costs
// microseconds of kernel entry, and they were most of what a small commit cost. This VFS wraps
// the default one ("unix") and, for log files only, gathers whole frames appended to the log and
// writes them at once when the commit frame's page arrives (its header says it ends a
// transaction), so the write's error is still the error of that write call: SQLite sees a full
// disk or an I/O error where it would have seen it anyway, and publishes nothing it did not
// write. Everything else (the database file, locks, shared memory, reads) goes to the wrapped VFS
// unchanged, and anything that could look at the log (a read, a sync, a truncate, its size, a
// write elsewhere in it, closing it) writes what is gathered first. The files it writes are
// ordinary SQLite files: other processes and tools open them as usual.
//
// Thread-safety: the VFS is registered once (on the first call, from any thread); a file is used
// by one connection, which SQLite serializes.

namespace shelfjobs::sqlite {

/// The registered VFS's name, to pass to sqlite3_open_v2 (SQLite::Database's `apVfs`). Registers
/// it on the first call (not as the default VFS). Never fails: when there is no default VFS to
/// wrap (not on any platform SQLite ships for), it returns nullptr, which opens with the default.
const char* coalescing_vfs();

}  // namespace shelfjobs::sqlite
