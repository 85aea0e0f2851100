#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails when a file of one layer includes a header of a later layer. The layers, in order:
#   engine -> catalog -> adapters -> services
# Public headers live in include/shelfjobs/<layer>/, sources in src/<layer>/; a file may include
# its own layer and the ones before it. The engine umbrella (shelfjobs/shelfjobs.hpp) belongs to
# the engine layer; shelfjobs/services.hpp to the services.
set -euo pipefail
cd "$(dirname "$0")/.."

layers=(engine catalog adapters services)
rank() {
  local i
  for i in "${!layers[@]}"; do [[ ${layers[$i]} == "$1" ]] && { echo "$i"; return; }; done
  echo -1
}

status=0
check() {  # check FILE LAYER
  local file=$1 own
  own=$(rank "$2")
  # Includes of the form "shelfjobs/<layer>/..." (public) or "<layer>/..." (private, src/).
  while IFS= read -r line; do
    local path=${line#*\"}
    path=${path%%\"*}
    path=${path#shelfjobs/}
    local layer=${path%%/*}
    [[ $path == */* ]] || continue
    local r
    r=$(rank "$layer")
    (( r < 0 )) && continue
    if (( r > own )); then
      echo "layer_check: $file ($2) includes \"$path\" of the later layer $layer" >&2
      status=1
    fi
  done < <(grep -E '^\s*#\s*include\s+"' "$file" || true)
  # The services umbrella pulls in every layer.
  if (( own < 3 )) && grep -qE '^\s*#\s*include\s+"shelfjobs/services\.hpp"' "$file"; then
    echo "layer_check: $file ($2) includes the services umbrella" >&2
    status=1
  fi
}

for layer in "${layers[@]}"; do
  for dir in "include/shelfjobs/$layer" "src/$layer"; do
    [[ -d $dir ]] || continue
    while IFS= read -r -d '' f; do check "$f" "$layer"; done \
      < <(find "$dir" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) -print0)
  done
done
check include/shelfjobs/shelfjobs.hpp engine

# The engine is book-free and curl-free: no libcurl, no SQLiteCpp exception types in its handlers.
if grep -rlE '#\s*include\s*<curl/' src/engine include/shelfjobs/engine include/shelfjobs/shelfjobs.hpp; then
  echo "layer_check: the engine includes libcurl (adapters only)" >&2
  status=1
fi

# The event bus stands beside the engine, not on it: events.hpp does not include engine.hpp.
if grep -qE '#\s*include\s*"shelfjobs/engine/engine\.hpp"' include/shelfjobs/engine/events.hpp; then
  echo "layer_check: include/shelfjobs/engine/events.hpp includes the engine header" >&2
  status=1
fi

if (( status == 0 )); then echo "layer_check: every include respects engine -> catalog -> adapters -> services"; fi
exit $status
