"""What every execution engine of one request shares, and the choice of engine.

The pipeline builds one :class:`ExecutionScope` per request: the parsed intent,
the caller, the policy ledger, the LLM call recorder and the budget guard, and
the trace record the engines fill in. ``run_engine`` hands the handler's output to
the engine the endpoint chose (``codegen``, ``loop`` or ``workflow``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.context import AgentContext
from ..core.intent import Intent
from ..core.response import AgentResponse
from ..llm import LLMBackend, LLMCallObserver
from ..observability import tracing
from ..streaming import AgentStream
from .agent_loop import run_loop
from .agents import every_action_needs_approval
from .approvals import ApprovalPending, PendingApproval, pause_rule
from .budget import BudgetedBackend, BudgetGuard
from .codegen import run_codegen
from .llm import CallRecorder, RecordingBackend, llm_backends
from .policies import PolicyLedger
from .traces import TraceRecord
from .workflows import run_workflow

if TYPE_CHECKING:
    from ..registry import AgentEndpointDef


@dataclass
class ExecutionScope:
    """The per-request services an engine works with."""

    endpoint: AgentEndpointDef
    intent: Intent[Any]
    context: AgentContext
    user: Any
    user_id: int | None
    ledger: PolicyLedger
    recorder: CallRecorder
    guard: BudgetGuard
    record: TraceRecord
    #: The run's event stream when the request is streamed.
    stream: AgentStream | None = None

    @property
    def every_action_needs_approval(self) -> bool:
        """An operator asked for a person to approve each action of this request."""
        return every_action_needs_approval(
            self.endpoint, self.intent.action.value, self.intent.domain
        )

    @property
    def alias(self) -> str:
        return self.endpoint.llm_alias

    def llm(self) -> LLMBackend:
        """The endpoint's backend, every call checked against the budget first."""
        backend: LLMBackend = BudgetedBackend(
            llm_backends.with_model(self.alias, self.endpoint.llm_model), self.guard
        )
        return backend

    def recorded_llm(self, purpose: str) -> LLMBackend:
        """The budgeted backend, also recording each call (for code that calls it directly)."""
        backend: LLMBackend = RecordingBackend(self.llm(), self.recorder, self.alias, purpose)
        return backend

    def observer(self) -> LLMCallObserver:
        observer: LLMCallObserver = self.recorder.observer(self.alias)
        return observer

    def report(self, section: str, value: Any) -> None:
        """Add a section to the trace's ``harness_report``."""
        self.record.harness_report[section] = value
        tracing.harness_section(section, value)

    def intent_json(self) -> dict[str, Any]:
        """The parsed intent as stored with a paused action, to rebuild it later."""
        intent = self.intent
        return {
            "raw": intent.raw,
            "action": intent.action.value,
            "domain": intent.domain,
            "parameters": intent.parameters,
            "confidence": intent.confidence,
        }

    def pause(self, kind: str, action: dict[str, Any], summary: str) -> ApprovalPending:
        """The exception that stops this request until a person decides ``action``."""
        endpoint = self.endpoint
        rule = pause_rule(endpoint.approval, self.intent.action.value, self.intent.domain)
        return ApprovalPending(
            PendingApproval(
                kind=kind,
                rule=rule,
                action={**action, "intent": self.intent_json()},
                summary=summary,
            )
        )


async def run_engine(scope: ExecutionScope, prepared: Any) -> AgentResponse:
    """Run the endpoint's engine on what its handler (or ``context_data``) prepared."""
    engine = scope.endpoint.engine
    scope.report("engine", engine)
    if engine == "codegen":
        return await run_codegen(scope, prepared)
    if engine == "loop":
        return await run_loop(scope, prepared)
    if engine == "workflow":
        return await run_workflow(scope, prepared)
    raise ValueError(f"Endpoint {scope.endpoint.name!r} has no engine to run ({engine!r}).")
