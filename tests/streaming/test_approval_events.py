"""``GET /agents/approvals/<id>/events/``: an approval request's state now and at every change."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from agentic_django.asgi import get_application
from agentic_django.llm import ToolCall
from agentic_django.models import ApprovalRequest
from agentic_django.registry import agents
from agentic_django.runtime import tool
from agentic_django.services import approval_runs, approvals, runs
from agentic_django.services.run_follow import follow
from agentic_django.services.stream_approvals import decide_stream

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]

#: A hang guard only: every wait below normally ends well within it.
TIMEOUT = 20

REFUNDS: list[tuple[int, float]] = []


@tool(requires_approval=True)
def refund_order(order_id: int, amount: float) -> dict:
    """Refund part of an order."""
    REFUNDS.append((order_id, amount))
    return {"refunded": amount, "order_id": order_id}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
async def _isolation():
    REFUNDS.clear()
    yield
    for run_id, task in list(runs._live.items()):
        runs.cancel_local(run_id)
        await asyncio.wait([task], timeout=TIMEOUT)
    REFUNDS.clear()


@pytest.fixture
def tokens(user, other_user, approver) -> dict[str, str]:
    return {
        person.get_username(): Token.objects.create(user=person).key
        for person in (user, other_user, approver)
    }


@pytest.fixture
def approver(django_user_model):
    carol = django_user_model.objects.create_user(username="carol", password="pw-carol")
    carol.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    return carol


@pytest.fixture
def refunds(site):
    """A non-streaming tools endpoint whose refund tool waits for a durable approval."""

    @site.agent_endpoint("refunds", tools=[refund_order], description="Refunds orders.")
    async def refunds_agent(intent):
        return None

    return site.get("refunds")


# --- HTTP over ASGI ------------------------------------------------------------------------


class Response:
    def __init__(self, communicator: ApplicationCommunicator, start: dict[str, Any]) -> None:
        self.communicator = communicator
        self.status: int = start["status"]
        self.headers = {name.decode(): value.decode() for name, value in start["headers"]}
        self.ended = False
        #: SSE messages read so far (their ``id`` counts up from 0).
        self.frames = 0
        self._buffer = b""

    async def chunk(self) -> bytes:
        message = await self.communicator.receive_output(TIMEOUT)
        assert message["type"] == "http.response.body", message
        if not message.get("more_body", False):
            self.ended = True
        return bytes(message.get("body", b""))

    async def body(self) -> bytes:
        parts = []
        while not self.ended:
            parts.append(await self.chunk())
        return b"".join(parts)

    async def json(self) -> Any:
        return json.loads(await self.body())

    async def frame(self) -> dict[str, str] | None:
        """The next SSE message (``event``, ``id``, ``data``), or ``None`` at the end."""
        while b"\n\n" not in self._buffer:
            if self.ended:
                assert self._buffer == b"", self._buffer
                return None
            self._buffer += await self.chunk()
        raw, self._buffer = self._buffer.split(b"\n\n", 1)
        lines = raw.decode().split("\n")
        if all(line.startswith(":") for line in lines):
            return await self.frame()  # a keepalive comment
        fields = dict(line.split(": ", 1) for line in lines)
        assert fields["id"] == str(self.frames), fields
        self.frames += 1
        return fields

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(TIMEOUT)


async def request(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Response:
    all_headers = [(b"host", b"testserver"), *(headers or [])]
    if token is not None:
        all_headers.append((b"authorization", f"Token {token}".encode()))
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        all_headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
    communicator = ApplicationCommunicator(
        get_application(),
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query,
            "headers": all_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        },
    )
    await communicator.send_input({"type": "http.request", "body": payload, "more_body": False})
    start = await communicator.receive_output(TIMEOUT)
    assert start["type"] == "http.response.start", start
    return Response(communicator, start)


async def events_of(request_id: str, token: str | None, **options: Any) -> Response:
    return await request("GET", f"/agents/approvals/{request_id}/events/", token=token, **options)


async def approval_frames(response: Response) -> list[dict[str, Any]]:
    """Every ``approval`` frame until the stream ends; checks their framing."""
    frames = []
    while (frame := await response.frame()) is not None:
        assert frame["event"] == "approval"
        frames.append(json.loads(frame["data"]))
    return frames


async def next_approval(response: Response) -> dict[str, Any]:
    frame = await response.frame()
    assert frame is not None and frame["event"] == "approval", frame
    return json.loads(frame["data"])


# --- mid-stream approvals ------------------------------------------------------------------


async def start_ask(user, raw: str = "ask 30") -> tuple[str, str]:
    """Start an ``ask`` run for ``user``; returns its run id and its approval request id."""
    run = await runs.start_run(agents, agents.get("ask"), raw, user=user)
    async for item in follow(run.pk, run.run_id):
        if item is not None and item[1] == "approval_requested":
            return run.run_id, json.loads(item[2])["approval_id"]
        assert item is None or item[1] not in ("final", "error"), item
    raise AssertionError("the run ended without asking")


async def test_the_owner_follows_a_mid_stream_approval_until_it_is_decided(user, tokens):
    _, approval_id = await start_ask(user)
    response = await events_of(approval_id, tokens["alice"])
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache, no-transform"

    first = await next_approval(response)
    assert first["id"] == approval_id
    assert first["status"] == "pending"
    assert first["kind"] == "stream"
    assert first["endpoint"] == "ask"
    assert first["requested_by"] == "alice"
    assert first["summary"] == "Proceed with the refund?"
    assert first["decided_by"] is None
    assert first["settled"] is False

    await sync_to_async(decide_stream)(approval_id, user, "approve", reason="go")
    rest = await approval_frames(response)
    assert [frame["status"] for frame in rest] == ["approved"]
    assert rest[-1]["decided_by"] == "alice"
    assert rest[-1]["reason"] == "go"
    assert rest[-1]["result"] == {"decision": "approve"}
    assert rest[-1]["settled"] is True
    assert response.ended
    await response.close()


async def test_an_approver_may_follow_it_too_and_sees_a_rejection(user, approver, tokens):
    _, approval_id = await start_ask(user)
    response = await events_of(approval_id, tokens["carol"])
    assert response.status == 200
    assert (await next_approval(response))["status"] == "pending"
    await sync_to_async(approvals.decide)(approval_id, approver, approve=False, reason="no")
    [last] = await approval_frames(response)
    assert (last["status"], last["decided_by"], last["settled"]) == ("rejected", "carol", True)
    await response.close()


async def test_an_undecided_approval_ends_its_stream_when_it_expires(user, tokens):
    _, approval_id = await start_ask(user, "ask 1")
    response = await events_of(approval_id, tokens["alice"])
    assert (await next_approval(response))["status"] == "pending"
    [last] = await approval_frames(response)
    assert last["status"] == "expired"
    assert last["settled"] is True
    await response.close()


async def test_a_settled_approval_sends_its_state_once_and_ends(user, tokens):
    _, approval_id = await start_ask(user)
    await sync_to_async(decide_stream)(approval_id, user, "reject")
    response = await events_of(approval_id, tokens["alice"])
    assert response.status == 200
    [only] = await approval_frames(response)
    assert (only["status"], only["result"], only["settled"]) == (
        "rejected",
        {"decision": "reject"},
        True,
    )
    await response.close()


async def test_the_stream_may_be_ndjson(user, tokens):
    _, approval_id = await start_ask(user)
    await sync_to_async(decide_stream)(approval_id, user, "approve")
    response = await events_of(approval_id, tokens["alice"], query=b"transport=ndjson")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = (await response.body()).decode().splitlines()
    assert [json.loads(line)["status"] for line in lines if line] == ["approved"]
    await response.close()


async def test_an_unknown_transport_is_a_bad_request(user, tokens):
    _, approval_id = await start_ask(user)
    response = await events_of(approval_id, tokens["alice"], query=b"transport=xml")
    assert response.status == 400
    assert (await response.json())["code"] == "invalid_request"
    await response.close()


# --- durable approvals ---------------------------------------------------------------------


async def pause_a_refund(mock_llm, token: str) -> str:
    mock_llm.add_tool_call_response(
        ToolCall(id="c1", name="refund_order", arguments={"order_id": 7, "amount": 5.0})
    )
    response = await request(
        "POST", "/agents/refunds/", token=token, body={"intent": "refund 5 on order 7"}
    )
    body = await response.json()
    await response.close()
    assert response.status == 202, body
    assert REFUNDS == []
    return str(body["approval_request"]["id"])


STATUS_ORDER = ["pending", "approved", "executing", "executed"]


async def test_a_durable_approval_is_followed_until_its_action_ran(
    refunds, mock_llm, user, approver, tokens
):
    approval_id = await pause_a_refund(mock_llm, tokens["alice"])
    response = await events_of(approval_id, tokens["alice"])
    assert response.status == 200
    first = await next_approval(response)
    assert (first["status"], first["kind"], first["endpoint"]) == (
        "pending",
        "tool_call",
        "refunds",
    )
    assert first["settled"] is False

    # The approver decides; with the inline runner the decider carries the action out.
    mock_llm.add_response("Refunded 5.00 on order 7.")
    decided = await sync_to_async(approvals.decide)(approval_id, approver, approve=True)
    assert decided.status == "approved"
    carried = await approval_runs.run_decided(decided)
    assert carried.status == "executed"
    assert REFUNDS == [(7, 5.0)]

    rest = await approval_frames(response)
    statuses = ["pending"] + [frame["status"] for frame in rest]
    # Each change is sent once, in order (a watcher may see two changes as one).
    assert statuses == sorted(set(statuses), key=STATUS_ORDER.index)
    last = rest[-1]
    assert last["status"] == "executed"
    assert last["result"] == "Refunded 5.00 on order 7."
    assert last["decided_by"] == "carol"
    assert last["executed_at"] is not None
    assert last["settled"] is True
    assert response.ended
    await response.close()


async def test_a_rejected_tool_call_stream_ends_once_the_model_answered(
    refunds, mock_llm, user, approver, tokens
):
    approval_id = await pause_a_refund(mock_llm, tokens["alice"])
    response = await events_of(approval_id, tokens["alice"])
    assert (await next_approval(response))["status"] == "pending"

    # Rejected over the approvals API: the model is told, and its answer is the result.
    mock_llm.add_response("Your refund was declined.")
    decision = await request(
        "POST",
        f"/agents/approvals/{approval_id}/decision/",
        token=tokens["carol"],
        body={"decision": "reject", "reason": "too much"},
    )
    decided = await decision.json()
    await decision.close()
    assert decision.status == 200, decided
    assert decided["status"] == "rejected"

    rest = await approval_frames(response)
    assert {frame["status"] for frame in rest} == {"rejected"}
    last = rest[-1]
    assert last["result"] == "Your refund was declined."
    assert last["reason"] == "too much"
    assert last["executed_at"] is not None
    assert last["settled"] is True
    assert REFUNDS == []
    await response.close()


# --- who may read --------------------------------------------------------------------------


async def not_found_body(response: Response) -> dict[str, Any]:
    assert response.status == 404
    assert response.headers["content-type"] == "application/json"
    body = await response.json()
    await response.close()
    return body


async def test_someone_elses_approval_is_not_found_like_an_unknown_one(
    refunds, mock_llm, user, tokens
):
    stream_id = (await start_ask(user))[1]
    durable_id = await pause_a_refund(mock_llm, tokens["alice"])

    unknown = await not_found_body(await events_of("0" * 32, tokens["bob"]))
    assert unknown == {"status": "error", "error": "No such approval request.", "code": "not_found"}

    async def anonymous(request_id: str) -> tuple[int, dict[str, Any]]:
        response = await events_of(request_id, None)
        body = await response.json()
        await response.close()
        return response.status, body

    # Agent views need a login by default: anonymous callers are told only that.
    anonymous_unknown = await anonymous("0" * 32)
    assert anonymous_unknown[0] == 401
    for request_id in (stream_id, durable_id):
        assert await not_found_body(await events_of(request_id, tokens["bob"])) == unknown
        assert await anonymous(request_id) == anonymous_unknown

    # Nothing about either request changed by being asked about.
    statuses = await sync_to_async(
        lambda: sorted(ApprovalRequest.objects.values_list("status", flat=True))
    )()
    assert statuses == ["pending", "pending"]


async def test_only_get_is_allowed(user, tokens):
    _, approval_id = await start_ask(user)
    response = await request(
        "POST", f"/agents/approvals/{approval_id}/events/", token=tokens["alice"], body={}
    )
    assert response.status == 405
    assert response.headers["allow"] == "GET"
    await response.close()
