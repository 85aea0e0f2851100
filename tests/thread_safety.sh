#!/usr/bin/env bash
# Clang's thread-safety analysis over the engine's sources: a member marked GUARDED_BY(mu) that is
# touched without `mu` held (src/engine/sync.hpp) fails the test run. A syntax-only pass: it
# compiles nothing and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-$(command -v clang++ || command -v clang++-14 || true)}
if [ -z "$CLANG" ]; then
  echo "thread-safety: clang++ not found (install clang)" >&2
  exit 1
fi
generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
mkdir -p "$generated/shelfjobs"
printf '#pragma once\n#define SHELFJOBS_VERSION "0"\n' > "$generated/shelfjobs/version.hpp"
export CLANG generated
# Two at a time: the machines have two cores.
if ls src/engine/*.cpp src/engine/sqlite/*.cpp src/engine/store/*.cpp | xargs -P2 -I{} sh -c \
    '"$CLANG" -std=c++20 -fsyntax-only -Wthread-safety -Wthread-safety-beta -Werror \
       -Iinclude -Isrc -I"$generated" -DBOOST_ASIO_NO_DEPRECATED "{}" || { echo "thread-safety: {}" >&2; exit 255; }'; then
  echo "thread-safety: $(ls src/engine/*.cpp src/engine/sqlite/*.cpp src/engine/store/*.cpp | wc -l) engine sources checked"
else
  exit 1
fi
