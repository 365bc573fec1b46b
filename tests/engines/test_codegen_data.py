"""What the program of a codegen=True endpoint gets as ``data``: the handler's or context_data's."""

from __future__ import annotations

import datetime
import decimal

import pytest
from django.contrib.auth import get_user_model

from agentic_django import Depends
from agentic_django.models import ExecutionTrace

from .conftest import program_reply

pytestmark = pytest.mark.django_db


def current_region():
    return "emea"


def test_context_data_is_called_instead_of_the_handler_with_injection(
    site, post, mock_llm, user, client
):
    calls = []

    def orders_of(intent, context, region: str = Depends(current_region)):
        calls.append((intent.raw, context.user.get_username(), region))
        return {"orders": [{"total": 3}, {"total": 4}], "region": region}

    @site.agent_endpoint("totals", codegen=True, context_data=orders_of)
    async def totals(intent, context):
        raise AssertionError("the handler does not run when context_data is given")

    client.force_login(user)
    mock_llm.add_structured_response(
        program_reply("result = [sum(o['total'] for o in data['orders']), data['region']]")
    )
    response = post("totals", {"intent": "total of my orders"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == [7, "emea"]
    assert calls == [("total of my orders", "alice", "emea")]
    assert '"emea"' in mock_llm.prompts[0].messages[0].content


def test_context_data_dependencies_can_be_overridden(site, post, mock_llm):
    def data(region: str = Depends(current_region)):
        return {"region": region}

    @site.agent_endpoint("regional", codegen=True, context_data=data)
    async def regional(intent, context):
        return None

    site.dependency_overrides[current_region] = lambda: "apac"
    mock_llm.add_structured_response(program_reply("result = data['region']"))
    assert post("regional", {"intent": "which region"}).json()["result"] == "apac"


def test_a_sync_context_data_may_use_the_orm(site, post, mock_llm, user, other_user):
    def usernames():
        return sorted(get_user_model().objects.values_list("username", flat=True))

    @site.agent_endpoint("people", codegen=True, context_data=usernames)
    async def people(intent, context):
        return None

    mock_llm.add_structured_response(program_reply("result = ', '.join(data)"))
    response = post("people", {"intent": "list the users"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == "alice, bob, carol"  # carol: the caller


def test_data_is_converted_to_json_before_the_program_sees_it(site, post, mock_llm):
    @site.agent_endpoint("ledger", codegen=True)
    async def ledger(intent, context):
        return {
            "when": datetime.date(2024, 5, 1),
            "amount": decimal.Decimal("12.50"),
            "tags": ("a", "b"),
        }

    mock_llm.add_structured_response(
        program_reply(
            "result = [isinstance(data['when'], str), isinstance(data['tags'], list), "
            "data['amount'], data['when']]"
        )
    )
    response = post("ledger", {"intent": "describe the ledger"})
    assert response.status_code == 200, response.json()
    result = response.json()["result"]
    assert result[:2] == [True, True]
    assert result[2] == "12.50"
    assert result[3] == "2024-05-01"
    assert "2024-05-01" in mock_llm.prompts[0].messages[0].content


def test_manual_autonomy_runs_the_handler_and_not_context_data(site, post, mock_llm):
    def data():
        raise AssertionError("context_data does not run under manual autonomy")

    @site.agent_endpoint("manual", codegen=True, context_data=data, autonomy_level="manual")
    async def manual(intent, context):
        return {"handled": True}

    response = post("manual", {"intent": "total of my orders"})
    assert response.status_code == 200, response.json()
    assert response.json()["result"] == {"handled": True}
    assert mock_llm.call_count == 0
    trace = ExecutionTrace.objects.get()
    assert trace.generated_code == "" and "code_cache" not in trace.harness_report


def test_an_error_in_context_data_is_a_generic_500(site, post, mock_llm):
    def data():
        raise RuntimeError("database password is hunter2")

    @site.agent_endpoint("broken", codegen=True, context_data=data)
    async def broken(intent, context):
        return None

    response = post("broken", {"intent": "total"})
    assert response.status_code == 500
    assert response.json()["error"] == "Internal server error"
    assert "hunter2" not in response.content.decode()
    assert mock_llm.call_count == 0
    assert "hunter2" in ExecutionTrace.objects.get().error
