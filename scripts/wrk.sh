#!/usr/bin/env bash
# Print the path of wrk, the HTTP load generator of benchmarks/concurrency.py, installing
# the Debian package first when it is missing (as scripts/postgres.sh does for PostgreSQL).
set -euo pipefail

if ! command -v wrk >/dev/null 2>&1; then
  echo "Installing wrk from Debian packages..." >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
fi
command -v wrk
