"""A real Prometheus server scrapes ``/agents/metrics/`` and answers a query about it.

``scripts/integration.sh`` starts Prometheus on loopback (``scripts/prometheus.sh``)
and exports ``PROMETHEUS_URL`` and ``PROMETHEUS_TARGETS_FILE``; the test writes its
live server's address into the targets file, which Prometheus reads every second.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.test import override_settings

pytest.importorskip("prometheus_client")

PROMETHEUS_URL = os.environ.get("PROMETHEUS_URL", "")
TARGETS_FILE = os.environ.get("PROMETHEUS_TARGETS_FILE", "")
#: The token scripts/prometheus.sh configures the scrape job with.
TOKEN = os.environ.get("AGENTIC_METRICS_TOKEN", "agentic-test-metrics-token")
#: Only to stop polling: scrapes happen every second.
DEADLINE_SECONDS = 60.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (PROMETHEUS_URL and TARGETS_FILE),
        reason="needs PROMETHEUS_URL and PROMETHEUS_TARGETS_FILE (run scripts/integration.sh)",
    ),
    pytest.mark.django_db(transaction=True),
]


def query(expression: str) -> list[dict]:
    url = f"{PROMETHEUS_URL}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_the_metrics_view_and_answers_a_query(live_server):
    request = urllib.request.Request(
        f"{live_server.url}/agents/echo/",
        data=json.dumps({"intent": "how many orders shipped?"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    targets = Path(TARGETS_FILE)
    with override_settings(AGENTIC_DJANGO={"METRICS_TOKEN": TOKEN}):
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        host = urllib.parse.urlsplit(live_server.url).netloc
        tmp = targets.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": [host], "labels": {"test": "scrape"}}]))
        tmp.replace(targets)  # atomically, so Prometheus never reads half a file
        try:
            expression = 'agentic_requests_total{endpoint="echo",status="completed",test="scrape"}'
            deadline = time.monotonic() + DEADLINE_SECONDS
            result: list[dict] = []
            while time.monotonic() < deadline:
                result = query(expression)
                if result:
                    break
                time.sleep(0.5)
            up = query(f'up{{instance="{host}"}}')
        finally:
            targets.write_text("[]")
    assert result, f"Prometheus never stored {expression}"
    assert float(result[0]["value"][1]) >= 1
    assert up and up[0]["value"][1] == "1"  # the scrape itself succeeded (token accepted)
