"""Retrying transient provider errors with exponential backoff, jitter and Retry-After.

Which errors are transient is the backend's business (each SDK has its own
exception types); this module only decides how long to wait and how often.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """How a backend retries transient errors.

    The delay before retry ``n`` (0-based) is ``base_delay_seconds * 2**n``, capped
    at ``max_delay_seconds``; with ``jitter`` it is drawn uniformly from the upper
    half of that value, so concurrent clients spread out. A ``Retry-After`` sent by
    the provider replaces the computed delay (still capped). ``retryable_exceptions``
    adds exception types to the backend's own list of transient errors.
    """

    max_retries: int = 3
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0
    jitter: bool = True
    retryable_exceptions: tuple[type[BaseException], ...] = ()

    @classmethod
    def coerce(cls, value: RetryConfig | Mapping[str, Any] | None) -> RetryConfig:
        """Accept a config, a settings dict of its fields, or ``None`` (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, RetryConfig):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(
                f"Unknown retry option(s) {sorted(unknown)}; expected some of {sorted(known)}"
            )
        options = dict(value)
        if "retryable_exceptions" in options:
            options["retryable_exceptions"] = tuple(options["retryable_exceptions"])
        return cls(**options)

    def delay(
        self,
        attempt: int,
        *,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_delay_seconds))
        delay = min(self.base_delay_seconds * (2**attempt), self.max_delay_seconds)
        if self.jitter:
            delay *= 0.5 + rand() / 2
        return delay


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the provider asked us to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    config: RetryConfig,
    *,
    is_transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None] = lambda exc: None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Await ``call()``, retrying transient failures as ``config`` says.

    The last error is re-raised when retries run out; a non-transient error is
    re-raised at once.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            transient = isinstance(exc, config.retryable_exceptions) or is_transient(exc)
            if not transient or attempt >= config.max_retries:
                raise
            await sleep(config.delay(attempt, retry_after=retry_after(exc)))
            attempt += 1
