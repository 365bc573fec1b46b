"""PromptInjectionPolicy: pattern-based detection of attempts to subvert the agent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import Field

from agentic_django.harness.policies.base import Policy, PolicyResult, iter_strings

#: Pattern categories; each pattern is matched case-insensitively.
INJECTION_PATTERNS: dict[str, tuple[str, ...]] = {
    "instruction_override": (
        r"\b(ignore|disregard|forget|override|skip)\b.{0,40}\b(previous|prior|above|earlier|"
        r"all|your|the)\b.{0,30}\b(instructions?|rules?|prompts?|guidelines?|directives?)",
        r"\bdo not follow\b.{0,40}\b(instructions?|rules?)",
        r"\bnew instructions?\s*:",
    ),
    "role_hijack": (
        r"\byou are (now|no longer)\b",
        r"\b(act|behave|respond) as (if you were |an? )?(unrestricted|unfiltered|evil|dan)\b",
        r"\bpretend (to be|you are)\b",
        r"\bfrom now on,? you\b",
    ),
    "system_prompt_exfiltration": (
        r"\b(reveal|show|print|repeat|output|leak|display|tell me)\b.{0,40}"
        r"\b(system|hidden|initial|original)\s+(prompt|instructions?|message)",
        r"\bwhat (is|are|were) your (system )?(instructions|prompt|rules)\b",
    ),
    "delimiter_injection": (
        r"<\|?(im_start|im_end|system|endoftext)\|?>",
        r"^\s*#{2,}\s*(system|instructions?)\b",
        r"\[/?(INST|SYS)\]",
        r"^\s*(system|assistant)\s*:",
    ),
    "jailbreak": (
        r"\b(jailbreak|jail-break|DAN mode|developer mode)\b",
        r"\bwithout (any )?(restrictions|filters|limitations|safety)\b",
        r"\b(bypass|disable|turn off)\b.{0,30}\b(safety|filters?|guardrails?|restrictions)\b",
        r"\byou (now )?(have|has) no (restrictions|rules|limits|limitations|filters|guidelines)\b",
        r"\b(unrestricted|unfiltered|uncensored) (mode|ai|assistant|model|access)\b",
        r"\byou are (now )?(unrestricted|unfiltered|uncensored|free of all)\b",
    ),
    # Asking the agent to run code it was handed, or handing it code that escapes.
    "code_execution": (
        r"\b(execute|run|eval(uate)?)\b.{0,20}\b(following|this|these|my|the)\b.{0,12}"
        r"\b(python|code|script|shell|bash|command)s?\s*:",
        r"\b(execute|run|eval(uate)?)\s+(the\s+)?(python|shell|bash)\s*:",
        r"__import__\s*\(",
        r"\b(os|posix)\s*\.\s*(system|popen|exec\w*|spawn\w*)\s*\(",
        r"\bsubprocess\s*\.\s*\w+\s*\(",
        r"\b(eval|exec)\s*\(\s*['\"(a-z_]",
    ),
}


class PromptInjectionPolicy(Policy):
    """Flags text that tries to override instructions, hijack roles or exfiltrate prompts.

    ``categories=None`` uses every built-in category; ``extra_patterns`` are
    regexes reported under ``custom``. In ``shadow_mode`` matches are reported
    as warnings and never deny, to tune the patterns on real traffic first.
    """

    categories: list[str] | None = None
    extra_patterns: list[str] = Field(default_factory=list)
    shadow_mode: bool = False
    scan_tool_arguments: bool = True

    @cached_property
    def compiled(self) -> list[tuple[str, re.Pattern[str]]]:
        """(category, pattern) pairs in use."""
        wanted = self.categories if self.categories is not None else list(INJECTION_PATTERNS)
        pairs: list[tuple[str, re.Pattern[str]]] = []
        for category in wanted:
            for pattern in INJECTION_PATTERNS.get(category, ()):
                pairs.append((category, re.compile(pattern, re.IGNORECASE | re.MULTILINE)))
        for pattern in self.extra_patterns:
            pairs.append(("custom", re.compile(pattern, re.IGNORECASE | re.MULTILINE)))
        return pairs

    def detect(self, text: str) -> list[str]:
        """The categories matched in ``text`` (each once, in order of first match)."""
        found: list[str] = []
        for category, pattern in self.compiled:
            if category not in found and pattern.search(text):
                found.append(category)
        return found

    def evaluate_intent_text(self, *, text: str, **context: Any) -> PolicyResult:
        return self._report(self.detect(text), "intent")

    def evaluate_tool_call(
        self, *, tool_name: str, arguments: Mapping[str, Any], **context: Any
    ) -> PolicyResult:
        if not self.scan_tool_arguments:
            return self.result()
        found: list[str] = []
        for value in iter_strings(arguments):
            found.extend(c for c in self.detect(value) if c not in found)
        return self._report(found, f"arguments of tool {tool_name!r}")

    def _report(self, categories: list[str], where: str) -> PolicyResult:
        messages = [f"possible prompt injection ({c}) in {where}" for c in categories]
        if self.shadow_mode:
            return self.result(warnings=[f"shadow mode: {m}" for m in messages])
        return self.result(violations=messages)
