"""Scrubbing provider error text before anyone stores or shows it.

A provider's error message can echo the API key it was sent, organisation and
project ids or quota details. What is kept (on the trace, the ``LLMCall`` row,
in admin) is this text with anything that looks like a credential replaced, and
bounded in length; callers only ever get a generic message and a code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: How much of a provider's error text is kept.
MAX_ERROR_CHARS = 1000
REDACTED = "[redacted]"

_CREDENTIALS = re.compile(
    r"""
      \bsk-[A-Za-z0-9_\-]{6,}                 # OpenAI / Anthropic style secret keys
    | \bBearer\s+[^\s"',;]+                   # Authorization header values
    | \bAIza[0-9A-Za-z_\-]{20,}               # Google API keys
    | \b(?:org|proj)-[A-Za-z0-9_\-]{6,}       # OpenAI organisation and project ids
    | \b(?:api[_-]?key|x-api-key|key|token)   # key=value and "key": "value" forms
      (["']?\s*[:=]\s*["']?)[^\s"',;&]{6,}
    """,
    re.IGNORECASE | re.VERBOSE,
)


def scrub_secrets(
    text: str, secrets: Iterable[str | None] = (), limit: int = MAX_ERROR_CHARS
) -> str:
    """``text`` without ``secrets`` or credential-like strings, at most ``limit`` characters."""
    for secret in secrets:
        # Short values would redact ordinary words; real keys are long.
        if secret and len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    text = _CREDENTIALS.sub(_redact, text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _redact(match: re.Match[str]) -> str:
    separator = match.group(1)
    if separator is None:
        return REDACTED
    # Keep the key's name ("api_key=") so the reader knows what was there.
    return match.group(0)[: match.start(1) - match.start(0)] + separator + REDACTED
