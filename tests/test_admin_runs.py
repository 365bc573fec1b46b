from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentic_django.models import AgentRun, ApprovalRequest, StreamEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_run(admin_user):
    run = AgentRun.objects.create(
        endpoint_name="chatty", user=admin_user, status="completed", last_seq=9_999
    )
    StreamEvent.objects.bulk_create(
        (
            StreamEvent(
                run=run,
                seq=seq,
                kind="final" if seq == 9_999 else "partial_result",
                payload={"kind": "partial_result", "seq": seq},
            )
            for seq in range(10_000)
        ),
        batch_size=2_000,
    )
    ApprovalRequest.objects.create(
        kind="stream",
        endpoint_name="chatty",
        run=run,
        rule_name="default",
        action={"prompt": "ok?", "options": ["approve", "reject"]},
        fingerprint="x",
        expires_at=run.created_at,
    )
    return run


def test_run_list_and_filters(admin_client, big_run):
    response = admin_client.get("/admin/agentic_django/agentrun/?status__exact=completed")
    assert response.status_code == 200
    assert big_run.run_id in response.content.decode()
    assert (
        big_run.run_id
        not in admin_client.get(
            "/admin/agentic_django/agentrun/?status__exact=running"
        ).content.decode()
    )


def test_run_page_summarises_ten_thousand_events_with_few_queries(admin_client, big_run):
    url = f"/admin/agentic_django/agentrun/{big_run.pk}/change/"
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "partial_result: 9999" in page and "final: 1" in page
    assert "… 9950 more …" in page
    # The first and last events are listed, the middle ones are not.
    assert "<td>9999</td>" in page and "<td>24</td>" in page and "<td>5000</td>" not in page
    assert "/admin/agentic_django/approvalrequest/" in page
    assert len(queries) <= 15


def test_runs_are_read_only_in_admin(admin_client, big_run):
    assert admin_client.get("/admin/agentic_django/agentrun/add/").status_code == 403
    response = admin_client.post(
        f"/admin/agentic_django/agentrun/{big_run.pk}/change/", {"status": "failed"}
    )
    assert response.status_code == 403
    big_run.refresh_from_db()
    assert big_run.status == "completed"


def test_runs_admin_needs_the_view_permission(client, django_user_model, big_run):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/agentic_django/agentrun/").status_code == 403
