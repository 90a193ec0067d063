"""Keyboard and accessibility (issue 14, point 11) on every view, against the real service: axe-core finds no
serious or critical violation in the light or the dark theme, Tab reaches every control a user can see with a
visible focus ring, and nothing we made clickable is a mouse-only control.

The data: a tiny study on digits (SimCLR and supervised × 2 seeds, one epoch on 200 images) and a seed group of
two runs, so the runs list has a folded group, the run page a finished run with its evaluation panels, and
compare and the study page real charts and tables.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.helpers import wait_succeeded

pytestmark = pytest.mark.browser

BASE = {"dataset": "digits", "epochs": 1, "max_train_samples": 200, "probe_epochs": 5, "tsne_samples": 20,
        "batch_size": 64}
ALL_CHARTS_DRAWN = """() => [...document.querySelectorAll('main .chart')]
  .filter((div) => div.checkVisibility()).every((div) => div.data)"""



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
    wait_succeeded(http, run_ids + group_ids)
    return {"id": created["id"], "run_ids": run_ids, "group": group_ids}


def _runs(page: Page, study: dict) -> None:
    page.goto("/")
    expect(page.locator("tr.group-fold")).to_have_count(3)  # the seed group and the study's two cells
    page.locator(f"tr[data-group-id='{study['group'][0]}'] [data-testid=group-toggle]").click()  # its seeds too
    expect(page.locator("tr.seed-row:visible")).to_have_count(2)
    page.get_by_test_id("columns-menu").locator("summary").click()  # and the Columns menu's boxes
    expect(page.get_by_test_id("columns-menu").locator("input").first).to_be_visible()


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


def _workers(page: Page, study: dict) -> None:
    page.goto("/#/workers")
    expect(page.get_by_test_id("workers-table")).to_be_visible()


def _not_found(page: Page, study: dict) -> None:
    page.goto("/#/nowhere")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def _trashed_run(page: Page) -> int:
    """A run canceled while queued (no training) and moved to the trash, which the module's views never list."""
    headers = {"X-Requested-With": "tests", "Content-Type": "application/json"}
    run = page.request.post("/api/runs", data=json.dumps({**BASE, "name": "for the trash"}), headers=headers).json()
    page.request.post(f"/api/runs/{run['id']}/cancel", headers=headers)
    for _ in range(100):
        if page.request.delete(f"/api/runs/{run['id']}", headers=headers).status == 204:
            return int(run["id"])
        page.wait_for_timeout(200)  # a worker that claimed it first stops at its next report
    raise AssertionError(f"run {run['id']} did not stop")


def _trash(page: Page, study: dict) -> None:
    _trashed_run(page)
    page.goto("/#/?trashed=true")
    expect(page.get_by_test_id("row-restore").first).to_be_visible()
    expect(page.get_by_test_id("empty-trash")).to_be_enabled()


def _empty_trash_dialog(page: Page, study: dict) -> None:
    _trash(page, study)
    page.get_by_test_id("empty-trash").click()
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()


def _tsne_dialog(page: Page, study: dict) -> None:
    _compare(page, study)
    page.get_by_test_id("compare-tsne").first.press("Enter")
    expect(page.get_by_test_id("tsne-dialog")).to_be_visible()
    page.wait_for_function("() => document.querySelector('[data-testid=tsne-dialog] .js-plotly-plot')?.data")


VIEWS: dict[str, Callable[[Page, dict], None]] = {
    "runs": _runs, "new-run": _form(""), "new-study": _form("?mode=study"), "run": _run, "compare": _compare,
    "studies": _studies, "study": _study, "workers": _workers, "not-found": _not_found, "trash": _trash,
}
# name -> (open it, its test id, the control that opened it, where focus returns)
DIALOGS = {"empty-trash-dialog": (_empty_trash_dialog, "confirm-dialog", "[data-testid=empty-trash]"),
           "tsne-dialog": (_tsne_dialog, "tsne-dialog", "[data-testid=compare-tsne]")}


def _assert_keyboard_reaches_everything(page: Page, view: str) -> None:
    stops = a11y.tab_through(page)
    assert stops and stops[0]["what"].startswith("<a> “Skip to content”"), stops[:2]
    assert len(stops) > 5, stops  # the skip link, the brand and the navigation, then the view's own controls
    missed = a11y.missed_by_tab(page)
    assert not missed, f"{view}: controls Tab never reaches: {missed}"
    no_ring = [stop["what"] for stop in stops if not stop["ring"]]
    assert not no_ring, f"{view}: focused by Tab without a visible focus ring: {no_ring}"
    clipped = [f"{stop['what']} in {stop['clippedBy']}" for stop in stops if stop["clippedBy"]]
    assert not clipped, f"{view}: focus ring cut off by a scrolling box: {clipped}"
    assert all(stop["focusVisible"] for stop in stops), stops  # focused by the keyboard: :focus-visible
    mouse_only = a11y.mouse_only(page)
    assert not mouse_only, f"{view}: clickable but not a control for the keyboard: {mouse_only}"


def test_empty_runs_list(page: Page, http: httpx.Client) -> None:
    assert http.get("/api/runs").json()["total"] == 0, "this test needs a service without runs (runs first here)"
    a11y.install(page)
    page.goto("/")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    a11y.assert_axe_clean(page, "the empty runs list")
    _assert_keyboard_reaches_everything(page, "empty runs list")


@pytest.mark.parametrize("view", [*VIEWS, *DIALOGS])
def test_axe_finds_no_serious_violation(page: Page, study: dict, view: str) -> None:
    a11y.install(page)
    (VIEWS[view] if view in VIEWS else DIALOGS[view][0])(page, study)
    a11y.assert_axe_clean(page, f"the {view} view")


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
    group = f"tr[data-group-id='{study['group'][0]}']"
    page.goto("/")
    expect(page.locator(group)).to_have_count(1)
    page.evaluate("() => document.querySelector('.skip-link').focus()")
    _tab_to(page, "button.sort[data-sort=name]")
    page.keyboard.press("Enter")
    expect(page.locator("th[data-col=name]")).to_have_attribute("aria-sort", "ascending")

    _tab_to(page, f"{group} [data-testid=group-toggle]")
    page.keyboard.press("Enter")
    expect(page.locator(f"{group} [data-testid=group-toggle]")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("tr.seed-row:visible")).to_have_count(2)

    page.evaluate("() => document.querySelector('.skip-link').focus()")
    _tab_to(page, "[data-testid=columns-menu] summary")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("columns-menu")).to_have_attribute("open", "")
    page.keyboard.press("Escape")

    _tab_to(page, f"{group} [data-testid=group-select]")
    page.keyboard.press("Space")
    expect(page.get_by_test_id("selection-count")).to_have_text("2 selected")
    _tab_to(page, "[data-testid=compare-selected]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"#/compare\?runs={study['group'][0]},{study['group'][1]}$"))


@pytest.mark.parametrize("name", DIALOGS)
def test_dialog_holds_focus_and_escape_gives_it_back(page: Page, study: dict, name: str) -> None:
    """Tab stays in the open dialog, each stop with a focus ring; Escape closes it and focus returns to its opener."""
    open_dialog, testid, opener = DIALOGS[name]
    a11y.install(page)
    open_dialog(page, study)
    stops = a11y.tab_within(page, f"[data-testid={testid}]")
    assert stops and all(stop["ring"] and stop["focusVisible"] for stop in stops), stops
    page.keyboard.press("Escape")
    expect(page.get_by_test_id(testid)).to_have_count(0)
    assert page.evaluate("(s) => document.activeElement.matches(s)", opener), \
        page.evaluate(f"() => ({a11y.DESCRIBE})(document.activeElement)")


@pytest.fixture(scope="class")
def live(http: httpx.Client, study: dict) -> Iterator[dict]:
    """A run that trains for minutes and one queued behind it, both canceled after the class's tests."""
    submitted = [http.post("/api/runs", json=spec) for spec in (
        {**BASE, "name": "long", "epochs": 1000, "max_train_samples": None},  # all of digits: minutes of training
        {**BASE, "name": "waiting"})]
    assert all(response.status_code == 201 for response in submitted), [response.text for response in submitted]
    long, waiting = (response.json()["id"] for response in submitted)
    deadline = time.monotonic() + 120
    while http.get(f"/api/runs/{long}").json()["status"] != "running":
        assert time.monotonic() < deadline, "the long run did not start in 120 s"
        time.sleep(0.3)
    yield {"running": long, "queued": waiting}
    for run_id in (waiting, long):
        http.post(f"/api/runs/{run_id}/cancel")  # 409 once it has finished: nothing to do then


def _runs_live(page: Page, live: dict) -> None:
    page.goto("/")
    expect(page.locator(f"tr[data-run-id='{live['running']}'] [data-testid=row-status]")).to_have_text("running")
    expect(page.locator(f"tr[data-run-id='{live['queued']}'] [data-testid=row-status]")).to_have_text("queued")


def _run_live(which: str) -> Callable[[Page, dict], None]:
    def open_run(page: Page, live: dict) -> None:
        page.goto(f"/#/runs/{live[which]}")
        expect(page.get_by_test_id("run-status")).to_have_text("running" if which == "running" else "queued")
        # A queued run's page draws its (empty) charts and their tools too: after the status, on a loaded machine
        # after a Tab walk that started too early (a CI run missed the log-y and smoothing controls so).
        page.wait_for_function(ALL_CHARTS_DRAWN)
        expect(page.get_by_test_id("log-y").first).to_be_visible()
    return open_run


LIVE_VIEWS = {"runs": _runs_live, "running-run": _run_live("running"), "queued-run": _run_live("queued")}


class TestWhileRunsRun:
    """The views that change while a run trains or waits: live badges, progress, Cancel buttons, streaming charts."""

    @pytest.mark.parametrize("view", LIVE_VIEWS)
    def test_axe_finds_no_serious_violation(self, page: Page, live: dict, view: str) -> None:
        a11y.install(page)
        LIVE_VIEWS[view](page, live)
        a11y.assert_axe_clean(page, f"the {view} view (live)")

    @pytest.mark.parametrize("view", LIVE_VIEWS)
    def test_tab_reaches_every_control_with_a_focus_ring(self, page: Page, live: dict, view: str) -> None:
        a11y.install(page)
        LIVE_VIEWS[view](page, live)
        _assert_keyboard_reaches_everything(page, f"{view} (live)")
