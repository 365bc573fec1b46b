"""PIIPolicy: finds personal data and detects, redacts or blocks it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from agentic_django.harness.policies.base import Policy, PolicyResult, iter_strings

PIIMode = Literal["detect", "redact", "block"]


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` passes the Luhn checksum used by payment cards."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """True when ``iban`` (spaces allowed) passes the ISO 13616 mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _ipv4_valid(text: str) -> bool:
    return all(
        int(part) <= 255 and (part == "0" or not part.startswith("0")) for part in text.split(".")
    )


@dataclass(frozen=True)
class _Detector:
    kind: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None


#: Most specific first: a span claimed by an earlier detector is not re-reported.
_DETECTORS: tuple[_Detector, ...] = (
    _Detector("email", re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")),
    _Detector(
        "iban",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        iban_valid,
    ),
    _Detector(
        "credit_card",
        re.compile(r"\b\d(?:[ -]?\d){12,18}\b"),
        lambda text: luhn_valid(_digits(text)),
    ),
    _Detector("ssn", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")),
    _Detector("ipv4", re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), _ipv4_valid),
    _Detector(
        "phone",
        re.compile(
            r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])"
            r"\d{3,4}[ .-]\d{3,4}\b(?![ .-]?\d)"
        ),
    ),
)

PII_KINDS: tuple[str, ...] = tuple(detector.kind for detector in _DETECTORS)


@dataclass(frozen=True)
class PIIMatch:
    """One piece of personal data found in a text."""

    kind: str
    start: int
    end: int


class PIIPolicy(Policy):
    """Finds emails, phones, SSNs, card numbers (Luhn), IBANs (mod 97) and IPv4 addresses.

    ``mode`` decides what a finding does: ``block`` (the default: fail closed)
    denies, ``detect`` only warns, ``redact`` warns and expects the caller to pass
    outputs through :meth:`redact`. Applies to intent text, generated code and
    tool arguments.
    """

    mode: PIIMode = "block"
    kinds: list[str] = Field(default_factory=lambda: list(PII_KINDS))
    placeholder: str = "[REDACTED:{kind}]"

    def find(self, text: str) -> list[PIIMatch]:
        """Every match in ``text``, ordered by position, without overlaps."""
        matches: list[PIIMatch] = []
        taken: list[tuple[int, int]] = []
        for detector in _DETECTORS:
            if detector.kind not in self.kinds:
                continue
            for found in detector.pattern.finditer(text):
                start, end = found.span()
                if any(start < t_end and t_start < end for t_start, t_end in taken):
                    continue
                if detector.check is not None and not detector.check(found.group()):
                    continue
                taken.append((start, end))
                matches.append(PIIMatch(detector.kind, start, end))
        return sorted(matches, key=lambda match: match.start)

    def redact(self, value: Any) -> Any:
        """A copy of ``value`` with PII in every string replaced (walks dicts, lists, tuples)."""
        if isinstance(value, str):
            return self._redact_text(value)
        if isinstance(value, Mapping):
            return {key: self.redact(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact(item) for item in value)
        return value

    def evaluate_intent_text(self, *, text: str, **context: Any) -> PolicyResult:
        return self._report(self._kinds_in([text]), "intent")

    def evaluate(self, *, code: str, **context: Any) -> PolicyResult:
        return self._report(self._kinds_in([code]), "generated code")

    def evaluate_tool_call(
        self, *, tool_name: str, arguments: Mapping[str, Any], **context: Any
    ) -> PolicyResult:
        return self._report(self._kinds_in(iter_strings(arguments)), f"tool {tool_name!r}")

    def _redact_text(self, text: str) -> str:
        pieces: list[str] = []
        cursor = 0
        for match in self.find(text):
            pieces.append(text[cursor : match.start])
            pieces.append(self.placeholder.format(kind=match.kind.upper()))
            cursor = match.end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def _kinds_in(self, texts: Any) -> list[str]:
        kinds: list[str] = []
        for text in texts:
            kinds.extend(m.kind for m in self.find(text) if m.kind not in kinds)
        return kinds

    def _report(self, kinds: list[str], where: str) -> PolicyResult:
        if not kinds:
            return self.result()
        message = f"personal data ({', '.join(kinds)}) in {where}"
        if self.mode == "block":
            return self.result(violations=[message])
        if self.mode == "redact":
            return self.result(warnings=[f"{message}; outputs are redacted"])
        return self.result(warnings=[message])
