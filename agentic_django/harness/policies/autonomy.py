"""AutonomyPolicy: how much an agent may do alone, tightened by live signals."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from agentic_django.harness.policies.base import Policy


class AutonomyLevel(StrEnum):
    """From most to least autonomous: act alone, ask for approval, hand over to the handler."""

    AUTO = "auto"
    SUPERVISED = "supervised"
    MANUAL = "manual"

    @property
    def rank(self) -> int:
        """Strictness: higher is stricter."""
        return list(AutonomyLevel).index(self)


class AutonomySignal(BaseModel):
    """What is known about the agent's situation while it runs."""

    model_config = ConfigDict(extra="forbid")

    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    cost_usd: float | None = Field(default=None, ge=0.0)
    flags: list[str] = Field(default_factory=list)


class EscalationRule(BaseModel):
    """Move to ``level`` when any of the configured conditions holds."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    level: AutonomyLevel
    confidence_below: float | None = Field(default=None, ge=0.0, le=1.0)
    cost_above_usd: float | None = Field(default=None, ge=0.0)
    flags: list[str] = Field(default_factory=list)

    def matches(self, signal: AutonomySignal) -> bool:
        """True when the signal meets one of this rule's conditions."""
        if (
            self.confidence_below is not None
            and signal.confidence is not None
            and signal.confidence < self.confidence_below
        ):
            return True
        if (
            self.cost_above_usd is not None
            and signal.cost_usd is not None
            and signal.cost_usd > self.cost_above_usd
        ):
            return True
        return bool(set(self.flags) & set(signal.flags))


class AutonomyPolicy(Policy):
    """A starting autonomy level plus rules that escalate it; it never relaxes."""

    start: AutonomyLevel = AutonomyLevel.AUTO
    rules: list[EscalationRule] = Field(default_factory=list)

    def matching_rules(self, signal: AutonomySignal) -> list[EscalationRule]:
        """The rules that fire for ``signal``."""
        return [rule for rule in self.rules if rule.matches(signal)]

    def evaluate_signal(
        self, signal: AutonomySignal, current: AutonomyLevel | None = None
    ) -> AutonomyLevel:
        """The level after ``signal``: the strictest of the current level and every fired rule."""
        level = current or self.start
        for rule in self.matching_rules(signal):
            if rule.level.rank > level.rank:
                level = rule.level
        return level
