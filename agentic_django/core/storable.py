"""Making a value storable: plain JSON that every database and every transport accepts.

A model's output, a tool's arguments or generated code's result can carry values
that Python's ``json`` module round-trips but nothing downstream accepts: ``NaN``
and ``Infinity`` (not JSON; PostgreSQL's ``jsonb`` refuses them), lone UTF-16
surrogates (no UTF-8 encoding exists), NUL characters (PostgreSQL text and
``jsonb`` refuse them), keys that are not strings, and structures nested deep
enough to exhaust the interpreter's recursion limit. Every value that reaches
storage or a response goes through this module first, in one of two modes:

- :func:`check_storable` (results sent to a client) refuses a bad value with an
  :class:`UnstorableValue` that names the problem (``code``) and where it is;
- :func:`coerce_storable` (what the audit trail keeps) never fails: it replaces
  each bad part with a visible stand-in, so the record of what happened is
  always written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import ResponseValidationError

#: Deeper results are refused (JSON parsers and ``jsonb`` stop near a few hundred levels).
DEFAULT_MAX_DEPTH = 64
#: Results larger than this (characters of JSON, roughly) are refused.
DEFAULT_MAX_CHARS = 5 * 1024 * 1024

#: Stand-ins :func:`coerce_storable` leaves where it removed something.
REPLACEMENT_CHAR = "\ufffd"
TOO_DEEP = "[too deep]"
TRUNCATED = "[truncated]"


class UnstorableValue(ResponseValidationError):
    """A value cannot be stored or sent as JSON; ``problem`` is its machine-readable kind.

    Problems: ``non_finite_number``, ``invalid_text`` (a lone surrogate or a NUL
    character), ``non_string_key``, ``too_deep``, ``too_large``,
    ``unsupported_type``.
    """

    code = "unstorable_value"

    def __init__(self, problem: str, message: str, path: str = "$") -> None:
        super().__init__(f"{message} at {path}")
        self.problem = problem
        self.path = path


@dataclass(frozen=True)
class Limits:
    """How deep and how large a storable value may be."""

    max_depth: int = DEFAULT_MAX_DEPTH
    max_chars: int = DEFAULT_MAX_CHARS


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a lone surrogate, a NUL), or ``None`` when it can."""
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone UTF-16 surrogate"
    return None


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate and NUL replaced by U+FFFD."""
    if text_problem(text) is None:
        return text
    cleaned = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return cleaned.replace("\x00", REPLACEMENT_CHAR)


def check_storable(
    value: Any,
    *,
    limits: Limits | None = None,
    default: Callable[[Any], Any] | None = None,
) -> Any:
    """``value`` as plain JSON data, or :class:`UnstorableValue` naming what is wrong.

    ``default`` turns other objects (dates, decimals, models) into JSON-able ones,
    like ``json.JSONEncoder.default``; it raises ``TypeError`` for the rest.
    """
    return _Walker(limits or Limits(), default, strict=True).walk(value, "$", 0)


def coerce_storable(
    value: Any,
    *,
    limits: Limits | None = None,
    default: Callable[[Any], Any] | None = None,
) -> Any:
    """``value`` as plain JSON data, every unstorable part replaced by a visible stand-in.

    For the audit trail: what happened is always recorded, lossy where it must be.
    """
    return _Walker(limits or Limits(), default, strict=False).walk(value, "$", 0)


class _Walker:
    """One pass over a value, counting its size; refuses or replaces what cannot be stored."""

    def __init__(self, limits: Limits, default: Callable[[Any], Any] | None, strict: bool):
        self.limits = limits
        self.default = default
        self.strict = strict
        self.chars = 0

    def fail(self, problem: str, message: str, path: str, stand_in: Any) -> Any:
        if self.strict:
            raise UnstorableValue(problem, message, path)
        return stand_in

    def count(self, chars: int, path: str) -> bool:
        """Add ``chars`` to the size; ``False`` once past the limit (lenient mode)."""
        self.chars += chars
        if self.chars <= self.limits.max_chars:
            return True
        self.fail(
            "too_large", f"The value is larger than {self.limits.max_chars} characters", path, None
        )
        return False

    def walk(self, value: Any, path: str, depth: int) -> Any:
        if value is None or isinstance(value, bool):
            self.count(5, path)
            return value
        if isinstance(value, int):
            return value if self.count(len(str(value)) if abs(value) < 10**30 else 40, path) else 0
        if isinstance(value, float):
            if not math.isfinite(value):
                return self.fail(
                    "non_finite_number", f"A number is not finite ({value})", path, str(value)
                )
            self.count(24, path)
            return value
        if isinstance(value, str):
            return self.text(value, path)
        if depth >= self.limits.max_depth:
            return self.fail(
                "too_deep",
                f"The value nests deeper than {self.limits.max_depth} levels",
                path,
                TOO_DEEP,
            )
        if isinstance(value, Mapping):
            return self.mapping(value, path, depth)
        if isinstance(value, list | tuple | set | frozenset):
            items = []
            for index, item in enumerate(value):
                if not self.count(2, path):
                    items.append(TRUNCATED)
                    break
                items.append(self.walk(item, f"{path}[{index}]", depth + 1))
            return items
        return self.other(value, path, depth)

    def text(self, value: str, path: str) -> str:
        problem = text_problem(value)
        if problem is not None:
            value = self.fail(
                "invalid_text", f"The text contains {problem}", path, clean_text(value)
            )
        if not self.count(len(value) + 2, path):
            return TRUNCATED
        return value

    def mapping(self, value: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                name = self.text(key, path)
            elif isinstance(key, int) and not isinstance(key, bool):
                # JSON writes integer keys as strings; a clash with a string key would lose data.
                name = str(key)
            else:
                name = self.fail(
                    "non_string_key",
                    f"A key is not a string ({type(key).__name__})",
                    path,
                    clean_text(repr(key)),
                )
            if name in result:
                name = self.fail(
                    "non_string_key", f"Two keys are both written {name!r}", path, f"{name} (2)"
                )
            if not self.count(len(name) + 4, path):
                result[TRUNCATED] = TRUNCATED
                break
            result[name] = self.walk(item, f"{path}.{name}", depth + 1)
        return result

    def other(self, value: Any, path: str, depth: int) -> Any:
        if self.default is not None:
            try:
                converted = self.default(value)
            except TypeError:
                pass
            else:
                # ``default`` gives JSON-able data one level down (a string, a dict, a list).
                return self.walk(converted, path, depth + 1)
        return self.fail(
            "unsupported_type",
            f"A value of type {type(value).__name__} is not JSON-serialisable",
            path,
            clean_text(f"[{type(value).__name__}]"),
        )


class TooDeep(ValueError):
    """JSON text nests deeper than allowed (a ``ValueError``, like a JSON syntax error)."""


def exceeds_depth(value: Any, max_depth: int) -> bool:
    """Whether ``value`` (parsed JSON) nests deeper than ``max_depth`` containers.

    Iterative, so no nesting exhausts the interpreter's recursion limit.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= max_depth:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def loads_bounded(text: str | bytes, *, max_depth: int = DEFAULT_MAX_DEPTH, **options: Any) -> Any:
    """``json.loads`` that refuses, with :class:`TooDeep`, text nested beyond ``max_depth``.

    Plain ``json.loads`` raises ``RecursionError`` (not a ``ValueError``) on deep
    enough text, which callers that handle bad JSON do not expect.
    """
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise TooDeep(f"The JSON nests deeper than {max_depth} levels.") from None
    if exceeds_depth(value, max_depth):
        raise TooDeep(f"The JSON nests deeper than {max_depth} levels.")
    return value
