"""The serving recipes of docs/deploy.md, run on loopback against the example project.

Development: ``runserver`` with daphne first in ``INSTALLED_APPS`` is daphne's ASGI
server, so streams work beside JSON, and it serves the admin's static files.
Production: ``collectstatic``, then daphne on the project's ASGI application (the
proxy serves ``STATIC_ROOT``; daphne serves no files).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import HOST, ROOT, USERS_SCRIPT, _free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[dict[str, str], str]:
    """A migrated, seeded example database and the customer's API token."""
    workdir = tmp_path_factory.mktemp("serving")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "AGENTIC_LLM": "demo",
        "AGENTIC_TASK_RUNNER": "inline",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_FOLDER": str(workdir / "broker"),
        "STATIC_ROOT": str(workdir / "static"),
    }
    for args in (["manage.py", "migrate", "--noinput"], ["manage.py", "seed_shop"]):
        subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, capture_output=True)
    tokens = subprocess.run(
        [sys.executable, "-c", USERS_SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return env, json.loads(tokens)["ada"]


def _serve(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


def _wait(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60  # a hang guard only
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"{base}/agents/health/", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"the server did not start: {log.read_text()[-2000:]}")


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def _request(base: str, path: str, token: str, intent: str) -> urllib.request.Request:
    return urllib.request.Request(
        f"{base}{path}",
        json.dumps({"intent": intent}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _answers_json_and_streams(base: str, token: str) -> None:
    json_request = _request(base, "/agents/orders/", token, "how many orders shipped?")
    with urllib.request.urlopen(json_request, timeout=60) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
    # The refunds agent streams its progress, then waits for the customer's approval:
    # its first event is enough to know the stream is served.
    stream_request = _request(base, "/agents/refunds/stream/", token, "refund my last order")
    with urllib.request.urlopen(stream_request, timeout=60) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        lines = iter(response.readline, b"")
        first = next(line for line in lines if line.startswith(b"event:"))
    assert first.strip() == b"event: thought", first


def test_runserver_with_daphne_installed_serves_json_streams_and_static(project, tmp_path):
    env, token = project
    port = _free_port()
    base = f"http://{HOST}:{port}"
    command = [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"]
    server = _serve(command, {**env, "DEBUG": "true"}, tmp_path / "runserver.log")
    try:
        _wait(base, server, tmp_path / "runserver.log")
        _answers_json_and_streams(base, token)
        assert _status(f"{base}/static/admin/css/base.css") == 200
    finally:
        _stop(server)
    assert "ASGI/Daphne" in (tmp_path / "runserver.log").read_text()


def test_collectstatic_then_daphne_serves_json_and_streams(project, tmp_path):
    env, token = project
    production = {**env, "DEBUG": "false", "SERVE_STATIC": "false"}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=production,
        check=True,
        capture_output=True,
    )
    assert (Path(env["STATIC_ROOT"]) / "admin" / "css" / "base.css").is_file()
    port = _free_port()
    base = f"http://{HOST}:{port}"
    command = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port)]
    server = _serve([*command, "example_project.asgi:application"], production, tmp_path / "d.log")
    try:
        _wait(base, server, tmp_path / "d.log")
        _answers_json_and_streams(base, token)
        # Files are the proxy's job (STATIC_ROOT), not daphne's.
        assert _status(f"{base}/static/admin/css/base.css") == 404
    finally:
        _stop(server)
