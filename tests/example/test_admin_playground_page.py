"""The staff playground in admin, in headless Chromium against the example shop under daphne.

Staff pick an agent, send an intent and watch the answer: the JSON body of a plain
agent, or the live events of the streaming ``refunds`` agent, with its mid-stream
approval answered from the page; the trace link opens the trace in admin. Needs
Debian's ``chromium`` and ``chromium-driver`` (``scripts/chromium.sh``) and selenium.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from .browser import log_in, wait

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chromium")]

PLAYGROUND = "/admin/agentic_django/agent/playground/"
SCRIPT = "<img src=x onerror=document.title='pwned'>"

#: The manager of the shop fixture may view agents, traces and approval requests; the
#: operator too, and is the customer with the most recent refundable order (by e-mail).
GRANTS_SCRIPT = """
import json
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from example_project.shop.models import Order
User = get_user_model()
viewing = Permission.objects.filter(
    content_type__app_label="agentic_django",
    codename__in=["view_agent", "view_executiontrace", "view_approvalrequest"],
)
User.objects.get(username="manager").user_permissions.add(*viewing)
order = (
    Order.objects.filter(status__in=["paid", "shipped"])
    .select_related("customer")
    .order_by("-created_at", "-pk")
    .first()
)
operator = User.objects.create_user("operator", order.customer.email, "pw", is_staff=True)
operator.user_permissions.add(*viewing)
print(json.dumps({"order": order.pk}))
"""

SWITCH_SCRIPT = """
import sys
import django
django.setup()
from agentic_django.models import Agent
Agent.objects.update_or_create(name=sys.argv[1], defaults={"enabled": sys.argv[2] == "on"})
"""


@pytest.fixture(scope="module")
def refundable_order(shop) -> int:
    """Grants the viewing permissions; the order the operator's refund will be about."""
    return json.loads(shop.python(GRANTS_SCRIPT))["order"]


def _open_playground(driver, base: str, username: str) -> None:
    log_in(driver, base, PLAYGROUND, username)
    assert urlsplit(driver.current_url).path == PLAYGROUND


def _send(driver, agent: str, intent: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "playground-agent")).select_by_value(agent)
    field = driver.find_element(By.ID, "playground-intent")
    field.clear()
    field.send_keys(intent)
    driver.find_element(By.ID, "playground-send").click()


def _answered(driver) -> tuple[int, dict | str]:
    """Wait for the HTTP status of the answer and its body; returns both."""
    from selenium.webdriver.common.by import By

    results = wait(
        driver,
        lambda d: (
            (element := d.find_element(By.ID, "playground-results")).get_attribute(
                "data-http-status"
            )
            and d.find_element(By.ID, "playground-body").text
            and element
        ),
        "no answer was shown",
    )
    text = driver.find_element(By.ID, "playground-body").text
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    return int(results.get_attribute("data-http-status")), body


def _events(driver) -> list[tuple[str, int, str]]:
    from selenium.webdriver.common.by import By

    return [
        (item.get_attribute("data-kind"), int(item.get_attribute("data-seq")), item.text)
        for item in driver.find_elements(By.CSS_SELECTOR, "#playground-events > li")
    ]


def _wait_for_event(driver, kind: str) -> list[tuple[str, int, str]]:
    wait(
        driver,
        lambda d: any(seen == kind for seen, _, _ in _events(d)),
        f"no {kind} event was shown",
    )
    return _events(driver)


def _trace_owner(shop, trace_id: str) -> str:
    [(username,)] = shop.query(
        "SELECT u.username FROM agentic_django_executiontrace t "
        "JOIN auth_user u ON u.id = t.user_id WHERE t.trace_id = ?",
        trace_id,
    )
    return username


def _follow_trace_link(driver, trace_id: str) -> None:
    from selenium.webdriver.common.by import By

    link = driver.find_element(By.ID, "playground-trace")
    assert trace_id in link.text
    link.click()
    wait(
        driver,
        lambda d: "/admin/agentic_django/executiontrace/" in urlsplit(d.current_url).path,
        "the trace link did not open the trace",
    )
    assert urlsplit(driver.current_url).path.endswith("/change/")
    assert trace_id in driver.find_element(By.ID, "content-main").text


def test_a_json_agent_answers_with_its_body_and_a_link_to_its_trace(
    shop, browser, refundable_order
):
    from selenium.webdriver.common.by import By

    _open_playground(browser, shop.base, "manager")
    # Everything the page loads comes from the project itself.
    for element in browser.find_elements(By.CSS_SELECTOR, "script[src], link[href]"):
        url = element.get_attribute("src") or element.get_attribute("href")
        assert url.startswith(f"{shop.base}/static/"), url

    _send(browser, "orders", "how many orders were shipped?")
    info = browser.find_element(By.ID, "playground-agent-info").text
    assert info.startswith("Questions about orders") and "answers JSON" in info
    status, body = _answered(browser)

    assert status == 200, body
    assert body["status"] == "completed"
    assert body["result"]["filters"]["status"] == "shipped"
    assert body["result"]["count"] == body["result"]["by_status"].get("shipped", 0)
    assert (
        browser.find_element(By.ID, "playground-session").get_attribute("value")
        == (body["session_id"])
    )
    # The agent ran as the staff user who sent it, through the public API.
    assert _trace_owner(shop, body["execution_trace_id"]) == "manager"
    _follow_trace_link(browser, body["execution_trace_id"])


def test_the_reply_session_continues_the_conversation(shop, browser, refundable_order):
    from selenium.webdriver.common.by import By

    _open_playground(browser, shop.base, "manager")
    _send(browser, "assistant", "my name is Grace")
    status, first = _answered(browser)
    assert status == 200, first
    session = browser.find_element(By.ID, "playground-session").get_attribute("value")
    assert session == first["session_id"]

    _send(browser, "assistant", "what do you remember?")
    status, second = _answered(browser)

    assert status == 200, second
    assert second["session_id"] == session
    assert "name: Grace" in second["result"]["reply"]


def test_a_streamed_run_shows_its_events_live_and_takes_the_approval(
    shop, browser, refundable_order
):
    from selenium.webdriver.common.by import By

    _open_playground(browser, shop.base, "operator")
    _send(browser, "refunds", "Please refund my last order")

    # The run waits for a decision: everything before the question is already on the page.
    asked = _wait_for_event(browser, "approval_requested")
    kinds = [kind for kind, _, _ in asked]
    assert [seq for _, seq, _ in asked] == list(range(len(asked))), asked
    assert kinds[0] == "thought" and kinds[-1] == "approval_requested"
    assert set(kinds[1:-1]) == {"partial_result"}, kinds
    assert f"Refund order #{refundable_order} (" in asked[-1][2]
    reply = browser.find_element(By.ID, "playground-reply").text
    assert reply.startswith(f"Your most recent order is #{refundable_order}"), reply
    assert "A refund would return $" in reply
    browser.find_element(By.ID, "playground-reply-lines").click()
    pieces = browser.find_element(By.ID, "playground-reply").text.split("\n")
    assert len(pieces) == kinds.count("partial_result"), pieces
    assert pieces[-1].startswith("A refund would return $")
    approval_id = json.loads(asked[-1][2].split(" ", 2)[2])["approval_id"]
    link = browser.find_element(By.ID, "playground-approval-link")
    assert link.get_attribute("href").endswith(
        f"/admin/agentic_django/approvalrequest/?request_id={approval_id}"
    )
    prompt = browser.find_element(By.ID, "playground-approval-prompt").text
    assert prompt.startswith(f"Refund order #{refundable_order} (")
    assert "final" not in kinds

    browser.find_element(
        By.CSS_SELECTOR, "#playground-approval-options button[data-decision=approve]"
    ).click()
    events = _wait_for_event(browser, "final")

    assert [kind for kind, _, _ in events][len(asked) :] == ["approval_resolved", "final"]
    assert "approve" in events[-2][2] and "operator" in events[-2][2]
    assert not browser.find_element(By.ID, "playground-approval").is_displayed()
    results = browser.find_element(By.ID, "playground-results")
    assert results.get_attribute("data-outcome") == "completed"
    final = json.loads(browser.find_element(By.ID, "playground-body").text)
    assert final["refunded"] is True and final["order"] == refundable_order
    [(order_status,)] = shop.query("SELECT status FROM shop_order WHERE id = ?", refundable_order)
    assert order_status == "refunded"
    [(trace_id,)] = shop.query(
        "SELECT trace_id FROM agentic_django_executiontrace WHERE endpoint_name = 'refunds' "
        "ORDER BY id DESC LIMIT 1"
    )
    assert _trace_owner(shop, trace_id) == "operator"
    _follow_trace_link(browser, trace_id)


def test_a_streamed_run_without_a_question_ends_with_its_final_event(
    shop, browser, refundable_order
):
    from selenium.webdriver.common.by import By

    # The manager is no customer: the refunds agent says so and ends at once.
    _open_playground(browser, shop.base, "manager")
    info = browser.find_element(By.ID, "playground-agent-info")
    _send(browser, "refunds", "Refund please")
    assert "streams events (sse)" in info.text

    events = _wait_for_event(browser, "final")

    assert [kind for kind, _, _ in events] == ["thought", "partial_result", "final"]
    assert browser.find_element(By.ID, "playground-reply").text == (
        "I found no paid or shipped order of yours to refund."
    )
    assert browser.find_element(By.ID, "playground-status").text.startswith("HTTP 200")
    assert browser.find_element(By.ID, "playground-trace").is_displayed()


def test_server_data_is_shown_as_text_never_as_markup(shop, browser, refundable_order):
    from selenium.webdriver.common.by import By

    _open_playground(browser, shop.base, "manager")
    title = browser.title

    _send(browser, "bench", SCRIPT)
    status, body = _answered(browser)
    assert status == 200, body
    assert body["result"]["echo"] == SCRIPT

    _send(browser, "refunds", SCRIPT)
    events = _wait_for_event(browser, "final")
    assert SCRIPT in events[0][2]

    assert not browser.find_elements(By.CSS_SELECTOR, "#playground-results img")
    assert browser.title == title


def test_a_disabled_agent_is_marked_and_answers_503(shop, browser, refundable_order):
    from selenium.webdriver.common.by import By

    shop.python(SWITCH_SCRIPT, "catalog", "off")
    try:
        _open_playground(browser, shop.base, "manager")
        option = browser.find_element(By.CSS_SELECTOR, "#playground-agent option[value=catalog]")
        assert option.text == "catalog — disabled"

        _send(browser, "catalog", "show me walnut lamps")
        info = browser.find_element(By.ID, "playground-agent-info")
        assert "disabled" in info.text
        status, body = _answered(browser)
    finally:
        shop.python(SWITCH_SCRIPT, "catalog", "on")

    assert status == 503, body
    assert body["status"] == "agent_disabled"
