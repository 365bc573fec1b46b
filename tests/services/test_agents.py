"""Admin-managed agents: rows, the kill switch on every transport, overrides, audit, caching."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.cache import caches
from pydantic import BaseModel

from agentic_django import AgentStream, Intent
from agentic_django.core.exceptions import AgentDisabled
from agentic_django.harness import ApprovalRule, ApprovalWorkflow, BudgetPolicy
from agentic_django.llm import LLMBackend, MockBackend, ToolCall
from agentic_django.models import (
    Agent,
    AgentChange,
    AgentRun,
    ApprovalRequest,
    ExecutionTrace,
)
from agentic_django.registry import agents
from agentic_django.runtime import AgentWorkflow, tool
from agentic_django.services import agents as agent_service
from agentic_django.services.llm import llm_backends

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _logged_in(client, django_user_model):
    """Agent endpoints need a logged-in caller by default; tests may log in another."""
    client.force_login(django_user_model.objects.create_user("caller"))


CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


@tool
def look_up(order_id: int) -> dict:
    """Look an order up."""
    CALLS.append(f"look_up {order_id}")
    return {"order_id": order_id, "status": "shipped"}


def post(client, name, body, **extra):
    return client.post(
        f"/agents/{name}/", json.dumps(body), content_type="application/json", **extra
    )


def change(name: str, user=None, **settings) -> Agent:
    """Change agent ``name`` the way admin does (audited), committing at once."""
    agent, _ = Agent.objects.get_or_create(name=name)
    before = agent.settings_snapshot()
    for field, value in settings.items():
        setattr(agent, field, value)
    agent_service.record_change(agent, before, user=user, via="test")
    return agent


def trace_of(response) -> ExecutionTrace:
    return ExecutionTrace.objects.get(trace_id=response.json()["execution_trace_id"])


# --- rows -------------------------------------------------------------------------------


def test_migrate_created_a_row_for_every_registered_endpoint():
    names = set(Agent.objects.values_list("name", flat=True))
    assert {endpoint.name for endpoint in agents} <= names
    assert Agent.objects.get(name="chatty").description == "Streams N partial results"


def test_ready_touches_no_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        apps.get_app_config("agentic_django").ready()


def test_an_endpoint_without_a_row_gets_one_on_its_first_request(client, site):
    @site.agent_endpoint("newcomer", description="Registered after migrate")
    async def newcomer(intent: Intent) -> str:
        return "hello"

    assert not Agent.objects.filter(name="newcomer").exists()
    assert post(client, "newcomer", {"intent": "hi"}).status_code == 200
    assert Agent.objects.get(name="newcomer").description == "Registered after migrate"


def test_sync_agents_refreshes_descriptions_and_keeps_vanished_rows(site):
    Agent.objects.filter(name="echo").update(description="old text")
    Agent.objects.create(name="gone", description="an endpoint removed from the code")
    assert agent_service.sync_agents(agents) == 0
    assert Agent.objects.get(name="echo").description == agents.get("echo").description
    assert Agent.objects.filter(name="gone").exists()


# --- the kill switch --------------------------------------------------------------------


def test_a_disabled_agent_answers_503_and_records_the_refusal(client):
    change("echo", enabled=False)
    response = post(client, "echo", {"intent": "hello"})
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "agent_disabled"
    assert body["details"] == {"code": "agent_disabled"}
    assert "result" not in body or body["result"] is None
    trace = trace_of(response)
    assert (trace.status, trace.intent_raw) == ("agent_disabled", "hello")
    assert trace.error_type.endswith("AgentDisabled")


def test_switching_it_on_again_serves_the_next_request(client):
    change("echo", enabled=False)
    assert post(client, "echo", {"intent": "one"}).status_code == 503
    change("echo", enabled=True)
    assert post(client, "echo", {"intent": "two"}).status_code == 200


def test_a_disabled_agent_refuses_python_callers():
    change("echo", enabled=False)
    with pytest.raises(AgentDisabled):
        async_to_sync(agents.process_intent)("hello", endpoint_name="echo")


def test_a_disabled_streaming_agent_refuses_its_plain_json_endpoint(client):
    change("chatty", enabled=False)
    response = post(client, "chatty", {"intent": "3"})
    assert response.status_code == 503
    assert "run_id" not in response.json()
    assert not AgentRun.objects.filter(endpoint_name="chatty").exists()
    assert ExecutionTrace.objects.get(endpoint_name="chatty").status == "agent_disabled"


def test_a_refused_intent_is_stored_redacted(client, site):
    from agentic_django.harness import PIIPolicy

    @site.agent_endpoint("private_notes", policies=[PIIPolicy(mode="redact")])
    async def private_notes(intent: Intent) -> str:
        return "ok"

    post(client, "private_notes", {"intent": "first"})
    change("private_notes", enabled=False)
    response = post(client, "private_notes", {"intent": "mail me at ada@example.com"})
    assert response.status_code == 503
    assert "ada@example.com" not in trace_of(response).intent_raw


# --- overrides --------------------------------------------------------------------------


class Rows(BaseModel):
    rows: list[int]


def test_manual_autonomy_makes_generated_code_wait_for_approval(client, site, mock_llm):
    @site.agent_endpoint("numbers", codegen=True, autonomy_level="auto")
    async def numbers(intent: Intent) -> dict:
        return {"rows": [1, 2, 3]}

    program = {"code": "result = sum(data['rows'])", "reasoning": "sum", "confidence": 0.9}
    mock_llm.add_structured_response(program)
    assert post(client, "numbers", {"intent": "total please"}).json()["result"] == 6

    change("numbers", autonomy_level="manual")
    mock_llm.add_structured_response(program)
    response = post(client, "numbers", {"intent": "total please"})
    assert response.status_code == 202, response.json()
    approval = ApprovalRequest.objects.get(request_id=response.json()["approval_request"]["id"])
    assert (approval.kind, approval.status) == ("code", "pending")
    assert trace_of(response).harness_report["agent_overrides"] == {"autonomy_level": "manual"}


def test_manual_autonomy_makes_every_tool_call_wait(client, site, mock_llm):
    @site.agent_endpoint("lookup", tools=[look_up])
    async def lookup(intent: Intent) -> None:
        return None

    change("lookup", autonomy_level="manual")
    mock_llm.add_tool_call_response(ToolCall(id="c1", name="look_up", arguments={"order_id": 7}))
    response = post(client, "lookup", {"intent": "where is order 7"})
    assert response.status_code == 202, response.json()
    assert response.json()["approval_request"]["kind"] == "tool_call"
    assert CALLS == []


class Steps(BaseModel):
    done: list[str] = []


def test_manual_autonomy_pauses_a_workflow_before_each_step(client, site, mock_llm):
    flow: AgentWorkflow[Steps] = AgentWorkflow("two_steps", Steps)

    @flow.step("first")
    async def first(state: Steps, ctx) -> str:
        state.done.append("first")
        return "second"

    @flow.step("second")
    async def second(state: Steps, ctx) -> None:
        state.done.append("second")

    @site.agent_endpoint("flow", workflow=flow)
    async def start(intent: Intent) -> Steps:
        return Steps()

    assert post(client, "flow", {"intent": "go"}).json()["result"] == {"done": ["first", "second"]}
    change("flow", autonomy_level="manual")
    response = post(client, "flow", {"intent": "go"})
    assert response.status_code == 202, response.json()
    assert response.json()["approval_request"]["kind"] == "workflow"
    assert trace_of(response).checkpoint["workflow"]["pending"] == ["first"]


def test_a_domain_override_requires_approval_only_for_matching_intents(client, site, mock_llm):
    @site.agent_endpoint("numbers", codegen=True, autonomy_level="auto")
    async def numbers(intent: Intent) -> dict:
        return {"rows": [1, 2]}

    change("numbers", require_approval_domains=["ord*"])
    program = {"code": "result = 1", "reasoning": "one", "confidence": 0.9}
    mock_llm.add_structured_response(program)
    other = post(client, "numbers", {"intent": "list the products"})
    assert other.status_code == 200, other.json()
    assert trace_of(other).intent_domain == "product"

    mock_llm.add_structured_response(program)
    held = post(client, "numbers", {"intent": "show the orders"})
    assert held.status_code == 202, held.json()
    assert trace_of(held).intent_domain == "order"
    assert held.json()["approval_request"]["rule"] == agent_service.OVERRIDE_RULE_NAME


def test_an_action_override_applies_on_an_auto_agent(client, site, mock_llm):
    @site.agent_endpoint("numbers", codegen=True, autonomy_level="auto")
    async def numbers(intent: Intent) -> dict:
        return {"rows": [1, 2]}

    change("numbers", require_approval_actions=["write"])
    mock_llm.add_structured_response({"code": "result = 1", "reasoning": "", "confidence": 1})
    assert post(client, "numbers", {"intent": "refund my order"}).status_code == 202


def test_an_action_override_keeps_the_codes_own_rules_after_it(client, site):
    rules = ApprovalWorkflow([ApprovalRule(name="writes", require_for_actions=["write"])])

    @site.agent_endpoint("ruled", approval=rules)
    async def ruled(intent: Intent) -> str:
        return "ok"

    endpoint = agent_service.AgentSettings(name="ruled", require_approval_actions=("read",)).apply(
        site.get("ruled")
    )
    assert [rule.name for rule in endpoint.approval.rules] == [
        agent_service.OVERRIDE_RULE_NAME,
        "writes",
    ]
    assert site.get("ruled").approval.rules == rules.rules  # the registered one is untouched


def test_budget_overrides_replace_the_codes_limits_and_keep_the_rest(site):
    @site.agent_endpoint(
        "spender", policies=[BudgetPolicy(max_per_request_usd=5, max_per_session_usd=9)]
    )
    async def spender(intent: Intent) -> str:
        return "ok"

    settings = agent_service.AgentSettings(
        name="spender", max_per_request_usd=0.5, max_per_day_usd=20.0
    )
    [budget] = [
        p for p in settings.apply(site.get("spender")).policies if isinstance(p, BudgetPolicy)
    ]
    assert (
        budget.max_per_request_usd,
        budget.max_per_session_usd,
        budget.max_per_endpoint_per_day_usd,
    ) == (0.5, 9, 20.0)


def test_a_budget_override_refuses_a_request_over_it(client, site, mock_llm, settings):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "PRICING": {"mock": {"input": 1000, "output": 1000}},
    }

    @site.agent_endpoint("numbers", codegen=True, autonomy_level="auto")
    async def numbers(intent: Intent) -> dict:
        return {"rows": [1]}

    change("numbers", max_per_request_usd=Decimal("0.000001"))
    response = post(client, "numbers", {"intent": "count"})
    assert response.status_code == 402, response.json()
    assert response.json()["details"]["scope"] == "request"
    assert trace_of(response).status == "budget_exceeded"


def test_llm_alias_and_model_overrides_reach_the_handler(client, site, settings):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "LLM_BACKENDS": {
            **settings.AGENTIC_DJANGO["LLM_BACKENDS"],
            "cheap": {"BACKEND": "agentic_django.llm.MockBackend", "OPTIONS": {"model": "small"}},
        },
    }

    @site.agent_endpoint("which_model", llm="reports")
    async def which_model(intent: Intent, llm: LLMBackend) -> str:
        return llm.model_name

    assert post(client, "which_model", {"intent": "?"}).json()["result"] == "mock"
    change("which_model", llm_alias="cheap")
    assert post(client, "which_model", {"intent": "?"}).json()["result"] == "small"
    change("which_model", model="large-2")
    assert post(client, "which_model", {"intent": "?"}).json()["result"] == "large-2"


def test_with_model_builds_one_backend_per_alias_and_model(settings):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "LLM_BACKENDS": {"m": {"BACKEND": "agentic_django.llm.MockBackend"}},
    }
    first = llm_backends.with_model("m", "x")
    assert first.model_name == "x"
    assert llm_backends.with_model("m", "x") is first
    assert llm_backends.with_model("m") is llm_backends["m"]
    swapped = MockBackend(["hi"])
    with llm_backends.override("m", swapped):
        assert llm_backends.with_model("m", "x") is swapped


# --- audit and propagation --------------------------------------------------------------


def test_every_change_is_audited_with_who_and_what(django_user_model):
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    change("echo", user=staff, enabled=False, notes="incident 12")
    [entry] = AgentChange.objects.filter(agent__name="echo")
    assert entry.changed_by == staff
    assert entry.via == "test"
    assert entry.changes == {"enabled": [True, False], "notes": ["", "incident 12"]}
    agent = Agent.objects.get(name="echo")
    assert (agent.updated_by, agent.enabled) == (staff, False)


def test_saving_without_a_change_records_nothing():
    change("echo")
    assert not AgentChange.objects.filter(agent__name="echo").exists()


def test_budget_changes_are_audited_as_text():
    change("echo", max_per_day_usd=Decimal("12.50"))
    [entry] = AgentChange.objects.filter(agent__name="echo")
    assert entry.changes == {"max_per_day_usd": [None, "12.50"]}


CACHED = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "agents": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "agents"},
}


@pytest.fixture
def settings_cache(settings):
    settings.CACHES = CACHED
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "AGENT_SETTINGS_CACHE": "agents"}
    caches["agents"].clear()
    yield caches["agents"]
    caches["agents"].clear()


def test_without_a_cache_each_request_reads_its_agent_once(client, django_assert_num_queries):
    client.logout()  # echo is public: count without the session and user reads of a login
    post(client, "echo", {"intent": "warm up"})
    with django_assert_num_queries(1):
        agent_service.read_settings(agents.get("echo"))
    # read settings, insert trace, insert turn (+ savepoints in tests)
    with django_assert_num_queries(6) as captured:
        assert post(client, "echo", {"intent": "hello"}).status_code == 200
    agent_reads = [q for q in captured.captured_queries if '"agentic_django_agent"' in q["sql"]]
    assert len(agent_reads) == 1


def test_with_a_shared_cache_requests_read_no_row_until_a_change(
    client, settings_cache, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client.logout()  # echo is public: count without the session and user reads of a login
    post(client, "echo", {"intent": "warm up"})
    with django_assert_num_queries(5) as captured:
        assert post(client, "echo", {"intent": "hello"}).status_code == 200
    assert not [q for q in captured.captured_queries if '"agentic_django_agent"' in q["sql"]]

    with django_capture_on_commit_callbacks(execute=True):
        change("echo", enabled=False)
    # The change dropped the cached entry: the next request reads the row and obeys it.
    assert settings_cache.get(agent_service.CACHE_KEY.format(name="echo")) is None
    assert post(client, "echo", {"intent": "hello"}).status_code == 503


def test_a_plain_orm_save_also_clears_the_cache(settings_cache, django_capture_on_commit_callbacks):
    agent_service.read_settings(agents.get("echo"))
    key = agent_service.CACHE_KEY.format(name="echo")
    assert settings_cache.get(key) is not None
    agent = Agent.objects.get(name="echo")
    agent.enabled = False
    with django_capture_on_commit_callbacks(execute=True):
        agent.save()
    assert settings_cache.get(key) is None
    assert agent_service.read_settings(agents.get("echo")).enabled is False


# --- approved actions wait while the agent is off ----------------------------------------


@tool(requires_approval=True)
def refund(order_id: int) -> dict:
    """Refund an order."""
    CALLS.append(f"refund {order_id}")
    return {"refunded": order_id}


@pytest.fixture
def manager(django_user_model):
    user = django_user_model.objects.create_user("manager", password="pw")
    group = Group.objects.create(name="managers")
    group.permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
    user.groups.add(group)
    return user


def test_an_approved_action_waits_until_its_agent_is_switched_on(
    client, site, user, manager, mock_llm, django_capture_on_commit_callbacks
):
    approval = ApprovalWorkflow([ApprovalRule(name="refunds", approvers=["group:managers"])])

    @site.agent_endpoint("refunder", tools=[refund], approval=approval)
    async def refunder(intent: Intent) -> None:
        return None

    client.force_login(user)
    mock_llm.add_tool_call_response(ToolCall(id="c1", name="refund", arguments={"order_id": 3}))
    pending = post(client, "refunder", {"intent": "refund order 3"}).json()["approval_request"]

    change("refunder", enabled=False)
    client.force_login(manager)
    decided = client.post(
        f"{pending['url']}decision/",
        json.dumps({"decision": "approve"}),
        content_type="application/json",
    )
    assert decided.status_code == 200, decided.json()
    assert decided.json()["status"] == "approved"
    assert CALLS == []

    mock_llm.add_response("Refunded order 3.")
    with django_capture_on_commit_callbacks(execute=True):
        change("refunder", user=manager, enabled=True)
    stored = ApprovalRequest.objects.get(request_id=pending["id"])
    assert stored.status == "executed", stored.error
    assert CALLS == ["refund 3"]


def _approved_request(user, endpoint_name="echo") -> ApprovalRequest:
    trace = ExecutionTrace.objects.create(endpoint_name=endpoint_name, status="pending_approval")
    return ApprovalRequest.objects.create(
        kind="code",
        status="approved",
        endpoint_name=endpoint_name,
        trace=trace,
        requested_by=user,
        action={},
        fingerprint="x",
        expires_at=trace.created_at,
        decided_at=trace.created_at,
    )


def test_the_worker_does_not_claim_a_disabled_agents_action(site, user):
    from agentic_django.services.approval_runs import claim, requeue_stalled

    request = _approved_request(user)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        decided_at=request.decided_at.replace(year=2000)
    )
    change("echo", enabled=False)
    assert claim(request.pk) is None
    assert requeue_stalled() == 0
    request.refresh_from_db()
    assert request.status == "approved"


def test_an_agent_switched_off_after_the_claim_gives_the_action_back(user, monkeypatch):
    from agentic_django.services import approval_runs

    async def switched_off(endpoint):
        raise AgentDisabled("switched off meanwhile")

    monkeypatch.setattr(approval_runs, "resolve_endpoint", switched_off)
    request = _approved_request(user)
    assert async_to_sync(approval_runs.carry_out)(request.pk) is None
    request.refresh_from_db()
    assert (request.status, request.lease_expires_at, request.attempts) == ("approved", None, 1)
    assert not ExecutionTrace.objects.filter(approval_request=request).exists()


def test_switching_on_sends_waiting_actions_to_celery_workers(
    user, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from agentic_django.services import approval_runs

    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "TASK_RUNNER": "celery"}
    sent: list[int] = []
    monkeypatch.setattr(approval_runs, "enqueue", sent.append)
    change("echo", enabled=False)
    waiting = _approved_request(user)
    _approved_request(user, endpoint_name="chatty")  # another agent's: not sent
    with django_capture_on_commit_callbacks(execute=True):
        change("echo", enabled=True)
    assert sent == [waiting.pk]


# --- streams ------------------------------------------------------------------------------


def test_manual_autonomy_makes_a_stream_require_approval_from_its_start(client, site):
    @site.agent_endpoint("careful", streaming="sse")
    async def careful(intent: Intent, stream: AgentStream) -> bool:
        return stream.requires_approval

    assert post(client, "careful", {"intent": "go"}).json()["result"] is False
    change("careful", autonomy_level="manual")
    response = post(client, "careful", {"intent": "go"})
    assert response.json()["result"] is True
    # Still the handler: "manual" in admin keeps the engine the code chose.
    assert trace_of(response).harness_report["agent_overrides"] == {"autonomy_level": "manual"}
