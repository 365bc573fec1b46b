"""Cross-user isolation over real HTTP: the ``analytics`` endpoint is the victim.

The model is scripted to answer an attacker's questions with hostile programs, and
static analysis is off in the serving process (``tests.example.hostile_llm``): the
programs get full Python, as the design rule assumes. Whatever they do — scan the
heap, walk frames, read what other executions left in IPC, signal everyone — a
victim's orders and results never show up in the attacker's response.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

VICTIM_EMAIL = "ada.lovelace@example.com"


def _victim_markers(shop) -> set[str]:
    """Strings that only the victim's data contains: her order ids and her name."""
    rows = shop.query(
        "SELECT o.id, c.name FROM shop_order o JOIN shop_customer c ON o.customer_id = c.id "
        "WHERE c.email = ?",
        VICTIM_EMAIL,
    )
    assert rows, "the seed data has orders for the victim"
    return {rows[0][1]} | {f"'id': {order_id}," for order_id, _ in rows}


def _ask(shop, user: str, question: str) -> tuple[int, dict]:
    return shop.post("analytics", {"intent": question}, user=user)


def test_the_victims_data_is_seen_by_the_victim_only(hostile_shop):
    markers = _victim_markers(hostile_shop)
    status, victim = _ask(hostile_shop, "ada", "top customers")
    assert status == 200, victim
    assert markers & set(json.dumps(victim["result"]).split('"'))  # her name is in her result

    for attack in ("heap", "ipc", "heap"):
        status, body = _ask(hostile_shop, "alan", f"revenue please, attack {attack}")
        text = json.dumps(body)
        assert status in (200, 403, 500), body
        assert not [m for m in markers if m in text], attack
        if status == 200:
            trace = hostile_shop.trace(body["execution_trace_id"])
            isolation = trace["harness_report"]["sandbox"]["isolation"]
            assert isolation["pristine"] and isolation["pid_namespace"], isolation


def test_an_attacker_planting_ipc_and_signalling_everyone_changes_nothing_for_the_victim(
    hostile_shop,
):
    _, expected = _ask(hostile_shop, "ada", "revenue by status")
    status, planted = _ask(hostile_shop, "alan", "revenue please, attack plant")
    assert status == 200, planted
    assert planted["result"]["segment"] == -1  # refused by the filter
    status, victim = _ask(hostile_shop, "ada", "revenue by status")
    assert status == 200, victim
    assert victim["result"] == expected["result"]
    status, harvested = _ask(hostile_shop, "alan", "revenue please, attack ipc")
    assert status == 200 and harvested["result"] == [], harvested
