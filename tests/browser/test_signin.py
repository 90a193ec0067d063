"""Sign-in on a server with API_TOKEN: the page asks once, refuses a wrong token, and after too many wrong
ones says how long to wait (AUTH_FAILURES_PER_MINUTE)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import a11y
from tests.browser.helpers import VIEWPORT
from tests.stack import Stack

TOKEN = "browser-signin-token-7f3a"


@pytest.fixture(scope="module")
def guarded_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    stack = Stack(tmp_path_factory.mktemp("signin") / "data", API_TOKEN=TOKEN, AUTH_FAILURES_PER_MINUTE="2")
    try:
        stack.start_api()
        yield stack.url
    finally:
        stack.stop()


def fresh_page(browser: Browser, url: str) -> Page:
    page = browser.new_context(base_url=url, viewport=VIEWPORT).new_page()
    page.set_default_timeout(15_000)
    page.goto("/")
    return page


def sign_in(page: Page, token: str) -> int:
    """Submit the token; returns the status of the login request."""
    page.get_by_test_id("signin-token").fill(token)
    with page.expect_response("**/api/login") as response:
        page.get_by_test_id("signin-submit").click()
    return response.value.status


def test_the_page_asks_for_the_token_once_and_refuses_a_wrong_one(browser: Browser, guarded_url: str) -> None:
    page = fresh_page(browser, guarded_url)
    expect(page.get_by_role("dialog", name="Sign in")).to_be_visible()
    assert sign_in(page, "not-the-token") == 401
    expect(page.locator("#signin-error")).to_have_text("That token was not accepted; check it and try again.")
    assert sign_in(page, TOKEN) == 200
    expect(page.get_by_role("dialog", name="Sign in")).to_have_count(0)
    expect(page.get_by_text("No runs yet")).to_be_visible()
    page.reload()  # the session cookie carries on: no second dialog
    expect(page.get_by_text("No runs yet")).to_be_visible()
    expect(page.get_by_role("dialog", name="Sign in")).to_have_count(0)
    session = {c["name"]: c["value"] for c in page.context.cookies()}
    assert TOKEN not in session.values()  # the cookie holds a session secret, not the token
    page.get_by_test_id("signout").click()
    expect(page.get_by_role("dialog", name="Sign in")).to_be_visible()
    with httpx.Client(base_url=guarded_url, cookies=session) as copy:  # a copy of the cookie, taken before
        assert copy.get("/api/runs").status_code == 401
    page.context.close()


def test_the_sign_in_dialog_passes_axe_and_holds_focus(browser: Browser, guarded_url: str) -> None:
    """No serious or critical axe-core violation in either theme; Tab goes round the token field and the button."""
    page = browser.new_context(base_url=guarded_url, viewport=VIEWPORT).new_page()
    a11y.install(page)
    page.goto("/")
    expect(page.get_by_role("dialog", name="Sign in")).to_be_visible()
    a11y.assert_axe_clean(page, "the sign-in dialog")
    stops = a11y.tab_within(page, "dialog.signin-dialog")
    assert {stop["what"].split(">")[0] for stop in stops} >= {"<input[data-testid=signin-token] type=password",
                                                              "<button[data-testid=signin-submit] type=submit"}, stops
    assert all(stop["ring"] and stop["focusVisible"] for stop in stops), stops
    page.context.close()


def test_too_many_wrong_tokens_say_when_to_try_again(browser: Browser, guarded_url: str) -> None:
    page = fresh_page(browser, guarded_url)
    error = page.locator("#signin-error")
    statuses = [sign_in(page, "guess")]  # the limit is 2 a minute (the test above may have spent one)
    expect(error).to_have_text("That token was not accepted; check it and try again.")
    while statuses[-1] != 429 and len(statuses) < 3:
        statuses.append(sign_in(page, "guess"))
    assert statuses[0] == 401 and statuses[-1] == 429
    expect(error).to_have_text(re.compile(r"^Too many wrong tokens from this computer; try again in \d+ s\.$"))
    # Wrong guesses never lock out a valid credential: the right token is still let in.
    assert sign_in(page, TOKEN) == 200
    expect(page.get_by_role("dialog", name="Sign in")).to_be_hidden()
    page.context.close()
