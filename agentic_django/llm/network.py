"""A process-wide switch that forbids real LLM provider calls.

Test settings turn it on so a test that forgot to configure a mock backend fails
loudly instead of spending money; every real backend checks it immediately
before a network call.
"""

from __future__ import annotations

from agentic_django.core.exceptions import LLMNetworkBlocked

_forbidden = False


def forbid_real_calls(forbidden: bool = True) -> bool:
    """Forbid (or allow again) real provider calls; returns the previous setting."""
    global _forbidden
    previous = _forbidden
    _forbidden = forbidden
    return previous


def real_calls_forbidden() -> bool:
    """Whether real provider calls are currently forbidden."""
    return _forbidden


def ensure_real_calls_allowed(provider: str, model: str) -> None:
    """Raise :class:`LLMNetworkBlocked` when real provider calls are forbidden."""
    if _forbidden:
        raise LLMNetworkBlocked(
            f"Refusing a real {provider} call to {model!r}: real LLM calls are forbidden "
            "(use agentic_django.llm.MockBackend in tests, or call "
            "agentic_django.llm.forbid_real_calls(False) to allow them).",
            provider=provider,
            model=model,
        )
