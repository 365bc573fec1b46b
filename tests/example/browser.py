"""Driving headless Chromium against the example shop: waits and logging in.

The ``chromium`` and ``browser`` fixtures live in ``conftest.py``; browser test
modules add ``pytest.mark.usefixtures("chromium")`` so a machine without a browser
skips them (or fails them when ``CI`` is set) before the shop starts.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Only a guard against a hang: every wait ends as soon as the page gets there.
WAIT_SECONDS = 60


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'selenium is not installed (pip install "selenium>=4.15")'
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if absent:
        return f"{' and '.join(absent)} missing: run scripts/chromium.sh"
    return None


def wait(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(condition, message)


def log_in(driver, base: str, path: str, username: str, password: str = "pw") -> None:
    """Open ``path``, which sends us to a login form (the site's or the admin's), and log in."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}{path}")
    assert urlsplit(driver.current_url).path != urlsplit(f"{base}{path}").path, (
        f"{path} did not ask for a login"
    )
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
    wait(
        driver,
        lambda d: urlsplit(d.current_url).path == urlsplit(f"{base}{path}").path,
        f"the login did not lead back to {path}",
    )
