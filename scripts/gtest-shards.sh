#!/usr/bin/env bash
# Runs a GoogleTest binary as N shards in parallel, one process each (GTEST_TOTAL_SHARDS).
# Usage: bash scripts/gtest-shards.sh BINARY [SHARDS] [gtest args...]
# Used for the sanitizer build of the unit tests: there a process costs most of a second to
# start and exit, so one process per test (ctest) spent 160 s on 413 tests that run in 15 s.
# The release build keeps ctest's process per test, so both ways of running stay covered.
set -uo pipefail
bin=$1
shards=${2:-2}
shift $(( $# >= 2 ? 2 : 1 ))
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
pids=()
for ((i = 0; i < shards; i++)); do
  GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i "$bin" --gtest_brief=1 "$@" >"$logdir/$i.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "shard $((i + 1))/$shards: $(grep -E '^\[  PASSED  \]' "$logdir/$i.log" || echo passed)"
  else
    status=1
    echo "shard $((i + 1))/$shards FAILED:"
    cat "$logdir/$i.log"
  fi
done
exit $status
