"""The Agent admin: who sees and changes what, the switch, overrides taking effect, the audit."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from agentic_django.models import Agent, AgentChange
from agentic_django.registry import agents

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:agentic_django_agent_changelist"


def change_url(name: str) -> str:
    return reverse("admin:agentic_django_agent_change", args=[Agent.objects.get(name=name).pk])


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True)


def grant(user, *codenames: str):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="agentic_django", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # a fresh instance: no cached permissions


@pytest.fixture
def operator(staff):
    """May view and change agents."""
    return grant(staff, "view_agent", "change_agent")


def form_data(name: str, **changes) -> dict:
    agent = Agent.objects.get(name=name)
    data = {
        "enabled": "on" if agent.enabled else "",
        "autonomy_level": agent.autonomy_level,
        "llm_alias": agent.llm_alias,
        "model": agent.model,
        "require_approval_actions": list(agent.require_approval_actions),
        "require_approval_domains": ", ".join(agent.require_approval_domains),
        "max_per_request_usd": agent.max_per_request_usd or "",
        "max_per_user_per_day_usd": agent.max_per_user_per_day_usd or "",
        "max_per_day_usd": agent.max_per_day_usd or "",
        "notes": agent.notes,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value not in ("", None)}


def call_agent(client, name: str, intent: str):
    return client.post(
        f"/agents/{name}/", json.dumps({"intent": intent}), content_type="application/json"
    )


# --- who sees what ------------------------------------------------------------------------


def test_non_staff_are_sent_to_the_admin_login(client, user):
    client.force_login(user)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_staff_without_the_view_permission_get_403(client, staff):
    client.force_login(staff)
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(change_url("echo")).status_code == 403


def test_viewers_see_every_agent_and_which_ones_left_the_code(client, staff):
    Agent.objects.create(name="retired", description="removed from agents.py")
    client.force_login(grant(staff, "view_agent"))
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    page = response.content.decode()
    for endpoint in agents:
        assert f">{endpoint.name}<" in page
    rows = {row.name: row for row in response.context["cl"].result_list}
    admin = response.context["cl"].model_admin
    assert admin.registration(rows["retired"]) == "not registered"
    assert admin.registration(rows["echo"]) == "yes"
    # Viewers cannot switch agents: no actions offered.
    assert "switch_off" not in page


def test_a_viewer_sees_the_form_read_only(client, staff):
    client.force_login(grant(staff, "view_agent"))
    response = client.get(change_url("echo"))
    assert response.status_code == 200
    assert b'name="enabled"' not in response.content
    before = Agent.objects.get(name="echo").settings_snapshot()
    client.post(change_url("echo"), form_data("echo", enabled=""))
    assert Agent.objects.get(name="echo").settings_snapshot() == before


def test_the_page_shows_what_the_code_declares(client, operator):
    client.force_login(operator)
    page = client.get(change_url("reports")).content.decode()
    assert "codegen" in page  # the engine
    assert "reports" in page  # its LLM alias


def test_no_one_adds_agents_and_only_unregistered_ones_can_be_deleted(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(admin_user)
    assert client.get(reverse("admin:agentic_django_agent_add")).status_code == 403
    echo = Agent.objects.get(name="echo")
    delete = reverse("admin:agentic_django_agent_delete", args=[echo.pk])
    assert client.get(delete).status_code == 403
    retired = Agent.objects.create(name="retired")
    delete = reverse("admin:agentic_django_agent_delete", args=[retired.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not Agent.objects.filter(name="retired").exists()


# --- the switch ---------------------------------------------------------------------------


def test_switching_an_agent_off_in_admin_refuses_its_requests(client, staff):
    toggler = grant(staff, "view_agent", "toggle_agent")
    client.force_login(toggler)
    echo = Agent.objects.get(name="echo")
    response = client.post(
        reverse(CHANGELIST),
        {"action": "switch_off", "_selected_action": [echo.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 agent switched off" in response.content.decode()
    assert call_agent(client, "echo", "hello").status_code == 503

    [entry] = AgentChange.objects.filter(agent=echo)
    assert (entry.changed_by, entry.via, entry.changes) == (
        toggler,
        "admin action",
        {"enabled": [True, False]},
    )

    client.post(reverse(CHANGELIST), {"action": "switch_on", "_selected_action": [echo.pk]})
    assert call_agent(client, "echo", "hello").status_code == 200


def test_viewers_cannot_run_the_switch_actions(client, staff):
    client.force_login(grant(staff, "view_agent"))
    echo = Agent.objects.get(name="echo")
    client.post(reverse(CHANGELIST), {"action": "switch_off", "_selected_action": [echo.pk]})
    assert Agent.objects.get(name="echo").enabled


# --- overrides through the form -------------------------------------------------------------


def test_a_form_change_is_audited_and_applies_on_the_next_request(client, operator, mock_llm):
    client.force_login(operator)
    response = client.post(
        change_url("reports"),
        form_data(
            "reports",
            autonomy_level="manual",
            max_per_day_usd="2.50",
            require_approval_domains="orders, refund*",
            notes="hold while we audit",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    agent = Agent.objects.get(name="reports")
    assert agent.autonomy_level == "manual"
    assert agent.max_per_day_usd == Decimal("2.50")
    assert agent.require_approval_domains == ["orders", "refund*"]
    assert agent.updated_by == operator

    [entry] = AgentChange.objects.filter(agent=agent)
    assert entry.changed_by == operator
    assert entry.changes == {
        "autonomy_level": ["", "manual"],
        "require_approval_domains": [[], ["orders", "refund*"]],
        "max_per_day_usd": [None, "2.50"],
        "notes": ["", "hold while we audit"],
    }
    page = client.get(change_url("reports")).content.decode()
    assert "hold while we audit" in page
    # The recent changes list, in human values rather than Python reprs.
    assert "autonomy override: as in code → manual" in page
    assert "budget per day (USD): as in code → 2.50" in page

    # The codegen endpoint now waits for a person before running generated code.
    from agentic_django.services.llm import llm_backends

    with llm_backends.override("reports", mock_llm):
        mock_llm.add_structured_response(
            {"code": "result = 1", "reasoning": "one", "confidence": 0.9}
        )
        answer = call_agent(client, "reports", "how many orders?")
    assert answer.status_code == 202, answer.json()
    assert answer.json()["approval_request"]["kind"] == "code"


def test_the_form_refuses_an_unknown_llm_alias_and_bad_domains(client, operator):
    client.force_login(operator)
    response = client.post(change_url("echo"), form_data("echo", llm_alias="nope"))
    assert response.status_code == 200
    assert "llm_alias" in response.context["adminform"].form.errors
    response = client.post(change_url("echo"), form_data("echo", require_approval_domains="a b, c"))
    assert "require_approval_domains" in response.context["adminform"].form.errors
    response = client.post(change_url("echo"), form_data("echo", max_per_request_usd="-1"))
    assert "max_per_request_usd" in response.context["adminform"].form.errors
    assert not AgentChange.objects.exists()


def test_saving_an_unchanged_form_records_no_change(client, operator):
    client.force_login(operator)
    assert client.post(change_url("echo"), form_data("echo")).status_code == 302
    assert not AgentChange.objects.exists()


def test_the_audit_is_read_only(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(root)
    echo = Agent.objects.get(name="echo")
    entry = AgentChange.objects.create(agent=echo, changes={"enabled": [True, False]})
    listing = client.get(reverse("admin:agentic_django_agentchange_changelist"))
    assert listing.status_code == 200
    # Human values, not Python reprs.
    assert "enabled: on → off" in listing.content.decode()
    detail = client.get(reverse("admin:agentic_django_agentchange_change", args=[entry.pk]))
    assert b'name="changes"' not in detail.content
    delete = reverse("admin:agentic_django_agentchange_delete", args=[entry.pk])
    assert client.get(delete).status_code == 403


# --- query counts -----------------------------------------------------------------------------


def test_the_changelist_query_count_does_not_grow_with_agents(
    client, operator, django_assert_max_num_queries
):
    client.force_login(operator)
    client.get(reverse(CHANGELIST))
    with django_assert_max_num_queries(12) as few:
        assert client.get(reverse(CHANGELIST)).status_code == 200
    Agent.objects.bulk_create(
        Agent(name=f"extra-{n}", updated_by=operator, max_per_day_usd=1) for n in range(40)
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse(CHANGELIST)).status_code == 200


def test_the_change_page_query_count_does_not_grow_with_history(
    client, operator, django_assert_max_num_queries
):
    client.force_login(operator)
    echo = Agent.objects.get(name="echo")
    AgentChange.objects.bulk_create(
        AgentChange(agent=echo, changed_by=operator, changes={"notes": ["", str(n)]})
        for n in range(200)
    )
    with django_assert_max_num_queries(12):
        response = client.get(change_url("echo"))
    assert response.status_code == 200
    assert response.content.decode().count("notes: ") == 20
