#!/usr/bin/env bash
# Every test: the release build's tests (slow ones included), the packaging check, and the
# AddressSanitizer+UBSan build's tests. Run from anywhere; builds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { echo "== $1 (at ${SECONDS} s)"; }

# One ctest entry per test file instead of per test case (tests/CMakeLists.txt): the same tests,
# a few dozen program starts instead of ~450.
release_flags=(-DSHELFJOBS_TESTS_PER_FILE=ON)
asan_flags=(-DSHELFJOBS_TESTS_PER_FILE=ON)
# SHELFJOBS_LEAN_BUILD=1 (set by .ci/run): one build instead of two, and no debug information.
# A fresh machine compiles everything from nothing, and each of the two builds is about ten
# minutes of the two cores: CI builds the release configuration (what the Quickstart builds and
# the package check installs) and runs every test in it, the [concurrency] cases 8 times over.
# The AddressSanitizer+UBSan build and the ThreadSanitizer preset run before a change is merged
# (docs/operations.md, "Tests"). Without debug information a build takes a third less time; test
# failures still name the test, the assertion and its line. The benchmarks, which no test runs,
# are left out of the lean build (about 100 s of compiler time); the full run builds them.
lean=0
bench=ON
# concurrency.repeated: 20 rounds, 8 in the lean build (always set: the value is cached).
repeat=20
if [ "${SHELFJOBS_LEAN_BUILD:-0}" = "1" ]; then
  lean=1
  repeat=8
  bench=OFF
  release_flags+=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG")
  asan_flags+=(-DCMAKE_CXX_FLAGS_DEBUG="" -DSHELFJOBS_SANITIZE_DEBUG_INFO=OFF)
else
  # Cached by a lean run in the same tree: back to CMake's defaults (-U drops the entry, and
  # CMake sets it again from its default) and the debug information on.
  release_flags+=(-UCMAKE_CXX_FLAGS_RELWITHDEBINFO)
  asan_flags+=(-UCMAKE_CXX_FLAGS_DEBUG -DSHELFJOBS_SANITIZE_DEBUG_INFO=ON)
fi
release_flags+=(-DSHELFJOBS_REPEAT=$repeat -DSHELFJOBS_BUILD_BENCH=$bench)  # both cached: always set

# The download-client tests drive the real daemons that .ci/install-deps installs: here a missing
# one fails its test instead of skipping it.
export SHELFJOBS_REQUIRE_DAEMONS=1

phase "format: the tree matches .clang-format"
tests/format_check.sh

phase "layers: no file includes a later layer"
tests/layer_check.sh

phase "thread-safety analysis (clang)"
tests/thread_safety.sh

phase "release: build"
cmake --preset release "${release_flags[@]}" >/dev/null
cmake --build --preset release
phase "release: tests"
ctest --preset release

phase "package check"
tests/package/check.sh

if [ "$lean" = "1" ]; then
  phase "done (lean: the asan build is left to tests/run_all.sh without SHELFJOBS_LEAN_BUILD)"
  exit 0
fi

phase "asan: build"
cmake --preset asan "${asan_flags[@]}" >/dev/null
cmake --build --preset asan
phase "asan: tests"
ctest --preset asan
phase "done"
