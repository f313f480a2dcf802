#!/usr/bin/env bash
# `make bench`: micro-benchmarks of the data path, then the side-by-side pgbench comparison
# with direct PostgreSQL and PgBouncer (bench/overhead.sh), then TPC-B with two-phase commit
# (bench/two_phase.py).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
for b in "$BUILD"/bench/*_bench; do
  echo "== $b"
  "$b" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
done
if [ -x bench/overhead.sh ]; then bash bench/overhead.sh; fi
# pgbench TPC-B over one node vs. three split nodes (two-phase commit)
/usr/bin/python3 bench/two_phase.py
# online migration: a 1,000,000-row move under pgbench, and 20 cutovers' write pauses
/usr/bin/python3 bench/migration.py
