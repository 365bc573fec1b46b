"""The example project served by daphne on loopback, with its own SQLite database.

Tests here talk to it over real HTTP, the way a client of the demo would, and read
its database file directly to check what was recorded.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import CHROMEDRIVER, CHROMIUM, missing

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

USERS_SCRIPT = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from rest_framework.authtoken.models import Token
User = get_user_model()
staff = User.objects.create_user("manager", "manager@example.com", "pw", is_staff=True)
managers = Group.objects.create(name="managers")
managers.permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
staff.groups.add(managers)
ada = User.objects.create_user("ada", "ada.lovelace@example.com", "pw")
alan = User.objects.create_user("alan", "alan.turing@example.com", "pw")
import json
print(json.dumps({u.username: Token.objects.create(user=u).key for u in (staff, ada, alan)}))
"""


class Shop:
    def __init__(
        self, base: str, tokens: dict[str, str], database: Path, env: dict[str, str]
    ) -> None:
        self.base = base
        self.tokens = tokens
        self.database = database
        self.env = env

    def python(self, script: str, *args: str) -> str:
        """Run ``script`` (which calls ``django.setup()``) against the shop's database."""
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def post(self, endpoint: str, body: dict, user: str | None = None) -> tuple[int, dict]:
        return self.call(f"/agents/{endpoint}/", body, user)

    def call(
        self, path: str, body: dict | None = None, user: str | None = None
    ) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if user is not None:
            headers["Authorization"] = f"Token {self.tokens[user]}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data, headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.database) as connection:
            return connection.execute(sql, params).fetchall()

    def trace(self, trace_id: str) -> dict:
        columns = ("status", "harness_report", "tool_calls", "checkpoint", "generated_code")
        [row] = self.query(
            f"SELECT {', '.join(columns)} FROM agentic_django_executiontrace WHERE trace_id = ?",
            trace_id,
        )
        trace = dict(zip(columns, row, strict=True))
        for key in ("harness_report", "tool_calls", "checkpoint"):
            trace[key] = json.loads(trace[key]) if trace[key] else None
        return trace


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(base: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"daphne exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/agents/health/", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(f"daphne did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Iterator[Shop]:
    yield from _serve_shop(tmp_path_factory, "example_project.settings")


@pytest.fixture(scope="module")
def hostile_shop(tmp_path_factory) -> Iterator[Shop]:
    """The shop whose model writes hostile programs on request (``tests.example.hostile_llm``)."""
    yield from _serve_shop(tmp_path_factory, "tests.example.hostile_settings")


def _serve_shop(tmp_path_factory, settings_module: str) -> Iterator[Shop]:
    workdir = tmp_path_factory.mktemp("shop")
    database = workdir / "shop.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": f"sqlite:///{database}",
        "AGENTIC_LLM": "demo",
        "DEBUG": "false",
        # The suite sends many requests per user; throttling has its own test.
        "LLM_THROTTLE_RATE": "10000/minute",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_FOLDER": str(workdir / "broker"),
    }

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout

    manage("manage.py", "migrate", "--noinput")
    manage("manage.py", "seed_shop")
    tokens = json.loads(manage("-c", USERS_SCRIPT))
    port = _free_port()
    log = workdir / "daphne.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port),
             "example_project.asgi:application"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    with (workdir / "worker.log").open("w") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "example_project", "worker",
             "--concurrency", "1", "--loglevel", "warning"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://{HOST}:{port}"
    try:
        _wait_until_serving(base, server, log)
        yield Shop(base, tokens, database, env)
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def chromium() -> None:
    """Skip (fail in CI) without a browser to drive; request it before ``shop``."""
    reason = missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Browser tests cannot run in CI: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def browser(chromium):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
