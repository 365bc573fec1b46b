from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from agentic_django.llm.retry import RetryConfig, call_with_retry, parse_retry_after


class Transient(Exception):
    pass


class Fatal(Exception):
    pass


def test_backoff_doubles_and_is_capped() -> None:
    config = RetryConfig(base_delay_seconds=1.0, max_delay_seconds=5.0, jitter=False)
    assert [config.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_draws_from_the_upper_half_of_the_delay() -> None:
    config = RetryConfig(base_delay_seconds=2.0, jitter=True)
    assert config.delay(1, rand=lambda: 0.0) == 2.0
    assert config.delay(1, rand=lambda: 1.0) == 4.0
    assert config.delay(1, rand=lambda: 0.5) == 3.0


def test_retry_after_replaces_the_computed_delay_but_is_capped() -> None:
    config = RetryConfig(base_delay_seconds=1.0, max_delay_seconds=30.0)
    assert config.delay(0, retry_after=7.0) == 7.0
    assert config.delay(0, retry_after=600.0) == 30.0


def test_parse_retry_after_reads_seconds_milliseconds_and_dates() -> None:
    assert parse_retry_after({"Retry-After": "12"}) == 12.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    parsed = parse_retry_after({"retry-after": when})
    assert parsed is not None and 55 <= parsed <= 60
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_config_is_built_from_a_settings_dict() -> None:
    assert RetryConfig.coerce({"max_retries": 5}).max_retries == 5
    assert RetryConfig.coerce(None) == RetryConfig()
    with pytest.raises(ValueError, match="max_retrys"):
        RetryConfig.coerce({"max_retrys": 5})


async def test_transient_errors_are_retried_with_backoff_then_succeed() -> None:
    attempts: list[int] = []
    sleeps: list[float] = []

    async def call() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise Transient()
        return "ok"

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    config = RetryConfig(max_retries=3, base_delay_seconds=0.5, jitter=False)
    result = await call_with_retry(
        call, config, is_transient=lambda e: isinstance(e, Transient), sleep=sleep
    )
    assert result == "ok"
    assert sleeps == [0.5, 1.0]


async def test_retry_after_from_the_error_is_honoured() -> None:
    sleeps: list[float] = []
    calls = iter([Transient(), None])

    async def call() -> str:
        exc = next(calls)
        if exc:
            raise exc
        return "ok"

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    await call_with_retry(
        call,
        RetryConfig(jitter=False),
        is_transient=lambda e: True,
        retry_after=lambda e: 4.0,
        sleep=sleep,
    )
    assert sleeps == [4.0]


async def test_non_transient_errors_are_raised_at_once() -> None:
    attempts: list[int] = []

    async def call() -> str:
        attempts.append(1)
        raise Fatal()

    with pytest.raises(Fatal):
        await call_with_retry(call, RetryConfig(), is_transient=lambda e: isinstance(e, Transient))
    assert len(attempts) == 1


async def test_retries_stop_after_max_retries() -> None:
    attempts: list[int] = []

    async def call() -> str:
        attempts.append(1)
        raise Fatal()

    async def sleep(seconds: float) -> None:
        return None

    config = RetryConfig(max_retries=2, retryable_exceptions=(Fatal,))
    with pytest.raises(Fatal):
        await call_with_retry(call, config, is_transient=lambda e: False, sleep=sleep)
    assert len(attempts) == 3
