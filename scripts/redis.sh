#!/usr/bin/env bash
# Start or stop a throwaway Redis server on loopback for tests (the Celery broker).
#   scripts/redis.sh start   -> prints the URL to use (CELERY_BROKER_URL / REDIS_URL)
#   scripts/redis.sh stop    (idempotent)
# No persistence: nothing is written to disk, everything is gone when it stops.
set -euo pipefail

PORT="${AGENTIC_REDIS_PORT:-63790}"
PIDFILE="/tmp/agentic-django-redis-$PORT.pid"
LOG="/tmp/agentic-django-redis-$PORT.log"
URL="redis://127.0.0.1:$PORT/0"

ensure_installed() {
  if ! command -v redis-server >/dev/null; then
    echo "Installing Redis from Debian packages..." >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  fi
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# PING over a plain socket, so redis-cli is not needed.
answers() {
  python3 - "$PORT" <<'EOF' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as sock:
    sock.sendall(b"PING\r\n")
    sys.exit(0 if sock.recv(64).startswith(b"+PONG") else 1)
EOF
}

start() {
  ensure_installed
  if ! running; then
    redis-server --bind 127.0.0.1 --port "$PORT" --protected-mode yes \
      --save "" --appendonly no --dir /tmp --dbfilename "agentic-django-redis-$PORT.rdb" \
      --daemonize yes --pidfile "$PIDFILE" --logfile "$LOG" >/dev/null
  fi
  for _ in $(seq 1 100); do
    if answers; then
      echo "$URL"
      return
    fi
    sleep 0.1
  done
  echo "Redis did not answer on 127.0.0.1:$PORT; see $LOG" >&2
  exit 1
}

stop() {
  running || { rm -f "$PIDFILE"; return 0; }
  pid="$(cat "$PIDFILE")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
