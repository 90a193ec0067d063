"""Fixtures: the real service (API + one Celery worker, embedded broker, SQLite) and Chromium via Playwright, each
started once for the session; every module gets the service emptied of earlier modules' runs, every test a new
browser context (its own cookies and storage).

Set CONTRASTLAB_URL to test a service that is already running instead of starting one, CHROMIUM
to use another browser binary, and CONTRASTLAB_SHOTS to choose where screenshots go.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, empty_service, start_service
from tests.stack import Stack

# One thread per torch op: the worker shares two cores with Chromium, the API and pytest, and under that load
# one thread trains several times faster than two (the fault and CLI stacks set it for the same reason).
WORKER_ENV = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack | None]:
    """The real service (API + one worker), started once for every browser module; None for CONTRASTLAB_URL."""
    if os.environ.get("CONTRASTLAB_URL"):
        yield None
        return
    stack = start_service(tmp_path_factory.mktemp("contrastlab") / "data", **WORKER_ENV)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def service_url(service: Stack | None) -> Iterator[str]:
    """Base URL of the shared service, emptied of the runs and studies earlier modules left: each module starts on
    a service without runs, as on a fresh one, without paying for a new API, worker and browser."""
    if service is None:
        yield os.environ["CONTRASTLAB_URL"].rstrip("/")  # someone else's service: never emptied
        return
    with httpx.Client(base_url=service.url, timeout=30, headers={"X-Requested-With": "tests"}) as client:
        empty_service(client)
    yield service.url
    print(service.all_logs())  # shown by pytest only when a test failed


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


# expect()'s own wait (5 s by default), as long as the page's: a POST answered late on a busy machine (seen at a
# load average of 15 on 2 cores) is slow, not wrong.
expect.set_options(timeout=15_000)


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
