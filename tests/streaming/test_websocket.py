"""``ws://…/agents/<name>/ws/``: intents, subscriptions and decisions over one socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import UserRateThrottle

from agentic_django import Intent
from agentic_django.asgi import get_application
from agentic_django.consumers.websocket import MAX_FRAME_BYTES
from agentic_django.core.exceptions import PermissionDenied
from agentic_django.models import AgentRun, ApprovalRequest, StreamEvent
from agentic_django.services import approvals, runs
from agentic_django.services.stream_approvals import decide_stream
from agentic_django.streaming import AgentStream

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]

#: A hang guard only: every wait below normally ends in milliseconds.
TIMEOUT = 20

Message = dict[str, Any]


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
async def _stop_live_runs():
    """No run of a test outlives it (one left waiting would write into the next test)."""
    yield
    for run_id, task in list(runs._live.items()):
        runs.cancel_local(run_id)
        await asyncio.wait([task], timeout=TIMEOUT)


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


@pytest.fixture
def other_token(other_user) -> str:
    return Token.objects.create(user=other_user).key


@pytest.fixture
def approver(django_user_model):
    """Carol may decide other people's approval requests."""
    carol = django_user_model.objects.create_user(username="carol", password="pw-carol")
    carol.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    return carol


@pytest.fixture
def session_cookie(user) -> str:
    client = Client()
    assert client.login(username="alice", password="pw-alice")
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def auth(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Token {key}".encode())]


@pytest.fixture
async def open_socket():
    """``open_socket(name, headers)`` → ``(communicator, connected, close_code)``."""
    opened: list[WebsocketCommunicator] = []

    async def open_(
        name: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> tuple[WebsocketCommunicator, bool, Any]:
        communicator = WebsocketCommunicator(
            get_application(), f"/agents/{name}/ws/", headers=headers or []
        )
        connected, code = await communicator.connect(timeout=TIMEOUT)
        if connected:
            opened.append(communicator)
        return communicator, connected, code

    yield open_
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect(timeout=TIMEOUT)


async def connected(open_socket, name: str, headers=None) -> WebsocketCommunicator:
    communicator, ok, code = await open_socket(name, headers)
    assert ok, f"connection to {name!r} refused with {code}"
    return communicator


# --- reading -------------------------------------------------------------------------------


async def receive(socket: WebsocketCommunicator) -> Message:
    message = await socket.receive_json_from(timeout=TIMEOUT)
    assert isinstance(message, dict)
    return message


async def collect(socket: WebsocketCommunicator, done: Callable[[list[Message]], bool]) -> list:
    """Messages until ``done(messages)`` is true (their order across runs is not fixed)."""
    messages: list[Message] = []
    while not done(messages):
        messages.append(await receive(socket))
    return messages


def ended(run_id: str) -> Callable[[list[Message]], bool]:
    return lambda messages: any(
        m["type"] == "event" and m["run_id"] == run_id and m["event"]["kind"] in ("final", "error")
        for m in messages
    )


def events_of(messages: list[Message], run_id: str) -> list[Message]:
    return [m["event"] for m in messages if m["type"] == "event" and m["run_id"] == run_id]


async def start(socket: WebsocketCommunicator, intent: str, **extra: Any) -> str:
    await socket.send_json_to({"type": "intent", "intent": intent, **extra})
    message = await receive(socket)
    assert message["type"] == "run", message
    assert isinstance(message["run_id"], str) and message["run_id"]
    return str(message["run_id"])


async def run_to_end(socket: WebsocketCommunicator, intent: str) -> tuple[str, list[Message]]:
    run_id = await start(socket, intent)
    return run_id, events_of(await collect(socket, ended(run_id)), run_id)


async def until_approval(socket: WebsocketCommunicator, run_id: str) -> Message:
    """Read ``run_id``'s events up to its ``approval_requested``; returns that event."""
    while True:
        message = await receive(socket)
        assert message["type"] == "event" and message["run_id"] == run_id, message
        if message["event"]["kind"] == "approval_requested":
            return message["event"]
        assert message["event"]["kind"] not in ("final", "error"), message


async def error_reply(socket: WebsocketCommunicator) -> Message:
    message = await receive(socket)
    assert message["type"] == "error", message
    assert isinstance(message["message"], str) and message["message"]
    return message


async def run_row(run_id: str) -> AgentRun:
    return await sync_to_async(AgentRun.objects.get)(run_id=run_id)


async def stored_events(run_id: str) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        return list(
            StreamEvent.objects.filter(run__run_id=run_id)
            .order_by("seq")
            .values_list("payload", flat=True)
        )

    return await sync_to_async(read)()


async def settle(run_id: str) -> None:
    """Wait for a run of this process to finish (a hang guard, not a timing assertion)."""
    task = runs._live.get(run_id)
    if task is not None:
        finished, _ = await asyncio.wait([task], timeout=TIMEOUT)
        assert finished, f"run {run_id} did not finish"


# --- running intents -----------------------------------------------------------------------


async def test_an_intent_streams_its_events_over_a_token_authenticated_socket(
    open_socket, token, user
):
    socket = await connected(open_socket, "chatty", auth(token))
    run_id, events = await run_to_end(socket, "give 4")

    assert [event["seq"] for event in events] == [0, 1, 2, 3, 4]
    assert [event["kind"] for event in events] == ["partial_result"] * 4 + ["final"]
    assert [event["text"] for event in events[:4]] == [f"part {n}" for n in range(4)]
    final = events[-1]
    assert final["result"] == {"parts": 4}
    assert final["status"] == "completed"
    assert all(isinstance(event["timestamp"], str) for event in events)

    await settle(run_id)
    run = await run_row(run_id)
    assert run.user_id == user.pk
    assert run.endpoint_name == "chatty"
    assert run.status == "completed"
    assert run.last_seq == 4
    assert run.intent_raw == "give 4"
    assert [event["seq"] for event in await stored_events(run_id)] == [0, 1, 2, 3, 4]


async def test_one_socket_runs_several_intents(open_socket, token):
    socket = await connected(open_socket, "chatty", auth(token))
    first, first_events = await run_to_end(socket, "give 1")
    second, second_events = await run_to_end(socket, "give 2")
    assert first != second
    assert first_events[-1]["result"] == {"parts": 1}
    assert second_events[-1]["result"] == {"parts": 2}
    assert [event["seq"] for event in second_events] == [0, 1, 2]


async def test_a_session_cookie_authenticates_the_socket(open_socket, session_cookie, user):
    socket = await connected(open_socket, "private_stream", [(b"cookie", session_cookie.encode())])
    run_id, events = await run_to_end(socket, "show me")
    assert [event["kind"] for event in events] == ["partial_result", "final"]
    assert events[0]["text"] == "for your eyes only"
    assert events[-1]["result"] == {"ok": True}
    assert (await run_row(run_id)).user_id == user.pk


async def test_a_token_opens_a_socket_to_a_private_endpoint(open_socket, token):
    socket = await connected(open_socket, "private_stream", auth(token))
    _, events = await run_to_end(socket, "show me")
    assert events[-1]["result"] == {"ok": True}


async def test_a_deleted_token_stops_an_open_socket_at_its_next_action(open_socket, token):
    socket = await connected(open_socket, "chatty", auth(token))
    await run_to_end(socket, "give 1")
    await sync_to_async(Token.objects.filter(key=token).delete)()

    await socket.send_json_to({"type": "intent", "intent": "give 1"})

    assert (await error_reply(socket))["code"] == "not_authenticated"
    assert (await socket.receive_output(timeout=TIMEOUT))["type"] == "websocket.close"
    assert await sync_to_async(AgentRun.objects.count)() == 1


async def test_a_deactivated_user_may_no_longer_decide_or_start_runs(
    open_socket, session_cookie, user
):
    socket = await connected(open_socket, "private_stream", [(b"cookie", session_cookie.encode())])
    user.is_active = False
    await sync_to_async(user.save)()

    await socket.send_json_to({"type": "decision", "approval_id": "x", "decision": "approve"})

    assert (await error_reply(socket))["code"] == "not_authenticated"
    close = await socket.receive_output(timeout=TIMEOUT)
    assert close == {"type": "websocket.close", "code": 4401}


async def test_anonymous_callers_of_a_private_endpoint_are_refused(open_socket):
    _, ok, code = await open_socket("private_stream")
    assert (ok, code) == (False, 4401)


async def test_a_bad_token_is_refused_as_unauthenticated(open_socket):
    _, ok, code = await open_socket("chatty", auth("not-a-real-token"))
    assert (ok, code) == (False, 4401)


async def test_an_unknown_endpoint_is_refused(open_socket, token):
    _, ok, code = await open_socket("no_such_agent", auth(token))
    assert (ok, code) == (False, 4404)


async def test_an_endpoint_that_does_not_stream_is_refused_like_an_unknown_one(open_socket):
    _, ok, code = await open_socket("echo")
    assert (ok, code) == (False, 4404)


# --- origin --------------------------------------------------------------------------------


@override_settings(ALLOWED_HOSTS=["testserver"])
async def test_a_foreign_origin_is_refused(open_socket, session_cookie):
    headers = [(b"origin", b"http://evil.example"), (b"cookie", session_cookie.encode())]
    _, ok, code = await open_socket("chatty", headers)
    assert (ok, code) == (False, 4403)


@override_settings(ALLOWED_HOSTS=["testserver"])
@pytest.mark.parametrize("origin", [b"null", b"file://testserver", b"testserver"])
async def test_an_origin_that_is_not_a_web_site_is_refused(open_socket, origin):
    _, ok, code = await open_socket("chatty", [(b"origin", origin)])
    assert (ok, code) == (False, 4403)


@override_settings(ALLOWED_HOSTS=["testserver"])
async def test_the_sites_own_origin_is_accepted(open_socket, session_cookie):
    headers = [
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
        (b"cookie", session_cookie.encode()),
    ]
    socket = await connected(open_socket, "chatty", headers)
    _, events = await run_to_end(socket, "give 1")
    assert events[-1]["result"] == {"parts": 1}


@override_settings(ALLOWED_HOSTS=["testserver"])
@pytest.mark.parametrize(
    "origin", [b"http://testserver:8080", b"https://testserver", b"https://testserver:8443"]
)
async def test_another_port_or_scheme_of_the_same_host_is_refused(
    open_socket, origin, session_cookie
):
    # Django's CSRF rule: scheme, host and port make the origin (a page on another
    # port of the same host once approved a refund with a customer's cookie).
    headers = [(b"origin", origin), (b"host", b"testserver"), (b"cookie", session_cookie.encode())]
    _, ok, code = await open_socket("chatty", headers)
    assert (ok, code) == (False, 4403)


@override_settings(
    ALLOWED_HOSTS=["testserver"], SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
)
async def test_the_https_origin_is_the_sites_own_behind_a_tls_proxy(open_socket):
    headers = [
        (b"origin", b"https://testserver"),
        (b"host", b"testserver"),
        (b"x-forwarded-proto", b"https"),
    ]
    await connected(open_socket, "chatty", headers)


@override_settings(ALLOWED_HOSTS=["testserver"], CSRF_TRUSTED_ORIGINS=["https://*.example.com"])
async def test_a_csrf_trusted_wildcard_origin_admits_subdomains_on_its_scheme(open_socket):
    await connected(open_socket, "chatty", [(b"origin", b"https://app.example.com")])
    _, ok, _ = await open_socket("chatty", [(b"origin", b"http://app.example.com")])
    assert not ok


@override_settings(ALLOWED_HOSTS=["testserver"], CSRF_TRUSTED_ORIGINS=["https://app.example"])
async def test_a_csrf_trusted_origin_is_accepted(open_socket):
    await connected(open_socket, "chatty", [(b"origin", b"https://app.example")])


@override_settings(ALLOWED_HOSTS=["*"])
async def test_a_wildcard_in_allowed_hosts_does_not_admit_foreign_origins(
    open_socket, session_cookie
):
    cookie = (b"cookie", session_cookie.encode())
    foreign = [(b"origin", b"http://evil.example"), (b"host", b"shop.example"), cookie]
    _, ok, code = await open_socket("chatty", foreign)
    assert (ok, code) == (False, 4403)
    same_site = [(b"origin", b"http://shop.example"), (b"host", b"shop.example"), cookie]
    await connected(open_socket, "chatty", same_site)


@override_settings(ALLOWED_HOSTS=["testserver"])
async def test_clients_sending_no_origin_are_accepted(open_socket, token):
    await connected(open_socket, "chatty", auth(token))


# --- bad input -----------------------------------------------------------------------------


async def test_bad_messages_are_answered_with_errors_and_the_socket_stays_usable(
    open_socket, token
):
    socket = await connected(open_socket, "chatty", auth(token))

    await socket.send_to(text_data="this is not JSON")
    assert (await error_reply(socket))["code"] == "invalid_message"

    await socket.send_to(bytes_data=b'{"type": "intent", "intent": "give 1"}')
    assert (await error_reply(socket))["code"] == "invalid_message"

    await socket.send_json_to([{"type": "intent", "intent": "give 1"}])
    assert (await error_reply(socket))["code"] == "invalid_message"

    await socket.send_json_to({"intent": "give 1"})
    assert (await error_reply(socket))["code"] == "invalid_message"

    await socket.send_json_to({"type": 7})
    assert (await error_reply(socket))["code"] == "invalid_message"

    await socket.send_to(text_data='{"type": "intent", "intent": "' + "x" * MAX_FRAME_BYTES + '"}')
    assert (await error_reply(socket))["code"] == "invalid_message"

    await socket.send_json_to({"type": "dance"})
    error = await error_reply(socket)
    assert (error["code"], error["in_reply_to"]) == ("unknown_type", "dance")

    await socket.send_json_to({"type": "intent"})
    error = await error_reply(socket)
    assert (error["code"], error["in_reply_to"]) == ("invalid_request", "intent")
    assert "intent" in error["message"]

    await socket.send_json_to({"type": "intent", "intent": "   "})
    assert (await error_reply(socket))["code"] == "invalid_request"

    await socket.send_json_to({"type": "intent", "intent": "give 1", "params": "nope"})
    assert (await error_reply(socket))["code"] == "invalid_request"

    # None of that closed the socket, or started a run.
    assert await sync_to_async(AgentRun.objects.count)() == 0
    _, events = await run_to_end(socket, "give 2")
    assert events[-1]["result"] == {"parts": 2}
    assert await socket.receive_nothing(timeout=0.1)


# --- subscribing ---------------------------------------------------------------------------


async def test_subscribing_replays_a_finished_run_after_since(open_socket, token):
    socket = await connected(open_socket, "chatty", auth(token))
    run_id, _ = await run_to_end(socket, "give 4")

    await socket.send_json_to({"type": "subscribe", "run_id": run_id, "since": 1})
    replay = events_of(await collect(socket, ended(run_id)), run_id)
    assert [event["seq"] for event in replay] == [2, 3, 4]
    assert replay[-1]["kind"] == "final" and replay[-1]["result"] == {"parts": 4}

    # Without "since", from the start; from another socket of the same user too.
    other = await connected(open_socket, "chatty", auth(token))
    await other.send_json_to({"type": "subscribe", "run_id": run_id})
    replay = events_of(await collect(other, ended(run_id)), run_id)
    assert [event["seq"] for event in replay] == [0, 1, 2, 3, 4]
    assert await other.receive_nothing(timeout=0.1)


async def test_subscribing_to_a_live_run_follows_it_to_its_end(open_socket, token, user):
    asker = await connected(open_socket, "ask", auth(token))
    run_id = await start(asker, "ask 30")
    approval = await until_approval(asker, run_id)

    follower = await connected(open_socket, "ask", auth(token))
    await follower.send_json_to({"type": "subscribe", "run_id": run_id, "since": 0})
    first = await receive(follower)
    assert first["type"] == "event" and first["event"]["seq"] == 1
    assert first["event"]["kind"] == "approval_requested"

    await sync_to_async(decide_stream)(approval["approval_id"], user, "approve")
    events = events_of(await collect(follower, ended(run_id)), run_id)
    assert [event["kind"] for event in events] == ["approval_resolved", "final"]
    assert events[-1]["result"] == {"decision": "approve"}


@pytest.mark.parametrize(
    "message",
    [
        {"since": "x"},
        {"since": True},
        {"since": -2},
        {"since": 1.5},
        {"run_id": None},
        {"run_id": ""},
        {"run_id": 12},
    ],
)
async def test_a_malformed_subscription_is_an_invalid_request(open_socket, token, message):
    socket = await connected(open_socket, "chatty", auth(token))
    run_id, _ = await run_to_end(socket, "give 1")
    await socket.send_json_to({"type": "subscribe", "run_id": run_id, **message})
    error = await error_reply(socket)
    assert (error["code"], error["in_reply_to"]) == ("invalid_request", "subscribe")
    assert await socket.receive_nothing(timeout=0.1)


async def test_someone_elses_run_looks_exactly_like_an_unknown_one(open_socket, token, other_token):
    owner = await connected(open_socket, "chatty", auth(token))
    run_id, _ = await run_to_end(owner, "give 2")

    stranger = await connected(open_socket, "chatty", auth(other_token))
    await stranger.send_json_to({"type": "subscribe", "run_id": run_id})
    theirs = await error_reply(stranger)
    await stranger.send_json_to({"type": "subscribe", "run_id": "0" * 32})
    unknown = await error_reply(stranger)
    assert theirs == unknown
    assert theirs["code"] == "not_found"
    assert await stranger.receive_nothing(timeout=0.1)


async def test_anonymous_sockets_cannot_subscribe_even_to_their_own_runs(open_socket):
    socket = await connected(open_socket, "chatty")
    run_id, events = await run_to_end(socket, "give 1")
    assert events[-1]["result"] == {"parts": 1}
    await socket.send_json_to({"type": "subscribe", "run_id": run_id})
    assert (await error_reply(socket))["code"] == "not_found"


async def test_staff_may_follow_anyones_run(open_socket, token, django_user_model):
    owner = await connected(open_socket, "chatty", auth(token))
    run_id, _ = await run_to_end(owner, "give 2")

    def make_staff(name: str, *codenames: str) -> str:
        staff = django_user_model.objects.create_user(name, password="pw", is_staff=True)
        staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        return Token.objects.create(user=staff).key

    staff_socket = await connected(
        open_socket, "chatty", auth(await sync_to_async(make_staff)("dave", "view_agentrun"))
    )
    await staff_socket.send_json_to({"type": "subscribe", "run_id": run_id, "since": 1})
    replay = events_of(await collect(staff_socket, ended(run_id)), run_id)
    assert [event["seq"] for event in replay] == [2]

    # Being staff is not enough: reading others' runs takes view_agentrun.
    plain = await connected(open_socket, "chatty", auth(await sync_to_async(make_staff)("sam")))
    await plain.send_json_to({"type": "subscribe", "run_id": run_id})
    assert (await error_reply(plain))["code"] == "not_found"


# --- decisions -----------------------------------------------------------------------------


def decided(approval_id: str) -> Callable[[list[Message]], bool]:
    return lambda messages: any(
        m["type"] == "decision" and m["approval_id"] == approval_id for m in messages
    )


def both(*conditions: Callable[[list[Message]], bool]) -> Callable[[list[Message]], bool]:
    return lambda messages: all(condition(messages) for condition in conditions)


async def test_the_owner_decides_a_mid_stream_approval_on_the_socket(
    open_socket, token, other_token, user
):
    socket = await connected(open_socket, "ask", auth(token))
    run_id = await start(socket, "ask 30")
    approval = await until_approval(socket, run_id)
    approval_id = approval["approval_id"]
    assert approval["prompt"] == "Proceed with the refund?"
    assert approval["options"] == ["approve", "reject"]
    assert approval["default_decision"] == "reject"
    assert (await run_row(run_id)).status == "waiting_approval"

    # Someone without the approval permission may not decide it.
    stranger = await connected(open_socket, "ask", auth(other_token))
    await stranger.send_json_to(
        {"type": "decision", "approval_id": approval_id, "decision": "approve"}
    )
    error = await error_reply(stranger)
    assert (error["code"], error["in_reply_to"]) == ("permission_denied", "decision")

    # Not one of the options; not a string.
    await socket.send_json_to({"type": "decision", "approval_id": approval_id, "decision": "ok"})
    assert (await error_reply(socket))["code"] == "invalid_request"
    await socket.send_json_to({"type": "decision", "approval_id": approval_id, "decision": 1})
    assert (await error_reply(socket))["code"] == "invalid_request"
    await socket.send_json_to(
        {"type": "decision", "approval_id": approval_id, "decision": "approve", "reason": 5}
    )
    assert (await error_reply(socket))["code"] == "invalid_request"
    stored = await sync_to_async(ApprovalRequest.objects.get)(request_id=approval_id)
    assert stored.status == "pending"

    await socket.send_json_to(
        {"type": "decision", "approval_id": approval_id, "decision": "approve", "reason": "fine"}
    )
    messages = await collect(socket, both(decided(approval_id), ended(run_id)))
    [reply] = [m for m in messages if m["type"] == "decision"]
    assert reply == {
        "type": "decision",
        "approval_id": approval_id,
        "status": "approved",
        "decision": "approve",
    }
    events = events_of(messages, run_id)
    assert [event["kind"] for event in events] == ["approval_resolved", "final"]
    resolved = events[0]
    assert resolved["approval_id"] == approval_id
    assert resolved["decision"] == "approve"
    assert resolved["decided_by"] == "alice"
    assert resolved["reason"] == "fine"
    assert resolved["timed_out"] is False
    assert events[-1]["result"] == {"decision": "approve"}

    # Deciding again is a conflict, and changes nothing.
    await socket.send_json_to(
        {"type": "decision", "approval_id": approval_id, "decision": "reject"}
    )
    error = await error_reply(socket)
    assert (error["code"], error["in_reply_to"]) == ("approval_conflict", "decision")
    stored = await sync_to_async(ApprovalRequest.objects.get)(request_id=approval_id)
    assert (stored.status, stored.result) == ("approved", {"decision": "approve"})

    await settle(run_id)
    assert (await run_row(run_id)).status == "completed"


async def test_rejecting_on_the_socket_ends_the_run_with_the_rejection(open_socket, token):
    socket = await connected(open_socket, "ask", auth(token))
    run_id = await start(socket, "ask 30")
    approval_id = (await until_approval(socket, run_id))["approval_id"]
    await socket.send_json_to(
        {"type": "decision", "approval_id": approval_id, "decision": "reject"}
    )
    messages = await collect(socket, both(decided(approval_id), ended(run_id)))
    [reply] = [m for m in messages if m["type"] == "decision"]
    assert (reply["status"], reply["decision"]) == ("rejected", "reject")
    events = events_of(messages, run_id)
    assert events[0]["kind"] == "approval_resolved" and events[0]["decision"] == "reject"
    assert events[-1]["result"] == {"decision": "reject"}


async def test_an_unknown_approval_is_not_found(open_socket, token):
    socket = await connected(open_socket, "ask", auth(token))
    await socket.send_json_to({"type": "decision", "approval_id": "nope", "decision": "approve"})
    error = await error_reply(socket)
    assert (error["code"], error["in_reply_to"]) == ("not_found", "decision")
    await socket.send_json_to({"type": "decision", "decision": "approve"})
    assert (await error_reply(socket))["code"] == "invalid_request"


@pytest.mark.parametrize(("approve", "decision"), [(True, "approve"), (False, "reject")])
async def test_a_decision_taken_elsewhere_wakes_the_waiting_run(
    open_socket, token, approver, approve, decision
):
    socket = await connected(open_socket, "ask", auth(token))
    run_id = await start(socket, "ask 30")
    approval_id = (await until_approval(socket, run_id))["approval_id"]

    # The admin's path: the approvals service, from a thread of its own.
    request = await sync_to_async(approvals.decide)(
        approval_id, approver, approve=approve, reason="checked"
    )
    assert request.status == ("approved" if approve else "rejected")

    events = events_of(await collect(socket, ended(run_id)), run_id)
    assert [event["kind"] for event in events] == ["approval_resolved", "final"]
    resolved = events[0]
    assert resolved["decision"] == decision
    assert resolved["decided_by"] == "carol"
    assert resolved["reason"] == "checked"
    assert resolved["timed_out"] is False
    assert events[-1]["result"] == {"decision": decision}


async def test_the_owner_may_not_use_the_admin_path_for_their_own_run(
    open_socket, token, user, approver
):
    def grant() -> None:
        user.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))

    await sync_to_async(grant)()
    socket = await connected(open_socket, "ask", auth(token))
    run_id = await start(socket, "ask 30")
    approval_id = (await until_approval(socket, run_id))["approval_id"]

    fresh_user = await sync_to_async(type(user).objects.get)(pk=user.pk)
    with pytest.raises(PermissionDenied):
        await sync_to_async(approvals.decide)(approval_id, fresh_user, approve=True)
    stored = await sync_to_async(ApprovalRequest.objects.get)(request_id=approval_id)
    assert stored.status == "pending"
    assert await socket.receive_nothing(timeout=0.1)


# --- disconnecting -------------------------------------------------------------------------


async def test_a_run_continues_when_its_socket_goes_away(open_socket, token):
    socket = await connected(open_socket, "chatty", auth(token))
    run_id = await start(socket, "give 50")
    await socket.disconnect(timeout=TIMEOUT)

    await settle(run_id)
    run = await run_row(run_id)
    assert run.status == "completed"
    events = await stored_events(run_id)
    assert [event["seq"] for event in events] == list(range(51))
    assert events[-1]["kind"] == "final" and events[-1]["result"] == {"parts": 50}


async def test_a_run_waiting_for_approval_keeps_waiting_after_a_disconnect(
    open_socket, token, user
):
    socket = await connected(open_socket, "ask", auth(token))
    run_id = await start(socket, "ask 30")
    approval_id = (await until_approval(socket, run_id))["approval_id"]
    await socket.disconnect(timeout=TIMEOUT)

    task = runs._live.get(run_id)
    assert task is not None and not task.done()
    assert (await run_row(run_id)).status == "waiting_approval"

    # A new socket decides, and follows the rest of the run.
    socket = await connected(open_socket, "ask", auth(token))
    await socket.send_json_to({"type": "subscribe", "run_id": run_id, "since": 1})
    await socket.send_json_to(
        {"type": "decision", "approval_id": approval_id, "decision": "approve"}
    )
    messages = await collect(socket, both(decided(approval_id), ended(run_id)))
    events = events_of(messages, run_id)
    assert [event["kind"] for event in events] == ["approval_resolved", "final"]
    assert events[-1]["result"] == {"decision": "approve"}
    await settle(run_id)
    assert (await run_row(run_id)).status == "completed"


async def test_a_run_of_an_endpoint_that_cancels_on_disconnect_is_cancelled(open_socket, token):
    socket = await connected(open_socket, "slow", auth(token))
    run_id = await start(socket, "sleep 30")
    started = await receive(socket)
    assert started["event"]["kind"] == "partial_result"
    assert started["event"]["text"] == "started"
    task = runs._live[run_id]

    await socket.disconnect(timeout=TIMEOUT)
    finished, _ = await asyncio.wait([task], timeout=TIMEOUT)
    assert finished

    run = await run_row(run_id)
    assert run.status == "cancelled"
    assert run.finished_at is not None
    events = await stored_events(run_id)
    assert [event["kind"] for event in events] == ["partial_result", "error"]
    assert events[-1]["code"] == "cancelled"
    assert events[-1]["status_code"] == 499


# --- throttling ----------------------------------------------------------------------------


class TwoRunsPerHour(UserRateThrottle):
    scope = "ws_tests"
    rate = "2/hour"


@pytest.fixture
def throttled(site):
    cache.clear()

    @site.agent_endpoint("throttled_stream", streaming="sse", throttle_classes=[TwoRunsPerHour])
    async def throttled_stream(intent: Intent, stream: AgentStream):
        await stream.emit_partial("ran")
        return {"ok": True}

    yield
    cache.clear()


async def test_every_intent_on_a_socket_counts_against_the_endpoints_throttle(
    open_socket, token, throttled
):
    # As over HTTP, where every POST is one run: two runs, then a refusal.
    socket = await connected(open_socket, "throttled_stream", auth(token))
    for _ in range(2):
        _, events = await run_to_end(socket, "go")
        assert events[-1]["result"] == {"ok": True}
    await socket.send_json_to({"type": "intent", "intent": "go"})
    error = await error_reply(socket)
    assert (error["code"], error["in_reply_to"]) == ("throttled", "intent")
    assert await sync_to_async(AgentRun.objects.count)() == 2

    # A new socket does not reset the count; other messages are not throttled.
    other = await connected(open_socket, "throttled_stream", auth(token))
    await other.send_json_to({"type": "intent", "intent": "go"})
    assert (await error_reply(other))["code"] == "throttled"
    await other.send_json_to({"type": "subscribe", "run_id": "0" * 32})
    assert (await error_reply(other))["code"] == "not_found"
    assert await sync_to_async(AgentRun.objects.count)() == 2


def _switch(name: str, enabled: bool) -> None:
    from agentic_django.models import Agent
    from agentic_django.services.agents import set_enabled

    set_enabled(Agent.objects.filter(name=name), enabled, user=None, via="test")


async def test_a_switched_off_agent_answers_an_intent_with_an_error_and_keeps_the_socket(
    open_socket, token
):
    socket = await connected(open_socket, "chatty", auth(token))
    await sync_to_async(_switch)("chatty", False)
    await socket.send_json_to({"type": "intent", "intent": "give 2"})
    message = await receive(socket)
    assert (message["type"], message["code"]) == ("error", "agent_disabled")
    assert not await AgentRun.objects.filter(endpoint_name="chatty").aexists()

    await sync_to_async(_switch)("chatty", True)
    _, events = await run_to_end(socket, "give 1")
    assert [event["kind"] for event in events] == ["partial_result", "final"]
