#!/usr/bin/env bash
# Run the benchmarks in benchmarks/ with the virtualenv's python (`make bench` puts it on
# PATH). Each prints its table and writes JSON (under benchmarks/results/ or var/bench/).
#   scripts/bench.sh                     every benchmarks/*.py, with no arguments
#   scripts/bench.sh NAME [ARGS...]      only benchmarks/NAME.py, with ARGS
#                                        (e.g. scripts/bench.sh concurrency --quick)
set -euo pipefail
cd "$(dirname "$0")/.."
# The project's virtualenv when there is one (make puts it on PATH too).
python() { if [ -x .venv/bin/python ]; then .venv/bin/python "$@"; else command python "$@"; fi; }

if [ $# -gt 0 ] && [ -f "benchmarks/$1.py" ]; then
  bench="benchmarks/$1.py"
  shift
  python "$bench" "$@"
  exit
fi

status=0
for bench in benchmarks/*.py; do
  echo "== $bench"
  python "$bench" "$@" || status=$?
done
exit "$status"
