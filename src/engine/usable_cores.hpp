// SPDX-License-Identifier: MIT
#pragma once
// How many cores this process may run on, for defaults that depend on it (the short-job lanes,
// ADR 0019). std::thread::hardware_concurrency() counts the machine's: a process pinned to two
// CPUs (taskset, a container's cpuset) or held to two CPUs' time (a container's --cpus, a cgroup
// v2 quota) on a 64-core host would get the defaults of a 64-core machine.
//
// Thread-safety: both functions are reentrant.

#include <optional>
#include <string_view>

namespace shelfjobs::detail {

/// The cores a cgroup v2 `cpu.max` allows, rounded up ("200000 100000" -> 2, "150000 100000" ->
/// 2); nullopt for "max ..." (no quota) or text that is not two positive numbers.
std::optional<int> cores_from_cpu_max(std::string_view text);

/// The fewest of: the CPUs in this process's affinity mask, its cgroup's CPU quota, the
/// machine's cores. At least 1 (when nothing can be read: 1).
int usable_cores();

}  // namespace shelfjobs::detail
