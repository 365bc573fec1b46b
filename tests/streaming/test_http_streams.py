"""The HTTP streams end to end, through ``agentic_django.asgi.get_application()``.

``POST /agents/<name>/stream/`` (SSE or NDJSON), the errors answered before a
stream starts, ``GET /agents/runs/<id>/events/`` (replay and following a live
run), clients that go away, and the plain JSON endpoint of a streaming agent.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.authtoken.models import Token

from agentic_django.models import (
    AgentRun,
    ApprovalRequest,
    ApprovalStatus,
    ExecutionTrace,
    RunStatus,
    StreamEvent,
)
from agentic_django.services import runs

from .asgi_client import (
    Event,
    HttpStream,
    application,
    assert_contiguous,
    build_scope,
    get,
    open_request,
    post,
    settle_runs,
    token_header,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _settle(close_worker_connections):
    yield
    await settle_runs()


@pytest.fixture
def token(user):
    return Token.objects.create(user=user).key


@pytest.fixture
def other_token(other_user):
    return Token.objects.create(user=other_user).key


@pytest.fixture
def staff_token(django_user_model):
    """Staff allowed to read every run (``view_agentrun``)."""
    staff = django_user_model.objects.create_user(
        username="stella", password="pw-stella", is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_agentrun"))
    return Token.objects.create(user=staff).key


@pytest.fixture
def plain_staff_token(django_user_model):
    """Staff without any permission."""
    staff = django_user_model.objects.create_user(username="sam", is_staff=True)
    return Token.objects.create(user=staff).key


@pytest.fixture
def session_cookies(user):
    """The cookies of a browser logged in as ``user``: ``sessionid`` and ``csrftoken``."""
    client = Client()
    assert client.login(username="alice", password="pw-alice")
    client.get("/admin/login/")  # renders a form: sets the CSRF cookie
    return {
        "sessionid": client.cookies["sessionid"].value,
        "csrftoken": client.cookies["csrftoken"].value,
    }


async def stored_events(run_id: str) -> list[tuple[int, str, dict]]:
    rows = StreamEvent.objects.filter(run__run_id=run_id).order_by("seq")
    return [(row.seq, row.kind, row.payload) async for row in rows]


def as_rows(events: list[Event]) -> list[tuple[int, str, dict]]:
    return [(event.seq, event.kind, event.data) for event in events]


async def load_run(run_id: str) -> AgentRun:
    return await AgentRun.objects.select_related("trace", "session", "user").aget(run_id=run_id)


async def run_count() -> int:
    return await AgentRun.objects.acount()


async def resume(run_id: str, body: dict, key: str):
    return await post(f"/agents/runs/{run_id}/resume/", body, headers=token_header(key))


# --- starting a stream ------------------------------------------------------------------


async def test_sse_stream_of_a_run():
    response = await post("/agents/chatty/stream/", {"intent": "give 5"})

    assert response.status == 200
    assert response.header("content-type") == "text/event-stream"
    assert "no-cache" in response.header("cache-control")
    assert response.header("x-accel-buffering") == "no"
    run_id = response.header("x-agent-run-id")
    assert run_id
    assert response.header("content-location") == f"/agents/runs/{run_id}/events/"

    events = response.sse()
    assert_contiguous(events)
    assert [event.kind for event in events] == ["partial_result"] * 5 + ["final"]
    assert [event.data["text"] for event in events[:-1]] == [f"part {i}" for i in range(5)]
    for event in events:
        assert event.raw.startswith(f"event: {event.kind}\nid: {event.seq}\ndata: ")
    final = events[-1].data
    assert final["result"] == {"parts": 5}
    assert final["status"] == "completed"
    assert final["trace_id"]
    assert final["session_id"]

    run = await load_run(run_id)
    assert run.status == RunStatus.COMPLETED
    assert run.endpoint_name == "chatty"
    assert run.intent_raw == "give 5"
    assert run.last_seq == events[-1].seq == 5
    assert run.finished_at is not None
    assert run.trace is not None and run.trace.trace_id == final["trace_id"]
    assert run.session is not None and run.session.session_id == final["session_id"]
    assert await stored_events(run_id) == as_rows(events)
    trace = await ExecutionTrace.objects.aget(trace_id=final["trace_id"])
    assert trace.endpoint_name == "chatty"
    assert trace.result == {"parts": 5}


async def test_every_chunk_holds_whole_frames():
    response = await post("/agents/chatty/stream/", {"intent": "give 3"})

    assert response.chunks[-1] == b""
    for chunk in response.chunks[:-1]:
        assert chunk.endswith(b"\n\n")
        assert chunk.startswith((b"event: ", b": "))


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        (None, {"accept": "application/x-ndjson"}),
        ({"transport": "ndjson"}, None),
        ({"transport": "ndjson"}, {"accept": "text/event-stream"}),
    ],
    ids=["accept-header", "query", "query-beats-accept"],
)
async def test_ndjson_stream(query, headers):
    response = await post(
        "/agents/chatty/stream/", {"intent": "give 4"}, query=query, headers=headers
    )

    assert response.status == 200
    assert response.header("content-type") == "application/x-ndjson"
    assert response.header("x-accel-buffering") == "no"
    assert b"event:" not in response.body
    events = response.ndjson()
    assert_contiguous(events)
    assert [event.kind for event in events] == ["partial_result"] * 4 + ["final"]
    assert events[-1].data["result"] == {"parts": 4}
    assert await stored_events(response.header("x-agent-run-id")) == as_rows(events)


async def test_unknown_transport_is_refused_before_a_run_starts():
    response = await post(
        "/agents/chatty/stream/", {"intent": "give 2"}, query={"transport": "bogus"}
    )

    assert response.status == 400
    assert response.header("content-type") == "application/json"
    body = response.json()
    assert body["status"] == "error"
    assert body["code"] == "invalid_request"
    assert "transport" in body["errors"]
    assert await run_count() == 0


async def test_endpoint_streaming_ndjson_defaults_to_it():
    response = await post("/agents/escalating/stream/", {"intent": "i am sure"})

    assert response.status == 200
    assert response.header("content-type") == "application/x-ndjson"
    events = response.ndjson()
    assert [event.kind for event in events] == ["final"]
    assert events[0].data["result"] == {"sent": True, "level": "auto"}

    sse = await post(
        "/agents/escalating/stream/", {"intent": "i am sure"}, query={"transport": "sse"}
    )
    assert sse.header("content-type") == "text/event-stream"
    assert [event.kind for event in sse.sse()] == ["final"]


# --- errors before streaming ------------------------------------------------------------


def assert_error(response, status: int, code: str) -> dict:
    assert response.status == status, response.body
    assert response.header("content-type") == "application/json"
    assert int(response.header("content-length")) == len(response.body)
    body = response.json()
    assert body["status"] == "error"
    assert body["code"] == code
    assert body["error"]
    return body


async def test_unknown_endpoint_is_404():
    response = await post("/agents/nope/stream/", {"intent": "hi"})
    body = assert_error(response, 404, "not_found")
    assert "nope" in body["error"]
    assert await run_count() == 0


async def test_endpoint_that_does_not_stream_is_404():
    response = await post("/agents/echo/stream/", {"intent": "hi"})
    assert_error(response, 404, "not_found")
    assert await run_count() == 0


async def test_get_on_a_stream_is_405():
    response = await get("/agents/chatty/stream/")
    assert_error(response, 405, "method_not_allowed")
    assert response.header("allow") == "POST"
    assert await run_count() == 0


async def test_malformed_json_is_400():
    response = await post(
        "/agents/chatty/stream/", b'{"intent": ', headers={"content-type": "application/json"}
    )
    body = assert_error(response, 400, "parse_error")
    assert "JSON parse error" in body["error"]
    assert await run_count() == 0


@pytest.mark.parametrize("payload", [{"session_id": "x"}, {"intent": ""}, []])
async def test_invalid_intent_is_400_with_the_api_error_shape(payload):
    response = await post("/agents/chatty/stream/", payload)
    body = assert_error(response, 400, "invalid_request")
    assert body["error"].startswith("Invalid request: ")
    assert isinstance(body["errors"], dict) and body["errors"]
    if isinstance(payload, dict):
        assert "intent" in body["errors"]
    assert await run_count() == 0


async def test_missing_intent_matches_the_json_endpoint():
    streamed = await post("/agents/chatty/stream/", {"params": {}})
    plain = await post("/agents/chatty/", {"params": {}})

    assert streamed.status == plain.status == 400
    assert streamed.json() == plain.json()


async def test_private_stream_anonymous_is_401_with_a_challenge():
    response = await post("/agents/private_stream/stream/", {"intent": "hi"})

    assert_error(response, 401, "not_authenticated")
    # As the JSON endpoint answers (TokenAuthentication comes first in the settings).
    assert response.header("www-authenticate") == "Token"
    plain = await post("/agents/private/", {"intent": "hi"})
    assert plain.status == 401
    assert plain.header("www-authenticate") == response.header("www-authenticate")
    assert await run_count() == 0


async def test_private_stream_with_a_bad_token_is_401():
    response = await post(
        "/agents/private_stream/stream/", {"intent": "hi"}, headers=token_header("nope")
    )
    assert_error(response, 401, "authentication_failed")
    assert response.header("www-authenticate") == "Token"
    assert await run_count() == 0


async def test_private_stream_with_a_token(user, token):
    response = await post(
        "/agents/private_stream/stream/", {"intent": "hi"}, headers=token_header(token)
    )

    assert response.status == 200
    events = response.sse()
    assert [event.kind for event in events] == ["partial_result", "final"]
    assert events[-1].data["result"] == {"ok": True}
    run = await load_run(response.header("x-agent-run-id"))
    assert run.user_id == user.pk


async def test_private_stream_with_a_session_needs_the_csrf_token(user, session_cookies):
    refused = await post(
        "/agents/private_stream/stream/", {"intent": "hi"}, cookies=session_cookies
    )
    body = assert_error(refused, 403, "permission_denied")
    assert "CSRF" in body["error"]
    assert await run_count() == 0

    accepted = await post(
        "/agents/private_stream/stream/",
        {"intent": "hi"},
        cookies=session_cookies,
        headers={"x-csrftoken": session_cookies["csrftoken"]},
    )
    assert accepted.status == 200
    assert accepted.sse()[-1].data["result"] == {"ok": True}
    run = await load_run(accepted.header("x-agent-run-id"))
    assert run.user_id == user.pk


# --- a failing handler ------------------------------------------------------------------


async def test_handler_exception_ends_the_stream_with_an_error_event():
    response = await post("/agents/crashing/stream/", {"intent": "go"})

    assert response.status == 200
    events = response.sse()
    assert_contiguous(events)
    assert [event.kind for event in events] == ["partial_result", "error"]
    assert events[0].data["text"] == "working"
    error = events[-1].data
    assert error["code"] == "error"
    assert error["status_code"] == 500
    assert error["message"] == "Internal server error"
    assert b"hunter2" not in response.body

    run_id = response.header("x-agent-run-id")
    run = await load_run(run_id)
    assert run.status == RunStatus.FAILED
    assert run.last_seq == 1
    assert await stored_events(run_id) == as_rows(events)
    assert "hunter2" not in json.dumps([row[2] for row in await stored_events(run_id)])
    assert run.trace is not None
    assert error["trace_id"] == run.trace.trace_id
    assert run.trace.status == ExecutionTrace.Status.ERROR
    assert "database password is hunter2" in run.trace.error


# --- replaying a run --------------------------------------------------------------------


@pytest.fixture
async def finished_run(user, token):
    """A ``chatty`` run of ``user``, over: its id and its events as streamed."""
    response = await post(
        "/agents/chatty/stream/", {"intent": "give 5"}, headers=token_header(token)
    )
    assert response.status == 200
    return response.header("x-agent-run-id"), response.sse()


async def test_replay_of_a_finished_run(finished_run, token):
    run_id, streamed = finished_run
    response = await get(f"/agents/runs/{run_id}/events/", headers=token_header(token))

    assert response.status == 200
    assert response.header("content-type") == "text/event-stream"
    assert response.header("x-agent-run-id") == run_id
    assert response.header("cache-control") == "no-cache, no-transform"
    events = response.sse()
    assert as_rows(events) == as_rows(streamed)
    assert [event.raw for event in events] == [event.raw for event in streamed]


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ({"since": "2"}, {}),
        (None, {"last-event-id": "2"}),
        ({"since": "2"}, {"last-event-id": "0"}),
    ],
    ids=["since", "last-event-id", "since-beats-header"],
)
async def test_replay_after_a_seq(finished_run, token, query, headers):
    run_id, streamed = finished_run
    response = await get(
        f"/agents/runs/{run_id}/events/", query=query, headers={**token_header(token), **headers}
    )

    assert response.status == 200
    events = response.sse()
    assert [event.seq for event in events] == [3, 4, 5]
    assert as_rows(events) == as_rows(streamed[3:])


async def test_replay_since_the_last_event_is_empty(finished_run, token):
    run_id, _ = finished_run
    response = await get(
        f"/agents/runs/{run_id}/events/", query={"since": "5"}, headers=token_header(token)
    )
    assert response.status == 200
    assert response.sse() == []


async def test_replay_as_ndjson(finished_run, token):
    run_id, streamed = finished_run
    response = await get(
        f"/agents/runs/{run_id}/events/",
        query={"since": "-1"},
        headers={**token_header(token), "accept": "application/x-ndjson"},
    )
    assert response.header("content-type") == "application/x-ndjson"
    assert as_rows(response.ndjson()) == as_rows(streamed)


@pytest.mark.parametrize("since", ["abc", "-5", "1.5"])
async def test_replay_with_a_bad_since_is_400(finished_run, token, since):
    run_id, _ = finished_run
    response = await get(
        f"/agents/runs/{run_id}/events/", query={"since": since}, headers=token_header(token)
    )
    body = assert_error(response, 400, "invalid_request")
    assert "since" in body["errors"]


async def test_replay_with_a_bad_last_event_id_is_400(finished_run, token):
    run_id, _ = finished_run
    response = await get(
        f"/agents/runs/{run_id}/events/",
        headers={**token_header(token), "last-event-id": "nope"},
    )
    assert_error(response, 400, "invalid_request")


async def test_someone_elses_run_is_indistinguishable_from_no_run(finished_run, other_token):
    run_id, _ = finished_run
    theirs = await get(f"/agents/runs/{run_id}/events/", headers=token_header(other_token))
    missing = await get("/agents/runs/doesnotexist/events/", headers=token_header(other_token))

    assert_error(theirs, 404, "not_found")
    assert missing.status == 404
    assert theirs.body == missing.body
    assert theirs.headers == missing.headers


async def test_anonymous_cannot_read_a_run(finished_run):
    run_id, _ = finished_run
    response = await get(f"/agents/runs/{run_id}/events/")
    # The default permission needs a login: an anonymous caller learns nothing, not
    # even whether the run exists.
    assert_error(response, 401, "not_authenticated")
    assert response.body == (await get("/agents/runs/doesnotexist/events/")).body


async def test_staff_reads_anyones_run(finished_run, staff_token):
    run_id, streamed = finished_run
    response = await get(f"/agents/runs/{run_id}/events/", headers=token_header(staff_token))
    assert response.status == 200
    assert as_rows(response.sse()) == as_rows(streamed)


async def test_staff_without_view_agentrun_may_not_read_others_runs(
    finished_run, plain_staff_token
):
    run_id, _ = finished_run
    response = await get(f"/agents/runs/{run_id}/events/", headers=token_header(plain_staff_token))
    assert_error(response, 404, "not_found")


async def test_replay_uses_the_endpoints_transport(user, token):
    started = await post(
        "/agents/escalating/stream/", {"intent": "i am sure"}, headers=token_header(token)
    )
    run_id = started.header("x-agent-run-id")

    response = await get(f"/agents/runs/{run_id}/events/", headers=token_header(token))
    assert response.header("content-type") == "application/x-ndjson"
    assert as_rows(response.ndjson()) == as_rows(started.ndjson())


async def test_a_run_id_of_any_shape_is_the_apis_json_404(token):
    # Not a run id the API ever issues: still the API's answer, not the project's HTML page.
    response = await get("/agents/runs/not.an.id/events/", headers=token_header(token))
    assert response.status == 404
    assert response.header("content-type") == "application/json"


# --- following a live run ---------------------------------------------------------------


async def test_following_a_live_run_from_a_second_connection(user, token):
    started = await open_request(
        "POST", "/agents/ask/stream/", body={"intent": "refund please"}, headers=token_header(token)
    )
    await started.start()
    assert started.status == 200
    run_id = started.header("x-agent-run-id")
    before = await started.read_until("approval_requested")
    asked = before[-1]
    assert [event.kind for event in before] == ["thought", "approval_requested"]
    assert asked.data["options"] == ["approve", "reject"]
    assert asked.data["default_decision"] == "reject"
    assert (await load_run(run_id)).status == RunStatus.WAITING_APPROVAL

    follower = await open_request(
        "GET",
        f"/agents/runs/{run_id}/events/",
        query={"since": str(asked.seq)},
        headers=token_header(token),
    )
    await follower.start()
    assert follower.status == 200
    # The response opens with a keepalive (so the headers leave at once), then nothing:
    # the run waits for its decision.
    assert await follower.next_chunk() == b": keepalive\n\n"
    assert follower.events == []
    assert await follower.communicator.receive_nothing(0.3)

    decided = await resume(run_id, {"decision": "approve"}, token)
    assert decided.status == 200, decided.body
    assert decided.json()["approval_id"] == asked.data["approval_id"]

    rest = await started.read_events()
    followed = await follower.read_events()
    await started.close()
    await follower.close()

    everything = before + rest
    assert_contiguous(everything)
    assert_contiguous(followed, start=asked.seq + 1)
    assert as_rows(followed) == as_rows(rest)
    assert [event.kind for event in rest] == ["approval_resolved", "final"]
    resolved = rest[0].data
    assert resolved["approval_id"] == asked.data["approval_id"]
    assert resolved["decision"] == "approve"
    assert resolved["timed_out"] is False
    assert resolved["decided_by"] == "alice"
    assert rest[-1].data["result"] == {"decision": "approve"}
    assert await stored_events(run_id) == as_rows(everything)
    assert (await load_run(run_id)).status == RunStatus.COMPLETED


async def test_following_from_the_start_while_the_run_waits(user, token):
    started = await open_request(
        "POST", "/agents/ask/stream/", body={"intent": "refund"}, headers=token_header(token)
    )
    await started.start()
    run_id = started.header("x-agent-run-id")
    before = await started.read_until("approval_requested")

    follower = await open_request(
        "GET", f"/agents/runs/{run_id}/events/", headers=token_header(token)
    )
    replayed = [await follower.next_event(), await follower.next_event()]
    assert as_rows(replayed) == as_rows(before)

    assert (await resume(run_id, {"decision": "reject"}, token)).status == 200
    rest = await started.read_events()
    followed = replayed + await follower.read_events()
    await started.close()
    await follower.close()

    assert_contiguous(followed)
    assert as_rows(followed) == as_rows(before + rest)
    assert followed[-1].data["result"] == {"decision": "reject"}


# --- clients that go away ---------------------------------------------------------------


async def test_disconnect_does_not_stop_the_run(user, token):
    stream = await open_request(
        "POST", "/agents/chatty/stream/", body={"intent": "give 40"}, headers=token_header(token)
    )
    first = await stream.next_event()
    assert first is not None and first.seq == 0
    run_id = stream.header("x-agent-run-id")
    await stream.disconnect()

    await runs.wait_local(run_id)
    run = await load_run(run_id)
    assert run.status == RunStatus.COMPLETED
    assert run.last_seq == 40

    replay = await get(f"/agents/runs/{run_id}/events/", headers=token_header(token))
    events = replay.sse()
    assert_contiguous(events)
    assert len(events) == 41
    assert events[0].data == first.data
    assert events[-1].data["result"] == {"parts": 40}
    assert await stored_events(run_id) == as_rows(events)


async def test_disconnect_while_waiting_for_approval_keeps_the_question_open(user, token):
    stream = await open_request(
        "POST", "/agents/ask/stream/", body={"intent": "refund"}, headers=token_header(token)
    )
    first = await stream.next_event()
    assert first is not None and first.kind == "thought"
    run_id = stream.header("x-agent-run-id")
    await stream.disconnect()

    # The run goes on to ask; its owner answers from elsewhere.
    for _ in range(400):
        if (await load_run(run_id)).status == RunStatus.WAITING_APPROVAL:
            break
        await asyncio.sleep(0.05)
    decided = await resume(run_id, {"decision": "approve"}, token)
    assert decided.status == 200, decided.body

    await runs.wait_local(run_id)
    assert (await load_run(run_id)).status == RunStatus.COMPLETED
    events = (await get(f"/agents/runs/{run_id}/events/", headers=token_header(token))).sse()
    assert_contiguous(events)
    assert [event.kind for event in events] == [
        "thought",
        "approval_requested",
        "approval_resolved",
        "final",
    ]
    assert events[-1].data["result"] == {"decision": "approve"}


async def test_disconnect_cancels_a_run_that_asks_for_it(user, token):
    stream = await open_request(
        "POST", "/agents/slow/stream/", body={"intent": "sleep 30"}, headers=token_header(token)
    )
    first = await stream.next_event()
    assert first is not None and first.data["text"] == "started"
    run_id = stream.header("x-agent-run-id")
    await stream.disconnect()

    await runs.wait_local(run_id)
    run = await load_run(run_id)
    assert run.status == RunStatus.CANCELLED
    assert run.finished_at is not None
    events = (await get(f"/agents/runs/{run_id}/events/", headers=token_header(token))).sse()
    assert_contiguous(events)
    assert [event.kind for event in events] == ["partial_result", "error"]
    assert events[-1].data["code"] == "cancelled"
    assert run.last_seq == events[-1].seq
    assert run.trace is not None
    assert run.trace.endpoint_name == "slow"
    assert run.trace.status == ExecutionTrace.Status.ERROR


async def test_cancelling_a_run_withdraws_its_pending_question(user, token):
    stream = await open_request(
        "POST", "/agents/ask_or_cancel/stream/", body={"intent": "go"}, headers=token_header(token)
    )
    asked = (await stream.read_until("approval_requested"))[-1]
    run_id = stream.header("x-agent-run-id")
    await stream.disconnect()

    await runs.wait_local(run_id)
    assert (await load_run(run_id)).status == RunStatus.CANCELLED
    request = await ApprovalRequest.objects.aget(request_id=asked.data["approval_id"])
    assert request.status == ApprovalStatus.EXPIRED  # nobody can answer a cancelled run
    decided = await resume(
        run_id, {"approval_id": request.request_id, "decision": "approve"}, token
    )
    assert decided.status == 409
    nothing_pending = await resume(run_id, {"decision": "approve"}, token)
    assert nothing_pending.status == 404


async def test_following_client_disconnect_leaves_the_run_alone(user, token):
    stream = await open_request(
        "POST", "/agents/ask/stream/", body={"intent": "refund"}, headers=token_header(token)
    )
    await stream.start()
    run_id = stream.header("x-agent-run-id")
    await stream.read_until("approval_requested")

    follower = await open_request(
        "GET", f"/agents/runs/{run_id}/events/", headers=token_header(token)
    )
    await follower.next_event()
    await follower.disconnect()

    assert (await resume(run_id, {"decision": "approve"}, token)).status == 200
    rest = await stream.read_events()
    await stream.close()
    assert rest[-1].kind == "final"


# --- the JSON endpoint of a streaming agent ---------------------------------------------


async def test_plain_post_runs_the_stream_and_answers_json():
    response = await post("/agents/chatty/", {"intent": "give 2"})

    assert response.status == 200
    body = response.json()
    assert body["result"] == {"parts": 2}
    assert body["status"] == "completed"
    run_id = body["run_id"]
    run = await load_run(run_id)
    assert run.status == RunStatus.COMPLETED
    assert run.trace is not None and run.trace.trace_id == body["execution_trace_id"]
    rows = await stored_events(run_id)
    assert [(seq, kind) for seq, kind, _ in rows] == [
        (0, "partial_result"),
        (1, "partial_result"),
        (2, "final"),
    ]
    assert rows[-1][2]["result"] == {"parts": 2}
    assert rows[-1][2]["trace_id"] == body["execution_trace_id"]


# --- oversized bodies -------------------------------------------------------------------


async def test_oversized_body_is_413():
    intent = "x" * 100_000
    response = await post("/agents/chatty/stream/", {"intent": intent})
    assert_error(response, 413, "payload_too_large")
    assert await run_count() == 0


async def test_oversized_body_in_chunks_gets_one_413():
    chunk = b"x" * 50_000
    scope = build_scope(
        "POST", "/agents/chatty/stream/", headers={"content-type": "application/json"}
    )
    communicator = ApplicationCommunicator(application(), scope)
    for _ in range(4):
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})

    stream = HttpStream(communicator)
    response = await stream.read_all()
    assert_error(response, 413, "payload_too_large")
    # One response, nothing after it.
    assert await communicator.receive_nothing(0.3)
    await stream.close()
    assert await run_count() == 0


# --- the agent's switch -------------------------------------------------------------------


def _switch(name: str, enabled: bool) -> None:
    from agentic_django.models import Agent
    from agentic_django.services.agents import set_enabled

    set_enabled(Agent.objects.filter(name=name), enabled, user=None, via="test")


async def test_a_switched_off_agent_refuses_its_stream_with_503_and_starts_no_run():
    await sync_to_async(_switch)("chatty", False)
    response = await post("/agents/chatty/stream/", {"intent": "give 3"})
    body = assert_error(response, 503, "agent_disabled")
    assert "chatty" in body["error"]
    assert await run_count() == 0
    trace = await ExecutionTrace.objects.aget(endpoint_name="chatty")
    assert (trace.status, trace.intent_raw) == ("agent_disabled", "give 3")

    await sync_to_async(_switch)("chatty", True)
    response = await post("/agents/chatty/stream/", {"intent": "give 1"})
    assert [event.kind for event in response.sse()] == ["partial_result", "final"]
