"""Operating the example shop's agents from Django admin, in headless Chromium under daphne.

A staff user switches an agent off and its customers are refused (503), switches it
on again, then sets the analytics agent to "manual" and its generated code waits
for approval; each change is in the agent's history on its page.
"""

from __future__ import annotations

import pytest

from .browser import log_in, wait

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chromium")]

AGENTS = "/admin/agentic_django/agent/"

OPERATOR_SCRIPT = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
operator = get_user_model().objects.create_user("oncall", "oncall@example.com", "pw", is_staff=True)
operator.user_permissions.add(*Permission.objects.filter(
    content_type__app_label="agentic_django",
    codename__in=["view_agent", "change_agent", "toggle_agent"],
))
"""


@pytest.fixture(scope="module")
def operator(shop) -> str:
    shop.python(OPERATOR_SCRIPT)
    return "oncall"


def _run_action(driver, agent: str, action: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(driver.current_url.split("?")[0])
    row = driver.find_element(By.XPATH, f"//tr[.//a[text()='{agent}']]")
    row.find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(driver.find_element(By.NAME, "action")).select_by_value(action)
    driver.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    return wait(
        driver,
        lambda d: (
            (messages := d.find_elements(By.CSS_SELECTOR, "ul.messagelist li")) and messages[0].text
        ),
        "the action left no message",
    )


def test_switching_an_agent_off_and_on_from_admin(shop, browser, operator):
    log_in(browser, shop.base, AGENTS, operator)

    message = _run_action(browser, "orders", "switch_off")
    assert message.startswith("1 agent switched off"), message
    status, body = shop.post("orders", {"intent": "how many orders shipped?"}, user="ada")
    assert (status, body["status"]) == (503, "agent_disabled"), body

    message = _run_action(browser, "orders", "switch_on")
    assert message.startswith("1 agent switched on"), message
    status, body = shop.post("orders", {"intent": "how many orders shipped?"}, user="ada")
    assert status == 200, body


def test_setting_an_agent_to_manual_makes_its_actions_wait_for_approval(shop, browser, operator):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    status, body = shop.post("analytics", {"intent": "revenue by status"}, user="ada")
    assert status == 200, body

    log_in(browser, shop.base, AGENTS, operator)
    browser.find_element(By.LINK_TEXT, "analytics").click()
    Select(browser.find_element(By.NAME, "autonomy_level")).select_by_value("manual")
    browser.find_element(By.NAME, "notes").send_keys("manual while we review the sandbox")
    browser.find_element(By.NAME, "_continue").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "ul.messagelist li"), "not saved")

    history = browser.find_element(By.CSS_SELECTOR, ".field-recent_changes").text
    assert "autonomy override: as in code → manual" in history
    assert operator in history

    status, body = shop.post("analytics", {"intent": "revenue by status"}, user="ada")
    assert status == 202, body
    assert body["status"] == "pending_approval"
    assert body["approval_request"]["kind"] == "code"
