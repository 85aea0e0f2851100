// SPDX-License-Identifier: MIT
// The cores a process may use: a cgroup v2 quota read from its text, and the whole answer held
// between 1 and the machine's cores.

#include <catch2/catch.hpp>

#include <thread>

#include "engine/usable_cores.hpp"

using shelfjobs::detail::cores_from_cpu_max;
using shelfjobs::detail::usable_cores;

TEST_CASE("a cgroup's cpu.max gives its cores, rounded up", "[engine][cores]") {
  CHECK(cores_from_cpu_max("200000 100000\n") == 2);
  CHECK(cores_from_cpu_max("150000 100000") == 2);
  CHECK(cores_from_cpu_max("50000 100000") == 1);
  CHECK(cores_from_cpu_max("100000 100000") == 1);
  CHECK_FALSE(cores_from_cpu_max("max 100000").has_value());  // no quota
  CHECK_FALSE(cores_from_cpu_max("").has_value());
  CHECK_FALSE(cores_from_cpu_max("0 100000").has_value());
  CHECK_FALSE(cores_from_cpu_max("-5 100000").has_value());
  CHECK_FALSE(cores_from_cpu_max("200000").has_value());
  CHECK_FALSE(cores_from_cpu_max("2x 100000").has_value());
  CHECK_FALSE(cores_from_cpu_max("200000 0").has_value());
}

TEST_CASE("the usable cores are at least one and at most the machine's", "[engine][cores]") {
  const int cores = usable_cores();
  CHECK(cores >= 1);
  const auto machine = static_cast<int>(std::thread::hardware_concurrency());
  if (machine > 0) CHECK(cores <= machine);
}
