"""The reference framework under the same slow model: ``uvicorn concbench.reference_app:app``.

Run only from the reference's own virtualenv (``scripts/reference-venv.sh``: Python
3.13 with ``agentharnessapi`` 0.1.0 and uvicorn), never imported by agentic_django.
Its ``orders``-style endpoint at ``POST /agent/slow`` parses each intent with a model
that answers after ``BENCH_MODEL_DELAY`` seconds and returns the same JSON as ours;
sessions and traces stay in its process memory, as that framework keeps them.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from agenticapi import AgenticApp
from agenticapi.runtime.llm.base import LLMChunk, LLMPrompt, LLMResponse, LLMUsage

DELAY = float(os.environ.get("BENCH_MODEL_DELAY", "0.5"))
CLASSIFICATION = json.dumps(
    {"action": "read", "domain": "bench", "parameters": {}, "confidence": 0.9, "ambiguities": []}
)


class SlowModel:
    """The reference's ``LLMBackend`` protocol, answering the classification after ``DELAY``."""

    @property
    def model_name(self) -> str:
        return "bench-slow"

    async def generate(self, prompt: LLMPrompt) -> LLMResponse:
        await asyncio.sleep(DELAY)
        return LLMResponse(
            content=CLASSIFICATION,
            usage=LLMUsage(input_tokens=100, output_tokens=len(CLASSIFICATION) // 4),
            model=self.model_name,
            finish_reason="stop",
        )

    async def generate_stream(self, prompt: LLMPrompt) -> AsyncIterator[LLMChunk]:
        response = await self.generate(prompt)
        yield LLMChunk(content=response.content, is_final=True)


app = AgenticApp(title="Concurrency benchmark", llm=SlowModel())


@app.agent_endpoint(name="slow", description="A trivial handler behind a slow intent parser")
async def slow(intent: Any, context: Any) -> dict[str, Any]:
    """No work of its own, like agentic_django's ``slow`` endpoint."""
    return {"ok": True, "action": intent.action.value, "domain": intent.domain}
