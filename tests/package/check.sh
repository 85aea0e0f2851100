#!/usr/bin/env bash
# Builds tests/package both ways (add_subdirectory, and find_package against a staging
# install) and runs the consumer each time.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$root/build/package"
rm -rf "$work"
mkdir -p "$work"

echo "== shelfjobs as a subdirectory"
# A unity build: this compiles the whole library once more.
cmake -S "$root/tests/package" -B "$work/subdir" -G Ninja -DSHELFJOBS_SOURCE_DIR="$root" \
  -DSHELFJOBS_UNITY_BUILD=ON >/dev/null
cmake --build "$work/subdir" -j2
"$work/subdir/consumer" "$work/subdir.db"
"$work/subdir/services_consumer" "$work/subdir-services"

echo "== shelfjobs installed, found with find_package"
# The release build (tests/run_all.sh makes it first) installs what it built; without one, a
# library-only tree is built for the purpose.
if [ -f "$root/build/release/CMakeCache.txt" ]; then
  cmake --build "$root/build/release" -j2 --target shelfjobs_engine shelfjobs_catalog shelfjobs_adapters shelfjobs_services
  cmake --install "$root/build/release" --prefix "$work/stage" >/dev/null
else
  cmake -S "$root" -B "$work/lib" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSHELFJOBS_BUILD_TESTS=OFF -DSHELFJOBS_BUILD_EXAMPLES=OFF -DSHELFJOBS_BUILD_BENCH=OFF \
    -DSHELFJOBS_INSTALL=ON -DCMAKE_INSTALL_PREFIX="$work/stage" >/dev/null
  cmake --build "$work/lib" -j2
  cmake --install "$work/lib" >/dev/null
fi
cmake -S "$root/tests/package" -B "$work/installed" -G Ninja -DCMAKE_PREFIX_PATH="$work/stage" >/dev/null
cmake --build "$work/installed" -j2
"$work/installed/consumer" "$work/installed.db"
"$work/installed/services_consumer" "$work/installed-services"
echo "package check: both ways build and run"
