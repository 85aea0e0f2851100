#!/usr/bin/env bash
# Fails when a C++ file of the tree differs from its clang-format (.clang-format at the root).
# The files: those git tracks and new ones it does not ignore (a file not yet added is checked
# and fixed too, so a commit that adds it does not bring it in unformatted).
#   tests/format_check.sh          check (lists the files that differ)
#   tests/format_check.sh --fix    rewrite them
set -euo pipefail
cd "$(dirname "$0")/.."
FORMAT=${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}
if [ -z "$FORMAT" ]; then
  echo "format: clang-format not found (install clang-format)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' '*.h')
if [ "${1:-}" = "--fix" ]; then
  "$FORMAT" -i --style=file "${files[@]}"
  echo "format: ${#files[@]} files formatted"
  exit 0
fi
# One clang-format process for the whole tree: it names each file that differs in its warnings.
mapfile -t bad < <("$FORMAT" --style=file --dry-run -Werror "${files[@]}" 2>&1 |
  sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error:.*/\1/p' | sort -u)
if [ "${#bad[@]}" -gt 0 ]; then
  echo "format: ${#bad[@]} file(s) differ from .clang-format (run tests/format_check.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "format: ${#files[@]} files match .clang-format"
