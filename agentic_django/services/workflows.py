"""The ``workflow`` engine: an :class:`~agentic_django.runtime.AgentWorkflow` per request.

The endpoint's handler returns the initial state; each step receives it and a
:class:`~agentic_django.runtime.WorkflowContext` with the request, the caller and
a budgeted, recorded LLM. A paused workflow's checkpoint is kept on the trace so
it can be resumed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ..core.exceptions import WorkflowError
from ..core.response import AgentResponse
from ..runtime import WorkflowContext, WorkflowPaused

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
    workflow = scope.endpoint.workflow
    assert workflow is not None
    step_context = WorkflowContext(
        intent=scope.intent,
        context=scope.context,
        user=scope.user,
        llm=scope.recorded_llm("workflow"),
    )

    def collect(kind: str, payload: dict[str, Any]) -> None:
        step_context.events.append({"kind": kind, **payload})

    state = initial_state(workflow.state_model, prepared)
    try:
        result = await workflow.run(state, step_context, on_event=collect)
    except WorkflowPaused as paused:
        scope.record.checkpoint = {"kind": "workflow", "workflow": paused.checkpoint.to_json()}
        raise
    finally:
        scope.report("workflow", {"name": workflow.name, "events": step_context.events})
    return AgentResponse(
        result=result.state.model_dump(mode="json"),
        status="completed",
    )
