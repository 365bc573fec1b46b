"""Without the ``mcp`` extra nothing changes, and the checks say what MCP settings need."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agentic_django.checks import E012_MCP_SDK_MISSING, E013_BAD_MCP_SERVER, check_mcp
from agentic_django.mcp.tools import mcp_tools

from .conftest import ROOT

BLOCKED_SDK = """
import json, sys
sys.modules["mcp"] = None          # what an environment without the extra looks like
sys.modules["mcp_types"] = None
import django
django.setup()
from django.core.management import call_command
from django.urls import resolve
from agentic_django.asgi import get_application
from agentic_django.routing import http_urlpatterns
from agentic_django import agents
import agentic_django.mcp
application = get_application()
call_command("check")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("mcp", "mcp_types")
                and sys.modules[name] is not None)
print(json.dumps({
    "patterns": [str(p.pattern) for p in http_urlpatterns()],
    "sdk_available": agentic_django.mcp.sdk_available(),
    "loaded": loaded,
    "endpoints": len(agents),
}))
"""


def test_the_app_runs_without_the_sdk_and_serves_no_mcp_route():
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT), "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_SDK], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["sdk_available"] is False
    assert report["loaded"] == []
    assert report["endpoints"] > 0
    assert not any("mcp" in pattern for pattern in report["patterns"])


def test_with_the_sdk_the_mcp_route_is_mounted():
    from agentic_django.routing import http_urlpatterns

    assert any("agents/mcp" in str(p.pattern) for p in http_urlpatterns())


def test_mcp_settings_are_checked(settings, site, monkeypatch):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "MCP_SERVERS": {
            **settings.AGENTIC_DJANGO.get("MCP_SERVERS", {}),
            "both": {"COMMAND": ["x"], "URL": "http://x"},
            "ok": {"URL": "http://x"},
        },
    }

    @site.agent_endpoint("uses_missing", tools=[mcp_tools("nowhere")])
    async def uses_missing(intent):
        return None

    messages = check_mcp()
    assert [m.id for m in messages] == [E013_BAD_MCP_SERVER, E013_BAD_MCP_SERVER]
    assert "COMMAND" in messages[0].msg and "'nowhere'" in messages[1].msg

    monkeypatch.setattr("agentic_django.checks.mcp.sdk_available", lambda: False)
    assert E012_MCP_SDK_MISSING in [m.id for m in check_mcp()]


@pytest.mark.parametrize("value", [True, False])
def test_an_endpoints_own_mcp_option_wins_over_the_setting(settings, site, value):
    from agentic_django.mcp.exposure import exposed_endpoints

    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "MCP": value}

    @site.agent_endpoint("opted_in", mcp=True)
    async def opted_in(intent):
        return None

    @site.agent_endpoint("opted_out", mcp=False)
    async def opted_out(intent):
        return None

    names = {endpoint.name for endpoint in exposed_endpoints(site)}
    assert "opted_in" in names and "opted_out" not in names
    assert ("echo" in names) is value
