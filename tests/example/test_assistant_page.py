"""The refund assistant page (/shop/assistant/) in headless Chromium, against daphne.

The page posts an intent to the ``refunds`` stream, shows its Server-Sent Events, and
answers the mid-stream approval through ``/agents/runs/<id>/resume/``. Needs Debian's
``chromium`` and ``chromium-driver`` (``scripts/chromium.sh`` installs them) and
selenium; without them the tests are skipped, or fail when ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from urllib.parse import urlsplit

import pytest

from .browser import log_in
from .browser import wait as _wait
from .conftest import HOST

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chromium")]


def _log_in_and_open_assistant(driver, base: str, username: str = "ada") -> None:
    # Not logged in: Django's login page, which sends us back to the assistant after.
    log_in(driver, base, "/shop/assistant/", username)
    assert urlsplit(driver.current_url).path == "/shop/assistant/"


def _ask_for_refund(driver) -> int:
    """Send an intent, wait for the approval question; returns the order it names."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    intent = driver.find_element(By.ID, "intent")
    intent.clear()
    intent.send_keys("Please refund my last order")
    driver.find_element(By.ID, "send").click()
    _wait(driver, ec.element_to_be_clickable((By.ID, "approve")), "no approval was asked")
    assert driver.find_element(By.ID, "reject").is_displayed()
    prompt = driver.find_element(By.ID, "prompt").text
    match = re.fullmatch(r"Refund order #(\d+) \(\$[\d,]+\.\d\d\)\?", prompt)
    assert match, prompt
    return int(match.group(1))


def _result(driver):
    from selenium.webdriver.common.by import By

    return _wait(
        driver,
        lambda d: (element := d.find_element(By.ID, "result")).text and element,
        "no result was shown",
    )


def _events(driver) -> list[tuple[str, int, str]]:
    from selenium.webdriver.common.by import By

    return [
        (item.get_attribute("data-kind"), int(item.get_attribute("data-seq")), item.text)
        for item in driver.find_elements(By.CSS_SELECTOR, "#events > li")
    ]


def _assert_the_run_went_through_an_approval(events, decision: str) -> None:
    kinds = [kind for kind, _, _ in events]
    assert [seq for _, seq, _ in events] == list(range(len(events))), events
    assert kinds[0] == "thought"
    partials = kinds[1 : kinds.index("approval_requested")]
    assert partials and set(partials) == {"partial_result"}, kinds
    assert kinds[len(partials) + 1 :] == ["approval_requested", "approval_resolved", "final"]
    assert f"{decision} by ada" in events[-2][2]


def _status(shop, order_id: int) -> str:
    [(status,)] = shop.query("SELECT status FROM shop_order WHERE id = ?", order_id)
    return status


def test_approving_on_the_page_refunds_the_order(shop, browser):
    from selenium.webdriver.common.by import By

    _log_in_and_open_assistant(browser, shop.base)
    # Everything the page loads comes from the project itself.
    for element in browser.find_elements(By.CSS_SELECTOR, "script[src], link[href]"):
        url = element.get_attribute("src") or element.get_attribute("href")
        assert url.startswith((f"{shop.base}/static/shop/", "data:")), url
    order_id = _ask_for_refund(browser)
    assert _status(shop, order_id) in ("paid", "shipped")

    browser.find_element(By.ID, "approve").click()
    result = _result(browser)

    assert result.text.startswith(f"Order #{order_id} refunded: $"), result.text
    assert result.get_attribute("data-refunded") == "true"
    assert not browser.find_element(By.ID, "approval").is_displayed()
    _assert_the_run_went_through_an_approval(_events(browser), "approve")
    assert _status(shop, order_id) == "refunded"


def test_rejecting_on_the_page_leaves_the_order_alone(shop, browser):
    from selenium.webdriver.common.by import By

    _log_in_and_open_assistant(browser, shop.base)
    order_id = _ask_for_refund(browser)
    before = _status(shop, order_id)

    browser.find_element(By.ID, "reject").click()
    result = _result(browser)

    assert result.text == f"Refund of order #{order_id} declined; nothing was changed."
    assert result.get_attribute("data-refunded") == "false"
    _assert_the_run_went_through_an_approval(_events(browser), "reject")
    assert _status(shop, order_id) == before


class DroppingProxy:
    """A TCP relay in front of daphne whose open connections the test can cut."""

    def __init__(self, port: int) -> None:
        self.target = (HOST, port)
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[str] = []
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            with self._lock:
                self._open += [client, upstream]
            for source, sink, record in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pipe, args=(source, sink, record), daemon=True
                ).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if record and data[:4] in (b"GET ", b"POST"):
                    self.requests.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        """Cut every open connection, as a flaky network would."""
        with self._lock:
            connections, self._open = self._open, []
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()
        self.drop()


def test_the_page_follows_the_run_again_after_the_connection_drops(shop, browser):
    from selenium.webdriver.common.by import By

    proxy = DroppingProxy(urlsplit(shop.base).port)
    try:
        base = f"http://{HOST}:{proxy.port}"
        _log_in_and_open_assistant(browser, base)
        order_id = _ask_for_refund(browser)
        seen = len(_events(browser))

        proxy.drop()
        _wait(
            browser,
            lambda d: d.find_element(By.ID, "status").text == "Reconnected.",
            "the page did not reconnect",
        )
        assert any(
            re.fullmatch(rf"GET /agents/runs/\w+/events/\?since={seen - 1} HTTP/1.1", line)
            for line in proxy.requests
        ), proxy.requests
        browser.find_element(By.ID, "approve").click()
        result = _result(browser)
    finally:
        proxy.close()

    assert result.text.startswith(f"Order #{order_id} refunded: $"), result.text
    # Nothing shown twice, nothing missed across the reconnect.
    _assert_the_run_went_through_an_approval(_events(browser), "approve")
