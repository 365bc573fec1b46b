"""The serving recipes of docs/deploy.md, run on loopback against the example project.

Development: ``runserver`` with daphne first in ``INSTALLED_APPS`` is daphne's ASGI
server, so streams work beside JSON, and it serves the admin's static files.
Production: ``collectstatic``, then daphne on the project's ASGI application (the
proxy serves ``STATIC_ROOT``; daphne serves no files), or gunicorn managing uvicorn
workers with WhiteNoise serving the files; beside them a Celery worker and beat,
which run the scheduled approval sweep.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from .conftest import HOST, ROOT, USERS_SCRIPT, _free_port

pytestmark = pytest.mark.integration

#: The commands the virtualenv installs (gunicorn, celery), as docs/deploy.md runs them.
BIN = Path(sys.executable).parent


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
    """Start ``command`` in a session of its own: its pid is the group of its children."""
    with log.open("w") as output:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60  # a hang guard only
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"{base}/agents/health/", timeout=2):
                return
        except OSError:  # refused, or accepted by a master whose workers are still booting
            time.sleep(0.2)
    raise AssertionError(f"the server did not start: {log.read_text()[-2000:]}")


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM, as a process manager stops it; then SIGKILL to the whole group (gunicorn's
    and Celery's worker processes included), so no child outlives the test."""
    server.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=20)


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


def _collectstatic(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    assert (Path(env["STATIC_ROOT"]) / "admin" / "css" / "base.css").is_file()


def test_collectstatic_then_daphne_serves_json_and_streams(project, tmp_path):
    env, token = project
    production = {**env, "DEBUG": "false", "SERVE_STATIC": "false"}
    _collectstatic(production)
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


def _socket_streams_a_run(base: str, token: str) -> None:
    """A WebSocket opens, takes an intent and streams the run's first event."""
    url = base.replace("http://", "ws://", 1) + "/agents/refunds/ws/"
    headers = {"Authorization": f"Token {token}"}
    with connect(url, additional_headers=headers, open_timeout=30) as socket:
        socket.send(json.dumps({"type": "intent", "intent": "refund my last order"}))
        run = json.loads(socket.recv(timeout=60))
        assert run["type"] == "run", run
        event = json.loads(socket.recv(timeout=60))
    assert event["type"] == "event", event
    assert event["run_id"] == run["run_id"]
    assert event["event"]["kind"] == "thought", event


def test_gunicorn_uvicorn_workers_with_whitenoise_serve_everything(project, tmp_path):
    env, token = project
    production = {**env, "DEBUG": "false", "WHITENOISE": "true"}
    _collectstatic(production)
    port = _free_port()
    base = f"http://{HOST}:{port}"
    command = [
        str(BIN / "gunicorn"), "example_project.asgi:application",
        "-k", "uvicorn_worker.UvicornWorker", "-w", "2", "-b", f"{HOST}:{port}",
        # Its control socket lives in ~/.gunicorn by default, one path for every test run.
        "--no-control-socket",
        # A worker told to stop waits for its open requests, up to this (30 s by default).
        "--graceful-timeout", "5",
    ]  # fmt: skip
    log = tmp_path / "gunicorn.log"
    server = _serve(command, production, log)
    try:
        _wait(base, server, log)
        _answers_json_and_streams(base, token)
        _socket_streams_a_run(base, token)
        with urllib.request.urlopen(f"{base}/static/admin/css/base.css", timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/css")
    finally:
        _stop(server)
    assert "uvicorn_worker.UvicornWorker" in log.read_text()


EXPIRED_REQUEST_SCRIPT = """
import django
django.setup()
from datetime import timedelta
from django.utils import timezone
from agentic_django.models import ApprovalRequest
request = ApprovalRequest.objects.create(
    kind="code", endpoint_name="refunds", rule_name="deploy", action={"code": "result = 1"},
    fingerprint="deploy", expires_at=timezone.now() - timedelta(minutes=1),
)
print(request.request_id)
"""


def test_celery_worker_and_beat_run_the_approval_sweep(project, tmp_path):
    """Beat sends the scheduled sweep, the worker carries it out: a due request expires."""
    env, _ = project
    celery_env = {
        **env,
        "AGENTIC_TASK_RUNNER": "celery",
        "CELERY_BROKER_FOLDER": str(tmp_path / "broker"),
        # The sweep's period, a minute by default, shortened so the test need not wait.
        "AGENTIC_APPROVAL_SWEEP_SECONDS": "0.5",
    }
    request_id = subprocess.run(
        [sys.executable, "-c", EXPIRED_REQUEST_SCRIPT],
        cwd=ROOT,
        env=celery_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    celery = [str(BIN / "celery"), "-A", "example_project"]
    worker = _serve(
        [*celery, "worker", "--concurrency", "1", "--loglevel", "info"],
        celery_env,
        tmp_path / "worker.log",
    )
    beat = _serve(
        [*celery, "beat", "--loglevel", "info", "--schedule", str(tmp_path / "beat-schedule")],
        celery_env,
        tmp_path / "beat.log",
    )
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    status = "pending"
    try:
        deadline = time.monotonic() + 60  # a hang guard only
        while status == "pending" and time.monotonic() < deadline:
            for process, name in ((worker, "worker.log"), (beat, "beat.log")):
                assert process.poll() is None, (tmp_path / name).read_text()[-2000:]
            time.sleep(0.2)
            with sqlite3.connect(database) as connection:
                [(status,)] = connection.execute(
                    "SELECT status FROM agentic_django_approvalrequest WHERE request_id = ?",
                    (request_id,),
                ).fetchall()
    finally:
        beat.terminate()  # both stop at once
        _stop(worker)
        _stop(beat)
    logs = (tmp_path / "worker.log").read_text() + (tmp_path / "beat.log").read_text()
    assert status == "expired", logs[-3000:]
    assert "agentic_django.expire_approvals" in (tmp_path / "beat.log").read_text()
