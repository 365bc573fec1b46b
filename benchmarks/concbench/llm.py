"""The benchmark's model: parses every intent after a fixed delay, like a remote model would.

Configured by alias in ``concbench.settings`` (``BENCH_MODEL_DELAY`` seconds, 0.5 by
default). It only awaits, so a server that holds no thread or database connection
while waiting can overlap any number of these calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentic_django.llm import FunctionBackend
from agentic_django.llm.base import LLMPrompt

#: The classification every request gets: a read on the benchmark's domain.
CLASSIFICATION: dict[str, Any] = {
    "action": "read",
    "domain": "bench",
    "parameters": {},
    "confidence": 0.9,
    "ambiguities": [],
}


class SlowModel(FunctionBackend):
    """A scripted backend answering every prompt with :data:`CLASSIFICATION` after ``delay``."""

    def __init__(self, delay: float = 0.5, model: str = "bench-slow") -> None:
        self.delay = float(delay)
        super().__init__(self._answer, model=model)

    async def _answer(self, prompt: LLMPrompt) -> dict[str, Any]:
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        return CLASSIFICATION
