"""Studies in Chromium against the real service: a two-axis study on digits launched from the new-run form in
study mode, its page filling live until every cell is done, its table equal to the stats endpoint, and its link
reopening the same view (metric and baseline).
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import a11y
from tests.browser.helpers import VIEWPORT, save_screenshots

pytestmark = pytest.mark.browser

# Tiny settings: each run trains one epoch on 200 digits.
SETTINGS = {"epochs": "1", "max_train_samples": "200", "probe_epochs": "5", "tsne_samples": "20", "batch_size": "64"}
AXES = {"method": "simclr, supervised", "optimizer": "adam, sgd"}
CELLS = 4
SEEDS = 2

CELL_PROGRESS = """() => [...document.querySelectorAll('[data-testid=cell-progress]')]
  .map((td) => [Number(td.dataset.done), Number(td.dataset.total)])"""
CHART_DRAWN = "(testid) => Boolean(document.querySelector(`[data-testid=${testid}]`)?.data?.length)"


def _fill_study_form(page: Page) -> None:
    """Study mode on digits with the tiny settings, method × optimizer over two seeds."""
    page.goto("/#/new")
    page.get_by_test_id("mode-study").check()
    expect(page).to_have_url(re.compile(r"#/new\?mode=study$"))
    expect(page.get_by_role("heading", name="New study")).to_be_visible()
    digits = page.request.get("/api/schema/catalog").json()["datasets"]["digits"]["label"]
    page.get_by_test_id("field-dataset").select_option(label=digits)
    page.locator("details.form-section").evaluate_all("sections => sections.forEach((s) => { s.open = true; })")
    for field, value in SETTINGS.items():
        page.get_by_test_id(f"field-{field}").fill(value)
    for field, values in AXES.items():
        page.get_by_test_id(f"axis-{field}").fill(values)
    page.get_by_test_id("field-seeds").fill("0, 1")


def _mean_shown(text: str) -> float:
    """The mean of "97.3 ± 0.4 %" (or "97.3 %") as a fraction."""
    match = re.match(r"(-?\d+(?:\.\d+)?)", text)
    assert match and text.rstrip().endswith("%"), text
    return float(match.group(1)) / 100


def _assert_table_matches(page: Page, stats: dict) -> None:
    """Every row of the results table says what the stats endpoint says, to the shown precision."""
    table = page.get_by_test_id("study-table")
    expect(table.locator("tbody tr")).to_have_count(len(stats["cells"]))
    comparisons = {c["key"]: c for c in stats["comparisons"]}
    for cell in stats["cells"]:
        row = table.locator(f"tr[data-cell-key='{cell['key']}']")
        mean_text = row.locator("td[data-col=mean] .mean-text").inner_text()
        assert abs(_mean_shown(mean_text) - cell["mean"]) <= 0.0005 + 1e-12, (mean_text, cell)
        if cell["ci95"]:
            half = (cell["ci95"][1] - cell["ci95"][0]) / 2
            shown_half = float(re.search(r"± (\d+(?:\.\d+)?) %", mean_text).group(1)) / 100  # type: ignore[union-attr]
            assert abs(shown_half - half) <= 0.0005 + 1e-12, (mean_text, cell)
        expect(row.locator("td[data-col=n]")).to_have_text(str(cell["n"]))
        verdict = row.locator("td[data-col=verdict]")
        if cell["key"] == stats["baseline"]:
            expect(verdict).to_have_text("baseline")
            continue
        comparison = comparisons[cell["key"]]
        expect(verdict).to_have_text(comparison["verdict"])
        p_holm = comparison["p_holm"]
        if p_holm is not None:
            shown = row.locator("td[data-col=p_holm]").inner_text()
            close = shown == "< 0.001" if p_holm < 0.001 else abs(float(shown) - p_holm) <= 0.0005 + 1e-12
            assert close, (shown, p_holm)
        if comparison["prob_better"] is not None:  # a whole percentage (JavaScript rounds halves up)
            shown = row.locator("td[data-col=prob_better]").inner_text()
            assert shown.endswith(" %") and abs(int(shown[:-2]) - comparison["prob_better"] * 100) <= 0.5, shown
    # "best" marks the server's best cell, named only when the verdicts back it: never beside "no detectable
    # difference".
    if stats["best"] is None:
        expect(table.locator("tr.best")).to_have_count(0)
    else:
        expect(table.locator("tr.best")).to_have_count(1)
        expect(table.locator("tr.best")).to_have_attribute("data-cell-key", stats["best"])
        best_verdict = table.locator("tr.best td[data-col=verdict]").inner_text()
        assert best_verdict in ("better", "baseline"), best_verdict


def _screenshots(page: Page, name: str) -> None:
    for width, height in ((1366, 768), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)  # charts are responsive: let them relayout
        save_screenshots(page, f"{name}-{width}")
    page.set_viewport_size(VIEWPORT)


def test_study_from_the_form_fills_live_and_its_link_reopens_the_view(page: Page, browser: Browser, service_url: str,
                                                                     http: httpx.Client) -> None:
    studies_before = http.get("/api/studies").json()["total"]
    _fill_study_form(page)
    grid = page.get_by_test_id("grid-size")
    expect(grid).to_have_text(f"{CELLS} cells × {SEEDS} seeds = {CELLS * SEEDS} runs")
    # Temperature does not apply to supervised: varying it splits only the SimCLR cells (2 × 2 + 1 × 2).
    page.get_by_test_id("axis-temperature").fill("0.1, 0.5")
    expect(grid).to_have_text(f"6 cells × {SEEDS} seeds = 12 runs")
    page.get_by_test_id("axis-temperature").fill("")
    expect(page.get_by_test_id("submit-run")).to_have_text(f"Start study ({CELLS * SEEDS} runs)")

    # A value that does not parse is named at its field, and nothing is sent.
    page.get_by_test_id("axis-lr").fill("0.001, fast")
    page.get_by_test_id("submit-run").click()
    expect(page.get_by_test_id("error-lr")).to_contain_text("“fast” is not a number")
    assert http.get("/api/studies").json()["total"] == studies_before
    page.get_by_test_id("axis-lr").fill("")
    # The server's 422 for an invalid value lands at the field it names, with the cell.
    page.get_by_test_id("axis-epochs").fill("1, 0")
    page.get_by_test_id("submit-run").click()
    expect(page.get_by_test_id("error-epochs")).to_contain_text("cell")
    expect(page.get_by_test_id("form-errors")).to_be_visible()
    assert http.get("/api/studies").json()["total"] == studies_before
    page.get_by_test_id("axis-epochs").fill("")

    page.get_by_test_id("study-name").fill("optimisers on digits")
    _screenshots(page, "study-form")
    page.get_by_test_id("submit-run").click()
    expect(page).to_have_url(re.compile(r"#/studies/\d+$"))
    study_id = int(re.search(r"#/studies/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    study = http.get(f"/api/studies/{study_id}").json()
    assert study["axes"] == {"method": ["simclr", "supervised"], "optimizer": ["adam", "sgd"]}
    assert study["seeds"] == [0, 1] and len(study["run_ids"]) == CELLS * SEEDS

    # The page fills live: no reload (the marker survives), progress grows until every cell is done.
    expect(page.get_by_test_id("study-table").locator("tbody tr")).to_have_count(CELLS)
    page.evaluate("window.__sameDocument = true")
    first = page.evaluate(CELL_PROGRESS)
    assert sum(done for done, _ in first) < CELLS * SEEDS, first  # 8 real runs cannot be done at first paint
    assert [total for _, total in first] == [SEEDS] * CELLS
    page.wait_for_function(f"() => ({CELL_PROGRESS})().every(([done, total]) => done === total)", timeout=900_000)
    assert page.evaluate("window.__sameDocument") is True
    total = CELLS * SEEDS
    expect(page.get_by_test_id("study-progress-text")).to_contain_text(f"{total} of {total} runs finished")
    runs = http.get("/api/runs", params={"study_id": study_id, "limit": 50}).json()["items"]
    assert sorted(run["status"] for run in runs) == ["succeeded"] * CELLS * SEEDS, runs

    # The table equals the stats endpoint (the default metric and baseline: the supervised cell).
    page.wait_for_function(f"() => [...document.querySelectorAll('[data-testid=study-table] td[data-col=n]')]"
                           f".map((td) => td.textContent).join() === '{','.join([str(SEEDS)] * CELLS)}'")
    stats = http.get(f"/api/studies/{study_id}/stats", params={"metric": "linear_acc"}).json()
    assert stats["baseline"].startswith("method=supervised")
    _assert_table_matches(page, stats)
    for chart in ("axis-method", "axis-optimizer", "heatmap"):
        page.wait_for_function(CHART_DRAWN, arg=f"study-chart-{chart}")
    # The parallel coordinates (WebGL) are drawn once they come into view.
    page.get_by_test_id("study-chart-parcoords").scroll_into_view_if_needed()
    page.wait_for_function(CHART_DRAWN, arg="study-chart-parcoords")
    curves = page.get_by_test_id("study-curves").get_by_test_id("study-curve-loss")
    page.wait_for_function("() => document.querySelector('[data-testid=study-curve-loss]')?.data")
    fills = curves.evaluate("(div) => div.data.map((t) => t.fill || '')")
    assert fills.count("toself") == CELLS  # one mean ± std band per cell
    # Each cell's line is the mean the curves endpoint gives, from the page's last request (every run finished).
    asked = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)"
                          ".filter((name) => name.includes('/curves?')).at(-1)")
    body = http.get(asked).json()
    assert body["finished"] is True
    lines = curves.evaluate("(div) => div.data.filter((t) => !t.fill).map((t) => t.y)")
    assert lines == [cell["mean"] for cell in body["curves"]["loss"]] and len(lines) == CELLS
    # The hover lists every cell at the hovered x with its mean ± std, as the compare page's does.
    curves.scroll_into_view_if_needed()
    box = curves.locator(".nsewdrag").first.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    expect(curves.locator(".hoverlayer")).to_contain_text(" runs)")
    labels = curves.locator(".hoverlayer .legendtext").evaluate_all("(texts) => texts.map((t) => t.textContent)")
    assert len(labels) == CELLS and all(" ± " in text for text in labels), labels
    heat = page.evaluate("() => document.querySelector('[data-testid=study-chart-heatmap]').data[0].z")
    assert sorted(v for row in heat for v in row if v is not None) == sorted(c["mean"] for c in stats["cells"])
    page.mouse.move(0, 0)
    _screenshots(page, "study")

    # Another metric and baseline: the URL holds them, and the link reopens the same view.
    page.get_by_test_id("study-metric").select_option("knn_acc")
    expect(page).to_have_url(re.compile(r"metric=knn_acc"))
    other_key = next(c["key"] for c in stats["cells"] if c["key"] != stats["baseline"])
    page.get_by_test_id("study-baseline").select_option(other_key)
    expect(page).to_have_url(re.compile(r"baseline="))
    new_baseline = page.get_by_test_id("study-table").locator(f"tr[data-cell-key='{other_key}'] td[data-col=verdict]")
    expect(new_baseline).to_have_text("baseline")
    link = page.url
    context = browser.new_context(base_url=service_url, viewport=VIEWPORT)
    other = context.new_page()
    other.goto(link)
    other.wait_for_selector("main[data-painted]")
    expect(other.get_by_test_id("study-metric")).to_have_value("knn_acc")
    expect(other.get_by_test_id("study-baseline")).to_have_value(other_key)
    knn = http.get(f"/api/studies/{study_id}/stats", params={"metric": "knn_acc", "baseline": other_key}).json()
    assert knn["baseline"] == other_key
    _assert_table_matches(other, knn)
    y_title = "() => document.querySelector('[data-testid=study-chart-axis-method]').layout.yaxis.title.text"
    assert other.evaluate(y_title).startswith(http.get("/api/schema/catalog").json()["metrics"]["knn_acc"]["label"])
    context.close()

    # A click on a cell's row opens the compare view of its runs.
    cell = next(c for c in study["cells"] if c["key"] == other_key)
    page.get_by_test_id("study-table").locator(f"tr[data-cell-key='{other_key}'] td[data-col=n]").click()
    expect(page).to_have_url(re.compile(rf"#/compare\?runs={','.join(map(str, cell['runs']))}$"))
    page.wait_for_selector("main[data-painted]")

    # The studies list links to it.
    page.get_by_role("link", name="Studies", exact=True).click()
    link_to_study = page.get_by_test_id("studies-table").locator(f"tr[data-study-id='{study_id}']").get_by_test_id(
        "study-link")
    expect(link_to_study).to_have_text("optimisers on digits")
    _screenshots(page, "studies")
    link_to_study.click()
    expect(page).to_have_url(re.compile(rf"#/studies/{study_id}$"))
    page.wait_for_selector("main[data-painted]")


def test_paired_view_compares_two_metrics_of_the_same_runs(page: Page, http: httpx.Client) -> None:
    """Linear probe without the head against with it, on three real SimCLR runs of digits (random baseline on):
    the paired table equals the endpoint, the URL keeps the choice, the page is axe-clean and fits 1366 px."""
    body = {"name": "head on digits", "base": {"dataset": "digits", "method": "simclr", "random_baseline": True,
                                               **{k: int(v) for k, v in SETTINGS.items()}},
            "axes": {"projection_dim": [32, 64]}, "seeds": [0, 1, 2]}
    study = http.post("/api/studies", json=body).json()
    a11y.install(page)
    page.goto(f"/#/studies/{study['id']}")
    page.wait_for_function(f"() => ({CELL_PROGRESS})().length === 2 && "
                           f"({CELL_PROGRESS})().every(([done, total]) => done === total)", timeout=900_000)
    options = page.get_by_test_id("study-metric").locator("option").evaluate_all("(os) => os.map((o) => o.value)")
    assert "linear_acc_head" in options and "loss" not in options and "final_loss" in options  # recorded ones only
    page.get_by_test_id("study-paired").select_option("linear_acc_head")
    expect(page).to_have_url(re.compile(r"paired=linear_acc_head"))
    table = page.get_by_test_id("paired-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    stats = http.get(f"/api/studies/{study['id']}/stats", params={"metric": "linear_acc",
                                                                  "paired": "linear_acc_head"}).json()
    for comp in stats["paired"]["comparisons"]:
        row = table.locator(f"tr[data-cell-key='{comp['key']}']")
        expect(row.locator("td[data-col=n]")).to_have_text("3")
        expect(row.locator("td[data-col=verdict]")).to_have_text(comp["verdict"])
        shown = row.locator("td[data-col=mean_diff]").inner_text()
        value = float(re.sub(r"[^\d.]", "", shown)) / 100 * (-1 if shown.startswith("−") else 1)
        assert abs(value - comp["mean_diff"]) <= 0.0005 + 1e-12, (shown, comp)
        assert row.locator("td[data-col=bootstrap_ci95]").inner_text().count(" pt") == 2
    # The results table says what ± is, the IQM, and how many seeds would give 80 % power.
    results = page.get_by_test_id("study-table")
    expect(results.locator("td[data-col=mean]").first).to_have_attribute("title", re.compile(r"Student-t 95 % .*IQM"))
    expect(results.locator("td.verdict:not(.verdict-baseline)")).to_have_attribute("title", re.compile(r"power \d+ %"))
    # Nothing overflows at 1366 px: the progress line and the tables stay inside the page.
    overflow = page.evaluate("() => [...document.querySelectorAll('.progress-line, .progress-text, .panel, .controls')]"
                             ".filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth)"
                             ".map((e) => e.className)")
    assert overflow == [], overflow
    # The parallel coordinates draw each cell in its swatch's colour, with distinct tick labels.
    page.get_by_test_id("study-chart-parcoords").scroll_into_view_if_needed()
    page.wait_for_function(CHART_DRAWN, arg="study-chart-parcoords")
    trace = page.evaluate("() => { const t = document.querySelector('[data-testid=study-chart-parcoords]').data[0];"
                          " return {scale: t.line.colorscale.map((s) => s[1]), ticks: t.dimensions.at(-1).ticktext}; }")
    swatches = page.locator("[data-testid=study-table] .swatch").evaluate_all(
        "(spans) => spans.map((s) => s.style.background)")
    assert len(set(trace["scale"])) == 2 and len(trace["ticks"]) == len(set(trace["ticks"])), trace
    normalise = "(c) => { const i = document.createElement('i'); i.style.background = c; return i.style.background; }"
    assert [page.evaluate(normalise, c) for c in trace["scale"][::2]] == swatches
    page.get_by_test_id("study-paired").select_option("random_linear_acc")
    expect(table.locator("tbody tr td[data-col=n]").first).to_have_text("3")
    page.reload()
    expect(page.get_by_test_id("study-paired")).to_have_value("random_linear_acc")
    expect(page.get_by_test_id("paired-table").locator("tbody tr")).to_have_count(2)
    a11y.assert_axe_clean(page, "the study page with a paired comparison")
    save_screenshots(page, "study-paired-1366")

    # Export report: the figure opens in Chromium with one marker per cell; the HTML report holds it inline.
    page.get_by_test_id("study-export").locator("summary").click()
    expect(page.get_by_test_id("study-report-svg")).to_be_visible()
    tex_link = page.get_by_test_id("study-report-tex")
    expect(tex_link).to_have_attribute("href", re.compile(r"format=tex&metric=linear_acc"))
    report = page.context.new_page()
    report.goto(page.get_by_test_id("study-report-svg").get_attribute("href") or "")
    expect(report.locator("svg circle.mean")).to_have_count(2)
    drawn = report.locator("svg").bounding_box()
    assert drawn is not None and drawn["width"] > 0
    report.set_viewport_size({"width": 1366, "height": 768})
    report.goto(page.get_by_test_id("study-report-html").get_attribute("href") or "")
    expect(report.locator("table tbody tr")).to_have_count(2)
    expect(report.locator("figure svg circle.mean")).to_have_count(2)
    save_screenshots(report, "study-report-1366")
    report.close()
