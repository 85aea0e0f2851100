#!/usr/bin/env bash
# Every test: the release build's tests (slow ones included), the packaging check, and the
# AddressSanitizer+UBSan build's tests. Run from anywhere; builds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release

tests/package/check.sh

cmake --preset asan >/dev/null
cmake --build --preset asan
ctest --preset asan
