"""Streams across two real daphne processes sharing Redis (channels_redis) and PostgreSQL.

A run started on one process is followed from the other; an approval decided on
the second wakes the handler waiting on the first; a client that reconnects with
``Last-Event-ID`` gets every event exactly once, in order; a run whose client
went away still completes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentic_django.models import AgentRun

from .conftest import ROOT, services_missing, wait_for, worker_database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Daphne:
    def __init__(self, log: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log = log
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(self.port),
                 "tests.asgi:application"],
                cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_ready(self) -> Daphne:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"daphne exited:\n{self.log.read_text()[-3000:]}")
            try:
                httpx.get(f"{self.base}/agents/health/", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        pytest.fail(f"daphne did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def two_daphnes(transactional_db, tmp_path) -> Iterator[tuple[Daphne, Daphne]]:
    reason = services_missing()
    redis_url = os.environ.get("REDIS_URL", "")
    if reason or not redis_url:
        pytest.skip(reason or "needs REDIS_URL (channels_redis); run scripts/integration.sh")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": worker_database_url(),
        "AGENTIC_CHANNEL_LAYER_REDIS": redis_url,
    }
    servers = [Daphne(tmp_path / f"daphne-{n}.log", env) for n in (1, 2)]
    try:
        yield servers[0].wait_ready(), servers[1].wait_ready()
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def token(django_user_model) -> str:
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user("streamer", password="pw")
    return Token.objects.create(user=user).key


def sse_events(lines: Iterator[str]) -> Iterator[dict]:
    """Parse SSE lines into the events' JSON objects (checking ``id`` and ``event``)."""
    frame: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in frame:
                event = json.loads(frame["data"])
                assert (frame["event"], int(frame["id"])) == (event["kind"], event["seq"])
                yield event
            frame = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            frame[field] = value


def test_a_run_on_one_process_is_followed_and_approved_from_the_other(two_daphnes, token):
    first, second = two_daphnes
    auth = {"Authorization": f"Token {token}"}
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST", f"{first.base}/agents/ask/stream/", json={"intent": "refund, wait 60"},
            headers=auth,
        ) as started,
    ):  # fmt: skip
        assert started.status_code == 200
        run_id = started.headers["x-agent-run-id"]
        on_first = sse_events(started.iter_lines())
        seen_first = []
        for event in on_first:
            seen_first.append(event)
            if event["kind"] == "approval_requested":
                break
        approval_id = seen_first[-1]["approval_id"]
        with client.stream(
            "GET", f"{second.base}/agents/runs/{run_id}/events/", headers=auth
        ) as followed:
            on_second = sse_events(followed.iter_lines())
            seen_second = [next(on_second) for _ in seen_first]
            assert seen_second == seen_first  # the replay, from the database
            decided = client.post(
                f"{second.base}/agents/runs/{run_id}/resume/",
                json={"approval_id": approval_id, "decision": "approve"},
                headers=auth,
            )
            assert decided.status_code == 200, decided.text
            seen_second += list(on_second)  # live, through Redis, until final
        seen_first += list(on_first)  # the handler on the first process woke up
    assert [e["seq"] for e in seen_first] == list(range(len(seen_first)))
    assert seen_first == seen_second
    kinds = [e["kind"] for e in seen_first]
    assert kinds[-3:] == ["approval_requested", "approval_resolved", "final"]
    assert seen_first[-2]["decided_by"] == "streamer" and not seen_first[-2]["timed_out"]
    assert seen_first[-1]["result"] == {"decision": "approve"}
    assert AgentRun.objects.get(run_id=run_id).status == "completed"


def test_reconnecting_elsewhere_with_last_event_id_resumes_exactly(two_daphnes, token):
    first, second = two_daphnes
    auth = {"Authorization": f"Token {token}"}
    total = 2000
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST", f"{first.base}/agents/chatty/stream/", json={"intent": f"give {total}"},
            headers=auth,
        ) as started,
    ):  # fmt: skip
        run_id = started.headers["x-agent-run-id"]
        received = []
        for event in sse_events(started.iter_lines()):
            received.append(event)
            if len(received) == 50:
                break  # the client goes away mid-stream
    # Its run carries on without it, on the first process.
    wait_for(
        lambda: AgentRun.objects.filter(run_id=run_id, status="completed").exists(),
        "the run to complete after its client left",
    )
    last_id = str(received[-1]["seq"])
    with httpx.Client(timeout=60) as client:
        rest = client.get(
            f"{second.base}/agents/runs/{run_id}/events/",
            headers={**auth, "Last-Event-ID": last_id},
        )
    assert rest.status_code == 200
    received += list(sse_events(iter(rest.text.split("\n"))))
    assert [e["seq"] for e in received] == list(range(total + 1))
    assert [e["text"] for e in received[:-1]] == [f"part {n}" for n in range(total)]
    assert received[-1]["kind"] == "final" and received[-1]["result"] == {"parts": total}


def test_someone_elses_run_is_not_found_on_either_process(two_daphnes, token, django_user_model):
    from rest_framework.authtoken.models import Token

    first, second = two_daphnes
    other = Token.objects.create(user=django_user_model.objects.create_user("other")).key
    with httpx.Client(timeout=60) as client:
        response = client.post(
            f"{first.base}/agents/chatty/stream/",
            json={"intent": "give 2"},
            headers={"Authorization": f"Token {token}"},
        )
        run_id = response.headers["x-agent-run-id"]
        for server in (first, second):
            theirs = client.get(
                f"{server.base}/agents/runs/{run_id}/events/",
                headers={"Authorization": f"Token {other}"},
            )
            unknown = client.get(
                f"{server.base}/agents/runs/{'0' * 32}/events/",
                headers={"Authorization": f"Token {other}"},
            )
            assert theirs.status_code == unknown.status_code == 404
            assert theirs.json() == unknown.json()
