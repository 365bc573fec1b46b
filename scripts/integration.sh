#!/usr/bin/env bash
# The integration tier: the suite's integration tests against real services on loopback
# (PostgreSQL now; Redis, a Celery worker and Chromium join as the features need them).
set -euo pipefail
cd "$(dirname "$0")/.."

DATABASE_URL="$(scripts/postgres.sh start)"
export DATABASE_URL
trap 'scripts/postgres.sh stop' EXIT

# The whole suite once more on PostgreSQL: the ORM code paths must hold on both databases.
pytest -q -m "not live" -p no:cacheprovider
