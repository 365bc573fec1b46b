from __future__ import annotations

import pytest

pytest_plugins = ["agentic_django.testing"]


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw-alice")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw-bob")


@pytest.fixture
async def close_worker_connections():
    """Close the DB connection async tests open in asgiref's sync worker thread.

    Otherwise PostgreSQL refuses to drop the test database at the end of the run.
    """
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
def site():
    """The default site, restored after the test (endpoints registered inside vanish)."""
    from agentic_django.testing import isolated_agents

    with isolated_agents() as site:
        yield site
