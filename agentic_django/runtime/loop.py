"""The agentic (ReAct) loop: the model calls tools until it can answer.

Each turn the model sees the tool definitions; every call it makes is checked
(known tool, well-formed arguments, policies, approval), run, and its JSON result
fed back as a ``role="tool"`` message. Tool failures are reported to the model so
it can recover; policy denials, budget refusals and approval pauses stop the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentic_django.core.exceptions import ApprovalRequired, BudgetExceeded, ToolError
from agentic_django.llm.base import (
    LLMBackend,
    LLMCallObserver,
    LLMMessage,
    LLMPrompt,
    LLMUsage,
    TextCallback,
    ToolCall,
    observed_generate,
)

from .approval import LoopCheckpoint, ToolApprovalRequired
from .tools import Tool, ToolContext, ToolRegistry

#: Called before every LLM call with the prompt and its ``max_tokens``; raises to refuse.
BudgetCheck = Callable[[LLMPrompt, int | None], Awaitable[None]]

#: Receives ``(kind, payload)`` for "thought", "tool_call_started", "tool_call_completed".
EventCallback = Callable[[str, dict[str, Any]], Awaitable[None] | None]

#: Decides a call to a ``requires_approval`` tool: True runs it, False rejects it,
#: None pauses the loop with :class:`ToolApprovalRequired`.
ApproveTool = Callable[[Tool, ToolCall], Awaitable[bool | None] | bool | None]


class ToolCallPolicies(Protocol):
    """What the loop needs from a policy evaluator (``PolicyEvaluator`` is one)."""

    def evaluate_tool_call(
        self, *, tool_name: str, arguments: Mapping[str, Any], **context: Any
    ) -> _Evaluation: ...


class _Evaluation(Protocol):
    def raise_if_denied(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """Limits of one loop run.

    ``max_result_chars`` caps how much of a tool's JSON result is fed back to the model.
    """

    max_iterations: int = 8
    max_tool_calls_per_turn: int = 8
    tool_timeout_seconds: float | None = 30.0
    max_tokens: int | None = 2048
    max_result_chars: int = 8000

    def __post_init__(self) -> None:
        if self.max_iterations < 1 or self.max_tool_calls_per_turn < 1:
            raise ValueError("max_iterations and max_tool_calls_per_turn must be at least 1")


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One dispatched (or refused) tool call, for the trace."""

    iteration: int
    tool: str
    arguments: dict[str, Any]
    duration_ms: float
    result_summary: str
    error: str | None = None
    call_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Why a loop ended: the model answered, or it ran out of iterations.
STOP_FINAL_ANSWER = "final_answer"
STOP_MAX_ITERATIONS = "max_iterations"


@dataclass(slots=True)
class LoopResult:
    """The outcome of a loop run.

    When the model never stops calling tools, the loop does not raise: it returns
    with ``stop_reason == "max_iterations"`` and a ``final_text`` saying so, leaving
    the caller to decide whether that is an error.
    """

    final_text: str
    iterations: int
    tool_calls: list[ToolCallRecord]
    messages: list[LLMMessage]
    stop_reason: str = STOP_FINAL_ANSWER
    usage: LLMUsage = field(default_factory=LLMUsage)


async def run_agentic_loop(
    llm: LLMBackend,
    tools: ToolRegistry,
    prompt: LLMPrompt,
    *,
    config: LoopConfig | None = None,
    policies: ToolCallPolicies | None = None,
    observer: LLMCallObserver | None = None,
    budget_check: BudgetCheck | None = None,
    on_event: EventCallback | None = None,
    approve_tool: ApproveTool | None = None,
    context: ToolContext | None = None,
    on_text: TextCallback | None = None,
    must_ask: Callable[[Tool], bool] | None = None,
) -> LoopResult:
    """Run the loop from ``prompt`` (its system text and messages) to a final answer.

    Raises :class:`PolicyViolation` when a policy denies a tool call,
    whatever ``budget_check`` raises (``BudgetExceeded``), and
    :class:`ToolApprovalRequired` before a tool that needs approval runs.
    With ``on_text`` the model's replies are streamed, piece by piece; with
    ``must_ask`` a tool not declared ``requires_approval`` may still need it.
    """
    loop = _Loop(
        llm,
        await tools.resolved(),
        system=prompt.system,
        messages=list(prompt.messages),
        temperature=prompt.temperature,
        config=config or LoopConfig(),
        policies=policies,
        observer=observer,
        budget_check=budget_check,
        on_event=on_event,
        approve_tool=approve_tool,
        context=context,
    )
    loop.on_text = on_text
    loop.must_ask = must_ask
    return await loop.run()


async def resume_agentic_loop(
    llm: LLMBackend,
    tools: ToolRegistry,
    checkpoint: LoopCheckpoint | Mapping[str, Any],
    *,
    approved: bool,
    reason: str = "",
    config: LoopConfig | None = None,
    policies: ToolCallPolicies | None = None,
    observer: LLMCallObserver | None = None,
    budget_check: BudgetCheck | None = None,
    on_event: EventCallback | None = None,
    approve_tool: ApproveTool | None = None,
    context: ToolContext | None = None,
    must_ask: Callable[[Tool], bool] | None = None,
) -> LoopResult:
    """Continue a loop paused by :class:`ToolApprovalRequired`.

    The pending call runs when ``approved``; otherwise the model is told it was
    rejected, with ``reason``. The rest of that turn's calls and the loop follow.
    ``checkpoint`` may be the stored ``LoopCheckpoint.to_json()`` data. The result's
    ``tool_calls`` lists only the calls made after resuming.
    """
    if not isinstance(checkpoint, LoopCheckpoint):
        checkpoint = LoopCheckpoint.from_json(checkpoint)
    loop = _Loop(
        llm,
        await tools.resolved(),
        system=checkpoint.system,
        messages=list(checkpoint.messages),
        temperature=checkpoint.temperature,
        config=config or LoopConfig(),
        policies=policies,
        observer=observer,
        budget_check=budget_check,
        on_event=on_event,
        approve_tool=approve_tool,
        context=context,
    )
    loop.iteration = checkpoint.iteration
    loop.must_ask = must_ask
    turn = _last_tool_turn(loop.messages)
    if checkpoint.tool_call.id not in {call.id for call in turn}:
        raise ToolError(f"Tool call {checkpoint.tool_call.id!r} is not pending in this checkpoint")
    await loop.dispatch(turn, decisions={checkpoint.tool_call.id: (approved, reason)})
    return await loop.run()


class _Loop:
    """The state of one loop run; the public functions above drive it."""

    def __init__(
        self,
        llm: LLMBackend,
        tools: ToolRegistry,
        *,
        system: str,
        messages: list[LLMMessage],
        temperature: float | None,
        config: LoopConfig,
        policies: ToolCallPolicies | None,
        observer: LLMCallObserver | None,
        budget_check: BudgetCheck | None,
        on_event: EventCallback | None,
        approve_tool: ApproveTool | None,
        context: ToolContext | None,
    ) -> None:
        self.llm = llm
        self.tools = tools
        self.system = system
        self.messages = messages
        self.temperature = temperature
        self.config = config
        self.policies = policies
        self.observer = observer
        self.budget_check = budget_check
        self.on_event = on_event
        self.approve_tool = approve_tool
        self.context = context
        self.on_text: TextCallback | None = None
        self.must_ask: Callable[[Tool], bool] | None = None
        self.iteration = 0
        self.records: list[ToolCallRecord] = []
        self.input_tokens = 0
        self.output_tokens = 0

    async def run(self) -> LoopResult:
        while self.iteration < self.config.max_iterations:
            self.iteration += 1
            prompt = LLMPrompt(
                system=self.system,
                messages=list(self.messages),
                tools=self.tools.definitions(),
                max_tokens=self.config.max_tokens,
                temperature=self.temperature,
            )
            if self.budget_check is not None:
                await self.budget_check(prompt, prompt.max_tokens)
            response = await observed_generate(
                self.llm, prompt, purpose="loop", observer=self.observer, on_text=self.on_text
            )
            self.input_tokens += response.usage.input_tokens
            self.output_tokens += response.usage.output_tokens
            calls = list(response.tool_calls)
            self.messages.append(
                LLMMessage(role="assistant", content=response.content, tool_calls=calls or None)
            )
            if not calls:
                return self.result(response.content, STOP_FINAL_ANSWER)
            if response.content:
                await self.emit("thought", {"iteration": self.iteration, "text": response.content})
            await self.dispatch(calls)
        limit = self.config.max_iterations
        text = f"Stopped after {limit} iterations without a final answer."
        return self.result(text, STOP_MAX_ITERATIONS)

    def result(self, text: str, stop_reason: str) -> LoopResult:
        return LoopResult(
            final_text=text,
            iterations=self.iteration,
            tool_calls=list(self.records),
            messages=list(self.messages),
            stop_reason=stop_reason,
            usage=LLMUsage(self.input_tokens, self.output_tokens),
        )

    async def dispatch(
        self,
        calls: list[ToolCall],
        *,
        decisions: Mapping[str, tuple[bool, str]] | None = None,
    ) -> None:
        """Answer every call of a turn not answered yet, in order."""
        answered = _answered_ids(self.messages)
        for index, call in enumerate(calls):
            if call.id in answered:
                continue
            if index >= self.config.max_tool_calls_per_turn:
                limit = self.config.max_tool_calls_per_turn
                self.refuse(call, f"Skipped: at most {limit} tool calls are run per turn")
                continue
            await self.handle(call, (decisions or {}).get(call.id))

    async def handle(self, call: ToolCall, decision: tuple[bool, str] | None) -> None:
        try:
            tool = self.tools.get(call.name)
        except ToolError as exc:
            self.refuse(call, exc.message)
            return
        if call.parse_error is not None:
            self.refuse(call, f"Malformed arguments for tool {call.name!r}: {call.parse_error}")
            return
        if self.policies is not None:
            self.policies.evaluate_tool_call(
                tool_name=call.name, arguments=call.arguments
            ).raise_if_denied()
        if tool.requires_approval or (self.must_ask is not None and self.must_ask(tool)):
            approved, reason = decision if decision is not None else await self.ask(tool, call)
            if not approved:
                detail = f": {reason}" if reason else ""
                self.refuse(call, f"The call to {call.name!r} was not approved{detail}")
                return
        await self.execute(tool, call)

    async def ask(self, tool: Tool, call: ToolCall) -> tuple[bool, str]:
        answer = None if self.approve_tool is None else self.approve_tool(tool, call)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            raise ToolApprovalRequired(
                LoopCheckpoint(
                    system=self.system,
                    messages=list(self.messages),
                    tool_call=call,
                    iteration=self.iteration,
                    temperature=self.temperature,
                )
            )
        return bool(answer), ""

    async def execute(self, tool: Tool, call: ToolCall) -> None:
        payload = {"iteration": self.iteration, "tool": call.name, "call_id": call.id}
        await self.emit("tool_call_started", {**payload, "arguments": dict(call.arguments)})
        started = time.perf_counter()
        error: str | None = None
        content = ""
        timeout = self.config.tool_timeout_seconds
        try:
            outcome = tool.invoke(call.arguments, self.context)
            value = await (asyncio.wait_for(outcome, timeout) if timeout else outcome)
            content = self.truncate(to_json_text(value))
        except (BudgetExceeded, ApprovalRequired):
            raise
        except TimeoutError:
            error = f"Tool {call.name!r} timed out after {timeout} seconds"
        except ToolError as exc:
            error = exc.message or str(exc)
        except Exception as exc:
            error = f"Tool {call.name!r} failed: {type(exc).__name__}: {exc}"
        duration_ms = (time.perf_counter() - started) * 1000.0
        if error is not None:
            content = json.dumps({"error": error})
        self.answer(call, content, is_error=error is not None)
        record = self.record(call, content, error, duration_ms)
        await self.emit(
            "tool_call_completed",
            {
                **payload,
                "duration_ms": duration_ms,
                "summary": record.result_summary,
                "error": error,
            },
        )

    def refuse(self, call: ToolCall, error: str) -> None:
        """Feed ``error`` back to the model as the result of ``call``."""
        content = json.dumps({"error": error})
        self.answer(call, content, is_error=True)
        self.record(call, content, error, 0.0)

    def answer(self, call: ToolCall, content: str, *, is_error: bool) -> None:
        self.messages.append(
            LLMMessage(
                role="tool",
                content=content,
                tool_call_id=call.id,
                name=call.name,
                is_error=is_error,
            )
        )

    def record(
        self, call: ToolCall, content: str, error: str | None, duration_ms: float
    ) -> ToolCallRecord:
        summary = content if len(content) <= 200 else content[:199] + "…"
        record = ToolCallRecord(
            iteration=self.iteration,
            tool=call.name,
            arguments=dict(call.arguments),
            duration_ms=duration_ms,
            result_summary=summary,
            error=error,
            call_id=call.id,
        )
        self.records.append(record)
        return record

    def truncate(self, text: str) -> str:
        limit = self.config.max_result_chars
        if len(text) <= limit:
            return text
        return text[:limit] + f"… [truncated, {len(text) - limit} more characters]"

    async def emit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        outcome = self.on_event(kind, payload)
        if inspect.isawaitable(outcome):
            await outcome


def to_json_text(value: Any) -> str:
    """``value`` as JSON text; pydantic models, dataclasses and sets are converted."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _answered_ids(messages: Iterable[LLMMessage]) -> set[str]:
    return {m.tool_call_id for m in messages if m.role == "tool" and m.tool_call_id}


def _last_tool_turn(messages: list[LLMMessage]) -> list[ToolCall]:
    for message in reversed(messages):
        if message.role == "assistant":
            return list(message.tool_calls or [])
    return []
