"""Per-user throttling of the shop's agent endpoints, each request of which costs an LLM call.

Every shop endpoint parses its intent with the configured LLM (and ``analytics`` and
``shopper`` call it again to write code or pick tools): without a limit, one signed-in
customer — or one stolen token — could run up the provider bill and starve everyone
else. DRF's ``UserRateThrottle`` counts per user (per IP for anonymous callers).
"""

from __future__ import annotations

from rest_framework.throttling import UserRateThrottle


class LLMUserRateThrottle(UserRateThrottle):
    """``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["llm"]`` requests per user, across endpoints."""

    scope = "llm"
