#!/bin/sh
# Runs one `shelfd demo --json` cycle and checks its summary line: the demo workload's outcomes,
# the catalog after the refreshes (four authors, their books, one renamed upstream whose folder
# MoveAuthor moved), and the library of real files the demo lays out: 11 found by the scan (two of
# them unmapped: an unknown author and a damaged EPUB), one imported from a download folder, and
# one found on the demo's indexer by an RSS sync, grabbed into the blackhole and imported once
# its download completed; then a backup (besides the scheduled one), restored without a restart.
# usage: demo_check.sh <shelfd>
set -u
out=$("$1" demo --json) || { echo "shelfd demo failed"; echo "$out"; exit 1; }
line=$(printf '%s\n' "$out" | tail -n 1)
status=0
for p in '"DemoWork":{"cancelled":1,"completed":3,"failed":1}' \
         '"MoveAuthor":{"cancelled":0,"completed":1,"failed":0}' \
         '"DownloadedBooksScan":{"cancelled":0,"completed":1,"failed":0}' \
         '"ImportCompletedDownload":{"cancelled":0,"completed":1,"failed":0}' \
         '"authors":4' '"books":18' '"renamed":1' '"files":13' '"unmapped":2' '"imported":2' \
         '"grabbed":1' '"downloadsImported":1' '"backups":2' '"restored":true'; do
  case "$line" in
    *"$p"*) ;;
    *) echo "missing $p"; status=1 ;;
  esac
done
[ $status -eq 0 ] || printf 'summary: %s\n' "$line"
exit $status
