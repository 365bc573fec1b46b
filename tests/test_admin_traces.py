"""The trace inspector in admin: its sections, who may see it, its queries and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agentic_django.models import (
    AgentRun,
    AgentSession,
    ApprovalRequest,
    ExecutionTrace,
    LLMCall,
    StreamEvent,
)
from agentic_django.services import trace_inspector

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/agentic_django/executiontrace/"
EXPORT_URL = "/admin/agentic_django/executiontrace/export/"

CODE = 'label = "<script>alert(1)</script>"  # say hi\nresult = len(data["orders"]) + 42\n'

POLICIES = [
    {
        "stage": "intent",
        "results": [
            {"policy_name": "intent_scope", "allowed": True, "violations": [], "warnings": []}
        ],
    },
    {
        "stage": "code",
        "results": [
            {
                "policy_name": "data_access",
                "allowed": False,
                "violations": ["reads the customers table"],
                "warnings": ["touches emails"],
            }
        ],
    },
]

TOOL_CALLS = [
    {
        "iteration": 1,
        "tool": "search_products",
        "arguments": {"name__icontains": "mug"},
        "duration_ms": 12.5,
        "result_summary": "3 rows",
        "error": None,
        "call_id": "c1",
    },
    {
        "iteration": 2,
        "tool": "cancel_order",
        "arguments": {"order_id": 7},
        "duration_ms": 3.0,
        "result_summary": "",
        "error": "order 7 is already shipped",
        "call_id": "c2",
    },
]

HARNESS = {
    "engine": "codegen",
    "code_cache": "miss",
    "sandbox": {
        "backend": "subprocess",
        "duration_ms": 41.2,
        "isolation": {"network_namespace": True, "chroot": False},
        "stdout": "",
    },
    "monitors": [
        {"monitor": "wall_time", "ok": True, "violations": [], "warnings": []},
        {"monitor": "output_size", "ok": False, "violations": ["too big"], "warnings": []},
    ],
    "validators": [{"validator": "json_output", "ok": True, "errors": []}],
}


def permission(codename: str) -> Permission:
    return Permission.objects.get(codename=codename)


def change_url(trace: ExecutionTrace) -> str:
    return f"{LIST_URL}{trace.pk}/change/"


def make_trace_row(**fields) -> ExecutionTrace:
    values = {"endpoint_name": "orders", "status": "completed", "intent_raw": "show my orders"}
    return ExecutionTrace(**{**values, **fields})


def make_trace(**fields) -> ExecutionTrace:
    trace = make_trace_row(**fields)
    trace.save()
    return trace


def add_events(run: AgentRun, count: int) -> None:
    StreamEvent.objects.bulk_create(
        (
            StreamEvent(
                run=run,
                seq=seq,
                kind="final" if seq == count - 1 else "partial_result",
                payload={"kind": "partial_result", "seq": seq, "text": f"piece {seq}"},
            )
            for seq in range(count)
        ),
        batch_size=2_000,
    )
    run.last_seq = count - 1
    run.save(update_fields=["last_seq"])


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # admin_user has a password; hashing it properly costs a second per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", is_staff=True)


@pytest.fixture
def viewer(client, staff):
    """A logged-in staff member with only the permission to view traces."""
    staff.user_permissions.add(permission("view_executiontrace"))
    client.force_login(staff)
    return client


@pytest.fixture
def trace(admin_user, django_user_model):
    """A denied codegen trace with everything the page shows, and a run of a few events."""
    ada = django_user_model.objects.create_user("ada")
    session = AgentSession.objects.create(user=ada, expires_at=timezone.now() + timedelta(days=1))
    trace = make_trace(
        user=ada,
        session=session,
        status="policy_denied",
        intent_raw="how many orders per status?",
        intent_action="read",
        intent_domain="orders",
        intent_parameters={"group_by": "status"},
        intent_confidence=0.87,
        error="Denied by data_access: reads the customers table\ncaused by details",
        error_type="agentic_django.core.exceptions.PolicyViolation",
        generated_code=CODE,
        reasoning="Counts the orders.",
        policy_evaluations=POLICIES,
        tool_calls=TOOL_CALLS,
        harness_report=HARNESS,
        checkpoint={"kind": "code", "step": 2},
        input_tokens=150,
        output_tokens=60,
        cost_usd=Decimal("0.003000"),
    )
    for purpose, tokens_in, tokens_out, cost, latency in (
        ("intent_parse", 100, 20, "0.001000", 210.0),
        ("code_generate", 50, 40, "0.002000", 820.5),
    ):
        LLMCall.objects.create(
            trace=trace,
            user=ada,
            endpoint_name="orders",
            alias="default",
            provider="anthropic",
            model="claude-test",
            purpose=purpose,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=Decimal(cost),
            latency_ms=latency,
            finish_reason="stop",
        )
    run = AgentRun.objects.create(endpoint_name="orders", user=ada, trace=trace, status="completed")
    add_events(run, 3)
    asked = ApprovalRequest.objects.create(
        kind="code",
        status="rejected",
        endpoint_name="orders",
        trace=trace,
        rule_name="managers",
        action={"code": CODE},
        fingerprint="f",
        expires_at=timezone.now() + timedelta(hours=1),
        decided_by=admin_user,
        decided_at=timezone.now(),
        reason="not with customer emails",
    )
    trace.asked_approval = asked
    return trace


@pytest.fixture
def big_trace(admin_user):
    """A trace whose run stored 10,000 events."""
    trace = make_trace(user=admin_user, endpoint_name="chatty")
    run = AgentRun.objects.create(
        endpoint_name="chatty", user=admin_user, trace=trace, status="completed"
    )
    add_events(run, 10_000)
    return trace


# --- the trace page ------------------------------------------------------------------------


def test_trace_page_shows_the_intent_and_the_outcome(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    assert "how many orders per status?" in page
    assert "&quot;group_by&quot;: &quot;status&quot;" in page
    assert "0.87" in page and "Policy denied" in page
    assert "Denied by data_access: reads the customers table" in page
    assert "agentic_django.core.exceptions.PolicyViolation" in page


def test_trace_page_marks_the_denying_policy_with_its_violations(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    denied = page[page.index('<tr class="trace-denied">') :]
    denied = denied[: denied.index("</tr>")]
    assert "data_access" in denied and "Denied" in denied
    assert "<li>reads the customers table</li>" in denied
    assert "<li>touches emails</li>" in denied
    allowed = page[page.index('<tr class="trace-allowed">') :]
    assert "intent_scope" in allowed[: allowed.index("</tr>")]


def test_trace_page_highlights_the_generated_code_and_escapes_it(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    assert '<span class="tok-builtin">len</span>' in page
    assert '<span class="tok-comment"># say hi</span>' in page
    assert '<span class="tok-number">42</span>' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "Counts the orders." in page
    assert "agentic_django/admin/trace.css" in page


def test_trace_page_lists_tool_calls_with_arguments_and_durations(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    section = page[page.index('id="trace-tool-calls"') : page.index('id="trace-harness"')]
    assert "search_products" in section
    assert "&quot;name__icontains&quot;: &quot;mug&quot;" in section
    assert "12.5" in section and "3 rows" in section
    assert "order 7 is already shipped" in section


def test_trace_page_summarises_the_harness_report(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    section = page[page.index('id="trace-harness"') : page.index('id="trace-llm-calls"')]
    assert "wall_time: ok, output_size: failed" in section
    assert "<li>too big</li>" in section
    assert "backend: subprocess" in section and "isolation: network_namespace" in section
    assert "miss" in section


def test_trace_page_lists_llm_calls_with_totals(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    section = page[page.index('id="trace-llm-calls"') : page.index('id="trace-approvals"')]
    assert section.count('class="trace-llm-call') == 2
    assert "Intent parsing" in section and "Code generation" in section
    totals = section[section.index('class="trace-totals"') :]
    assert "Total of 2 calls" in totals
    assert ">150<" in totals and ">60<" in totals and "0.003000" in totals
    assert "1030.5" in totals


def test_trace_page_shows_the_approval_it_asked_for_and_its_decision(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    section = page[page.index('id="trace-approvals"') : page.index('id="trace-events"')]
    asked = trace.asked_approval
    assert f"/admin/agentic_django/approvalrequest/{asked.pk}/change/" in section
    assert "Rejected" in section and "admin" in section
    assert "not with customer emails" in section and "this trace asked for it" in section


def test_trace_page_shows_the_approval_a_worker_trace_carried_out(admin_client, trace):
    worker = make_trace(approval_request=trace.asked_approval, intent_raw="carry it out")
    page = admin_client.get(change_url(worker)).content.decode()
    assert "this trace carried it out" in page
    assert trace.asked_approval.request_id in page


def test_trace_page_links_user_session_run_and_llm_calls(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    run = trace.runs.get()
    assert f"/admin/auth/user/{trace.user_id}/change/" in page
    assert f"/admin/agentic_django/agentsession/{trace.session_id}/change/" in page
    assert trace.session.session_id in page
    assert f"/admin/agentic_django/agentrun/{run.pk}/change/" in page
    assert f"/admin/agentic_django/llmcall/?trace__id__exact={trace.pk}" in page


def test_trace_page_shows_a_short_run_in_full(admin_client, trace):
    page = admin_client.get(change_url(trace)).content.decode()
    section = page[page.index('id="trace-events"') :]
    assert "3 events" in section
    assert section.count('class="trace-event"') == 3
    assert "piece 2" in section and "Pages:" not in section


def test_run_admin_links_its_trace(admin_client, trace):
    run = trace.runs.get()
    page = admin_client.get(f"/admin/agentic_django/agentrun/{run.pk}/change/").content.decode()
    assert change_url(trace) in page


def test_trace_page_is_read_only(admin_client, trace):
    response = admin_client.get(change_url(trace))
    assert b'name="_save"' not in response.content
    admin_client.post(change_url(trace), {"status": "completed"})
    trace.refresh_from_db()
    assert trace.status == "policy_denied"
    assert admin_client.get(f"{LIST_URL}add/").status_code == 403


# --- ten thousand events -------------------------------------------------------------------


def test_trace_page_of_a_long_run_takes_few_queries(
    admin_client, big_trace, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20):
        response = admin_client.get(change_url(big_trace))
    page = response.content.decode()
    assert "10000 events" in page
    assert "partial_result</code> 9999" in page and "final</code> 1" in page
    assert page.count('class="trace-event"') == 50
    assert 'data-seq="24"' in page and 'data-seq="9975"' in page
    assert 'data-seq="5000"' not in page
    assert "… 9950 more events …" in page


def test_trace_page_pages_through_the_middle_of_a_long_run(
    admin_client, big_trace, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20):
        response = admin_client.get(f"{change_url(big_trace)}?events_page=50")
    page = response.content.decode()
    assert "Events 4925 to 5024:" in page
    assert 'data-seq="4925"' in page and 'data-seq="5024"' in page
    assert 'data-seq="4924"' not in page and 'data-seq="5025"' not in page
    assert page.count('class="trace-event"') == 150
    assert "?events_page=100#trace-events" in page and "<strong>50</strong>" in page


def test_event_pages_beyond_the_last_show_the_last(big_trace):
    timeline = trace_inspector.event_timeline(big_trace.runs.get(), page_number=1000)
    assert timeline.page.number == 100
    assert [row.seq for row in timeline.page_rows] == list(range(9925, 9975))


def test_a_page_number_that_is_not_a_number_shows_no_page(admin_client, big_trace):
    page = admin_client.get(f"{change_url(big_trace)}?events_page=x").content.decode()
    assert page.count('class="trace-event"') == 50


# --- permissions ---------------------------------------------------------------------------


def test_trace_pages_send_non_staff_to_the_login(client, trace, django_user_model):
    user = django_user_model.objects.create_user("customer")
    client.force_login(user)
    for url in (LIST_URL, change_url(trace), EXPORT_URL, "/admin/agentic_django/llmcall/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_staff_without_the_view_permission_is_refused(client, staff, trace):
    client.force_login(staff)
    for url in (LIST_URL, change_url(trace), EXPORT_URL, "/admin/agentic_django/llmcall/"):
        assert client.get(url).status_code == 403, url


def test_staff_with_the_view_permission_sees_traces_but_cannot_delete(viewer, trace):
    assert viewer.get(LIST_URL).status_code == 200
    response = viewer.get(change_url(trace))
    assert response.status_code == 200
    assert "data_access" in response.content.decode()
    assert viewer.get(f"{LIST_URL}{trace.pk}/delete/").status_code == 403


def test_the_public_trace_id_from_the_api_leads_to_the_trace_page(viewer, trace):
    response = viewer.get(f"{LIST_URL}{trace.trace_id}/change/")
    assert response.status_code == 302 and response["Location"] == change_url(trace)
    # An unknown id is Django's usual "does not exist" redirect, not an error.
    unknown = viewer.get(f"{LIST_URL}{'0' * 32}x/change/")
    assert unknown.status_code == 302 and unknown["Location"] == "/admin/"


# --- the changelist ------------------------------------------------------------------------


def test_changelist_of_200_traces_takes_few_queries(
    admin_client, django_user_model, django_assert_max_num_queries
):
    users = [django_user_model.objects.create_user(f"user{i}") for i in range(20)]
    ExecutionTrace.objects.bulk_create(
        ExecutionTrace(
            endpoint_name="orders",
            status="completed",
            intent_raw=f"question {i}",
            user=users[i % 20],
        )
        for i in range(200)
    )
    with django_assert_max_num_queries(15):
        response = admin_client.get(f"{LIST_URL}?all=")
    assert response.content.decode().count("question ") >= 200


def test_changelist_filters_by_username_and_period(admin_client, trace, admin_user):
    old = make_trace(user=admin_user, intent_raw="an old question")
    ExecutionTrace.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))

    by_user = admin_client.get(f"{LIST_URL}?username=admin").content.decode()
    assert "an old question" in by_user and "how many orders per status?" not in by_user
    recent = admin_client.get(f"{LIST_URL}?period=24h").content.decode()
    assert "how many orders per status?" in recent and "an old question" not in recent
    week = admin_client.get(f"{LIST_URL}?period=7d").content.decode()
    assert "an old question" in week


def test_changelist_links_an_export_of_the_same_filters(admin_client, trace):
    page = admin_client.get(f"{LIST_URL}?status__exact=policy_denied&username=ada").content
    assert f'href="{EXPORT_URL}?status__exact=policy_denied&amp;username=ada"'.encode() in page


# --- the CSV export ------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_export_streams_every_column_of_the_traces(viewer, trace):
    response = viewer.get(EXPORT_URL)
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="traces-')
    header, row = read_csv(response)
    assert header == [
        "created_at",
        "trace_id",
        "endpoint_name",
        "user",
        "status",
        "intent_action",
        "intent_domain",
        "intent_raw",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "error",
    ]
    assert row[1:8] == [
        trace.trace_id,
        "orders",
        "ada",
        "policy_denied",
        "read",
        "orders",
        "how many orders per status?",
    ]
    assert row[9:] == ["150", "60", "0.003000", "Denied by data_access: reads the customers table"]
    assert row[0] == trace.created_at.isoformat()


def test_export_applies_the_changelist_filters_and_search(viewer, trace, admin_user):
    make_trace(user=admin_user, intent_raw="cancel order 5", status="completed")
    make_trace(intent_raw="show my invoices", status="error", endpoint_name="billing")

    def intents(query: str) -> list[str]:
        return [row[7] for row in read_csv(viewer.get(f"{EXPORT_URL}?{query}"))[1:]]

    assert sorted(intents("")) == [
        "cancel order 5",
        "how many orders per status?",
        "show my invoices",
    ]
    assert intents("status__exact=error") == ["show my invoices"]
    assert intents("endpoint_name=orders&username=admin") == ["cancel order 5"]
    assert intents("q=invoices") == ["show my invoices"]
    assert intents("period=24h&status__exact=policy_denied") == ["how many orders per status?"]


def test_export_takes_an_explicit_period_like_the_dashboard_links(viewer, trace):
    old = make_trace(intent_raw="last month's question")
    ExecutionTrace.objects.filter(pk=old.pk).update(
        created_at=datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    )
    query = urlencode(
        {
            "created_at__gte": "2025-01-01 00:00:00+00:00",
            "created_at__lt": "2025-02-01 00:00:00+00:00",
        }
    )
    rows = read_csv(viewer.get(f"{EXPORT_URL}?{query}"))[1:]
    assert [row[7] for row in rows] == ["last month's question"]
    assert "last month" in viewer.get(f"{LIST_URL}?{query}").content.decode()


def test_export_neutralises_spreadsheet_formulas(viewer):
    make_trace(intent_raw='=HYPERLINK("http://evil.example","x")', error="-2+3")
    make_trace(intent_raw="@SUM(A1)", endpoint_name="+orders")
    rows = read_csv(viewer.get(EXPORT_URL))[1:]
    cells = {cell for row in rows for cell in row}
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert "'-2+3" in cells and "'@SUM(A1)" in cells and "'+orders" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_export_reads_the_traces_only_while_the_body_streams(viewer, trace):
    response = viewer.get(EXPORT_URL)
    with CaptureQueriesContext(connection) as while_streaming:
        rows = read_csv(response)
    assert len(rows) == 2
    # The rows are read by one query, run when the body is consumed, not by the view.
    [query] = while_streaming.captured_queries
    assert "agentic_django_executiontrace" in query["sql"]


@pytest.mark.django_db(transaction=True)
async def test_export_under_asgi_streams_batches_asynchronously(
    async_client, django_user_model, close_worker_connections
):
    from asgiref.sync import sync_to_async

    from agentic_django.services import trace_export

    @sync_to_async
    def setup():
        ExecutionTrace.objects.bulk_create(
            make_trace_row(intent_raw=f"q{i}") for i in range(trace_export.CHUNK_SIZE + 5)
        )
        staff = django_user_model.objects.create_user("asgi-ops", is_staff=True)
        staff.user_permissions.add(permission("view_executiontrace"))
        return staff

    await async_client.aforce_login(await setup())
    response = await async_client.get(EXPORT_URL)
    assert response.status_code == 200
    # An asynchronous iterator: Django would otherwise read the whole export into a list.
    assert response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    assert len(chunks) == 2
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == trace_export.CHUNK_SIZE + 6


def test_export_with_an_unknown_filter_is_a_bad_request(viewer, trace):
    assert viewer.get(f"{EXPORT_URL}?no_such_field=1").status_code == 400


# --- LLM calls -----------------------------------------------------------------------------


def test_llm_calls_are_listed_read_only_with_a_link_to_their_trace(admin_client, trace):
    listing = admin_client.get("/admin/agentic_django/llmcall/").content.decode()
    assert listing.count("claude-test") >= 2
    assert change_url(trace) in listing
    call = trace.llm_calls.first()
    detail = admin_client.get(f"/admin/agentic_django/llmcall/{call.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert admin_client.get("/admin/agentic_django/llmcall/add/").status_code == 403
    # A fresh call is inside its retention period: not even a superuser deletes it.
    deleted = admin_client.get(f"/admin/agentic_django/llmcall/{call.pk}/delete/")
    assert deleted.status_code == 403
    assert LLMCall.objects.filter(pk=call.pk).exists()


def test_llm_calls_can_be_filtered_by_trace(admin_client, trace):
    make_trace()
    LLMCall.objects.create(
        endpoint_name="other", alias="x", provider="openai", model="gpt-other", purpose="loop"
    )
    listing = admin_client.get(f"/admin/agentic_django/llmcall/?trace__id__exact={trace.pk}")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "claude-test" in page and "gpt-other" not in page
