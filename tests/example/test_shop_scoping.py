"""The example shop scopes every answer by the authenticated user and throttles LLM use."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.integration

ADA = "ada.lovelace@example.com"
ALAN = "alan.turing@example.com"


def test_a_customer_reads_only_their_own_orders_whatever_email_they_send(shop):
    status, body = shop.post(
        "orders", {"intent": "list my orders", "params": {"customer_email": ALAN}}, user="ada"
    )
    assert status == 200, body
    assert body["result"]["filters"]["customer_email"] == ADA
    [(own,)] = shop.query(
        "SELECT count(*) FROM shop_order o JOIN shop_customer c ON o.customer_id = c.id "
        "WHERE c.email = ? AND o.created_at >= ?",
        ADA,
        body["result"]["since"].replace("T", " ").removesuffix("Z"),
    )
    assert body["result"]["count"] == own
    # An email in the text is no more trusted than one in the params.
    status, body = shop.post("orders", {"intent": f"orders of {ALAN}"}, user="ada")
    assert status == 200, body
    assert body["result"]["filters"]["customer_email"] == ADA


def test_staff_may_choose_a_customer(shop):
    status, body = shop.post(
        "orders", {"intent": "list orders", "params": {"customer_email": ALAN}}, user="manager"
    )
    assert status == 200, body
    assert body["result"]["filters"]["customer_email"] == ALAN


def test_the_assistant_counts_the_signed_in_users_orders_not_a_claimed_email(shop):
    status, body = shop.post("assistant", {"intent": f"my email is {ALAN}"}, user="ada")
    assert status == 200, body
    session = body["session_id"]
    status, body = shop.post(
        "assistant", {"intent": "how many orders do I have?", "session_id": session}, user="ada"
    )
    assert status == 200, body
    [(own,)] = shop.query(
        "SELECT count(*) FROM shop_order o JOIN shop_customer c ON o.customer_id = c.id "
        "WHERE c.email = ?",
        ADA,
    )
    assert body["result"]["reply"] == f"You have {own} order(s)."


@pytest.mark.parametrize("max_price", [1.6e308, -1, 12345678901234])
def test_the_catalog_refuses_prices_out_of_range_with_400(shop, max_price):
    status, body = shop.post(
        "catalog", {"intent": "lamps", "params": {"max_price": max_price}}, user="ada"
    )
    assert status == 400, body
    assert "max_price" in json.dumps(body["errors"])


THROTTLE_SCRIPT = """
import django, json
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username="ada"))
statuses = []
for _ in range(3):
    response = client.post("/agents/catalog/", {"intent": "lamps"}, content_type="application/json")
    statuses.append((response.status_code, response.headers.get("Retry-After")))
bench = client.post("/agents/bench/", {"intent": "x"}, content_type="application/json")
print(json.dumps({"statuses": statuses, "bench": bench.status_code}))
"""


def test_llm_backed_endpoints_are_throttled_per_user(shop):
    env = {**shop.env, "LLM_THROTTLE_RATE": "2/minute", "ALLOWED_HOSTS": "testserver"}
    out = subprocess.run(
        [sys.executable, "-c", THROTTLE_SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert [status for status, _ in result["statuses"]] == [200, 200, 429]
    assert result["statuses"][-1][1] is not None
    # The benchmark endpoint calls no LLM of its own and is not throttled.
    assert result["bench"] == 200


def test_the_demo_runs_without_debug_unless_asked():
    script = "from example_project import settings; print(settings.DEBUG)"
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    env["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.stdout.strip() == "False", run.stderr
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
    )
    assert run.stdout.strip() == "True", run.stderr
