#!/usr/bin/env bash
# Start or stop a throwaway Prometheus server on loopback for the metrics integration test.
#   scripts/prometheus.sh start   -> prints the Prometheus base URL
#   scripts/prometheus.sh stop
#   scripts/prometheus.sh targets -> prints the file_sd targets file a test writes its
#                                    live server's address into (read every second)
# The scrape job sends "Authorization: Bearer $AGENTIC_METRICS_TOKEN" (the token the
# test settings protect the metrics view with).
set -euo pipefail

PORT="${AGENTIC_PROMETHEUS_PORT:-9490}"
DATA="${AGENTIC_PROMETHEUS_DATA:-/tmp/agentic-django-prometheus-$PORT}"
TOKEN="${AGENTIC_METRICS_TOKEN:-agentic-test-metrics-token}"
URL="http://127.0.0.1:$PORT"

ensure_installed() {
  if ! command -v prometheus >/dev/null; then
    echo "Installing Prometheus from Debian packages..." >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends prometheus >&2
    # The package starts a system-wide server on :9090 where systemd or init runs; ours
    # is separate, so stop that one if it was started (it is not needed).
    service prometheus stop >/dev/null 2>&1 || true
  fi
}

start() {
  ensure_installed
  mkdir -p "$DATA/tsdb"
  [ -f "$DATA/targets.json" ] || echo '[]' >"$DATA/targets.json"
  cat >"$DATA/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: agentic
    metrics_path: /agents/metrics/
    authorization:
      type: Bearer
      credentials: "$TOKEN"
    file_sd_configs:
      - files: ["$DATA/targets.json"]
        refresh_interval: 1s
YAML
  if ! curl -fsS "$URL/-/ready" >/dev/null 2>&1; then
    nohup prometheus --config.file="$DATA/prometheus.yml" --storage.tsdb.path="$DATA/tsdb" \
      --web.listen-address="127.0.0.1:$PORT" >"$DATA.log" 2>&1 &
    echo $! >"$DATA.pid"
    for _ in $(seq 1 100); do
      curl -fsS "$URL/-/ready" >/dev/null 2>&1 && break
      sleep 0.1
    done
    curl -fsS "$URL/-/ready" >/dev/null || { cat "$DATA.log" >&2; exit 1; }
  fi
  echo "$URL"
}

stop() {
  if [ -f "$DATA.pid" ]; then
    kill "$(cat "$DATA.pid")" 2>/dev/null || true
    rm -f "$DATA.pid"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  targets) echo "$DATA/targets.json" ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|targets|url" >&2; exit 2 ;;
esac
