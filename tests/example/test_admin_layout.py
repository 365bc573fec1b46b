"""Admin pages people work in, laid out so that what matters is on screen.

In headless Chromium against the example shop, at the sizes people use: the
approval page's decision (reason, Approve, Reject) is full width after the action
to review, its buttons visible and really clickable; the key columns of the
approvals list, the traces list and the dashboard's per-agent table are inside
the page at 1280 px, not behind a horizontal scrollbar.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .browser import log_in, wait

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chromium")]

APPROVALS = "/admin/agentic_django/approvalrequest/"
TRACES = "/admin/agentic_django/executiontrace/"
DASHBOARD = "/admin/agentic_django/agent/dashboard/"
SIZES = ((1280, 800), (1920, 1080))
#: Set to a folder to keep a screenshot of every page checked here (to look at them).
SHOTS = os.environ.get("AGENTIC_SCREENSHOTS")

SUPERUSER_SCRIPT = """
import django
django.setup()
from django.contrib.auth import get_user_model
get_user_model().objects.create_superuser("root", "root@example.com", "pw")
"""


@pytest.fixture(scope="module")
def pending(shop) -> str:
    """Ada asks to cancel one of her orders: a tool call waiting for a manager."""
    shop.python(SUPERUSER_SCRIPT)
    [(order_id,)] = shop.query(
        "SELECT o.id FROM shop_order o JOIN shop_customer c ON o.customer_id = c.id "
        "WHERE c.email = 'ada.lovelace@example.com' AND o.status IN ('pending', 'paid') "
        "ORDER BY o.id LIMIT 1"
    )
    status, body = shop.post("shopper", {"intent": f"cancel order {order_id}"}, user="ada")
    assert status == 202, body
    # Some history for the lists and the dashboard.
    for endpoint, intent in (("orders", "how many orders shipped?"), ("analytics", "revenue")):
        shop.post(endpoint, {"intent": intent}, user="ada")
    [(pk,)] = shop.query(
        "SELECT id FROM agentic_django_approvalrequest WHERE request_id = ?",
        body["approval_request"]["id"],
    )
    return str(pk)


def _resize(browser, width: int, height: int) -> None:
    """Make the viewport (not the window) exactly ``width`` by ``height``."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def _shot(browser, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


def _box(browser, element) -> dict[str, float]:
    return browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, right: r.right, top: r.top, width: r.width, height: r.height};",
        element,
    )


def _really_clickable(browser, element) -> bool:
    """The element itself is what a click at its centre would hit (nothing covers it)."""
    return browser.execute_script(
        "const el = arguments[0]; el.scrollIntoView({block: 'center'});"
        "const r = el.getBoundingClientRect();"
        "const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
        "return hit === el || el.contains(hit);",
        element,
    )


def test_the_decision_is_full_width_after_the_action_and_its_buttons_work(shop, browser, pending):
    from selenium.webdriver.common.by import By

    page = f"{APPROVALS}{pending}/change/"
    log_in(browser, shop.base, page, "manager")
    for width, height in SIZES:
        _resize(browser, width, height)
        browser.get(f"{shop.base}{page}")
        decision = browser.find_element(By.ID, "approval-decision")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", decision)
        _shot(browser, f"approval-{width}")
        content = browser.find_element(By.ID, "content-main")
        action = browser.find_element(By.CSS_SELECTOR, ".field-action_display")
        box, main = _box(browser, decision), _box(browser, content)
        # Full width of the main column, and after the action to review.
        assert box["width"] >= 0.9 * main["width"], (width, box, main)
        assert box["top"] >= _box(browser, action)["top"] + _box(browser, action)["height"] - 1
        for value, label in (("approve", "Approve"), ("reject", "Reject")):
            button = browser.find_element(By.CSS_SELECTOR, f'button[value="{value}"]')
            assert button.is_displayed() and button.text == label, (width, button.text)
            size = _box(browser, button)
            assert size["width"] >= 60 and size["height"] >= 20, (width, value, size)
            assert size["left"] >= 0 and size["right"] <= width, (width, value, size)
            assert _really_clickable(browser, button), (width, value)

    browser.find_element(By.ID, "id_decision_reason").send_keys("fine by me")
    browser.find_element(By.CSS_SELECTOR, 'button[value="approve"]').click()
    message = wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, "ul.messagelist li"),
        "the decision left no message",
    )[0].text
    assert message.startswith("Approved"), message
    [(status, reason)] = shop.query(
        "SELECT status, reason FROM agentic_django_approvalrequest WHERE id = ?", int(pending)
    )
    assert status in ("approved", "executing", "executed") and reason == "fine by me"


@pytest.mark.parametrize(
    ("path", "table", "columns"),
    [
        (APPROVALS, "#result_list", ("status", "requested by", "age", "decided by")),
        (TRACES, "#result_list", ("when", "status", "user", "duration", "cost")),
        (DASHBOARD, "#dashboard-agents-table", ("cost", "p50", "p95")),
    ],
)
def test_key_columns_are_on_screen_at_1280_pixels(shop, browser, pending, path, table, columns):
    from selenium.webdriver.common.by import By

    log_in(browser, shop.base, path, "root")
    _resize(browser, 1280, 800)
    browser.get(f"{shop.base}{path}")
    _shot(browser, f"columns-{path.strip('/').replace('/', '-')}")
    headers = browser.find_elements(By.CSS_SELECTOR, f"{table} thead th")
    texts = [header.text.strip().lower() for header in headers]
    # The box the table scrolls in: a column past its right edge is hidden.
    frame = _box(
        browser, browser.find_element(By.CSS_SELECTOR, f"{table}").find_element(By.XPATH, "./..")
    )
    assert frame["right"] <= 1280, frame
    for column in columns:
        [header] = [
            h
            for h, text in zip(headers, texts, strict=True)
            if text == column or text.startswith(f"{column} ")
        ]
        box = _box(browser, header)
        assert box["width"] > 0 and box["right"] <= frame["right"] + 1, (column, box, frame)
    page_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert page_width <= 1280, page_width
