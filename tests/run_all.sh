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
# SHELFJOBS_LEAN_BUILD=1 (set by .ci/run): no debug information in the two builds. It is a third
# of their compile time; test failures still name the test, the assertion and its line, and
# UBSan's reports their source location.
if [ "${SHELFJOBS_LEAN_BUILD:-0}" = "1" ]; then
  release_flags+=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG")
  asan_flags+=(-DCMAKE_CXX_FLAGS_DEBUG="" -DSHELFJOBS_SANITIZE_DEBUG_INFO=OFF)
fi

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

phase "asan: build"
cmake --preset asan "${asan_flags[@]}" >/dev/null
cmake --build --preset asan
phase "asan: tests"
ctest --preset asan
phase "done"
