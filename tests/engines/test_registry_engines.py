"""Registration of engine endpoints: option validation and the engine each one runs."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel

from agentic_django.harness import BudgetPolicy, PIIPolicy, PromptInjectionPolicy
from agentic_django.registry import AgentRouter, AgentSite, build_endpoint
from agentic_django.runtime import AgentWorkflow, LoopConfig, ToolRegistry, tool


async def handler(intent, context):
    return None


def lookup(order_id: int) -> dict:
    """Look up an order."""
    return {}


class State(BaseModel):
    step: int = 0


def make_workflow() -> AgentWorkflow:
    workflow: AgentWorkflow[State] = AgentWorkflow("flow", State)

    @workflow.step("only")
    async def only(state: State, ctx) -> None:
        return None

    return workflow


def build(**options):
    return build_endpoint("ep", handler, **options)


def refused(message: str):
    """``ImproperlyConfigured`` naming the endpoint and saying ``message``."""
    return pytest.raises(ImproperlyConfigured, match=re.escape(f"Agent endpoint 'ep': {message}"))


@pytest.mark.parametrize(
    ("options", "named"),
    [
        pytest.param({"codegen": True, "tools": [lookup]}, "codegen and tools", id="codegen+tools"),
        pytest.param(
            {"codegen": True, "workflow": make_workflow()}, "codegen and workflow", id="codegen+wf"
        ),
        pytest.param(
            {"tools": [lookup], "workflow": make_workflow()}, "tools and workflow", id="t+w"
        ),
        pytest.param(
            {"codegen": True, "tools": [lookup], "workflow": make_workflow()},
            "codegen and tools and workflow",
            id="all-three",
        ),
    ],
)
def test_two_engines_at_once_are_refused(options, named):
    with refused(f"choose one of codegen, tools and workflow, not {named}."):
        build(**options)


@pytest.mark.parametrize(
    "policies",
    [
        pytest.param([object()], id="object"),
        pytest.param(["agentic_django.harness.PIIPolicy"], id="dotted-path"),
        pytest.param([PIIPolicy, PIIPolicy()], id="a-class"),
        pytest.param([PIIPolicy(), {"mode": "block"}], id="dict-after-a-policy"),
        pytest.param(PIIPolicy(), id="a-single-policy-not-in-a-list"),
    ],
)
def test_policies_must_be_policy_instances(policies):
    with refused("policies must be a list of Policy instances."):
        build(policies=policies)


def test_policies_are_kept_in_order_as_a_tuple():
    budget, injection = BudgetPolicy(max_per_request_usd=1), PromptInjectionPolicy()
    endpoint = build(policies=[budget, injection])
    assert endpoint.policies == (budget, injection)


def test_context_data_needs_codegen():
    with refused("context_data only applies to codegen=True endpoints."):
        build(context_data=handler)
    with refused("context_data only applies to codegen=True endpoints."):
        build(context_data=handler, tools=[lookup])


def test_context_data_must_be_callable():
    with refused("context_data must be a callable returning the data for generated code."):
        build(codegen=True, context_data={"orders": []})


def test_context_data_parameters_are_checked_like_a_handlers():
    def data(intent, context, mystery_argument):
        return []

    with pytest.raises(ImproperlyConfigured, match="mystery_argument"):
        build(codegen=True, context_data=data)


def test_context_data_gets_its_own_injection_plan():
    def data(intent, context):
        return []

    endpoint = build(codegen=True, context_data=data)
    assert endpoint.context_data is data
    assert endpoint.context_data_plan is not None
    assert endpoint.context_data_plan.uses == {"intent", "context"}
    assert build(codegen=True).context_data_plan is None


@pytest.mark.parametrize("sample", ["rows", "", None, "VALUES"])
def test_data_sample_must_be_values_or_schema(sample):
    with refused(f"data_sample must be one of ('values', 'schema'), got {sample!r}."):
        build(codegen=True, data_sample=sample)


@pytest.mark.parametrize("sample", ["values", "schema"])
def test_data_sample_accepts_values_and_schema(sample):
    assert build(codegen=True, data_sample=sample).data_sample == sample


def test_loop_config_needs_tools():
    with refused("loop_config only applies to endpoints with tools=."):
        build(loop_config=LoopConfig())
    with refused("loop_config only applies to endpoints with tools=."):
        build(codegen=True, loop_config=LoopConfig())


def test_loop_config_must_be_a_loop_config():
    with refused("loop_config must be a LoopConfig."):
        build(tools=[lookup], loop_config={"max_iterations": 2})


@pytest.mark.parametrize("tools", [[], (), ToolRegistry()], ids=["list", "tuple", "registry"])
def test_tools_cannot_be_empty(tools):
    with refused("tools= needs at least one tool."):
        build(tools=tools)


def test_tools_with_duplicate_names_are_refused():
    other = tool(name="lookup")(lambda order_id: {})
    with refused("tools: A tool named 'lookup' is already registered"):
        build(tools=[lookup, other])


def test_a_tool_that_cannot_be_described_is_refused():
    def variadic(*args):
        return None

    with refused("tools: Tool 'variadic' cannot take *args or **kwargs"):
        build(tools=[variadic])


def test_tools_become_a_registry():
    endpoint = build(tools=[lookup])
    assert isinstance(endpoint.tools, ToolRegistry)
    assert endpoint.tools.names == ["lookup"]
    registry = ToolRegistry([lookup])
    assert build(tools=registry).tools is registry


@pytest.mark.parametrize(
    "workflow",
    [
        pytest.param(object(), id="object"),
        pytest.param(State, id="a-state-model"),
        pytest.param(lambda state, ctx: None, id="a-function"),
    ],
)
def test_workflow_must_be_an_agent_workflow(workflow):
    with refused("workflow must be an AgentWorkflow."):
        build(workflow=workflow)


@pytest.mark.parametrize("sandbox", ["", None, 3])
def test_sandbox_must_be_an_alias(sandbox):
    with refused("sandbox must be the alias of a sandbox in AGENTIC_DJANGO['SANDBOX']."):
        build(codegen=True, sandbox=sandbox)


@pytest.mark.parametrize(
    ("options", "engine"),
    [
        pytest.param({}, "handler", id="handler"),
        pytest.param({"codegen": True}, "codegen", id="codegen"),
        pytest.param({"tools": [lookup]}, "loop", id="loop"),
        pytest.param({"workflow": make_workflow()}, "workflow", id="workflow"),
        pytest.param({"policies": [PIIPolicy()]}, "handler", id="policies-alone"),
    ],
)
@pytest.mark.parametrize("autonomy", ["auto", "supervised"])
def test_the_engine_follows_the_options(options, engine, autonomy):
    assert build(autonomy_level=autonomy, **options).engine == engine


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="handler"),
        pytest.param({"codegen": True}, id="codegen"),
        pytest.param({"tools": [lookup]}, id="loop"),
        pytest.param({"workflow": make_workflow()}, id="workflow"),
    ],
)
def test_manual_autonomy_always_runs_the_handler(options):
    endpoint = build(autonomy_level="manual", **options)
    assert endpoint.engine == "handler"
    # The options are still validated and kept.
    assert endpoint.codegen == bool(options.get("codegen"))
    assert (endpoint.tools is not None) == ("tools" in options)
    assert (endpoint.workflow is not None) == ("workflow" in options)


def test_engine_defaults():
    endpoint = build()
    assert endpoint.engine == "handler"
    assert (endpoint.policies, endpoint.sandbox, endpoint.codegen) == ((), "default", False)
    assert (endpoint.data_sample, endpoint.code_cache) == ("values", True)
    assert (endpoint.tools, endpoint.loop_config, endpoint.workflow) == (None, None, None)


@pytest.mark.parametrize("value", [{"approvers": ["staff"]}, ["staff"], [], "websocket"])
def test_streaming_takes_a_transport_name(value):
    with pytest.raises(ImproperlyConfigured, match="streaming must be one of"):
        build(streaming=value)
    with pytest.raises(ImproperlyConfigured, match="streaming must be one of"):
        AgentSite().agent_endpoint("ep", tools=[lookup], streaming=value)(handler)


@pytest.mark.parametrize(("value", "transport"), [(None, None), (False, None), (True, "sse")])
def test_streaming_flags(value, transport):
    endpoint = build(streaming=value)
    assert (endpoint.engine, endpoint.streaming) == ("handler", transport)


@pytest.mark.parametrize("value", [True, {"approvers": ["staff"]}, ["group:staff"]])
def test_approval_must_be_an_approval_workflow(value):
    with pytest.raises(ImproperlyConfigured, match="approval must be an ApprovalWorkflow"):
        build(approval=value)


def test_approval_accepts_an_approval_workflow():
    from agentic_django.harness import ApprovalRule, ApprovalWorkflow

    approval = ApprovalWorkflow([ApprovalRule(name="writes", require_for_actions=["write"])])
    assert build(approval=approval).approval is approval


def test_engine_options_are_validated_on_sites_and_routers():
    site = AgentSite()
    with pytest.raises(ImproperlyConfigured, match="'ep': choose one of"):
        site.agent_endpoint("ep", codegen=True, tools=[lookup])(handler)
    assert "ep" not in site

    router = AgentRouter(prefix="shop")
    with pytest.raises(ImproperlyConfigured, match=r"'shop\.ep': workflow must be"):
        router.agent_endpoint("ep", workflow="flow")(handler)
    router.agent_endpoint("ok", tools=[lookup], loop_config=LoopConfig(max_iterations=2))(handler)
    site.include_router(router)
    endpoint = site.get("shop.ok")
    assert endpoint.engine == "loop"
    assert endpoint.loop_config == LoopConfig(max_iterations=2)
    assert endpoint.tools is not None and endpoint.tools.names == ["lookup"]
