"""LLM backends configured by alias (like ``CACHES``) and the recording of every call.

``llm_backends["fast"]`` builds the backend named by
``AGENTIC_DJANGO["LLM_BACKENDS"]["fast"]`` once per process and returns it;
tests may swap one in with :meth:`LLMBackends.override`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import SETTINGS_NAME, agentic_settings, on_reload
from ..core.exceptions import BudgetExceeded, LLMConfigurationError
from ..llm import (
    LLMBackend,
    LLMCallRecord,
    LLMChunk,
    LLMResponse,
    LLMUsage,
    build_price_table,
    forbid_real_calls,
    observed_generate,
)
from ..llm.base import backend_provider, with_usage
from ..llm.pricing import PriceTable, price_call
from ..observability import metrics, tracing


class LLMBackends:
    """Lazily built backends by alias."""

    def __init__(self) -> None:
        self._built: dict[str, LLMBackend] = {}
        self._with_model: dict[tuple[str, str], LLMBackend] = {}
        self._overrides: dict[str, LLMBackend] = {}

    def configured_aliases(self) -> list[str]:
        return list(agentic_settings.LLM_BACKENDS)

    def __contains__(self, alias: object) -> bool:
        return alias in self._overrides or alias in agentic_settings.LLM_BACKENDS

    def __getitem__(self, alias: str) -> LLMBackend:
        if alias in self._overrides:
            return self._overrides[alias]
        backend = self._built.get(alias)
        if backend is None:
            backend = self._built[alias] = build_backend(alias)
        return backend

    def with_model(self, alias: str, model: str = "") -> LLMBackend:
        """The backend of ``alias`` asking for ``model`` instead of its configured one.

        Built from the alias's configuration with ``OPTIONS["model"]`` replaced, once
        per process. A backend swapped in by :meth:`override` is returned as is.
        """
        if not model or alias in self._overrides:
            return self[alias]
        backend = self._with_model.get((alias, model))
        if backend is None:
            backend = self._with_model[alias, model] = build_backend(alias, model=model)
        return backend

    def reset(self) -> None:
        self._built.clear()
        self._with_model.clear()

    @contextmanager
    def override(self, alias: str, backend: LLMBackend) -> Iterator[LLMBackend]:
        """Use ``backend`` for ``alias`` inside the block (for tests)."""
        previous = self._overrides.get(alias)
        self._overrides[alias] = backend
        try:
            yield backend
        finally:
            if previous is None:
                self._overrides.pop(alias, None)
            else:
                self._overrides[alias] = previous


def build_backend(alias: str, *, model: str = "") -> LLMBackend:
    """Instantiate the backend configured for ``alias`` (with another ``model`` if given)."""
    config = agentic_settings.LLM_BACKENDS.get(alias)
    if config is None:
        raise LLMConfigurationError(
            f"No LLM backend is configured under the alias {alias!r}; "
            f"add it to {SETTINGS_NAME}['LLM_BACKENDS']."
        )
    if not isinstance(config, dict) or "BACKEND" not in config:
        raise ImproperlyConfigured(
            f"{SETTINGS_NAME}['LLM_BACKENDS'][{alias!r}] needs a 'BACKEND' dotted path."
        )
    try:
        backend_class = import_string(config["BACKEND"])
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{SETTINGS_NAME}['LLM_BACKENDS'][{alias!r}]: cannot import {config['BACKEND']!r}: "
            f"{exc}"
        ) from exc
    options = dict(config.get("OPTIONS", {}))
    if model:
        options["model"] = model
    return backend_class(**options)


llm_backends = LLMBackends()


def price_table() -> PriceTable:
    return build_price_table(agentic_settings.PRICING)


def apply_network_guard() -> None:
    """Forbid or allow real provider calls as ``FORBID_REAL_LLM_CALLS`` says."""
    forbid_real_calls(bool(agentic_settings.FORBID_REAL_LLM_CALLS))


@on_reload
def _reset() -> None:
    llm_backends.reset()
    apply_network_guard()


@dataclass
class RecordedCall:
    """An LLM call waiting to be written as an :class:`~agentic_django.models.LLMCall`."""

    alias: str
    purpose: str
    provider: str
    model: str
    latency_ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    finish_reason: str = ""
    error: str = ""
    usage_estimated: bool = False
    price_source: str = ""


class CallRecorder:
    """Collects the LLM calls of one request; the trace writer stores them."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self._prices = price_table()

    def observer(self, alias: str) -> Any:
        """An observer for the llm layer that tags each call with ``alias``."""

        def observe(record: LLMCallRecord) -> None:
            self.add(alias, record)

        return observe

    def add(self, alias: str, record: LLMCallRecord) -> None:
        if isinstance(record.error, BudgetExceeded):
            return  # refused before reaching the provider: nothing was sent or spent
        call = RecordedCall(
            alias=alias,
            purpose=record.purpose,
            provider=record.provider or alias,
            model=record.model,
            latency_ms=record.latency_ms,
        )
        if record.response is not None:
            usage = record.response.usage
            call.model = record.response.model or record.model
            call.input_tokens = usage.input_tokens
            call.output_tokens = usage.output_tokens
            call.usage_estimated = bool(getattr(usage, "estimated", False))
            call.finish_reason = record.response.finish_reason or ""
            cost, call.price_source = price_call(
                call.model, usage, self._prices, provider=call.provider
            )
            call.cost_usd = Decimal(str(cost))
        if record.error is not None:
            call.error = f"{type(record.error).__name__}: {record.error}"[:2000]
        self.calls.append(call)
        metrics.observe_llm_call(call)
        tracing.llm_call(record, call)

    @property
    def input_tokens(self) -> int:
        return sum(call.input_tokens for call in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(call.output_tokens for call in self.calls)

    @property
    def cost_usd(self) -> Decimal:
        return sum((call.cost_usd for call in self.calls), Decimal(0))


class RecordingBackend:
    """Wraps a backend so calls a handler makes itself are recorded too.

    A stream whose final chunk reports no usage is recorded with usage estimated
    from the text sent and received, never as a free call.
    """

    def __init__(self, backend: LLMBackend, recorder: CallRecorder, alias: str, purpose: str):
        self._backend = backend
        self._observe = recorder.observer(alias)
        self._purpose = purpose
        self.provider = backend_provider(backend, alias)
        self.model_name = backend.model_name

    async def generate(self, prompt: Any) -> Any:
        return await observed_generate(
            self._backend, prompt, purpose=self._purpose, observer=self._observe
        )

    async def generate_stream(self, prompt: Any) -> AsyncIterator[LLMChunk]:
        started = time.perf_counter()
        final: LLMChunk | None = None
        error: BaseException | None = None
        parts: list[str] = []
        try:
            async for chunk in self._backend.generate_stream(prompt):
                if chunk.content:
                    parts.append(chunk.content)
                if chunk.is_final:
                    final = chunk
                yield chunk
        except BaseException as exc:
            error = exc
            raise
        finally:
            response = None
            if error is None:
                response = with_usage(
                    prompt,
                    LLMResponse(
                        content="".join(parts),
                        usage=getattr(final, "usage", None) or LLMUsage(),
                        model=self.model_name,
                        tool_calls=list(getattr(final, "tool_calls", None) or []),
                        finish_reason=getattr(final, "finish_reason", None),
                    ),
                )
            self._observe(
                LLMCallRecord(
                    purpose=self._purpose,
                    provider=self.provider,
                    model=self.model_name,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    response=response,
                    error=error,
                    prompt=prompt,
                )
            )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)
