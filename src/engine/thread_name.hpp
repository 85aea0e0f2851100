// SPDX-License-Identifier: MIT
#pragma once
// Names a thread the engine started, so that `top -H`, `ps -L`, gdb, perf and /proc/<pid>/task/*/comm
// tell the engine's threads apart, from each other and from the host's own. Every name starts
// with "shelf-"; docs/operations.md lists them.
//
// The thread that starts a thread names it, right after: the name is there as soon as the
// starter goes on, not only once the new thread has had its first turn (a test that lists the
// threads then sees every name).
//
// Linux keeps 15 characters of a name: a longer one is cut, not refused. Naming is a courtesy to
// whoever reads a thread list, so a failure to name is ignored.

#include <pthread.h>

#include <cstring>
#include <thread>

namespace shelfjobs::detail {

/// Names `t`; an empty (not joinable) thread is left as it is.
inline void named(std::thread& t, const char* name) {
  if (!t.joinable()) return;
  char cut[16] = {};
  std::strncpy(cut, name, sizeof cut - 1);
  (void)pthread_setname_np(t.native_handle(), cut);
}

}  // namespace shelfjobs::detail
