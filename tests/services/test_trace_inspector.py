"""Turning a trace's JSON columns into the rows of the trace page, whatever their shape."""

from __future__ import annotations

from agentic_django.services.trace_inspector import harness_rows, policy_rows, tool_call_rows


def test_policy_rows_flatten_each_stage_and_keep_denials():
    rows = policy_rows(
        [
            {"stage": "intent", "results": [{"policy_name": "scope", "allowed": True}]},
            {
                "stage": "code",
                "results": [
                    {"policy_name": "pii", "allowed": False, "violations": ["emails"]},
                    {"policy_name": "budget", "allowed": True, "warnings": ["80% spent"]},
                ],
            },
        ]
    )
    assert [(r.stage, r.policy_name, r.allowed) for r in rows] == [
        ("intent", "scope", True),
        ("code", "pii", False),
        ("code", "budget", True),
    ]
    assert rows[1].violations == ["emails"] and rows[2].warnings == ["80% spent"]


def test_malformed_json_gives_no_rows_rather_than_an_error():
    assert policy_rows({"stage": "x"}) == []
    assert policy_rows([None, "x", {"stage": "s", "results": "nope"}]) == []
    assert tool_call_rows("nope") == [] and tool_call_rows([1, None]) == []
    assert harness_rows(["not", "a", "dict"]) == []


def test_tool_call_rows_keep_arguments_result_error_and_duration():
    [ok, failed] = tool_call_rows(
        [
            {"iteration": 1, "tool": "search", "arguments": {"q": "mug"}, "duration_ms": 2,
             "result_summary": "3 rows", "error": None},
            {"iteration": 2, "tool": "cancel", "arguments": {}, "duration_ms": "?",
             "error": "shipped"},
        ]
    )  # fmt: skip
    assert ok.tool == "search" and '"q": "mug"' in ok.arguments
    assert ok.duration_ms == 2.0 and ok.result == "3 rows" and ok.error == ""
    assert failed.error == "shipped" and failed.duration_ms is None


def test_harness_rows_summarise_checks_flags_and_static_analysis():
    rows = {
        row.section: row
        for row in harness_rows(
            {
                "code_cache": "hit",
                "monitors": [
                    {"monitor": "wall_time", "ok": True, "violations": []},
                    {"monitor": "output_size", "ok": False, "violations": ["too big"]},
                ],
                "sandbox": {"backend": "forkserver", "isolation": {"chroot": True, "uid": False}},
                "static_analysis": {
                    "ok": False,
                    "violations": [{"line": 3, "col": 0, "rule": "import", "message": "no os"}],
                },
            }
        )
    }
    assert rows["code_cache"].summary == "hit" and rows["code_cache"].ok is None
    assert rows["monitors"].ok is False
    assert rows["monitors"].summary == "wall_time: ok, output_size: failed"
    assert rows["monitors"].issues == ["too big"]
    assert rows["sandbox"].summary == "backend: forkserver; isolation: chroot"
    assert rows["static_analysis"].ok is False
    assert rows["static_analysis"].issues == ["line 3: no os [import]"]
    assert '"backend": "forkserver"' in rows["sandbox"].detail
