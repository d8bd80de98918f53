"""A headless Chromium logged in to the test's Label Studio, for the tests that look at the labeling screen.

Debian's ``chromium`` is used (the ``chromium`` fixture of ``tests/conftest.py`` installs it when missing);
``playwright install`` is never used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import StudioServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def logged_in_page(chromium: Path, server: StudioServer) -> Iterator[Page]:
    """A 1440×1000 page of a fresh headless Chromium, logged in to ``server`` as its admin; closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{server.url}/user/login/")
            page.fill("#email", server.credentials.username)
            page.fill("#password", server.credentials.password)
            page.click("button.login-button")
            page.wait_for_url(lambda url: "/user/login" not in url, timeout=30_000)
            yield page
        finally:
            browser.close()
