// SPDX-License-Identifier: MIT
#pragma once
// A file descriptor closed when it goes out of scope, for the adapters that call POSIX directly
// (the library walk, file transfer). Private to the adapters layer.

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace shelfjobs::detail {

class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  /// Closes now and returns close(2)'s errno (0 when fine): NFS reports write errors there.
  int close() noexcept {
    if (fd_ < 0) return 0;
    const int r = ::close(std::exchange(fd_, -1));
    return r == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

}  // namespace shelfjobs::detail
