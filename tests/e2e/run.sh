#!/usr/bin/env bash
# End-to-end tests of Mosaic with real clients (psql, pgbench, psycopg2, node-postgres,
# raw protocol sockets). Usage: bash tests/e2e/run.sh [extra pytest args]
# Expects build/mosaic to be built; runs as root on Debian 12 with postgresql-15,
# postgresql-client-15, python3-psycopg2, python3-pytest, python3-pytest-xdist (for two
# workers), nodejs and npm installed.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/../.." && pwd)"
cd "$REPO_ROOT"

PYTHON=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
MOSAIC_BIN="${MOSAIC_BIN:-$REPO_ROOT/build/mosaic}"
export MOSAIC_BIN

if [[ ! -x "$MOSAIC_BIN" ]]; then
  echo "e2e: $MOSAIC_BIN not found; build it first (cmake -S . -B build && cmake --build build)" >&2
  exit 2
fi

# node-postgres for tests/e2e/node
if [[ ! -d "$E2E_DIR/node/node_modules/pg" ]]; then
  echo "e2e: installing node modules in tests/e2e/node"
  if [[ -f "$E2E_DIR/node/package-lock.json" ]]; then
    (cd "$E2E_DIR/node" && npm ci --no-audit --no-fund)
  else
    (cd "$E2E_DIR/node" && npm install --no-audit --no-fund)
  fi
fi

# Instances' fresh dirs go to a tmpfs when /dev/shm has room (>= 4 GiB free): the managed nodes
# fsync at every commit, checkpoint and start, which costs nothing there, and no test outlives
# an OS crash. MOSAIC_E2E_TMPDIR set by the caller wins (harness.py defaults to /var/tmp).
if [[ -z "${MOSAIC_E2E_TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]] &&
   (( $(df -Pk /dev/shm | awk 'NR == 2 {print $4}') >= 4 * 1024 * 1024 )); then
  export MOSAIC_E2E_TMPDIR=/dev/shm
fi

# Two pytest processes (pytest-xdist) by default: most of a test's time is spent waiting on
# PostgreSQL, pgbench and timers, not computing. Each worker takes whole files (--dist
# loadfile: a module's shared instance and its order stay within one process) and allocates
# ports from its own slice (harness._port_range). MOSAIC_E2E_WORKERS=1 runs one process.
WORKERS="${MOSAIC_E2E_WORKERS:-2}"
parallel=()
if [[ "$WORKERS" != 1 ]] && "$PYTHON" -c "import xdist" 2>/dev/null; then
  parallel=(-n "$WORKERS" --dist loadfile)
fi

# A path among the arguments (a file, a directory, file::test) narrows the run to it; without
# one, the whole suite. (Values of -k, -m, -p, -n and -o are not paths.)
targets=("$E2E_DIR")
previous=""
for arg in "$@"; do
  case "$previous" in -k|-m|-p|-n|-o) previous="$arg"; continue ;; esac
  if [[ "$arg" != -* && -e "${arg%%::*}" ]]; then targets=(); fi
  previous="$arg"
done

set +e
# The 15 slowest tests are listed at the end: where the suite's time goes, for CI's budget.
"$PYTHON" -m pytest -q -p no:cacheprovider --durations=15 "${parallel[@]+"${parallel[@]}"}" "${targets[@]+"${targets[@]}"}" "$@"
status=$?
set -e
exit "$status"
