"""Without the ``prometheus`` and ``otel`` extras the app imports, runs and records as before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A meta path finder refusing the extras' packages, as if they were not installed. The
# mcp SDK needs opentelemetry-api, so an environment without it has no mcp SDK either.
SCRIPT = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("prometheus_client", "opentelemetry"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Missing())
sys.modules["mcp"] = sys.modules["mcp_types"] = None  # as the mcp tests block the SDK
import django
django.setup()
from django.core.management import call_command
from django.test.utils import setup_test_environment
from django.test import Client

from agentic_django.observability import metrics, tracing
import agentic_django.urls  # the metrics route imports without prometheus_client

assert not metrics.enabled and not tracing.enabled
assert "prometheus_client" not in sys.modules and "opentelemetry" not in sys.modules
setup_test_environment()
call_command("migrate", verbosity=0)
response = Client().post(
    "/agents/echo/", {"intent": "show me my orders"}, content_type="application/json"
)
assert response.status_code == 200, response.content
from agentic_django.models import ExecutionTrace
trace = ExecutionTrace.objects.get(trace_id=response.json()["execution_trace_id"])
assert trace.otel_trace_id == ""
from django.test import override_settings
with override_settings(AGENTIC_DJANGO={"METRICS_PUBLIC": True}):
    assert Client().get("/agents/metrics/").status_code == 404
print("ok")
"""


def test_the_app_runs_without_the_observability_extras(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
