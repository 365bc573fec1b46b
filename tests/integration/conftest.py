"""Real Celery workers for the integration tests: Redis broker, the suite's PostgreSQL test DB.

``scripts/integration.sh`` starts both services on loopback and exports
``CELERY_BROKER_URL`` and ``DATABASE_URL``. A worker is a separate process, so
the data it must see has to be committed: tests here use
``django_db(transaction=True)``, and the worker is pointed at the test database
pytest-django created (not the one ``DATABASE_URL`` names).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
#: Only to stop polling: a generous bound on anything a worker does in these tests.
DEADLINE_SECONDS = 90.0


def broker_url() -> str:
    return str(getattr(django_settings, "CELERY_BROKER_URL", ""))


def services_missing() -> str:
    """Why the Celery integration tests cannot run here, or '' when they can."""
    if not broker_url().startswith("redis://"):
        return (
            "needs CELERY_BROKER_URL=redis://... (a Redis broker for real Celery workers); "
            "run scripts/integration.sh, or export CELERY_BROKER_URL=$(scripts/redis.sh start)"
        )
    if connection.vendor != "postgresql":
        return (
            "needs PostgreSQL (workers share the test database with the test process); "
            "export DATABASE_URL=$(scripts/postgres.sh start), or run scripts/integration.sh"
        )
    return ""


def worker_database_url() -> str:
    """A DATABASE_URL for the test database of this run (read after pytest-django set it up)."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"


class Worker:
    """One ``celery -A tests.celery_app worker`` process group, its own session."""

    def __init__(self, app: Any, log: Path, env: dict[str, str]) -> None:
        self.app = app
        self.log = log
        self.node = f"agentic-test-{uuid.uuid4().hex[:8]}@localhost"
        command = [
            sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
            "--concurrency", "2", "--loglevel", "warning", "-n", self.node,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        with log.open("w") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its pid is the group id: kill the pool with it
            )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text()[-chars:]
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(
                f"The Celery worker exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def wait_ready(self) -> Worker:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            self.check_alive()
            if self.app.control.ping(destination=[self.node], timeout=0.5):
                return self
            if time.monotonic() > deadline:
                pytest.fail(f"The Celery worker did not answer a ping:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
            except ProcessLookupError:
                pass


@pytest.fixture
def celery_app(settings) -> Iterator[Any]:
    """The test process sends to Redis: TASK_RUNNER "celery", tasks bound to tests.celery_app.

    Skips (with the reason) unless the broker is Redis and the database PostgreSQL.
    Messages a previous test left behind are dropped first.
    """
    reason = services_missing()
    if reason:
        pytest.skip(reason)
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "TASK_RUNNER": "celery"}
    from tests.celery_app import app

    app.set_current()
    app.set_default()
    app.control.purge()
    broker = redis_client()
    broker.delete("unacked", "unacked_index")
    yield app
    broker.close()


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(broker_url())


@pytest.fixture
def start_worker(celery_app, transactional_db, tmp_path) -> Iterator[Callable[..., Worker]]:
    """``start_worker(lease_seconds=300)``: a ready worker on the test DB; stopped at teardown."""
    started: list[Worker] = []

    def start(*, lease_seconds: int = 300, extra_env: dict[str, str] | None = None) -> Worker:
        env = {
            **(extra_env or {}),
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "CELERY_BROKER_URL": broker_url(),
            "DATABASE_URL": worker_database_url(),
            "AGENTIC_TASK_RUNNER": "celery",
            "AGENTIC_APPROVAL_LEASE_SECONDS": str(lease_seconds),
        }
        worker = Worker(celery_app, tmp_path / f"worker-{len(started) + 1}.log", env)
        started.append(worker)
        return worker.wait_ready()

    yield start
    for worker in started:
        worker.stop()


def wait_for(predicate: Callable[[], Any], what: str, *, workers: tuple[Worker, ...] = ()) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        value = predicate()
        if value:
            return value
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.node} ---\n{w.log_tail()}" for w in workers)
            pytest.fail(f"Gave up after {DEADLINE_SECONDS:.0f}s waiting for {what}.\n{logs}")
        time.sleep(0.05)
