from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentic_django.llm import forbid_real_calls


@pytest.fixture(autouse=True)
def real_calls_allowed() -> Iterator[None]:
    """Backend tests talk to scripted transports, so the network guard is lifted."""
    previous = forbid_real_calls(False)
    yield
    forbid_real_calls(previous)
