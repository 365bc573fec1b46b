"""Benchmark-only streaming endpoints (found by ``autodiscover_modules("agents")``).

* ``stream_first``: one partial, then the final answer (time to first event);
* ``stream_flood``: ``N`` partials as fast as the stream takes them (throughput);
* ``stream_hold``: one partial, then waits until its client goes away (idle streams;
  ``on_disconnect="cancel"`` ends the run, and with it every follower).
"""

from __future__ import annotations

import asyncio

from agentic_django import Intent, agents
from agentic_django.streaming import AgentStream


def _number(text: str, default: int) -> int:
    digits = [word for word in text.split() if word.isdigit()]
    return int(digits[0]) if digits else default


@agents.agent_endpoint("stream_first", streaming="sse", description="One partial, then done")
async def stream_first(intent: Intent, stream: AgentStream) -> dict[str, bool]:
    await stream.emit_partial("first")
    return {"ok": True}


@agents.agent_endpoint("stream_flood", streaming="sse", description="N partials, back to back")
async def stream_flood(intent: Intent, stream: AgentStream) -> dict[str, int]:
    count = _number(intent.raw, 10_000)
    for index in range(count):
        await stream.emit_partial(str(index))
    return {"events": count}


@agents.agent_endpoint(
    "stream_hold",
    streaming="sse",
    on_disconnect="cancel",
    description="One partial, then idle until the client disconnects",
)
async def stream_hold(intent: Intent, stream: AgentStream) -> dict[str, bool]:
    await stream.emit_partial("holding")
    await asyncio.sleep(_number(intent.raw, 600))
    return {"held": True}
