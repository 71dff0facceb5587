"""Playwright fixtures: one Chromium per module (Debian's, never a downloaded one) and a page that records traffic."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class Traffic:
    """Every request a page made and every console error or uncaught exception it reported."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_clean(self, server_url: str) -> None:
        """No request left the server and the console stayed free of errors."""
        assert self.requests, "the page made no request at all"
        outside = [url for url in self.requests if not url.startswith(server_url + "/")]
        assert outside == [], f"requests outside {server_url}: {outside}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(browser):
    """open_page(**context_options) -> (page, traffic); contexts are closed at teardown."""
    contexts = []

    def factory(**options):
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        traffic = Traffic()
        page.on("request", lambda request: traffic.requests.append(request.url))
        page.on("console", lambda msg: traffic.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: traffic.errors.append(str(exc)))
        return page, traffic

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
