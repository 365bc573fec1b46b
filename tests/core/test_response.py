from __future__ import annotations

from agentic_django.core.response import AgentResponse, ResponseFormatter


def test_to_dict_drops_none_but_keeps_falsy_values():
    response = AgentResponse(result=0, confidence=0.0)
    data = response.to_dict()
    assert data["result"] == 0
    assert data["confidence"] == 0.0
    assert data["follow_up_suggestions"] == []
    assert "error" not in data and "generated_code" not in data


def test_format_json_matches_to_dict():
    response = AgentResponse(result={"a": 1}, reasoning="why")
    assert ResponseFormatter().format_json(response) == response.to_dict()


def test_format_text_lists_the_useful_parts():
    response = AgentResponse(
        result=42,
        reasoning="counted",
        confidence=0.75,
        follow_up_suggestions=["show them"],
        execution_trace_id="t1",
    )
    text = ResponseFormatter().format_text(response)
    assert text.splitlines() == [
        "Status: completed",
        "Result: 42",
        "Reasoning: counted",
        "Confidence: 0.75",
        "Suggestions:",
        "  - show them",
        "Trace ID: t1",
    ]


def test_format_text_prefers_the_error_over_the_result():
    text = ResponseFormatter().format_text(AgentResponse(result=1, status="error", error="bad"))
    assert "Error: bad" in text and "Result" not in text
