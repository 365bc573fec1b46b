"""Bad input gets a clear JSON error and writes nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from agentic_django.models import AgentSession, ExecutionTrace, SessionTurn

pytestmark = pytest.mark.django_db


def assert_nothing_written():
    assert AgentSession.objects.count() == 0
    assert ExecutionTrace.objects.count() == 0
    assert SessionTurn.objects.count() == 0


def raw_post(client, name, data, content_type="application/json"):
    return client.post(f"/agents/{name}/", data, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "JSON parse error"),
        (json.dumps({}), "intent"),
        (json.dumps({"intent": ""}), "intent"),
        (json.dumps({"intent": "   "}), "intent"),
        (json.dumps({"intent": 42}), "intent: Must be a string."),
        (json.dumps({"intent": "ok", "session_id": 7}), "session_id: Must be a string."),
        (json.dumps({"intent": "ok", "params": "x"}), "params"),
        (json.dumps(["intent"]), "Invalid"),
    ],
)
def test_malformed_bodies_are_400(client, body, message):
    response = raw_post(client, "echo", body)
    assert response.status_code == 400
    data = response.json()
    assert data["status"] == "error"
    assert message in data["error"]
    assert_nothing_written()


@override_settings(AGENTIC_DJANGO={"MAX_INTENT_CHARS": 10})
def test_an_intent_over_the_limit_is_400(client):
    response = raw_post(client, "echo", json.dumps({"intent": "x" * 11}))
    assert response.status_code == 400
    assert "limit is 10" in response.json()["error"]
    assert_nothing_written()


def test_params_that_do_not_match_the_typed_intent_are_400(client):
    response = raw_post(
        client, "orders", json.dumps({"intent": "list", "params": {"limit": "many"}})
    )
    assert response.status_code == 400
    assert "limit" in json.dumps(response.json()["errors"])
    assert_nothing_written()


def test_params_on_an_untyped_endpoint_are_400(client):
    response = raw_post(client, "echo", json.dumps({"intent": "x", "params": {"a": 1}}))
    assert response.status_code == 400
    assert_nothing_written()


def test_an_unknown_endpoint_is_404(client, user):
    # Anonymous callers learn nothing about which names exist: the default needs a login.
    assert raw_post(client, "nope", json.dumps({"intent": "x"})).status_code in (401, 403)
    client.force_login(user)
    response = raw_post(client, "nope", json.dumps({"intent": "x"}))
    assert response.status_code == 404
    assert response.json()["status"] == "error"
    assert_nothing_written()


def test_an_unsupported_content_type_is_415(client):
    response = raw_post(client, "echo", "intent=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert_nothing_written()


@override_settings(AGENTIC_DJANGO={"MAX_UPLOAD_BYTES": 100})
def test_an_upload_over_the_limit_is_413(client):
    response = client.post(
        "/agents/echo/",
        {"intent": "read", "doc": SimpleUploadedFile("big.bin", b"x" * 101)},
    )
    assert response.status_code == 413
    assert (
        "limit of 100 bytes" in response.json()["error"]
        or "limit is 100" in response.json()["error"]
    )
    assert_nothing_written()


@override_settings(AGENTIC_DJANGO={"MAX_UPLOAD_BYTES": 100})
def test_a_body_far_over_the_limit_is_refused_unread(client):
    response = client.post(
        "/agents/echo/",
        {"intent": "read", "doc": SimpleUploadedFile("big.bin", b"x" * 200_000)},
    )
    assert response.status_code == 413
    assert_nothing_written()


def test_get_on_an_endpoint_is_405(client):
    response = client.get("/agents/echo/")
    assert response.status_code == 405
    assert_nothing_written()
