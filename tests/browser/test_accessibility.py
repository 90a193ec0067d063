"""Keyboard and accessibility (issue 14, point 11) on every view, against the real service: axe-core finds no
serious or critical violation in the light or the dark theme, Tab reaches every control a user can see with a
visible focus ring, and nothing we made clickable is a mouse-only control.

The data: a tiny study on digits (SimCLR and supervised × 2 seeds, one epoch on 200 images) and a seed group of
two runs, so the runs list has a folded group, the run page a finished run with its evaluation panels, and
compare and the study page real charts and tables.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y

pytestmark = pytest.mark.browser

BASE = {"dataset": "digits", "epochs": 1, "max_train_samples": 200, "probe_epochs": 5, "tsne_samples": 20,
        "batch_size": 64}
ALL_CHARTS_DRAWN = """() => [...document.querySelectorAll('main .chart')]
  .filter((div) => div.checkVisibility()).every((div) => div.data)"""


@pytest.fixture(scope="module")
def http(service_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url, timeout=30, headers={"X-Requested-With": "tests"}) as client:
        yield client


def _wait_succeeded(http: httpx.Client, run_ids: list[int], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [http.get(f"/api/runs/{run_id}").json() for run_id in run_ids]
        statuses = {run["status"] for run in runs}
        if statuses <= {"succeeded", "failed", "canceled"}:
            assert statuses == {"succeeded"}, runs
            return
        time.sleep(0.5)
    raise TimeoutError(f"runs {run_ids} did not finish in {timeout} s")


@pytest.fixture(scope="module")
def study(http: httpx.Client) -> dict:
    """A finished two-cell, two-seed study and a finished seed group of two runs:
    {"id": study id, "run_ids": the study's runs, "group": the group's runs}."""
    body = {"name": "a11y", "base": BASE, "axes": {"method": ["simclr", "supervised"]}, "seeds": [0, 1]}
    response = http.post("/api/studies", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    group = http.post("/api/runs/group", json={"spec": {**BASE, "name": "seeds", "method": "simclr"}, "seeds": [0, 1]})
    assert group.status_code == 201, group.text
    run_ids = [run["id"] for run in created["runs"]]
    group_ids = [run["id"] for run in group.json()["items"]]
    _wait_succeeded(http, run_ids + group_ids)
    return {"id": created["id"], "run_ids": run_ids, "group": group_ids}


def _runs(page: Page, study: dict) -> None:
    page.goto("/")
    expect(page.locator("tr.group-fold")).to_have_count(1)
    page.get_by_test_id("group-toggle").click()  # a group's seeds shown: their rows are checked too
    expect(page.locator("tr.seed-row:visible")).to_have_count(2)


def _form(mode: str) -> Callable[[Page, dict], None]:
    def open_form(page: Page, study: dict) -> None:
        page.goto(f"/#/new{mode}")
        expect(page.get_by_test_id("field-dataset")).to_be_visible()
        page.locator("details.form-section").evaluate_all("sections => sections.forEach((s) => { s.open = true; })")
    return open_form


def _run(page: Page, study: dict) -> None:
    page.goto(f"/#/runs/{study['run_ids'][0]}")
    expect(page.get_by_test_id("confusion-chart")).to_be_visible(timeout=30_000)
    page.wait_for_function(ALL_CHARTS_DRAWN)


def _compare(page: Page, study: dict) -> None:
    page.goto(f"/#/compare?runs={','.join(map(str, study['group'] + study['run_ids'][:2]))}")
    page.wait_for_selector("main[data-painted]")
    page.wait_for_function(ALL_CHARTS_DRAWN)


def _studies(page: Page, study: dict) -> None:
    page.goto("/#/studies")
    expect(page.get_by_test_id("study-link")).to_have_count(1)


def _study(page: Page, study: dict) -> None:
    page.goto(f"/#/studies/{study['id']}")
    page.wait_for_selector("main[data-painted]")
    page.wait_for_function(ALL_CHARTS_DRAWN)


VIEWS: dict[str, Callable[[Page, dict], None]] = {
    "runs": _runs, "new-run": _form(""), "new-study": _form("?mode=study"), "run": _run, "compare": _compare,
    "studies": _studies, "study": _study,
}


def _assert_axe_clean(page: Page, view: str) -> None:
    """No serious or critical violation in either colour scheme."""
    found = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(300)  # charts restyle on the colour-scheme change
        found += [f"[{scheme}] {line}" for line in a11y.describe_violations(a11y.serious_violations(page)).splitlines()
                  if line]
    assert not found, f"axe-core on the {view} view:\n" + "\n".join(found)


def _assert_keyboard_reaches_everything(page: Page, view: str) -> None:
    stops = a11y.tab_through(page)
    assert stops and stops[0]["what"].startswith("<a> “Skip to content”"), stops[:2]
    assert len(stops) > 5, stops  # the skip link, the brand and the navigation, then the view's own controls
    missed = a11y.missed_by_tab(page)
    assert not missed, f"{view}: controls Tab never reaches: {missed}"
    no_ring = [stop["what"] for stop in stops if not stop["ring"]]
    assert not no_ring, f"{view}: focused by Tab without a visible focus ring: {no_ring}"
    assert all(stop["focusVisible"] for stop in stops), stops  # focused by the keyboard: :focus-visible
    mouse_only = a11y.mouse_only(page)
    assert not mouse_only, f"{view}: clickable but not a control for the keyboard: {mouse_only}"


def test_empty_runs_list(page: Page, http: httpx.Client) -> None:
    assert http.get("/api/runs").json()["total"] == 0, "this test needs a service without runs (runs first here)"
    a11y.install(page)
    page.goto("/")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    _assert_axe_clean(page, "empty runs list")
    _assert_keyboard_reaches_everything(page, "empty runs list")


@pytest.mark.parametrize("view", VIEWS)
def test_axe_finds_no_serious_violation(page: Page, study: dict, view: str) -> None:
    a11y.install(page)
    VIEWS[view](page, study)
    _assert_axe_clean(page, view)


@pytest.mark.parametrize("view", VIEWS)
def test_tab_reaches_every_control_with_a_focus_ring(page: Page, study: dict, view: str) -> None:
    a11y.install(page)
    VIEWS[view](page, study)
    _assert_keyboard_reaches_everything(page, view)


def _tab_to(page: Page, selector: str, limit: int = 300) -> None:
    """Press Tab until the element matching `selector` has focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement?.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_runs_list_works_from_the_keyboard(page: Page, study: dict) -> None:
    """Sort, unfold a seed group, open the Columns menu, select runs and compare them, all without the mouse."""
    page.goto("/")
    expect(page.locator("tr.group-fold")).to_have_count(1)
    page.evaluate("() => document.querySelector('.skip-link').focus()")
    _tab_to(page, "button.sort[data-sort=name]")
    page.keyboard.press("Enter")
    expect(page.locator("th[data-col=name]")).to_have_attribute("aria-sort", "ascending")

    _tab_to(page, "[data-testid=group-toggle]")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("group-toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("tr.seed-row:visible")).to_have_count(2)

    page.evaluate("() => document.querySelector('.skip-link').focus()")
    _tab_to(page, "[data-testid=columns-menu] summary")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("columns-menu")).to_have_attribute("open", "")
    page.keyboard.press("Escape")

    _tab_to(page, "[data-testid=group-select]")
    page.keyboard.press("Space")
    expect(page.get_by_test_id("selection-count")).to_have_text("2 selected")
    _tab_to(page, "[data-testid=compare-selected]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"#/compare\?runs={study['group'][0]},{study['group'][1]}$"))
