"""The operations commands: agentic_endpoints and agentic_invoke."""

from __future__ import annotations

import json
import os
import signal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agentic_django.harness import BudgetPolicy
from agentic_django.models import Agent, AgentRun, ApprovalRequest, ExecutionTrace

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def row_of(table: str, name: str) -> list[str]:
    [line] = [line for line in table.splitlines() if line.split(" ", 1)[0] == name]
    return line.split()


# --- agentic_endpoints --------------------------------------------------------------------


def test_the_table_lists_every_registered_endpoint_with_its_declaration():
    out, _ = run("agentic_endpoints")
    header, *_ = out.splitlines()
    assert header.split()[:4] == ["NAME", "ENABLED", "ENGINE", "AUTONOMY"]
    assert row_of(out, "echo") == ["echo", "yes", "handler", "supervised", "default", "-", "-", "-"]
    assert row_of(out, "chatty")[5] == "sse"
    assert row_of(out, "reports")[2:5] == ["codegen", "supervised", "reports"]
    assert "set in admin" not in out


def test_admin_overrides_are_shown_and_marked(django_user_model):
    operator = django_user_model.objects.create_user(username="ops")
    Agent.objects.filter(name="reports").update(
        enabled=False,
        autonomy_level="manual",
        model="claude-haiku-4-5",
        max_per_day_usd="20",
        require_approval_actions=["write"],
        notes="paused during the audit",
        updated_by=operator,
    )
    out, _ = run("agentic_endpoints", "--name", "reports")
    assert row_of(out, "reports") == [
        "reports",
        "no*",
        "codegen",
        "manual*",
        "reports",
        "(claude-haiku-4-5)*",
        "-",
        "reports*",
        "day",
        "20*",
    ]
    assert "* set in admin" in out
    details, _ = run("agentic_endpoints", "--name", "reports", "-v", "2")
    assert "notes: paused during the audit" in details
    assert "by ops" in details
    assert "approval rules: agent settings (admin), reports" in details


def test_rows_whose_endpoint_is_gone_are_listed_as_not_registered():
    Agent.objects.create(name="retired", enabled=False, notes="replaced by orders")
    out, _ = run("agentic_endpoints")
    assert row_of(out, "retired") == ["retired", "no", "(not", "registered)"]
    entries = json.loads(run("agentic_endpoints", "--json", "--name", "retired")[0])
    assert entries == [
        {
            "name": "retired",
            "registered": False,
            "description": "",
            "admin": entries[0]["admin"],
        }
    ]
    assert entries[0]["admin"]["notes"] == "replaced by orders"


def test_json_describes_the_code_the_admin_settings_and_what_applies(site):
    @site.agent_endpoint(
        "budgeted",
        description="Spends little",
        tags=["finance"],
        policies=[BudgetPolicy(max_per_request_usd=0.5, max_per_user_per_day_usd=5)],
    )
    async def budgeted(intent):
        return None

    Agent.objects.create(name="budgeted", llm_alias="reports", max_per_request_usd="0.25")
    [entry] = json.loads(run("agentic_endpoints", "--json", "--name", "budgeted")[0])
    assert entry["registered"] is True
    assert (entry["engine"], entry["streaming"], entry["tags"]) == ("handler", None, ["finance"])
    # The app's own default, not DRF's AllowAny from the test project's REST_FRAMEWORK.
    assert entry["permission_classes"] == ["IsAuthenticated"]
    assert entry["permission_classes_from"] == "settings"
    assert entry["code"]["llm_alias"] == "default"
    assert entry["code"]["policies"] == [
        {"name": "BudgetPolicy", "limits": {"request": 0.5, "user_per_day": 5.0}}
    ]
    assert entry["admin"]["llm_alias"] == "reports"
    assert entry["effective"]["llm_alias"] == "reports"
    assert entry["effective"]["policies"] == [
        {"name": "BudgetPolicy", "limits": {"request": 0.25, "user_per_day": 5.0}}
    ]
    table, _ = run("agentic_endpoints", "--name", "budgeted")
    assert row_of(table, "budgeted")[-4:] == ["request", "0.25,", "user/day", "5*"]


def test_endpoint_permission_classes_are_listed():
    entries = json.loads(run("agentic_endpoints", "--json", "--name", "private*")[0])
    assert {entry["name"]: entry["permission_classes"] for entry in entries} == {
        "private": ["IsAuthenticated"],
        "private_stream": ["IsAuthenticated"],
    }
    assert {entry["permission_classes_from"] for entry in entries} == {"endpoint"}


def test_the_name_filter_takes_shell_patterns():
    out, _ = run("agentic_endpoints", "--name", "ask*")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["ask", "ask_or_cancel"]
    out, _ = run("agentic_endpoints", "--name", "nothing-like-this")
    assert out.strip() == "No endpoint matches 'nothing-like-this'."


def test_agent_rows_are_read_in_one_query_however_many_endpoints(site, django_assert_num_queries):
    for index in range(5):
        site.agent_endpoint(f"extra{index}")(lambda intent: None)
    # One to see that the table exists, one for every row.
    with django_assert_num_queries(2):
        run("agentic_endpoints", "--json")


def test_an_unmigrated_database_gets_a_clear_error(monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection.introspection, "table_names", lambda *a, **k: [])
    with pytest.raises(CommandError, match="migrate"):
        run("agentic_endpoints")


# --- agentic_invoke -----------------------------------------------------------------------


def test_invoke_prints_the_answer_and_its_trace():
    out, _ = run("agentic_invoke", "echo", "list the orders")
    body, summary = out.rsplit("\n", 2)[0], out.strip().splitlines()[-1]
    answer = json.loads(body)
    assert answer["result"]["raw"] == "list the orders"
    trace = ExecutionTrace.objects.get(trace_id=answer["execution_trace_id"])
    assert (trace.endpoint_name, trace.status, trace.user_id) == ("echo", "completed", None)
    assert summary.startswith(f"trace {trace.trace_id}  session {answer['session_id']}  HTTP 200")


def test_invoke_json_is_one_object():
    out, _ = run("agentic_invoke", "echo", "hello", "--json")
    envelope = json.loads(out)
    assert envelope["status_code"] == 200
    assert envelope["body"]["result"]["raw"] == "hello"
    assert ExecutionTrace.objects.filter(trace_id=envelope["trace_id"]).exists()


def test_invoke_runs_as_the_chosen_user_without_the_endpoint_permission_classes(user):
    out, _ = run("agentic_invoke", "private", "who am I", "--user", "alice", "--json")
    envelope = json.loads(out)
    assert envelope["body"]["result"] == {"user": "alice"}
    assert ExecutionTrace.objects.get(trace_id=envelope["trace_id"]).user == user
    # IsAuthenticated guards the HTTP endpoint, not the shell: anonymous runs too.
    anonymous = json.loads(run("agentic_invoke", "private", "who am I", "--json")[0])
    assert anonymous["body"]["result"] == {"user": ""}


def test_unknown_and_inactive_users_are_refused(django_user_model):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("agentic_invoke", "echo", "hi", "--user", "nobody")
    django_user_model.objects.create_user(username="gone", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        run("agentic_invoke", "echo", "hi", "--user", "gone")
    assert not ExecutionTrace.objects.exists()


def test_an_unknown_endpoint_is_refused_with_close_names():
    with pytest.raises(CommandError, match=r"No agent endpoint named 'ech'\. Did you mean: echo"):
        run("agentic_invoke", "ech", "hi")


def test_an_error_answer_exits_non_zero_without_leaking_details():
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("agentic_invoke", "boom", "go", stdout=out, stderr=StringIO())
    assert raised.value.returncode == 1
    assert "boom answered 500: Internal server error" in str(raised.value)
    assert "secret internal detail" not in out.getvalue() + str(raised.value)
    assert ExecutionTrace.objects.get(endpoint_name="boom").status == "error"
    with pytest.raises(CommandError, match="denied answered 403"):
        run("agentic_invoke", "denied", "refund")


def test_a_switched_off_agent_exits_non_zero():
    Agent.objects.filter(name__in=["echo", "chatty"]).update(enabled=False)
    with pytest.raises(CommandError, match="echo answered 503"):
        run("agentic_invoke", "echo", "hi")
    with pytest.raises(CommandError, match="chatty answered 503"):
        run("agentic_invoke", "chatty", "hi", "--stream")
    assert not AgentRun.objects.filter(endpoint_name="chatty").exists()


def test_a_session_is_continued_with_its_id():
    first = json.loads(run("agentic_invoke", "remember", "one", "--json")[0])
    session = first["session_id"]
    second = json.loads(run("agentic_invoke", "remember", "two", "--json", "--session", session)[0])
    assert (second["session_id"], second["body"]["result"]) == (session, {"count": 2})


def test_another_users_session_is_not_continued(user, other_user):
    first = json.loads(run("agentic_invoke", "remember", "one", "--user", "alice", "--json")[0])
    _, err = run(
        "agentic_invoke", "remember", "two", "--user", "bob", "--session", first["session_id"]
    )
    assert f"The session {first['session_id']} is not this user's" in err


def test_stream_prints_each_event_in_order_then_the_trace():
    out, err = run("agentic_invoke", "chatty", "3 parts", "--stream")
    *events, summary = out.strip().splitlines()
    assert [line.split()[:2] for line in events] == [
        ["0", "partial_result"],
        ["1", "partial_result"],
        ["2", "partial_result"],
        ["3", "final"],
    ]
    assert json.loads(events[1].split(None, 2)[2])["text"] == "part 1"
    final = json.loads(events[-1].split(None, 2)[2])
    assert summary.startswith(f"trace {final['trace_id']}")
    run_id = err.split()[1]
    assert AgentRun.objects.get(run_id=run_id).status == "completed"


def test_stream_json_is_one_event_per_line():
    out, _ = run("agentic_invoke", "chatty", "2 parts", "--stream", "--json")
    events = [json.loads(line) for line in out.strip().splitlines()]
    assert [(event["seq"], event["kind"]) for event in events] == [
        (0, "partial_result"),
        (1, "partial_result"),
        (2, "final"),
    ]
    assert ExecutionTrace.objects.filter(trace_id=events[-1]["trace_id"]).exists()


def test_a_streaming_endpoint_without_stream_prints_its_final_answer():
    envelope = json.loads(run("agentic_invoke", "chatty", "2 parts", "--json")[0])
    assert envelope["status_code"] == 200
    assert envelope["body"]["kind"] == "final"
    assert envelope["body"]["result"] == {"parts": 2}
    assert AgentRun.objects.filter(run_id=envelope["run_id"]).exists()


def test_a_failing_stream_exits_non_zero_without_leaking_details():
    out = StringIO()
    with pytest.raises(CommandError, match="crashing answered 500"):
        call_command("agentic_invoke", "crashing", "go", "--stream", stdout=out, stderr=StringIO())
    assert out.getvalue().strip().splitlines()[-2].split()[1] == "error"
    assert "hunter2" not in out.getvalue()


def test_stream_is_refused_for_an_endpoint_that_does_not_stream():
    with pytest.raises(CommandError, match="does not stream"):
        run("agentic_invoke", "echo", "hi", "--stream")


def test_a_question_mid_stream_is_printed_and_waited_for():
    out, err = run("agentic_invoke", "ask", "wait 1", "--stream")
    kinds = [line.split()[1] for line in out.strip().splitlines()[:-1]]
    assert kinds == ["thought", "approval_requested", "approval_resolved", "final"]
    request = ApprovalRequest.objects.get(kind="stream")
    assert f"Waiting for a decision on approval {request.request_id}" in err
    assert "'Proceed with the refund?'" in err
    assert f"POST /agents/approvals/{request.request_id}/decision/" in err
    # Nobody decided: the default applied when the question timed out.
    assert request.status == "expired"


class InterruptOn(StringIO):
    """Standard output that presses Ctrl-C once ``text`` has been printed."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.pressed = False

    def write(self, value: str) -> int:
        written = super().write(value)
        if self.text in value and not self.pressed:
            self.pressed = True
            os.kill(os.getpid(), signal.SIGINT)
        return written


def test_ctrl_c_cancels_the_run_and_exits_non_zero():
    out = InterruptOn("started")
    with pytest.raises(CommandError, match="slow answered 499"):
        call_command("agentic_invoke", "slow", "30", "--stream", stdout=out, stderr=StringIO())
    last = out.getvalue().strip().splitlines()[-2]
    assert last.split()[1] == "error" and '"code":"cancelled"' in last
    assert AgentRun.objects.get(endpoint_name="slow").status == "cancelled"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
