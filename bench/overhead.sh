#!/usr/bin/env bash
# Side-by-side overhead benchmark: direct PostgreSQL, PgBouncer, Mosaic. See overhead.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/overhead.py "$@"
