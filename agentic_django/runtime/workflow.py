"""Workflows: named async steps over a typed state, with branches, retries and pauses.

Each step receives the state (a pydantic model) and a caller-supplied context and
returns what runs next: a step name, a list of names (run concurrently), ``None``
to finish, or a :class:`Checkpoint` to pause for a human. A pause raises
:class:`WorkflowPaused` carrying a JSON-serialisable :class:`WorkflowCheckpoint`
that :meth:`AgentWorkflow.resume` continues from, in this process or another.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from agentic_django.core.exceptions import (
    ApprovalRequired,
    BudgetExceeded,
    PolicyViolation,
    WorkflowError,
)

StateT = TypeVar("StateT", bound=BaseModel)

#: Receives ``(kind, payload)`` for "workflow_step_start", "workflow_step_complete"
#: and "workflow_checkpoint".
EventCallback = Callable[[str, dict[str, Any]], Awaitable[None] | None]

STATUS_COMPLETED = "completed"
STATUS_REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Returned by a step to pause; ``then`` is what runs once the pause is approved."""

    then: str | list[str] | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowCheckpoint:
    """A paused workflow: the steps to run next, the state and the steps already run."""

    workflow: str
    pending: list[str]
    state: dict[str, Any]
    completed_steps: list[str]
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "pending": list(self.pending),
            "state": self.state,
            "completed_steps": list(self.completed_steps),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowCheckpoint:
        return cls(
            workflow=str(data["workflow"]),
            pending=[str(name) for name in data["pending"]],
            state=dict(data["state"]),
            completed_steps=[str(name) for name in data["completed_steps"]],
            reason=str(data.get("reason", "")),
        )


class WorkflowPaused(ApprovalRequired):
    """A workflow stopped at a checkpoint; store ``checkpoint.to_json()`` to resume it."""

    def __init__(self, checkpoint: WorkflowCheckpoint) -> None:
        super().__init__(
            checkpoint.reason or f"Workflow {checkpoint.workflow!r} is waiting for approval",
            workflow=checkpoint.workflow,
            pending=list(checkpoint.pending),
        )
        self.checkpoint = checkpoint


@dataclass
class WorkflowContext:
    """What the web layer hands every step besides the state (the steps' ``context``)."""

    #: The parsed request (an ``Intent``).
    intent: Any
    #: The request's ``AgentContext``: trace and session ids, the user.
    context: Any
    user: Any
    #: The endpoint's LLM; every call is checked against the budget and recorded.
    llm: Any
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class WorkflowResult(Generic[StateT]):
    """The final state, every step run (in order of completion) and how it ended."""

    state: StateT
    steps_run: list[str]
    status: str = STATUS_COMPLETED


@dataclass(frozen=True, slots=True)
class StepDefinition:
    """A registered step and its execution options."""

    name: str
    fn: Callable[[Any, Any], Awaitable[Any]]
    retries: int = 0
    timeout_seconds: float | None = None
    require_approval: bool = False


@dataclass(slots=True)
class _Run(Generic[StateT]):
    state: StateT
    context: Any
    on_event: EventCallback | None
    steps_run: list[str] = field(default_factory=list)
    approved: set[str] = field(default_factory=set)
    #: Pause before every step, not only those declared ``require_approval``.
    approve_every_step: bool = False


class AgentWorkflow(Generic[StateT]):
    """A set of steps over a ``state_model`` state, started at ``start`` (or the first step)."""

    def __init__(
        self,
        name: str,
        state_model: type[StateT],
        *,
        start: str | None = None,
        max_steps: int = 100,
    ) -> None:
        self.name = name
        self.state_model = state_model
        self.start = start
        self.max_steps = max_steps
        self.steps: dict[str, StepDefinition] = {}

    def step(
        self,
        name: str,
        *,
        retries: int = 0,
        timeout_seconds: float | None = None,
        require_approval: bool = False,
    ) -> Callable[
        [Callable[[StateT, Any], Awaitable[Any]]], Callable[[StateT, Any], Awaitable[Any]]
    ]:
        """Register an async step; ``require_approval`` pauses before it runs."""

        def register(
            fn: Callable[[StateT, Any], Awaitable[Any]],
        ) -> Callable[[StateT, Any], Awaitable[Any]]:
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"Workflow step {name!r} must be an async function")
            if name in self.steps:
                raise ValueError(f"Workflow {self.name!r} already has a step {name!r}")
            self.steps[name] = StepDefinition(name, fn, retries, timeout_seconds, require_approval)
            return fn

        return register

    async def run(
        self,
        initial_state: StateT,
        context: Any = None,
        *,
        on_event: EventCallback | None = None,
        approve_every_step: bool = False,
    ) -> WorkflowResult[StateT]:
        """Run from the start step until no step is left; :class:`WorkflowPaused` on a pause.

        ``approve_every_step`` pauses before each step, whatever it declares.
        """
        if not self.steps:
            raise WorkflowError(f"Workflow {self.name!r} has no steps")
        first = self.start or next(iter(self.steps))
        run = _Run(initial_state, context, on_event, approve_every_step=approve_every_step)
        return await self._drive(run, [first])

    async def resume(
        self,
        checkpoint: WorkflowCheckpoint | Mapping[str, Any],
        *,
        approved: bool,
        context: Any = None,
        on_event: EventCallback | None = None,
        approve_every_step: bool = False,
    ) -> WorkflowResult[StateT]:
        """Continue a paused workflow; a rejection ends it with status ``"rejected"``."""
        if not isinstance(checkpoint, WorkflowCheckpoint):
            checkpoint = WorkflowCheckpoint.from_json(checkpoint)
        if checkpoint.workflow != self.name:
            raise WorkflowError(
                f"Checkpoint belongs to workflow {checkpoint.workflow!r}, not {self.name!r}"
            )
        state = self.state_model.model_validate(checkpoint.state)
        run = _Run(
            state,
            context,
            on_event,
            steps_run=list(checkpoint.completed_steps),
            approve_every_step=approve_every_step,
        )
        if not approved:
            return WorkflowResult(state, run.steps_run, STATUS_REJECTED)
        run.approved = set(checkpoint.pending)
        return await self._drive(run, list(checkpoint.pending))

    async def _drive(self, run: _Run[StateT], frontier: list[str]) -> WorkflowResult[StateT]:
        while frontier:
            if len(run.steps_run) >= self.max_steps:
                raise WorkflowError(f"Workflow {self.name!r} exceeded {self.max_steps} steps")
            steps = [self._get(name) for name in frontier]
            if any(
                (s.require_approval or run.approve_every_step) and s.name not in run.approved
                for s in steps
            ):
                reason = f"Step(s) {', '.join(frontier)} require approval"
                await self._pause(run, frontier, reason)
            run.approved -= set(frontier)
            outcomes = await asyncio.gather(*(self._run_step(run, s) for s in steps))
            frontier = []
            checkpoint: Checkpoint | None = None
            for outcome in outcomes:
                if isinstance(outcome, Checkpoint):
                    checkpoint = outcome
                    outcome = outcome.then
                for name in [outcome] if isinstance(outcome, str) else outcome or []:
                    if name not in frontier:
                        frontier.append(name)
            if checkpoint is not None:
                # Approving the pause approves whatever runs next.
                await self._pause(run, frontier, checkpoint.reason)
        return WorkflowResult(run.state, run.steps_run)

    async def _pause(self, run: _Run[StateT], pending: list[str], reason: str) -> None:
        checkpoint = WorkflowCheckpoint(
            workflow=self.name,
            pending=list(pending),
            state=run.state.model_dump(mode="json"),
            completed_steps=list(run.steps_run),
            reason=reason,
        )
        await _emit(run.on_event, "workflow_checkpoint", checkpoint.to_json())
        raise WorkflowPaused(checkpoint)

    async def _run_step(self, run: _Run[StateT], step: StepDefinition) -> Any:
        attempts = step.retries + 1
        for attempt in range(1, attempts + 1):
            await _emit(
                run.on_event, "workflow_step_start", {"step": step.name, "attempt": attempt}
            )
            started = time.perf_counter()
            try:
                outcome = step.fn(run.state, run.context)
                if step.timeout_seconds is not None:
                    outcome = asyncio.wait_for(outcome, step.timeout_seconds)
                result = await outcome
            except (ApprovalRequired, BudgetExceeded, PolicyViolation):
                raise
            except Exception as exc:
                if attempt == attempts:
                    # Only the type: the message of an arbitrary exception may carry
                    # internals, and this one reaches HTTP clients. The cause is chained.
                    detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
                    raise WorkflowError(
                        f"Step {step.name!r} failed after {attempts} attempt(s): {detail}",
                        step=step.name,
                    ) from exc
                continue
            _check_outcome(step.name, result)
            run.steps_run.append(step.name)
            await _emit(
                run.on_event,
                "workflow_step_complete",
                {
                    "step": step.name,
                    "next": result.then if isinstance(result, Checkpoint) else result,
                    "duration_ms": (time.perf_counter() - started) * 1000.0,
                },
            )
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, name: str) -> StepDefinition:
        try:
            return self.steps[name]
        except KeyError:
            raise WorkflowError(f"Workflow {self.name!r} has no step {name!r}") from None


def _check_outcome(step: str, outcome: Any) -> None:
    valid = (
        outcome is None
        or isinstance(outcome, str | Checkpoint)
        or (isinstance(outcome, list) and all(isinstance(n, str) for n in outcome))
    )
    if not valid:
        raise WorkflowError(
            f"Step {step!r} returned {type(outcome).__name__}; expected a step name, "
            "a list of names, a Checkpoint or None"
        )


async def _emit(on_event: EventCallback | None, kind: str, payload: dict[str, Any]) -> None:
    if on_event is None:
        return
    outcome = on_event(kind, payload)
    if inspect.isawaitable(outcome):
        await outcome
