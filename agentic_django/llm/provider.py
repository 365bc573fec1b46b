"""What the SDK-backed backends share: the model, retries and error translation.

Each backend names its SDK's error types and says which are transient; this base
retries those (honouring ``Retry-After``) and turns the rest into
:class:`LLMProviderError` at once, after checking that real calls are allowed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agentic_django.core.exceptions import LLMProviderError

from .network import ensure_real_calls_allowed
from .retry import RetryConfig, call_with_retry, parse_retry_after
from .scrub import scrub_secrets


def is_transient_status(status: int | None) -> bool:
    """Timeouts, conflicts, rate limits and server errors are worth retrying."""
    return status is not None and (status in (408, 409, 429) or status >= 500)


def retry_after(exc: BaseException) -> float | None:
    """The ``Retry-After`` delay of an SDK error carrying an HTTP response, if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return parse_retry_after(headers) if headers is not None else None


class ProviderBackend:
    """Base of the provider backends; subclasses implement the three hooks below."""

    provider = ""
    #: The final chunk of ``generate_stream`` carries tool calls and usage.
    streams_tool_calls = True

    def __init__(
        self, *, model: str, max_tokens: int, retry: RetryConfig | dict[str, Any] | None
    ) -> None:
        self._model = model
        self._max_tokens = max_tokens
        self._retry = RetryConfig.coerce(retry)

    @property
    def model_name(self) -> str:
        return self._model

    def _api_errors(self) -> tuple[type[BaseException], ...]:
        """The SDK exception types that mean "the provider said no"."""
        raise NotImplementedError

    def _is_transient(self, exc: BaseException) -> bool:
        raise NotImplementedError

    def _provider_error(self, exc: Any) -> LLMProviderError:
        raise NotImplementedError

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Make one SDK call with retries; a final failure is an LLMProviderError."""
        ensure_real_calls_allowed(self.provider, self._model)
        try:
            return await call_with_retry(
                call, self._retry, is_transient=self._is_transient, retry_after=retry_after
            )
        except self._api_errors() as exc:
            error = self._provider_error(exc)
            # The provider's text may echo the key it was sent: scrub before anyone keeps it.
            error.message = scrub_secrets(error.message, self._secrets())
            error.args = (error.message,)
            raise error from exc

    def _secrets(self) -> tuple[str, ...]:
        """The credentials this backend sends, to be scrubbed from error text."""
        client = getattr(self, "_client", None)
        # Anthropic's and OpenAI's clients hold it as ``api_key``; google-genai's inner client.
        keys = (
            getattr(client, "api_key", None),
            getattr(getattr(client, "_api_client", None), "api_key", None),
        )
        return tuple(key for key in keys if isinstance(key, str))
