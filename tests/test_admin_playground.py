"""The staff playground in admin: who may open it, what it hands its script, the trace link."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import path
from rest_framework.permissions import BasePermission

from agentic_django.models import Agent, ApprovalRequest, ExecutionTrace

pytestmark = pytest.mark.django_db

#: A project that serves admin without the agent API (``ROOT_URLCONF`` of one test).
urlpatterns = [path("admin/", admin.site.urls)]

PLAYGROUND = "/admin/agentic_django/agent/playground/"


def _trace_link(trace_id: str) -> str:
    return f"{PLAYGROUND}trace/{trace_id}/"


@pytest.fixture
def make_staff(django_user_model):
    def make(*codenames: str, username: str = "operator"):
        staff = django_user_model.objects.create_user(username, password="pw", is_staff=True)
        staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        return staff

    return make


@pytest.fixture
def operator_client(client, make_staff):
    client.force_login(make_staff("view_agent", "view_executiontrace"))
    return client


def _config(response) -> dict:
    match = re.search(
        r'<script id="playground-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.DOTALL,
    )
    assert match, "the page embeds no playground-config"
    return json.loads(match.group(1))


def _agent(config: dict, name: str) -> dict:
    return next(agent for agent in config["agents"] if agent["name"] == name)


@pytest.fixture
def trace(user):
    return ExecutionTrace.objects.create(
        endpoint_name="echo", user=user, status="completed", intent_raw="hello"
    )


# --- who may open it --------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    response = client.get(PLAYGROUND)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_users_who_are_not_staff_are_sent_to_the_admin_login(client, user):
    user.user_permissions.set(Permission.objects.filter(codename="view_agent"))
    client.force_login(user)
    response = client.get(PLAYGROUND)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_staff_without_the_view_agent_permission_are_refused(client, make_staff):
    client.force_login(make_staff("view_executiontrace", "view_approvalrequest"))
    assert client.get(PLAYGROUND).status_code == 403


def test_staff_with_the_view_agent_permission_get_the_page(client, make_staff):
    client.force_login(make_staff("view_agent"))
    response = client.get(PLAYGROUND)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<select id="playground-agent"' in page
    assert 'id="playground-intent"' in page and 'id="playground-session"' in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_superusers_get_the_page(admin_client):
    assert admin_client.get(PLAYGROUND).status_code == 200


# --- what the page lists and hands its script -------------------------------------------


def test_every_registered_agent_is_listed_with_its_urls_and_streaming(operator_client):
    from agentic_django.registry import agents

    config = _config(operator_client.get(PLAYGROUND))

    assert [agent["name"] for agent in config["agents"]] == sorted(e.name for e in agents)
    assert _agent(config, "echo") == {
        "name": "echo",
        "description": "Echoes the parsed intent",
        "streaming": None,
        "engine": "handler",
        "enabled": True,
        "url": "/agents/echo/",
        "stream_url": None,
    }
    chatty = _agent(config, "chatty")
    assert chatty["streaming"] == "sse"
    assert chatty["url"] == "/agents/chatty/"
    assert chatty["stream_url"] == "/agents/chatty/stream/"
    assert _agent(config, "escalating")["streaming"] == "ndjson"
    assert _agent(config, "reports")["engine"] == "codegen"


def test_the_page_gives_its_script_the_trace_resume_and_approval_urls(operator_client):
    config = _config(operator_client.get(PLAYGROUND))
    placeholder = config["placeholder"]

    assert config["trace_url"] == _trace_link(placeholder)
    assert config["resume_url"] == f"/agents/runs/{placeholder}/resume/"
    # The operator may not view approval requests: the page shows their ids, no link.
    assert config["approval_url"] is None


def test_approvers_get_a_link_to_the_approval_request(client, make_staff):
    client.force_login(make_staff("view_agent", "view_approvalrequest"))
    config = _config(client.get(PLAYGROUND))
    assert config["approval_url"] == (
        f"/admin/agentic_django/approvalrequest/?request_id={config['placeholder']}"
    )


def test_the_approval_link_finds_the_request_by_its_id(admin_client, admin_user):
    config = _config(admin_client.get(PLAYGROUND))
    wanted, other = (
        ApprovalRequest.objects.create(
            kind="stream",
            endpoint_name="ask",
            requested_by=admin_user,
            rule_name="default",
            action={"prompt": prompt, "options": ["approve", "reject"]},
            summary=prompt,
            fingerprint=prompt,
            expires_at="2100-01-01T00:00:00Z",
        )
        for prompt in ("Proceed with the first?", "Proceed with the second?")
    )

    url = config["approval_url"].replace(config["placeholder"], wanted.request_id)
    response = admin_client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert wanted.request_id in page and other.request_id not in page


def test_a_disabled_agent_is_still_listed_and_marked(operator_client):
    Agent.objects.update_or_create(name="echo", defaults={"enabled": False})

    response = operator_client.get(PLAYGROUND)

    config = _config(response)
    assert _agent(config, "echo")["enabled"] is False
    assert _agent(config, "chatty")["enabled"] is True
    assert re.search(r'<option value="echo">echo — disabled</option>', response.content.decode())


def test_streaming_agents_are_marked_in_the_select(operator_client):
    page = operator_client.get(PLAYGROUND).content.decode()
    assert '<option value="chatty">chatty (streams)</option>' in page
    assert '<option value="echo">echo</option>' in page


def test_the_agent_in_the_query_string_is_preselected(operator_client):
    page = operator_client.get(f"{PLAYGROUND}?agent=chatty").content.decode()
    assert '<option value="chatty" selected>' in page
    unknown = operator_client.get(f"{PLAYGROUND}?agent=nope").content.decode()
    assert " selected>" not in unknown


def test_agent_descriptions_are_escaped_in_the_page(operator_client, site):
    async def handler(intent, context):
        return {}

    site.agent_endpoint("xss", description="</script><img src=x onerror=alert(1)>")(handler)

    response = operator_client.get(PLAYGROUND)

    assert "<img src=x" not in response.content.decode()
    assert _agent(_config(response), "xss")["description"].startswith("</script><img")


def test_the_page_loads_only_the_apps_own_script_and_stylesheet(operator_client):
    page = operator_client.get(PLAYGROUND).content.decode()
    assert '<script src="/static/agentic_django/admin/playground.js" defer>' in page
    assert 'href="/static/agentic_django/admin/playground.css"' in page
    for url in re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page):
        assert url.startswith("/static/"), url


def test_the_static_files_ship_with_the_app():
    from django.contrib.staticfiles import finders

    for name in ("playground.js", "playground.css"):
        assert finders.find(f"agentic_django/admin/{name}"), name


def test_the_script_writes_server_data_as_text_only():
    from django.contrib.staticfiles import finders

    with open(finders.find("agentic_django/admin/playground.js"), encoding="utf-8") as source:
        script = source.read()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script


def test_the_query_count_does_not_grow_with_the_number_of_agents(operator_client, site):
    operator_client.get(PLAYGROUND)  # warm the session and permission caches alike

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert operator_client.get(PLAYGROUND).status_code == 200
        return len(queries)

    before = count()

    async def handler(intent, context):
        return {}

    for index in range(30):
        site.agent_endpoint(f"extra{index}", streaming=None)(handler)
    Agent.objects.bulk_create(
        Agent(name=f"extra{index}", enabled=index % 2 == 0) for index in range(30)
    )

    assert count() == before
    assert before <= 8


@override_settings(ROOT_URLCONF=__name__)
def test_without_the_agent_api_in_the_urls_the_page_says_what_to_include(operator_client):
    response = operator_client.get(PLAYGROUND)

    assert response.status_code == 200
    page = response.content.decode()
    assert "include <code>agentic_django.urls</code>" in page
    assert 'id="playground-form"' not in page


# --- the agent API it calls -------------------------------------------------------------


class RefuseEveryone(BasePermission):
    message = "Nobody may use this agent."

    def has_permission(self, request, view) -> bool:
        return False


def test_the_page_csrf_token_and_session_let_the_script_call_the_api_as_the_user(make_staff):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_staff("view_agent"))
    page = browser.get(PLAYGROUND).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = json.dumps({"intent": "who am i"})

    without = browser.post("/agents/private/", body, content_type="application/json")
    answered = browser.post(
        "/agents/private/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )

    assert without.status_code == 403
    assert answered.status_code == 200
    assert answered.json()["result"] == {"user": "operator"}


def test_staff_get_the_endpoints_own_refusal(client, make_staff, site):
    async def handler(intent, context):
        return {"secret": True}

    site.agent_endpoint("locked", permission_classes=[RefuseEveryone])(handler)
    client.force_login(make_staff("view_agent"))
    config = _config(client.get(PLAYGROUND))

    response = client.post(
        _agent(config, "locked")["url"],
        json.dumps({"intent": "let me in"}),
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["error"] == "Nobody may use this agent."


# --- the trace link ---------------------------------------------------------------------


def test_the_trace_link_redirects_to_the_trace_in_admin(operator_client, trace):
    response = operator_client.get(_trace_link(trace.trace_id))
    assert response.status_code == 302
    assert response["Location"] == f"/admin/agentic_django/executiontrace/{trace.pk}/change/"
    assert operator_client.get(response["Location"]).status_code == 200


def test_the_trace_link_of_an_unknown_trace_is_not_found(operator_client, trace):
    assert operator_client.get(_trace_link("no-such-trace")).status_code == 404


def test_the_trace_link_refuses_staff_who_may_not_view_traces(client, make_staff, trace):
    client.force_login(make_staff("view_agent"))
    assert client.get(_trace_link(trace.trace_id)).status_code == 403
    # Unknown ids too: the answer does not tell which traces exist.
    assert client.get(_trace_link("no-such-trace")).status_code == 403


def test_the_trace_link_sends_anonymous_visitors_to_the_login(client, trace):
    response = client.get(_trace_link(trace.trace_id))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")
