"""The ``workflow`` engine: an :class:`~agentic_django.runtime.AgentWorkflow` per request.

The endpoint's handler returns the initial state; each step receives it and a
:class:`~agentic_django.runtime.WorkflowContext` with the request, the caller and
a budgeted, recorded LLM. A paused workflow's checkpoint is kept on the trace so
it can be resumed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ..core.exceptions import WorkflowError
from ..core.response import AgentResponse
from ..runtime import AgentWorkflow, WorkflowContext, WorkflowPaused

if TYPE_CHECKING:
    from .execution import ExecutionScope


def initial_state(state_model: type[BaseModel], prepared: Any) -> BaseModel:
    """The handler's return value as the workflow's state model."""
    if isinstance(prepared, state_model):
        return prepared
    try:
        return state_model.model_validate(prepared if prepared is not None else {})
    except ValidationError as exc:
        raise WorkflowError(
            f"The handler must return the initial {state_model.__name__} state: "
            f"{exc.error_count()} validation error(s)",
            errors=exc.errors(include_url=False),
        ) from exc


async def run_workflow(scope: ExecutionScope, prepared: Any) -> AgentResponse:
    workflow = _workflow_of(scope)
    state = initial_state(workflow.state_model, prepared)
    return await _drive(
        scope,
        lambda ctx, collect: workflow.run(
            state, ctx, on_event=collect, approve_every_step=scope.every_action_needs_approval
        ),
    )


async def resume_workflow(scope: ExecutionScope, action: dict[str, Any]) -> AgentResponse:
    """Continue a workflow a person approved, from its stored checkpoint."""
    workflow = _workflow_of(scope)
    checkpoint = action["checkpoint"]
    return await _drive(
        scope,
        lambda ctx, collect: workflow.resume(
            checkpoint,
            approved=True,
            context=ctx,
            on_event=collect,
            approve_every_step=scope.every_action_needs_approval,
        ),
    )


def _workflow_of(scope: ExecutionScope) -> AgentWorkflow[Any]:
    workflow = scope.endpoint.workflow
    if workflow is None:
        raise WorkflowError(f"Endpoint {scope.endpoint.name!r} no longer has a workflow.")
    return workflow


async def _drive(
    scope: ExecutionScope,
    start: Callable[
        [WorkflowContext, Callable[[str, dict[str, Any]], Awaitable[None]]], Awaitable[Any]
    ],
) -> AgentResponse:
    workflow = _workflow_of(scope)
    step_context = WorkflowContext(
        intent=scope.intent,
        context=scope.context,
        user=scope.user,
        llm=scope.recorded_llm("workflow"),
    )

    stream = scope.stream

    async def collect(kind: str, payload: dict[str, Any]) -> None:
        step_context.events.append({"kind": kind, **payload})
        if stream is not None:
            await stream.on_engine_event(kind, payload)

    try:
        result = await start(step_context, collect)
    except WorkflowPaused as paused:
        checkpoint = paused.checkpoint.to_json()
        scope.record.checkpoint = {"kind": "workflow", "workflow": checkpoint}
        raise scope.pause(
            "workflow",
            {"workflow": workflow.name, "checkpoint": checkpoint},
            paused.checkpoint.reason
            or f"Continue workflow {workflow.name!r} with {', '.join(paused.checkpoint.pending)}",
        ) from paused
    finally:
        scope.report("workflow", {"name": workflow.name, "events": step_context.events})
    return AgentResponse(result=result.state.model_dump(mode="json"), status="completed")
