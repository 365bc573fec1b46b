"""The usage dashboard in admin, in headless Chromium against the example shop.

Ada asks a few agents questions (the demo LLM's calls are priced by the example
settings), then an auditor, a staff user allowed to view traces, opens the
dashboard from the agent list: the table lists the agents and the cost chart has
bars for today. The manager, staff without that permission, is refused.
"""

from __future__ import annotations

import pytest

from .browser import log_in, wait

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chromium")]

DASHBOARD = "/admin/agentic_django/agent/dashboard/"
AUDITOR_SCRIPT = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
User = get_user_model()
auditor = User.objects.create_user("auditor", "auditor@example.com", "pw", is_staff=True)
auditor.user_permissions.add(
    *Permission.objects.filter(codename__in=["view_executiontrace", "view_agent"])
)
"""


@pytest.fixture(scope="module")
def auditor(shop) -> str:
    """A staff user who may view traces and agents, added to the shop's database."""
    shop.python(AUDITOR_SCRIPT)
    return "auditor"


@pytest.fixture(scope="module")
def usage(shop) -> dict[str, float]:
    """Some agent requests with LLM calls; returns the recorded cost per agent."""
    for endpoint, intent in (
        ("orders", "how many orders were shipped in the last 30 days?"),
        ("analytics", "revenue by status"),
        ("shopper", "show me lamps under 300"),
    ):
        status, body = shop.post(endpoint, {"intent": intent}, user="ada")
        assert status == 200, body
    rows = shop.query(
        "SELECT endpoint_name, SUM(CAST(cost_usd AS REAL)) FROM agentic_django_llmcall "
        "GROUP BY endpoint_name"
    )
    return dict(rows)


def test_the_dashboard_shows_the_agents_and_todays_cost(shop, browser, auditor, usage):
    from selenium.webdriver.common.by import By

    assert usage.get("orders", 0) > 0 and usage.get("analytics", 0) > 0, usage
    [(today,)] = shop.query("SELECT DISTINCT date(created_at) FROM agentic_django_llmcall")

    log_in(browser, shop.base, "/admin/agentic_django/agent/", auditor)
    browser.find_element(By.CSS_SELECTOR, "a.agent-dashboard-link").click()
    wait(
        browser,
        lambda d: d.find_elements(By.ID, "dashboard-agents-table"),
        "the dashboard did not render its table",
    )

    assert browser.title.startswith("Agent usage")
    listed = {
        row.get_attribute("data-agent")
        for row in browser.find_elements(By.CSS_SELECTOR, "#dashboard-agents-table tbody tr")
    }
    assert {"orders", "analytics", "shopper"} <= listed
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart-cost svg rect.bar")
    todays = {
        bar.get_attribute("data-agent"): float(bar.get_attribute("data-value"))
        for bar in bars
        if bar.get_attribute("data-day") == today
    }
    assert todays.keys() >= {"orders", "analytics"}
    for agent, value in todays.items():
        assert value == pytest.approx(usage[agent], abs=1e-6)
        assert value > 0
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-requests svg rect.bar")
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-latency svg rect[data-percentile='p95']")
    # Everything the page loads comes from the app itself.
    for element in browser.find_elements(By.CSS_SELECTOR, "script[src], link[href]"):
        url = element.get_attribute("src") or element.get_attribute("href")
        assert url.startswith(f"{shop.base}/"), url


def test_the_dashboard_refuses_staff_who_may_not_view_traces(shop, browser):
    from selenium.webdriver.common.by import By

    log_in(browser, shop.base, DASHBOARD, "manager")

    assert "403" in browser.title or "Forbidden" in browser.page_source
    assert not browser.find_elements(By.ID, "dashboard-agents-table")
