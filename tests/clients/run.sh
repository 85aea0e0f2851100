#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shelfd tried by published Readarr clients: starts `shelfd demo --serve` on a free loopback
# port, runs readarr_clients.mjs against it, and stops it. Needs Node.js and the clients from npm
# (`npm ci` here, once); not part of CI, which does not install npm packages.
#
# Usage: tests/clients/run.sh [path/to/shelfd]   (default: build/release/examples/shelfd/shelfd)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
shelfd=${1:-$top/build/release/examples/shelfd/shelfd}
[ -x "$shelfd" ] || { echo "no shelfd at $shelfd (build it first)" >&2; exit 2; }
[ -d "$here/node_modules" ] || (cd "$here" && npm ci --no-audit --no-fund)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key=clientcheck$(date +%s%N)
log=$(mktemp)
"$shelfd" demo --serve --port "$port" --api-key "$key" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
# The demo runs every service once before it serves; it prints the dashboard's address then.
for _ in $(seq 300); do
  grep -q "^dashboard:" "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "shelfd demo ended early" >&2; exit 1; }
  sleep 0.2
done
status=0
node "$here/readarr_clients.mjs" "http://127.0.0.1:$port" "$key" || status=$?
kill -0 "$pid" 2>/dev/null || { echo "shelfd is gone (it crashed during the calls)" >&2; tail -5 "$log"; exit 1; }
exit "$status"
