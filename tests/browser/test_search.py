"""A search on the study page in Chromium against the real service: its trials (optimisation history, parallel
coordinates, which were pruned and when) and the confirmation apart, whose runs alone fill the results table."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.browser

TINY = {"dataset": "digits", "epochs": 3, "batch_size": 64, "max_train_samples": 200, "probe_epochs": 5,
        "tsne_samples": 20, "random_baseline": False, "knn_every": 1, "lr": 0.001}
CHART_TRACES = "(testid) => document.querySelector(`[data-testid=${testid}]`)?.data?.length || 0"


def test_search_page_shows_trials_and_the_confirmation_apart(page: Page, http: httpx.Client) -> None:
    body = {"name": "page search", "base": TINY, "seeds": [0], "axes": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
            "search": {"sampler": "random", "pruner": "asha", "trials": 3, "parallel": 1, "reduction_factor": 2,
                       "confirm_seeds": 2}}
    created = http.post("/api/studies", json=body)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    page.goto(f"/#/studies/{study_id}")
    panel = page.get_by_test_id("search-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", name="Optimisation history")).to_be_visible()
    expect(panel.get_by_role("heading", name="Parallel coordinates (grey: pruned)")).to_be_visible()
    subtitle = page.locator(".page-head .subtitle")
    expect(subtitle).to_contain_text("search: 3 trials on seed 0 · confirmation on 2 fresh seeds")
    confirmation = page.get_by_test_id("search-confirmation")
    expect(confirmation).to_contain_text("Not started")
    # The page polls until the confirmation's runs end: the search's state comes from the API.
    expect(confirmation).to_contain_text("fresh seeds 1, 2", timeout=900_000)
    expect(page.get_by_test_id("study-progress-text")).to_contain_text("runs finished", timeout=900_000)
    expect(subtitle).to_contain_text("search: 3 trials on seed 0 · confirmation on seeds 1, 2")
    expect(subtitle).not_to_contain_text("cells ×")  # a search's runs are not a grid of cells by seeds
    view = http.get(f"/api/studies/{study_id}/search").json()
    page.wait_for_function("(n) => document.querySelectorAll('[data-testid=search-trials] tbody tr').length === n",
                           arg=len(view["trials"]), timeout=60_000)
    assert page.evaluate(CHART_TRACES, "search-history") == 3  # final values, pruned, best so far
    ticks = page.locator("[data-testid=search-history] .xtick text").all_text_contents()
    assert ticks and all(tick.isdigit() for tick in ticks), ticks  # trials are whole: no "0.5"
    page.wait_for_function(f"() => ({CHART_TRACES})('search-parcoords') === 1", timeout=120_000)
    # The lr axis is on a log scale but labelled with learning rates (within the searched range), not log10 values.
    texts = page.locator("[data-testid=search-parcoords] text").all_text_contents()
    lr_ticks = [t for t in texts[texts.index("lr (log scale)") + 1:texts.index("k-NN accuracy")] if t]
    assert len(lr_ticks) >= 2 and all(1e-4 <= float(t) <= 1e-2 for t in lr_ticks), texts
    for trial in view["trials"]:
        row = page.locator(f"[data-testid=search-trials] tr[data-trial='{trial['number']}']")
        expect(row).to_contain_text(trial["status"])
        if trial["pruned_epoch"] is not None:
            expect(row.locator("td").nth(4)).to_have_text(str(trial["pruned_epoch"]))
    expect(page.get_by_test_id("search-summary")).to_contain_text("3 of 3 trials")
    # The confirmation names its cells by the values as the trials' table shows them, not by full-precision keys.
    best_values = page.locator(f"[data-testid=search-trials] tr[data-trial='{view['best']}'] td").nth(1).inner_text()
    expect(confirmation).to_contain_text(f"Best trial: {best_values} · baseline: lr=0.001 · fresh seeds 1, 2")
    assert not re.search(r"\d\.\d{6}", confirmation.inner_text())
    # The results table (the verdict) is the confirmation's: its cells, not the trials'.
    stats = http.get(f"/api/studies/{study_id}/stats", params={"metric": "linear_acc"}).json()
    table = page.get_by_test_id("study-table")
    expect(table.locator("tbody tr")).to_have_count(len(stats["cells"]), timeout=120_000)
    assert {c["key"] for c in stats["cells"]} <= {view["confirmation"]["baseline"], view["confirmation"]["best"]}

    # A page that read the study before the confirmation's runs were added (every run it knew of final) and the
    # search after ("confirming"), as two requests a poll sends side by side can: it keeps polling until the search
    # is done, and fills the table. (Stopping on "every run final" left the table empty for good.)
    stale: dict[str, int] = {"study": 0, "search": 0}
    trial_runs = [trial["run_id"] for trial in view["trials"]]

    def stale_study(route: Route) -> None:
        stale["study"] += 1
        if stale["study"] > 1:
            route.continue_()
            return
        route.fulfill(json={**route.fetch().json(), "cells": [], "run_ids": trial_runs})

    def stale_search(route: Route) -> None:
        stale["search"] += 1
        if stale["search"] > 1:
            route.continue_()
            return
        route.fulfill(json={**route.fetch().json(), "state": "confirming"})

    # The studies list shows the search: its range axis, and every run final (pruned trials count as finished).
    page.goto("/#/studies")  # the study's view ends: its requests in flight are aborted before the routes count
    row = page.locator(f"tr[data-study-id='{study_id}']")
    runs = len(http.get(f"/api/studies/{study_id}").json()["run_ids"])
    assert runs == 3 + 2 * 2  # three trials; the best and the baseline on seeds 1 and 2
    expect(row).to_contain_text("lr: 1.00e-4 to 0.01 (log)")
    expect(row.locator(".col-progress")).to_contain_text(f"{runs}/{runs}")
    page.route(lambda url: url.endswith(f"/api/studies/{study_id}"), stale_study)
    page.route(lambda url: url.endswith(f"/api/studies/{study_id}/search"), stale_search)
    page.goto(f"/#/studies/{study_id}")
    expect(page.get_by_test_id("search-confirmation")).to_contain_text("fresh seeds 1, 2")
    expect(page.get_by_test_id("study-table").locator("tbody tr")).to_have_count(len(stats["cells"]), timeout=30_000)
    page.wait_for_timeout(3_000)  # longer than the page's 2 s poll
    assert stale == {"study": 2, "search": 2}, stale  # one poll after the stale view, then none: the search is done

    # Before any trial has ended (its first trial still running, as served here), the history is a sentence, not
    # Plotly's empty axes, which read −100 % to 400 %.
    def running(route: Route) -> None:
        search = route.fetch().json()
        route.fulfill(json={**search, "state": "trials", "confirmation": None, "trials": [
            {**search["trials"][0], "status": "running", "value": None, "intermediate": {}, "pruned_epoch": None}]})

    page.goto("/#/studies")
    page.unroute_all(behavior="ignoreErrors")
    page.route(lambda url: url.endswith(f"/api/studies/{study_id}/search"), running)
    page.goto(f"/#/studies/{study_id}")
    history = page.get_by_test_id("search-history")
    expect(history).to_contain_text("No trial has ended yet", timeout=30_000)
    expect(history.locator(".xtick text")).to_have_count(0)
    expect(page.get_by_test_id("search-parcoords")).to_contain_text("No trial has a k-NN value yet")
