"""Validators: checks that the outcome of an execution is acceptable to return."""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentic_django.harness.policies.data import looks_like_sql, split_statements

_READ_ACTIONS = frozenset({"read", "query", "get", "list", "search", "analyze", "analyse"})
_WRITE_METHODS = frozenset(
    {"save", "delete", "create", "update", "bulk_create", "bulk_update", "update_or_create",
     "get_or_create", "insert", "remove", "write", "execute", "executemany"}
)  # fmt: skip
_WRITE_SQL = re.compile(
    r"^\s*(insert|update|delete|replace|merge|create|drop|alter|truncate)\b", re.I
)
#: Keys a tool or the code may use in its result to say it changed something.
WRITE_INDICATORS: tuple[str, ...] = ("rows_affected", "rows_written", "writes", "written")


class ValidationResult(BaseModel):
    """What one validator found; ``ok`` is false when there is an error."""

    model_config = ConfigDict(extra="forbid")

    validator: str
    ok: bool = True
    errors: list[str] = Field(default_factory=list)


class JSONOutputValidator(BaseModel):
    """The result must be plain JSON (no NaN/Infinity, only str keys)."""

    model_config = ConfigDict(extra="forbid")

    def validate_output(self, result: Any, **context: Any) -> ValidationResult:
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return ValidationResult(validator="json_output", ok=False, errors=[str(exc)])
        if _has_non_finite(result):
            return ValidationResult(validator="json_output", ok=False, errors=["non-finite number"])
        return ValidationResult(validator="json_output")


class ReadOnlyValidator(BaseModel):
    """A read intent must not write: no write calls or write SQL in the code, no write indicator.

    ``read_actions`` are the intent actions treated as read-only.
    """

    model_config = ConfigDict(extra="forbid")

    read_actions: list[str] = Field(default_factory=lambda: sorted(_READ_ACTIONS))

    def validate_output(
        self, result: Any, *, code: str = "", intent_action: str = "", **context: Any
    ) -> ValidationResult:
        if intent_action.lower() not in self.read_actions:
            return ValidationResult(validator="read_only")
        errors = [*_writes_in_code(code), *_write_indicators(result)]
        return ValidationResult(validator="read_only", ok=not errors, errors=errors)


def _has_non_finite(value: Any, depth: int = 0) -> bool:
    if depth > 64:
        return False
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v, depth + 1) for v in value)
    return False


def _writes_in_code(code: str) -> list[str]:
    if not code:
        return []
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return ["code does not parse"]
    errors: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _WRITE_METHODS:
                errors.append(f"line {node.lineno}: write call .{node.func.attr}()")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and looks_like_sql(node.value)
            and any(_WRITE_SQL.match(s) for s in split_statements(node.value))
        ):
            errors.append(f"line {node.lineno}: write SQL statement")
    return errors


def _write_indicators(result: Any) -> list[str]:
    if not isinstance(result, dict):
        return []
    errors = []
    for key in WRITE_INDICATORS:
        value = result.get(key)
        if value and not (isinstance(value, int | float) and value <= 0):
            errors.append(f"result reports writes ({key}={value!r})")
    return errors
