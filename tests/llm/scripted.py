"""Scripted HTTP responses for driving the real provider SDKs in tests."""

from __future__ import annotations

import json
from typing import Any

import httpx2

from agentic_django.llm import RetryConfig

#: No waiting between retries in tests.
FAST_RETRY = RetryConfig(max_retries=2, base_delay_seconds=0.0, jitter=False)


class ScriptedHTTP:
    """An httpx MockTransport handler that replays responses and records requests."""

    def __init__(self, *responses: httpx2.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.responses.pop(0)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def sse(events: list[tuple[str | None, Any]]) -> httpx2.Response:
    """A text/event-stream response from ``(event name, data)`` pairs."""
    frames = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        frames.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
    return httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content="".join(frames).encode()
    )
