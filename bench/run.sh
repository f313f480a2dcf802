#!/usr/bin/env bash
# `make bench`: micro-benchmarks of the data path, then the side-by-side pgbench comparison
# with direct PostgreSQL and PgBouncer (bench/overhead.sh), then TPC-B with two-phase commit
# (bench/two_phase.py), the online migration (bench/migration.py) and the skew benchmark
# (bench/skew.py).
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
# skew: a hot tenant's range scans on 2 nodes pinned to a core each, static layout vs. the
# layout the rebalancer adapts to
/usr/bin/python3 bench/skew.py
