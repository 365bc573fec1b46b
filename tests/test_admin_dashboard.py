"""The usage dashboard page in admin, through the test client."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agentic_django.models import ApprovalRequest, ExecutionTrace, LLMCall

pytestmark = pytest.mark.django_db

URL = "/admin/agentic_django/agent/dashboard/"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", is_staff=True)


@pytest.fixture
def viewer(staff):
    staff.user_permissions.add(Permission.objects.get(codename="view_executiontrace"))
    return staff


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def add_usage(endpoint: str, requests: int, *, cost: str = "0", errors: int = 0) -> None:
    recent = timezone.now() - timedelta(minutes=5)
    ExecutionTrace.objects.bulk_create(
        ExecutionTrace(
            endpoint_name=endpoint,
            status="error" if n < errors else "completed",
            intent_raw="q",
            duration_ms=float(n + 1),
            created_at=recent,
        )
        for n in range(requests)
    )
    LLMCall.objects.create(
        endpoint_name=endpoint,
        alias="default",
        provider="mock",
        model="mock",
        purpose="loop",
        input_tokens=1200,
        output_tokens=300,
        cost_usd=Decimal(cost),
        created_at=recent,
    )


def test_the_url_name_resolves_to_the_dashboard():
    assert reverse("admin:agentic_django_agent_dashboard") == URL


def test_anonymous_and_non_staff_users_are_sent_to_the_admin_login(client, django_user_model):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    user = django_user_model.objects.create_user("ada")
    user.user_permissions.add(Permission.objects.get(codename="view_executiontrace"))
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_trace_view_permission_is_refused(client, staff):
    staff.user_permissions.add(Permission.objects.get(codename="view_agent"))
    client.force_login(staff)
    assert client.get(URL).status_code == 403


def test_the_page_shows_each_agent_its_figures_and_the_charts(viewer_client):
    add_usage("orders", 12, cost="0.4321", errors=2)
    add_usage("refunds", 3, cost="1.5")
    ApprovalRequest.objects.create(
        kind="code",
        endpoint_name="refunds",
        rule_name="writes",
        action={},
        fingerprint="f",
        expires_at=timezone.now() + timedelta(hours=1),
    )

    response = viewer_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    orders = _row(page, "orders")
    assert _cell(orders, "requests") == "12"
    assert _cell(orders, "errors") == "2"
    assert _cell(orders, "cost_usd") == "0.4321"
    assert _cell(orders, "input_tokens") == "1,200"
    assert _cell(orders, "p50_ms") == "6.5"
    refunds = _row(page, "refunds")
    assert _cell(refunds, "approvals_pending") == "1"
    assert _cell(_row(page, ""), "requests") == "15"
    assert _cell(_row(page, ""), "cost_usd") == "1.9321"
    today = timezone.localdate().isoformat()
    assert re.search(rf'data-agent="orders" data-day="{today}" data-value="0.4321"', page), (
        "the cost chart has no bar for orders today"
    )
    assert 'data-agent="refunds" data-day="' + today + '" data-value="3"' in page
    assert 'data-percentile="p95" data-agent="orders"' in page
    assert response.context["form"].is_valid()


def test_the_agent_filter_shows_only_that_agent(viewer_client):
    add_usage("orders", 2)
    add_usage("refunds", 3)

    page = viewer_client.get(URL, {"period": "24h", "agent": "refunds"}).content.decode()

    assert _cell(_row(page, "refunds"), "requests") == "3"
    assert 'data-agent="orders"' not in page


def test_a_custom_range_is_used(viewer_client):
    add_usage("orders", 2)
    today = timezone.localdate()

    response = viewer_client.get(
        URL, {"period": "custom", "start": str(today - timedelta(days=2)), "end": str(today)}
    )

    assert response.status_code == 200
    assert response.context["report"].days[0] == today - timedelta(days=2)
    assert _cell(_row(response.content.decode(), "orders"), "requests") == "2"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"period": "custom", "start": "2025-03-02", "end": "2025-03-01"},
            "must not be before the start",
        ),
        ({"start": "2024-01-01", "end": "2025-06-01"}, "at most 366 days"),
        ({"period": "custom", "start": "2025-03-01"}, "Give both dates"),
        ({"start": "not-a-date", "end": "2025-03-01"}, "Enter a valid date"),
        ({"period": "forever"}, "Select a valid choice"),
        # At the edges of what datetime holds: a form error, not an OverflowError.
        ({"start": "9999-12-31", "end": "9999-12-31"}, "Dates must lie between"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, "Dates must lie between"),
        ({"start": "99999-01-01", "end": "99999-01-02"}, "Enter a valid date"),
    ],
)
def test_a_bad_period_shows_form_errors_not_figures(viewer_client, query, message):
    add_usage("orders", 2)

    response = viewer_client.get(URL, query)

    assert response.status_code == 200
    assert response.context["report"] is None
    page = response.content.decode()
    assert 'class="errorlist' in page and message in page
    assert "dashboard-agents-table" not in page


def test_dates_switch_the_period_to_a_custom_range(viewer_client):
    today = timezone.localdate()
    response = viewer_client.get(URL, {"period": "24h", "start": str(today), "end": str(today)})
    assert response.context["form"].cleaned_data["period"] == "custom"
    assert response.context["report"].days == [today]
    assert '<option value="custom" selected>' in response.content.decode()


def test_an_empty_period_says_there_is_no_activity(viewer_client):
    response = viewer_client.get(URL, {"start": "2001-01-01", "end": "2001-01-31"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "No agent activity in this period." in page
    assert "dashboard-agents-table" not in page


def test_agent_names_are_escaped(viewer_client):
    add_usage("<script>alert(1)</script>", 1, cost="0.5")
    page = viewer_client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_request_count_links_to_the_matching_traces(viewer_client, viewer):
    add_usage("orders", 4, errors=1)
    add_usage("refunds", 2)
    ExecutionTrace.objects.create(
        endpoint_name="orders",
        status="completed",
        intent_raw="old",
        created_at=timezone.now() - timedelta(days=40),
    )
    page = viewer_client.get(URL).content.decode()
    orders = _row(page, "orders")

    for column, expected in (("requests", 4), ("errors", 1)):
        link = re.search(r'href="([^"]+)"', _raw_cell(orders, column)).group(1)
        changelist = viewer_client.get(link.replace("&amp;", "&"))
        assert changelist.status_code == 200
        assert changelist.context["cl"].result_count == expected


def test_the_page_makes_the_same_few_queries_whatever_the_row_count(viewer_client):
    add_usage("orders", 3)
    add_usage("refunds", 3)
    with CaptureQueriesContext(connection) as few:
        viewer_client.get(URL)
    add_usage("orders", 400)
    add_usage("refunds", 400)
    with CaptureQueriesContext(connection) as many:
        response = viewer_client.get(URL)
    assert _cell(_row(response.content.decode(), ""), "requests") == "806"
    assert len(few) == len(many)
    assert len(many) <= 20


def test_the_agent_list_links_to_the_dashboard_for_trace_viewers(client, viewer):
    viewer.user_permissions.add(Permission.objects.get(codename="view_agent"))
    client.force_login(viewer)
    page = client.get("/admin/agentic_django/agent/").content.decode()
    assert f'href="{URL}"' in page
    assert 'href="/admin/agentic_django/agent/playground/"' in page


def test_the_agent_list_hides_the_dashboard_link_without_the_permission(client, staff):
    staff.user_permissions.add(Permission.objects.get(codename="view_agent"))
    client.force_login(staff)
    page = client.get("/admin/agentic_django/agent/").content.decode()
    assert f'href="{URL}"' not in page


def _row(page: str, agent: str) -> str:
    match = re.search(rf'<tr data-agent="{re.escape(agent)}">(.*?)</tr>', page, re.DOTALL)
    assert match, f"no table row for {agent!r}"
    return match.group(1)


def _raw_cell(row: str, column: str) -> str:
    match = re.search(rf'data-column="{column}">(.*?)</td>', row, re.DOTALL)
    assert match, f"no {column} cell"
    return match.group(1)


def _cell(row: str, column: str) -> str:
    return re.sub(r"<[^>]+>", "", _raw_cell(row, column)).strip()
