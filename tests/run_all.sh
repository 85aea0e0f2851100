#!/usr/bin/env bash
# Every test: the release build's tests (slow ones included), the packaging check, and the
# AddressSanitizer+UBSan build's tests. Run from anywhere; builds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { echo "== $1 (at ${SECONDS} s)"; }

phase "format: the tree matches .clang-format"
tests/format_check.sh

phase "layers: no file includes a later layer"
tests/layer_check.sh

phase "thread-safety analysis (clang)"
tests/thread_safety.sh

phase "release: build"
cmake --preset release >/dev/null
cmake --build --preset release
phase "release: tests"
ctest --preset release

phase "package check"
tests/package/check.sh

phase "asan: build"
cmake --preset asan >/dev/null
cmake --build --preset asan
phase "asan: tests"
ctest --preset asan
phase "done"
