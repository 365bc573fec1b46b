"""Sessions are bound to their owners and expire."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from agentic_django.models import AgentSession, ExecutionTrace

pytestmark = pytest.mark.django_db


def post(client, body):
    return client.post("/agents/remember/", json.dumps(body), content_type="application/json")


def test_a_session_carries_context_across_turns(client):
    first = post(client, {"intent": "remember"}).json()
    second = post(client, {"intent": "remember", "session_id": first["session_id"]}).json()
    assert second["session_id"] == first["session_id"]
    assert second["result"] == {"count": 2}
    session = AgentSession.objects.get(session_id=first["session_id"])
    assert session.context == {"count": 2}
    assert list(session.turns.values_list("index", flat=True)) == [1, 2]
    assert session.traces.count() == 2


def test_someone_elses_session_is_never_revealed_or_extended(client, user, other_user):
    client.force_login(user)
    alice = post(client, {"intent": "remember"}).json()
    alice_session = AgentSession.objects.get(session_id=alice["session_id"])
    expires_before = alice_session.expires_at

    client.force_login(other_user)
    bob = post(client, {"intent": "remember", "session_id": alice["session_id"]}).json()
    assert bob["session_id"] != alice["session_id"]
    assert bob["result"] == {"count": 1}  # Alice's context was not visible
    alice_session.refresh_from_db()
    assert alice_session.turn_count == 1
    assert alice_session.expires_at == expires_before
    assert AgentSession.objects.get(session_id=bob["session_id"]).user == other_user


def test_an_anonymous_caller_cannot_use_a_users_session(client, user):
    client.force_login(user)
    alice = post(client, {"intent": "remember"}).json()
    client.logout()
    anon = post(client, {"intent": "remember", "session_id": alice["session_id"]}).json()
    assert anon["session_id"] != alice["session_id"]
    assert anon["result"] == {"count": 1}


def test_an_expired_session_starts_fresh(client):
    first = post(client, {"intent": "remember"}).json()
    AgentSession.objects.filter(session_id=first["session_id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    again = post(client, {"intent": "remember", "session_id": first["session_id"]}).json()
    assert again["session_id"] != first["session_id"]
    assert again["result"] == {"count": 1}


def test_unknown_session_ids_get_a_new_server_chosen_id(client):
    body = post(client, {"intent": "remember", "session_id": "attacker-chosen"}).json()
    assert body["session_id"] != "attacker-chosen"
    assert not AgentSession.objects.filter(session_id="attacker-chosen").exists()


@override_settings(AGENTIC_DJANGO={"SESSION_TTL_SECONDS": 60})
def test_session_ttl_comes_from_settings(client):
    body = post(client, {"intent": "remember"}).json()
    session = AgentSession.objects.get(session_id=body["session_id"])
    lifetime = session.expires_at - session.last_accessed_at
    assert lifetime == timedelta(seconds=60)
    assert ExecutionTrace.objects.filter(session=session).count() == 1
