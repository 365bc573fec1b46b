"""The ``codegen`` engine: intent → code (or the cache) → harness → sandbox → result.

Every program, fresh or cached, goes through the same chain before it runs:
policies on the code, blocking static analysis, the sandbox with the limits of
the endpoint's ``ResourcePolicy`` (enforced there), monitors on what it
measured, validators on what it returned. Only a program that passed all of
them is cached.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ..core.exceptions import CodeExecutionError, PolicyViolation
from ..core.response import AgentResponse
from ..harness import (
    DEFAULT_ALLOWED_MODULES,
    CodePolicy,
    JSONOutputValidator,
    OutputSizeMonitor,
    ReadOnlyValidator,
    ResourcePolicy,
    SandboxLimits,
    SandboxResult,
    WallTimeMonitor,
    analyze,
)
from ..observability import tracing
from ..runtime import CodeGenerator, make_cache_key
from ..runtime.codegen import describe_shape
from . import code_cache
from .db import run_db
from .sandboxes import sandboxes
from .serialization import to_jsonable

if TYPE_CHECKING:
    from .execution import ExecutionScope


def allowed_modules(scope: ExecutionScope) -> tuple[str, ...]:
    """The default allowlist, narrowed by every ``CodePolicy`` that sets one."""
    allowed = set(DEFAULT_ALLOWED_MODULES)
    for policy in scope.ledger.find(CodePolicy):
        if policy.allowed_modules is not None:
            allowed &= set(policy.allowed_modules)
    return tuple(sorted(allowed))


def sandbox_limits(scope: ExecutionScope, modules: tuple[str, ...]) -> SandboxLimits:
    """The strictest of the endpoint's resource policies, as enforceable limits."""
    strictest = ResourcePolicy.strictest(scope.ledger.find(ResourcePolicy))
    if strictest is None:
        return SandboxLimits(allowed_modules=modules)
    return strictest.to_limits(list(modules))


def policy_fingerprints(scope: ExecutionScope) -> list[str]:
    """Policy names with a hash of their settings: changing a policy changes the key."""
    return [
        f"{policy.name}:{hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:16]}"
        for policy in scope.ledger.evaluator.policies
    ]


async def run_codegen(scope: ExecutionScope, prepared: Any) -> AgentResponse:
    endpoint, intent = scope.endpoint, scope.intent
    data = to_jsonable(prepared)
    modules = allowed_modules(scope)
    cache_scope = code_cache.scope_for(
        scope.user_id, values_in_prompt=endpoint.data_sample == "values"
    )
    use_cache = endpoint.code_cache and code_cache.cache_enabled() and cache_scope is not None
    key = make_cache_key(
        endpoint=endpoint.name,
        action=intent.action.value,
        domain=intent.domain,
        tool_names=[],
        policy_names=policy_fingerprints(scope),
        parameters={
            "question": code_cache.normalise_question(intent.raw),
            "intent": to_jsonable(intent.parameters),
        },
        scope=cache_scope or "",
    )
    cached = await run_db(code_cache.lookup, key, cache_scope) if use_cache else None
    scope.report("code_cache", "hit" if cached else ("miss" if use_cache else "off"))
    if cached is not None:
        code, reasoning, confidence = cached.code, cached.reasoning, cached.confidence
    else:
        generated = await CodeGenerator(scope.llm()).generate(
            intent_raw=intent.raw,
            intent_action=intent.action.value,
            intent_domain=intent.domain,
            intent_parameters=intent.parameters,
            data_sample=describe_shape(data) if endpoint.data_sample == "schema" else data,
            allowed_modules=modules,
            observer=scope.observer(),
        )
        code, reasoning, confidence = generated.code, generated.reasoning, generated.confidence
    scope.record.generated_code = code
    scope.record.reasoning = reasoning

    result = await execute_code(scope, code, data, modules, reasoning=reasoning)
    if use_cache and cached is None and cache_scope is not None:
        await run_db(
            code_cache.store,
            key,
            cache_scope,
            endpoint_name=endpoint.name,
            intent_action=intent.action.value,
            intent_domain=intent.domain,
            code=code,
            reasoning=reasoning,
            confidence=confidence,
        )
    return AgentResponse(
        result=result.result,
        status="completed",
        generated_code=code,
        reasoning=reasoning or None,
        confidence=confidence,
    )


def needs_approval(scope: ExecutionScope) -> bool:
    """Generated code waits for a person when an operator asked for it, and on
    supervised endpoints when an approval rule matches the intent."""
    endpoint, intent = scope.endpoint, scope.intent
    if scope.every_action_needs_approval:
        return True
    if endpoint.autonomy_level != "supervised" or endpoint.approval is None:
        return False
    return endpoint.approval.rule_for(intent.action.value, intent.domain) is not None


@tracing.traced("agentic.harness")
async def execute_code(
    scope: ExecutionScope,
    code: str,
    data: Any,
    modules: tuple[str, ...],
    *,
    approved: bool = False,
    reasoning: str = "",
) -> SandboxResult:
    """Run ``code`` through policies, static analysis, approval, the sandbox, monitors
    and validators. ``approved`` is set when a person has already approved this code."""
    intent = scope.intent
    scope.ledger.check_code(
        code, intent_action=intent.action.value, intent_domain=intent.domain, data=data
    )
    analysis = analyze(code, modules)
    scope.report("static_analysis", analysis.model_dump(mode="json"))
    analysis.raise_if_blocked()
    if not approved and needs_approval(scope):
        raise scope.pause(
            "code",
            {"code": code, "data": data, "reasoning": reasoning},
            f"Run generated code on {scope.endpoint.name!r} for: {intent.raw[:300]}",
        )

    limits = sandbox_limits(scope, modules)
    sandbox = sandboxes[scope.endpoint.sandbox]
    executed = await sandbox.execute(code, data, limits)
    scope.report(
        "sandbox",
        {
            "backend": executed.backend,
            "duration_ms": round(executed.duration_ms, 3),
            "cpu_ms": round(executed.cpu_ms, 3),
            "max_rss_kb": executed.max_rss_kb,
            "isolation": executed.isolation.model_dump(mode="json"),
            "limits": limits.model_dump(mode="json"),
            "stdout": executed.stdout[:2000],
        },
    )

    monitors = [
        WallTimeMonitor(max_ms=limits.wall_seconds * 1000),
        OutputSizeMonitor(max_bytes=limits.max_output_bytes),
    ]
    verdicts = [monitor.check(executed) for monitor in monitors]
    scope.report("monitors", [verdict.model_dump(mode="json") for verdict in verdicts])
    failed = [verdict for verdict in verdicts if not verdict.ok]
    if failed:
        raise PolicyViolation(
            "A monitor stopped the result: "
            + "; ".join(v for verdict in failed for v in verdict.violations),
            policy=", ".join(f"monitor:{verdict.monitor}" for verdict in failed),
            violations=[v for verdict in failed for v in verdict.violations],
        )

    checks = [
        JSONOutputValidator().validate_output(executed.result),
        ReadOnlyValidator().validate_output(
            executed.result, code=code, intent_action=intent.action.value
        ),
    ]
    scope.report("validators", [check.model_dump(mode="json") for check in checks])
    invalid = [check for check in checks if not check.ok]
    if any(check.validator == "json_output" for check in invalid):
        raise CodeExecutionError(
            "The generated code's result is not plain JSON: "
            + "; ".join(e for check in invalid for e in check.errors),
            error_type="InvalidResult",
        )
    if invalid:
        raise PolicyViolation(
            "A read-only request produced writes: "
            + "; ".join(e for check in invalid for e in check.errors),
            policy=", ".join(f"validator:{check.validator}" for check in invalid),
            violations=[e for check in invalid for e in check.errors],
        )
    return executed


async def run_approved_code(scope: ExecutionScope, action: dict[str, Any]) -> AgentResponse:
    """Run code a person approved, with the data it was reviewed with.

    The whole harness runs again (policies and limits may have changed since);
    only the approval step is skipped. Approved code is not cached.
    """
    code, data = str(action["code"]), action.get("data")
    scope.record.generated_code = code
    scope.record.reasoning = str(action.get("reasoning", ""))
    scope.report("engine", "codegen")
    result = await execute_code(scope, code, data, allowed_modules(scope), approved=True)
    return AgentResponse(
        result=result.result,
        status="completed",
        generated_code=code,
        reasoning=scope.record.reasoning or None,
    )
