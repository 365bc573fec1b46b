#!/usr/bin/env bash
# The integration tier: the suite's integration tests against real services on loopback
# (PostgreSQL, Redis as the Celery broker with real workers; Chromium joins as features need it).
set -euo pipefail
cd "$(dirname "$0")/.."

trap 'scripts/prometheus.sh stop; scripts/redis.sh stop; scripts/postgres.sh stop' EXIT
DATABASE_URL="$(scripts/postgres.sh start)"
CELERY_BROKER_URL="$(scripts/redis.sh start)"
REDIS_URL="$CELERY_BROKER_URL"
# Prometheus scrapes the metrics view of a test's live server (tests/integration/).
PROMETHEUS_URL="$(scripts/prometheus.sh start)"
PROMETHEUS_TARGETS_FILE="$(scripts/prometheus.sh targets)"
export DATABASE_URL CELERY_BROKER_URL REDIS_URL PROMETHEUS_URL PROMETHEUS_TARGETS_FILE

# The whole suite once more on PostgreSQL: the ORM code paths must hold on both databases.
# Tests marked integration that need Redis and Celery workers run here (tests/integration/).
scripts/chromium.sh  # headless Chromium for the browser tests (tests/example/)
pytest -q -m "not live" -p no:cacheprovider
