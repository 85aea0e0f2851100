// SPDX-License-Identifier: MIT
#pragma once
// The demo's metadata source: the `bookinfo-fixture` program (examples/bookinfo_fixture) run as
// a child process on loopback, so `shelfd demo` stays offline while shelfd itself carries no
// test code. The program is found through $SHELFD_BOOKINFO_FIXTURE, then at the build tree's
// path, then beside the shelfd binary, then on $PATH.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shelfjobs/engine/error.hpp"

namespace shelfd {

struct DemoAuthor {
  std::int64_t id;
  std::string name;
  int books;
};

class DemoMetadata {
 public:
  /// Writes the authors' bodies under `dir` and serves them. Errors (invalid_argument, naming
  /// the program): it cannot be found, started, or does not answer with its address in 10 s.
  static shelfjobs::Result<std::unique_ptr<DemoMetadata>> start(const std::filesystem::path& dir,
                                                                const std::vector<DemoAuthor>& authors);
  /// Stops the server (SIGTERM, then waits for it).
  ~DemoMetadata();
  DemoMetadata(const DemoMetadata&) = delete;
  DemoMetadata& operator=(const DemoMetadata&) = delete;

  /// "http://127.0.0.1:<port>/v1/"
  const std::string& base_url() const { return url_; }
  /// Renames author `id` upstream: rewrites its body and waits until the server serves it.
  shelfjobs::Status rename(std::int64_t id, const std::string& new_name);

 private:
  DemoMetadata() = default;
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int out_ = -1;  // the server's stdout
  std::string buffered_;
  std::string url_;
};

}  // namespace shelfd
