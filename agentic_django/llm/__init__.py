"""The LLM layer: a provider-neutral backend protocol and its implementations.

Pure Python (no Django). Provider SDKs are optional extras imported only when
their backend is built.
"""

from __future__ import annotations

from .anthropic import AnthropicBackend
from .base import (
    LLMBackend,
    LLMCallObserver,
    LLMCallRecord,
    LLMChunk,
    LLMMessage,
    LLMPrompt,
    LLMResponse,
    LLMUsage,
    ToolCall,
    observed_generate,
)
from .demo import DemoBackend
from .gemini import GeminiBackend
from .mock import FunctionBackend, MockBackend
from .network import forbid_real_calls, real_calls_forbidden
from .openai import OpenAIBackend
from .pricing import DEFAULT_PRICES, ModelPrice, build_price_table, cost_usd, is_priced
from .retry import RetryConfig

__all__ = [
    "DEFAULT_PRICES",
    "AnthropicBackend",
    "DemoBackend",
    "FunctionBackend",
    "GeminiBackend",
    "LLMBackend",
    "LLMCallObserver",
    "LLMCallRecord",
    "LLMChunk",
    "LLMMessage",
    "LLMPrompt",
    "LLMResponse",
    "LLMUsage",
    "MockBackend",
    "ModelPrice",
    "OpenAIBackend",
    "RetryConfig",
    "ToolCall",
    "build_price_table",
    "cost_usd",
    "forbid_real_calls",
    "is_priced",
    "observed_generate",
    "real_calls_forbidden",
]
