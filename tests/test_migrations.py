from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_models_and_migrations_are_in_sync():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def _manage(database, *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` on a fresh SQLite file, the way a project runs it."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def _tables(database) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_partial_and_reverse_migrations_run_without_our_tables(tmp_path):
    database = tmp_path / "db.sqlite3"
    # Another app first, before our tables exist: the agent rows wait for them.
    first = _manage(database, "migrate", "auth", "--noinput")
    assert first.returncode == 0, first.stderr
    assert "agentic_django_agent" not in _tables(database)
    # Everything: the rows of the registered endpoints appear.
    full = _manage(database, "migrate", "--noinput")
    assert full.returncode == 0, full.stderr
    with sqlite3.connect(database) as connection:
        names = {name for (name,) in connection.execute("SELECT name FROM agentic_django_agent")}
    assert {"echo", "orders"} <= names
    # And back to zero: nothing left to write to, and no crash.
    zero = _manage(database, "migrate", "agentic_django", "zero", "--noinput")
    assert zero.returncode == 0, zero.stderr
    assert not {table for table in _tables(database) if table.startswith("agentic_django_")}
