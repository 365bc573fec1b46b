#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server on loopback for tests and benchmarks.
#   scripts/postgres.sh start   -> prints the DATABASE_URL to use
#   scripts/postgres.sh stop
set -euo pipefail

PORT="${AGENTIC_PG_PORT:-54329}"
DATA="${AGENTIC_PG_DATA:-/tmp/agentic-django-pg-$PORT}"
LOG="$DATA.log"
URL="postgres://agentic:agentic@127.0.0.1:$PORT/agentic"

find_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  return 1
}

ensure_installed() {
  if ! find_bin >/dev/null; then
    echo "Installing PostgreSQL from Debian packages..." >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
}

as_owner() {
  # PostgreSQL refuses to run as root; use the postgres system user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  ensure_installed
  BIN="$(find_bin)"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U agentic --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    touch "$LOG"; [ "$(id -u)" = 0 ] && chown postgres: "$LOG"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w \
      -o "-h 127.0.0.1 -p $PORT -k /tmp -c synchronous_commit=off -c max_connections=200" start >/dev/null
  fi
  as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U agentic -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='agentic'" | grep -q 1 ||
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U agentic agentic
  echo "$URL"
}

stop() {
  BIN="$(find_bin)" || exit 0
  [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
