#!/usr/bin/env bash
# Run every benchmark in benchmarks/ with the virtualenv's python (`make bench` puts it on
# PATH). Each prints its table and writes JSON under benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
for bench in benchmarks/*.py; do
  echo "== $bench"
  python "$bench" "$@" || status=$?
done
exit "$status"
