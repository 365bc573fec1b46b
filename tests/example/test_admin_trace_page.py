"""The trace inspector in admin, in headless Chromium, against the example shop on daphne.

An analytics question makes the demo LLM generate code; a staff member allowed to
view traces opens that trace in admin and sees its sections, the code highlighted
by the app's own stylesheet, and the LLM calls; the changelist's export link
downloads the same traces as CSV.
"""

from __future__ import annotations

import csv
import io

import pytest

from .browser import log_in, wait

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chromium")]

INSPECTOR_SCRIPT = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
inspector = get_user_model().objects.create_user("inspector", password="pw", is_staff=True)
inspector.user_permissions.add(*Permission.objects.filter(
    content_type__app_label="agentic_django",
    codename__in=["view_executiontrace", "view_llmcall", "view_agentrun", "view_agentsession"],
))
"""


@pytest.fixture(scope="module")
def inspector(shop) -> str:
    """A staff member of the shop who may view traces (and nothing else of note)."""
    shop.python(INSPECTOR_SCRIPT)
    return "inspector"


@pytest.fixture(scope="module")
def analytics_trace(shop) -> tuple[int, str]:
    """The primary key and trace id of an analytics request that ran generated code."""
    status, body = shop.post("analytics", {"intent": "how many orders per status?"}, user="ada")
    assert status == 200, body
    trace_id = body["execution_trace_id"]
    [(pk,)] = shop.query(
        "SELECT id FROM agentic_django_executiontrace WHERE trace_id = ?", trace_id
    )
    return pk, trace_id


def test_the_trace_page_shows_its_sections_and_highlighted_code(
    browser, shop, inspector, analytics_trace
):
    from selenium.webdriver.common.by import By

    pk, trace_id = analytics_trace
    log_in(browser, shop.base, f"/admin/agentic_django/executiontrace/{pk}/change/", inspector)
    for section in ("related", "intent", "outcome", "policies", "code", "harness", "llm-calls"):
        assert browser.find_element(By.ID, f"trace-{section}").is_displayed(), section
    assert "how many orders per status?" in browser.find_element(By.ID, "trace-intent").text
    assert trace_id in browser.find_element(By.CSS_SELECTOR, "#content").text

    code = browser.find_element(By.CSS_SELECTOR, "#trace-code pre.trace-code")
    assert "defaultdict" in code.text
    keywords = [span.text for span in code.find_elements(By.CSS_SELECTOR, "span.tok-kw")]
    assert {"from", "import", "for", "in"} <= set(keywords)
    builtins = {span.text for span in code.find_elements(By.CSS_SELECTOR, "span.tok-builtin")}
    assert {"round", "sorted"} <= builtins
    assert code.find_elements(By.CSS_SELECTOR, "span.tok-string")
    # The colours come from the app's stylesheet, served by the shop itself.
    first_keyword = code.find_element(By.CSS_SELECTOR, "span.tok-kw")
    assert first_keyword.value_of_css_property("color") in (
        "rgb(166, 38, 164)",
        "rgba(166, 38, 164, 1)",
    )

    calls = browser.find_elements(By.CSS_SELECTOR, "#trace-llm-calls tbody tr.trace-llm-call")
    purposes = {row.find_element(By.TAG_NAME, "td").text for row in calls}
    assert "Code generation" in purposes
    totals = browser.find_element(By.CSS_SELECTOR, "#trace-llm-calls tfoot").text
    assert f"Total of {len(calls)} call" in totals

    harness = browser.find_element(By.ID, "trace-harness").text
    assert "code_cache" in harness and "sandbox" in harness


def test_the_export_link_downloads_the_filtered_traces(browser, shop, inspector, analytics_trace):
    from selenium.webdriver.common.by import By

    _pk, trace_id = analytics_trace
    log_in(browser, shop.base, "/admin/agentic_django/executiontrace/?username=ada", inspector)
    link = wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, "a.trace-export"),
        "the changelist has no export link",
    )
    assert link.get_attribute("href").endswith("/export/?username=ada")
    # Fetch it as the logged-in browser would, to read the CSV rather than save it.
    body = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text()).then(done, e => done(String(e)));",
        link.get_attribute("href"),
    )
    header, *rows = csv.reader(io.StringIO(body))
    assert header[:5] == ["created_at", "trace_id", "endpoint_name", "user", "status"]
    assert trace_id in {row[1] for row in rows}
    assert {row[3] for row in rows} == {"ada"}
