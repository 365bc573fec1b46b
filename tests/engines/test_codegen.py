"""codegen=True endpoints over HTTP: generated code through the harness and the sandbox."""

from __future__ import annotations

import pytest

from agentic_django.harness import CodePolicy, ResourcePolicy
from agentic_django.models import CodeCacheEntry, ExecutionTrace, LLMCall

from .conftest import program_reply

pytestmark = pytest.mark.django_db

ORDERS = [{"id": 1, "total": 10.5}, {"id": 2, "total": 4.5}]


def register(site, **options):
    @site.agent_endpoint("totals", codegen=True, **options)
    async def totals(intent, context):
        """Answers questions about order totals."""
        return {"orders": ORDERS}


def test_generated_code_runs_in_the_sandbox_and_the_trace_shows_every_stage(
    site, post, mock_llm, client, user
):
    client.force_login(user)
    register(site)
    mock_llm.add_structured_response(
        program_reply("result = sum(o['total'] for o in data['orders'])")
    )
    response = post("totals", {"intent": "what is the total of my orders"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["result"] == 15.0
    assert body["generated_code"].startswith("result = sum(")
    assert body["reasoning"] == "sums the totals"
    # The prompt carried the data sample and the sandbox contract.
    [prompt] = mock_llm.prompts
    assert "10.5" in prompt.messages[0].content and "`json`" in prompt.system
    trace = ExecutionTrace.objects.get(trace_id=body["execution_trace_id"])
    assert trace.generated_code == body["generated_code"]
    report = trace.harness_report
    assert report["engine"] == "codegen" and report["code_cache"] == "miss"
    assert report["static_analysis"]["ok"] is True
    assert report["sandbox"]["backend"] == "forkserver"
    assert [m["monitor"] for m in report["monitors"]] == ["wall_time", "output_size"]
    assert all(v["ok"] for v in report["validators"])
    assert LLMCall.objects.get().purpose == "code_generate"


def test_static_analysis_blocks_an_escape_before_it_runs(site, post, mock_llm):
    register(site)
    mock_llm.add_structured_response(
        program_reply("result = __builtins__['__imp' + 'ort__']('os').environ")
    )
    response = post("totals", {"intent": "show totals"})
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == "policy_denied"
    assert body["details"]["policy"] == "static_analysis"
    trace = ExecutionTrace.objects.get()
    assert trace.status == "policy_denied"
    assert "__builtins__" in trace.generated_code
    assert "sandbox" not in trace.harness_report
    assert trace.policy_evaluations[-1]["results"][0]["policy_name"] == "static_analysis"
    assert CodeCacheEntry.objects.count() == 0


def test_endpoint_policies_apply_on_top_of_the_defaults(site, post, mock_llm, settings):
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "DEFAULT_POLICIES": [CodePolicy(max_code_lines=50)],
    }
    register(site, policies=[CodePolicy(allowed_modules=["math"])])
    mock_llm.add_structured_response(program_reply("import json\nresult = json.dumps(data)"))
    response = post("totals", {"intent": "show totals"})
    assert response.status_code == 403
    assert response.json()["details"]["policy"] == "CodePolicy"
    evaluation = ExecutionTrace.objects.get().policy_evaluations[-1]
    assert evaluation["stage"] == "code"
    # Both ran: the default (which allows json) and the endpoint's (which does not).
    assert [r["allowed"] for r in evaluation["results"]] == [True, False]
    assert "json" in evaluation["results"][1]["violations"][0]


def test_resource_policy_limits_are_enforced_by_the_sandbox(site, post, mock_llm):
    register(site, policies=[ResourcePolicy(max_cpu_seconds=1, max_wall_seconds=2)])
    mock_llm.add_structured_response(program_reply("while True:\n    pass\nresult = 1"))
    response = post("totals", {"intent": "show totals"})
    assert response.status_code == 403
    assert response.json()["details"]["violations"] in (["cpu_time"], ["wall_time"])
    trace = ExecutionTrace.objects.get()
    assert trace.status == "policy_denied"


def test_code_that_raises_is_a_500_with_the_exception(site, post, mock_llm):
    register(site)
    mock_llm.add_structured_response(program_reply("result = data['missing']"))
    response = post("totals", {"intent": "show totals"})
    assert response.status_code == 500
    assert "KeyError" in response.json()["error"]
    assert ExecutionTrace.objects.get().status == "error"
    assert CodeCacheEntry.objects.count() == 0


def test_a_cache_hit_skips_the_llm_but_not_the_sandbox(site, post, mock_llm, user, client):
    register(site)
    client.force_login(user)
    mock_llm.add_structured_response(program_reply("result = len(data['orders'])"))
    first = post("totals", {"intent": "how many orders"})
    second = post("totals", {"intent": "how many orders"})
    assert first.json()["result"] == second.json()["result"] == 2
    assert mock_llm.call_count == 1
    hit = ExecutionTrace.objects.get(trace_id=second.json()["execution_trace_id"])
    assert hit.harness_report["code_cache"] == "hit"
    assert hit.harness_report["sandbox"]["backend"] == "forkserver"
    assert not hit.llm_calls.exists()
    entry = CodeCacheEntry.objects.get()
    assert (entry.hits, entry.scope) == (1, f"user:{user.pk}")
