"""Fixtures: the real service (API + one Celery worker, embedded broker, SQLite) and Chromium via Playwright.

Set CONTRASTLAB_URL to test a service that is already running instead of starting one, CHROMIUM
to use another browser binary, and CONTRASTLAB_SHOTS to choose where screenshots go.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, start_service


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a fresh service (no runs yet) for each test module, stopped after it."""
    external = os.environ.get("CONTRASTLAB_URL")
    if external:
        yield external.rstrip("/")
        return
    stack = start_service(tmp_path_factory.mktemp("contrastlab") / "data")
    try:
        yield stack.url
    finally:
        stack.stop()
        print(stack.all_logs())  # shown by pytest only when a test failed


@pytest.fixture(scope="module")
def http(service_url: str) -> Iterator[httpx.Client]:
    """An HTTP client of the module's service, as a script would call the API."""
    with httpx.Client(base_url=service_url, timeout=30, headers={"X-Requested-With": "tests"}) as client:
        yield client


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; install it (make system-deps) or set CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, service_url: str) -> Iterator[Page]:
    """A fresh page on the service; fails the test on any uncaught JavaScript error."""
    context = browser.new_context(base_url=service_url, viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
