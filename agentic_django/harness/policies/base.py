"""The policy contract: every policy answers the same three questions with a PolicyResult."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PolicyResult(BaseModel):
    """What one policy decided about one piece of input.

    ``violations`` make the decision a denial; ``warnings`` are reported on the
    trace but never deny.
    """

    model_config = ConfigDict(extra="forbid")

    policy_name: str
    allowed: bool = True
    violations: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class Policy(BaseModel):
    """Base class of every harness policy.

    Subclasses override the checks that concern them; the others allow. Policies
    are plain pydantic models so they can be declared in settings, compared and
    serialised onto the trace.
    """

    model_config = ConfigDict(extra="forbid")

    @property
    def name(self) -> str:
        """The name reported on results and in denials (the class name)."""
        return type(self).__name__

    def evaluate(self, *, code: str, **context: Any) -> PolicyResult:
        """Check generated code before it runs."""
        return self.result()

    def evaluate_intent_text(self, *, text: str, **context: Any) -> PolicyResult:
        """Check the user's raw intent text before any LLM call."""
        return self.result()

    def evaluate_tool_call(
        self, *, tool_name: str, arguments: Mapping[str, Any], **context: Any
    ) -> PolicyResult:
        """Check a tool call (name and arguments) before it is dispatched."""
        return self.result()

    def result(self, violations: Iterable[str] = (), warnings: Iterable[str] = ()) -> PolicyResult:
        """Build this policy's result: denied exactly when there are violations."""
        found = list(violations)
        return PolicyResult(
            policy_name=self.name,
            allowed=not found,
            violations=found,
            warnings=list(warnings),
        )


def iter_strings(value: Any, *, _depth: int = 0) -> Iterable[str]:
    """Yield every string inside ``value`` (walking dicts, lists and tuples).

    Used by policies that scan tool arguments; dict keys are scanned too.
    """
    if _depth > 32:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(key, _depth=_depth + 1)
            yield from iter_strings(item, _depth=_depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from iter_strings(item, _depth=_depth + 1)
