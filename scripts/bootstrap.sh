#!/usr/bin/env bash
# Installs the Debian packages Mosaic needs to build, run its nodes and run its tests, when any
# is missing. Idempotent and quiet when everything is there. Nothing is downloaded but Debian
# packages (and, in tests/e2e/run.sh, the npm packages of the JS client test).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libpg-query-dev libpq-dev libasio-dev libssl-dev nlohmann-json3-dev libtomlplusplus-dev
  libcli11-dev libspdlog-dev libfmt-dev libcpp-httplib-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15
  python3 python3-psycopg2 python3-psycopg python3-pytest python3-pytest-xdist nodejs npm curl procps
  default-jdk-headless libpostgresql-jdbc-java
)

# `bootstrap.sh bench` also installs what the benchmarks compare against and plot with.
if [ "${1:-}" = bench ]; then PACKAGES+=(pgbouncer gnuplot-nox); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm may come with the nodesource nodejs package instead of Debian's npm.
if [ ${#missing[@]} -gt 0 ] && command -v npm >/dev/null 2>&1; then
  kept=(); for p in "${missing[@]}"; do [ "$p" = npm ] || kept+=("$p"); done; missing=("${kept[@]+"${kept[@]}"}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: these Debian packages are missing: ${missing[*]}" >&2
  echo "bootstrap: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postgresql-common starts a default cluster on 5432; Mosaic runs its own nodes.
