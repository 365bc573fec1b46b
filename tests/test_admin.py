from __future__ import annotations

import json

import pytest

from agentic_django.models import AgentSession, ExecutionTrace

pytestmark = pytest.mark.django_db


@pytest.fixture
def traces(client):
    for text in ("show my orders", "cancel order 5", "explode"):
        name = "boom" if text == "explode" else "orders"
        client.post(
            f"/agents/{name}/", json.dumps({"intent": text}), content_type="application/json"
        )
    return ExecutionTrace.objects.all()


def test_trace_changelist_lists_filters_and_searches(admin_client, traces):
    response = admin_client.get("/admin/agentic_django/executiontrace/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "show my orders" in content and "policy_denied" in content.replace(" ", "_").lower()
    filtered = admin_client.get("/admin/agentic_django/executiontrace/?status__exact=error")
    assert "explode" in filtered.content.decode()
    assert "show my orders" not in filtered.content.decode()
    searched = admin_client.get("/admin/agentic_django/executiontrace/?q=cancel")
    assert "cancel order 5" in searched.content.decode()
    assert "explode" not in searched.content.decode()


def test_trace_detail_is_read_only(admin_client, traces):
    trace = traces.get(status="policy_denied")
    url = f"/admin/agentic_django/executiontrace/{trace.pk}/change/"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "intent_scope" in response.content.decode()
    assert b'name="_save"' not in response.content
    assert admin_client.get("/admin/agentic_django/executiontrace/add/").status_code == 403


def test_session_detail_shows_its_turns_inline(admin_client, traces):
    session = AgentSession.objects.first()
    response = admin_client.get(f"/admin/agentic_django/agentsession/{session.pk}/change/")
    assert response.status_code == 200
    assert session.turns.first().intent in response.content.decode()


def test_admin_list_pages_make_a_bounded_number_of_queries(
    admin_client, traces, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        admin_client.get("/admin/agentic_django/executiontrace/")
    with django_assert_max_num_queries(12):
        admin_client.get("/admin/agentic_django/agentsession/")


@pytest.fixture
def cache_entries():
    from agentic_django.models import CodeCacheEntry

    return [
        CodeCacheEntry.objects.create(
            key=f"{index:064x}",
            scope="user:1",
            endpoint_name="totals",
            intent_action="read",
            code=f"result = {index} < 2",
        )
        for index in range(3)
    ]


def test_cache_entries_are_inspectable_with_their_code_escaped(admin_client, cache_entries):
    entry = cache_entries[0]
    response = admin_client.get(f"/admin/agentic_django/codecacheentry/{entry.pk}/change/")
    assert response.status_code == 200
    assert "result = 0 &lt; 2" in response.content.decode()
    assert b'name="_save"' not in response.content
    with_list = admin_client.get("/admin/agentic_django/codecacheentry/")
    assert with_list.status_code == 200 and "totals" in with_list.content.decode()


def test_invalidating_entries_needs_the_delete_permission(client, cache_entries, django_user_model):
    from django.contrib.auth.models import Permission

    from agentic_django.models import CodeCacheEntry

    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_codecacheentry"))
    client.force_login(staff)
    url = "/admin/agentic_django/codecacheentry/"
    action = {"action": "invalidate", "_selected_action": [cache_entries[0].pk]}
    listing = client.get(url)
    assert listing.status_code == 200
    assert b'value="invalidate"' not in listing.content
    client.post(url, action)
    assert CodeCacheEntry.objects.count() == 3

    staff.user_permissions.add(Permission.objects.get(codename="delete_codecacheentry"))
    response = client.post(url, action, follow=True)
    assert "Invalidated 1 cache entry." in response.content.decode()
    assert CodeCacheEntry.objects.count() == 2
