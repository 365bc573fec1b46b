"""The shop's harness endpoints over real HTTP: analytics (codegen), shopper (tools), restock."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration


def test_analytics_runs_generated_code_over_the_callers_orders(shop):
    status, body = shop.post("analytics", {"intent": "revenue by status"}, user="ada")
    assert status == 200, body
    assert set(body["result"]) <= {"pending", "paid", "shipped", "cancelled", "refunded"}
    own = shop.query(
        "SELECT COUNT(*) FROM shop_order o JOIN shop_customer c ON o.customer_id = c.id "
        "WHERE c.email = 'ada.lovelace@example.com'"
    )[0][0]
    assert sum(row["orders"] for row in body["result"].values()) == own
    trace = shop.trace(body["execution_trace_id"])
    assert trace["harness_report"]["code_cache"] == "miss"
    assert trace["harness_report"]["sandbox"]["backend"] == "forkserver"
    assert "defaultdict" in trace["generated_code"]


def test_a_repeated_question_is_served_from_the_cache_without_an_llm_call(shop):
    question = {"intent": "what is my average order value?"}
    _, first = shop.post("analytics", question, user="alan")
    status, second = shop.post("analytics", question, user="alan")
    assert status == 200 and second["result"] == first["result"]
    assert shop.trace(second["execution_trace_id"])["harness_report"]["code_cache"] == "hit"
    calls = shop.query(
        "SELECT purpose FROM agentic_django_llmcall l JOIN agentic_django_executiontrace t "
        "ON l.trace_id = t.id WHERE t.trace_id = ?",
        second["execution_trace_id"],
    )
    assert ("code_generate",) not in calls
    # Another user asking the same question gets code generated from their own data.
    _, other = shop.post("analytics", question, user="ada")
    assert shop.trace(other["execution_trace_id"])["harness_report"]["code_cache"] == "miss"


def test_analytics_needs_an_authenticated_caller(shop):
    status, _ = shop.post("analytics", {"intent": "revenue by status"})
    assert status == 401


def test_the_shopper_searches_the_catalogue_through_its_orm_tool(shop):
    status, body = shop.post("shopper", {"intent": "show me lamps under 300"}, user="ada")
    assert status == 200, body
    assert body["result"].startswith("I found")
    trace = shop.trace(body["execution_trace_id"])
    [call] = trace["tool_calls"]
    assert call["tool"] == "search_products"
    assert call["arguments"]["filters"] == {"price__lte": 300.0, "name__icontains": "lamp"}
    assert trace["harness_report"]["loop"]["stop_reason"] == "final_answer"


def test_the_shopper_sees_only_the_callers_orders(shop):
    status, body = shop.post("shopper", {"intent": "show my recent orders"}, user="alan")
    assert status == 200, body
    ids = [int(part.split(",")[0]) for part in body["result"].split("id: ")[1:]]
    assert ids
    owners = {
        row[0]
        for row in shop.query(
            "SELECT c.email FROM shop_order o JOIN shop_customer c ON o.customer_id = c.id "
            f"WHERE o.id IN ({', '.join('?' * len(ids))})",
            *ids,
        )
    }
    assert owners == {"alan.turing@example.com"}


def test_cancelling_an_order_waits_for_a_manager_then_a_worker_carries_it_out(shop):
    [(order_id,)] = shop.query(
        "SELECT o.id FROM shop_order o JOIN shop_customer c ON o.customer_id = c.id "
        "WHERE c.email = 'ada.lovelace@example.com' AND o.status IN ('pending', 'paid') "
        "ORDER BY o.id LIMIT 1"
    )
    status, body = shop.post("shopper", {"intent": f"cancel order {order_id}"}, user="ada")
    assert status == 202, body
    assert body["status"] == "pending_approval"
    trace = shop.trace(body["execution_trace_id"])
    assert trace["status"] == "pending_approval"
    assert trace["checkpoint"]["kind"] == "tool_call"
    assert trace["checkpoint"]["loop"]["tool_call"]["arguments"] == {"order_id": order_id}

    url = body["approval_request"]["url"]
    # Ada may follow her request but not approve it; the manager may.
    assert shop.call(f"{url}decision/", {"decision": "approve"}, user="ada")[0] == 403
    status, decided = shop.call(f"{url}decision/", {"decision": "approve"}, user="manager")
    assert status == 200 and decided["status"] in ("approved", "executing", "executed")
    deadline = time.monotonic() + 60
    while (followed := shop.call(url, user="ada")[1])["status"] != "executed":
        assert followed["status"] in ("approved", "executing"), followed
        assert time.monotonic() < deadline, "the Celery worker did not carry it out"
        time.sleep(0.2)
    assert followed["result"].startswith(f"Order {order_id}")
    assert shop.query("SELECT status FROM shop_order WHERE id = ?", order_id) == [("cancelled",)]


def test_restock_runs_its_steps_then_pauses_before_ordering(shop):
    stock_before = shop.query("SELECT SUM(stock) FROM shop_product")
    status, body = shop.post("restock", {"intent": "restock below 50"}, user="manager")
    assert status == 202, body
    trace = shop.trace(body["execution_trace_id"])
    checkpoint = trace["checkpoint"]["workflow"]
    assert checkpoint["pending"] == ["place_orders"]
    assert set(checkpoint["completed_steps"]) == {
        "find_low_stock",
        "check_demand",
        "quote_suppliers",
        "summarize",
    }
    assert checkpoint["state"]["summary"].startswith("Proposal covering")
    assert shop.query("SELECT SUM(stock) FROM shop_product") == stock_before
    assert shop.post("restock", {"intent": "restock"}, user="ada")[0] == 403
