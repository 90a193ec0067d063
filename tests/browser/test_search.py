"""A search on the study page in Chromium against the real service: its trials (optimisation history, parallel
coordinates, which were pruned and when) and the confirmation apart, whose runs alone fill the results table."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

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
    confirmation = page.get_by_test_id("search-confirmation")
    expect(confirmation).to_contain_text("Not started")
    # The page polls until the confirmation's runs end: the search's state comes from the API.
    expect(confirmation).to_contain_text("fresh seeds 1, 2", timeout=900_000)
    expect(page.get_by_test_id("study-progress-text")).to_contain_text("runs finished", timeout=900_000)
    view = http.get(f"/api/studies/{study_id}/search").json()
    page.wait_for_function("(n) => document.querySelectorAll('[data-testid=search-trials] tbody tr').length === n",
                           arg=len(view["trials"]), timeout=60_000)
    assert page.evaluate(CHART_TRACES, "search-history") == 3  # final values, pruned, best so far
    page.wait_for_function(f"() => ({CHART_TRACES})('search-parcoords') === 1", timeout=120_000)
    for trial in view["trials"]:
        row = page.locator(f"[data-testid=search-trials] tr[data-trial='{trial['number']}']")
        expect(row).to_contain_text(trial["status"])
        if trial["pruned_epoch"] is not None:
            expect(row.locator("td").nth(4)).to_have_text(str(trial["pruned_epoch"]))
    expect(page.get_by_test_id("search-summary")).to_contain_text("3 of 3 trials")
    # The results table (the verdict) is the confirmation's: its cells, not the trials'.
    stats = http.get(f"/api/studies/{study_id}/stats", params={"metric": "linear_acc"}).json()
    table = page.get_by_test_id("study-table")
    expect(table.locator("tbody tr")).to_have_count(len(stats["cells"]), timeout=120_000)
    assert {c["key"] for c in stats["cells"]} <= {view["confirmation"]["baseline"], view["confirmation"]["best"]}
