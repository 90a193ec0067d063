"""Compare, list actions and the run page's evaluation panels in Chromium, against the real service.

Two real digits runs (SimCLR and the supervised baseline, 1 epoch) are trained once for the module.
"""

from __future__ import annotations

import re
import statistics

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from contrastlab.client.formats import format_mean_spread
from tests.browser.helpers import VIEWPORT, save_screenshots, wait_final, wait_succeeded

pytestmark = pytest.mark.browser

SPEC = {"dataset": "digits", "epochs": 1, "batch_size": 128, "probe_epochs": 20, "tsne_samples": 200}
CHART_RUNS = """(testid) => {
  const chart = document.querySelector(`[data-testid=${testid}]`);
  return chart && chart.data ? [...new Set(chart.data.filter((t) => t.meta).map((t) => t.meta))].sort() : [];
}"""
TSNE_DRAWN = "() => [...document.querySelectorAll('[data-testid=compare-tsne]')].filter((d) => d.data).length"


@pytest.fixture(scope="module")
def two_runs(http: httpx.Client) -> list[dict]:
    """A SimCLR run and a supervised one with another learning rate, both finished."""
    ids = [http.post("/api/runs", json={**SPEC, "name": "contrastive", "method": "simclr"}).json()["id"],
           http.post("/api/runs", json={**SPEC, "name": "baseline", "method": "supervised", "lr": 0.002}).json()["id"]]
    return wait_succeeded(http, ids)


def test_compare_two_finished_runs_and_reopen_the_shared_link(page: Page, browser: Browser, service_url: str,
                                                                two_runs: list[dict]) -> None:
    a, b = (run["id"] for run in two_runs)
    page.goto("/")
    for run_id in (a, b):
        page.locator(f"tr[data-run-id='{run_id}']").get_by_test_id("row-select").check()
    expect(page.get_by_test_id("selection-count")).to_have_text("2 selected")
    page.get_by_test_id("compare-selected").click()
    expect(page).to_have_url(re.compile(rf"#/compare\?runs={a},{b}$"))
    page.wait_for_selector("main[data-painted]")

    assert page.evaluate(CHART_RUNS, "compare-chart-loss") == [a, b]  # one curve per run, same colours everywhere
    assert page.evaluate(CHART_RUNS, "compare-chart-lr") == [a, b]
    page.wait_for_function(f"() => ({TSNE_DRAWN})() === 2", timeout=30_000)
    diff = page.get_by_test_id("spec-diff")
    expect(diff.locator("tr[data-field=method]")).to_contain_text("supervised")
    expect(diff.locator("tr[data-field=lr]")).to_contain_text("0.002")
    expect(diff.locator("tr[data-field=dataset]")).to_have_count(0)  # same in both: not shown
    best = page.get_by_test_id("final-metrics").locator("td.best[data-col=linear_acc]")
    expect(best).to_have_count(1)

    page.get_by_test_id("smoothing").fill("0.8")
    page.get_by_test_id("x-axis").select_option("epoch")
    expect(page).to_have_url(re.compile(r"x=epoch"))
    page.mouse.move(0, 0)
    save_screenshots(page, "compare")
    page.get_by_test_id("compare-legend").locator(f"[data-key=r{b}]").click()  # hidden in the link too
    expect(page).to_have_url(re.compile(rf"hide=r{b}"))
    page.wait_for_function(f"() => ({CHART_RUNS})('compare-chart-loss').length === 1")
    assert page.evaluate(CHART_RUNS, "compare-chart-loss") == [a]
    shared = page.url

    context = browser.new_context(base_url=service_url, viewport=VIEWPORT)
    other = context.new_page()
    other.goto(shared)
    other.wait_for_selector("main[data-painted]")
    expect(other.get_by_test_id("x-axis")).to_have_value("epoch")
    expect(other.get_by_test_id("smoothing")).to_have_value("0.8")
    hidden_b = other.get_by_test_id("compare-legend").locator(f"[data-key=r{b}]")
    expect(hidden_b).to_have_attribute("aria-pressed", "false")
    assert other.evaluate(CHART_RUNS, "compare-chart-loss") == [a]
    hidden_b.click()
    other.wait_for_function(f"() => ({CHART_RUNS})('compare-chart-loss').length === 2")
    x_title = "() => document.querySelector('[data-testid=compare-chart-loss]').layout.xaxis.title.text"
    assert other.evaluate(x_title) == "epoch"
    context.close()


def test_run_page_shows_confusion_matrix_baselines_and_csv(page: Page, two_runs: list[dict]) -> None:
    run = two_runs[0]
    page.goto(f"/#/runs/{run['id']}")
    page.wait_for_function("() => document.querySelector('[data-testid=confusion-chart]')?.data?.[0]?.z?.length === 10",
                           timeout=30_000)
    expect(page.get_by_test_id("final-linear-acc-random")).to_contain_text(re.compile(r"random init: \d+\.\d %"))
    lr_points = page.evaluate("() => document.querySelector('[data-testid=loss-chart]').data[1].x.length")
    assert lr_points > 0  # the learning rate is drawn beside the loss
    href = page.get_by_test_id("metrics-csv").get_attribute("href")
    csv = page.request.get(href or "")
    assert csv.ok and csv.text().splitlines()[0] == "name,step,epoch,value,time"
    assert any(line.startswith("loss,") for line in csv.text().splitlines())


def test_list_sorts_filters_and_moves_to_the_trash_with_undo(page: Page, http: httpx.Client,
                                                            two_runs: list[dict]) -> None:
    a, b = (run["id"] for run in two_runs)
    doomed = http.post("/api/runs", json={**SPEC, "name": "doomed", "epochs": 500}).json()["id"]
    http.post(f"/api/runs/{doomed}/cancel")
    wait_final(http, doomed)
    page.goto("/")
    page.get_by_test_id("filter-method").select_option("supervised")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator(f"tr[data-run-id='{b}']")).to_be_visible()
    expect(page).to_have_url(re.compile(r"method=supervised"))
    page.get_by_test_id("filter-method").select_option("")

    page.locator("th.col-linear_acc button").click()
    expect(page.locator("th.col-linear_acc")).to_have_attribute("aria-sort", "descending")
    order = page.locator("tbody tr").evaluate_all("rows => rows.map(r => Number(r.dataset.runId))")
    first_two = [run_id for run_id in order if run_id in (a, b)]
    accs = {run["id"]: run["summary"]["linear_acc"] for run in two_runs}
    assert first_two == sorted((a, b), key=lambda i: -accs[i])

    row = page.locator(f"tr[data-run-id='{doomed}']")
    row.get_by_test_id("row-delete").click()  # to the trash: no question asked, Undo offered
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("runs-notice")).to_contain_text(f"Run #{doomed} moved to the trash.")
    assert http.get(f"/api/runs/{doomed}").json()["trashed_at"]
    page.get_by_test_id("notice-action").click()
    expect(row).to_have_count(1)
    assert http.get(f"/api/runs/{doomed}").json()["trashed_at"] is None


def test_seeds_field_launches_a_group_shown_as_mean_and_std(page: Page, http: httpx.Client,
                                                             two_runs: list[dict]) -> None:
    page.goto("/#/new")
    digits = page.request.get("/api/schema/catalog").json()["datasets"]["digits"]["label"]
    page.get_by_test_id("field-dataset").select_option(label=digits)
    page.get_by_test_id("field-epochs").fill("1")
    page.get_by_test_id("field-batch_size").fill("128")
    page.get_by_test_id("field-name").fill("seed group")
    page.get_by_test_id("field-seeds").fill("0, x")
    page.get_by_test_id("submit-run").click()
    expect(page.get_by_test_id("error-seeds")).to_be_visible()  # the server's 422 lands next to the field
    page.get_by_test_id("field-seeds").fill("0, 1")
    page.get_by_test_id("submit-run").click()
    expect(page).to_have_url(re.compile(r"#/\?group_id=\d+$"))
    group_id = int(page.url.rsplit("=", 1)[1])
    expect(page.locator("tbody tr")).to_have_count(2)
    members = http.get("/api/runs", params={"group_id": group_id}).json()["items"]
    assert sorted(run["spec"]["seed"] for run in members) == [0, 1]
    for run in members:
        wait_succeeded(http, [run["id"]])
    page.goto(f"/#/compare?runs={','.join(str(run['id']) for run in members)}")
    page.wait_for_selector("main[data-painted]")
    expect(page.get_by_test_id("compare-legend")).to_contain_text("seed group (2 seeds, mean ± std)")
    fills = page.evaluate("() => document.querySelector('[data-testid=compare-chart-loss]').data.map((t) => t.fill)")
    assert "tonexty" in fills  # the ± std band
    expect(page.get_by_test_id("final-metrics").locator("tr.group-row")).to_contain_text("mean ± std of 2 seeds")
    seeds = sorted(wait_succeeded(http, [run["id"] for run in members]), key=lambda run: run["spec"]["seed"])
    _assert_group_reads_as_one(page, seeds, two_runs)


SWATCHES = """() => [...document.querySelectorAll(
  '[data-testid=compare-legend] .swatch, [data-testid=final-metrics] .swatch, [data-testid=spec-diff] .swatch,'
  + ' .tsne-card .swatch')].map((s) => s.style.background)"""


def _assert_group_reads_as_one(page: Page, members: list[dict], two_runs: list[dict]) -> None:
    """A seed group's colour, mean ± std (as the CLI writes it), best mean, folded list row and run-page links."""
    table = page.get_by_test_id("final-metrics")
    assert len(set(page.evaluate(SWATCHES))) == 1  # legend, both seeds, the mean row, spec diff, t-SNE titles
    group = table.locator("tr.group-row")
    for name, kind in (("linear_acc", "percent"), ("train_seconds", "duration")):
        values = [run["summary"][name] for run in members]
        expected = format_mean_spread(kind, statistics.mean(values), statistics.stdev(values))
        expect(group.locator(f"td[data-col={name}]")).to_have_text(expected)
    expect(group.locator("td[data-col=train_seconds]")).not_to_have_text(re.compile(r"s ±"))

    # Best in bold is the best group mean, not its luckiest seed.
    (a, b), (s0, s1) = ((run["id"] for run in two_runs), (run["id"] for run in members))
    accs = {s0: 0.99, s1: 0.10, a: 0.90, b: 0.50}  # the group's mean 54.5 % loses to run a

    def forced_accuracies(route: Route) -> None:
        response = route.fetch()
        listing = response.json()
        for run in listing["items"]:
            run["summary"]["linear_acc"] = accs[run["id"]]
        route.fulfill(response=response, json=listing)

    page.route(lambda url: "/api/runs?" in url and "ids=" in url, forced_accuracies)
    page.goto(f"/#/compare?runs={a},{b},{s0},{s1}")
    page.wait_for_selector("main[data-painted]")
    best = table.locator("td.best[data-col=linear_acc]")
    expect(best).to_have_count(1)
    expect(table.locator(f"tr[data-run-id='{a}'] td[data-col=linear_acc]")).to_have_class(re.compile("best"))

    # The runs list folds the group into one row; its toggle shows the seeds.
    group_id = members[0]["group_id"]
    page.goto("/")
    folded = page.locator(f"tr.group-fold[data-group-id='{group_id}']")
    expect(folded.get_by_test_id("group-toggle")).to_have_text("▸ 2 seeds")
    expect(folded.get_by_test_id("group-status")).to_have_text("2 succeeded")
    values = [run["summary"]["linear_acc"] for run in members]
    expect(folded.locator("td[data-metric=linear_acc]")).to_have_text(
        format_mean_spread("percent", statistics.mean(values), statistics.stdev(values)))
    expect(page.locator(f"tr[data-run-id='{s1}']")).to_be_hidden()
    folded.get_by_test_id("group-toggle").click()
    expect(page.locator(f"tr[data-run-id='{s1}']")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"open={group_id}"))  # a reload or a shared link keeps it open
    page.reload()
    expect(page.locator(f"tr[data-run-id='{s1}']")).to_be_visible()
    expect(page.locator(f"tr[data-run-id='{s1}'] .col-group")).to_have_text("seed 1")

    # A seed's page names its group and links to its siblings.
    page.goto(f"/#/runs/{s1}")
    lineage = page.get_by_test_id("run-lineage")
    expect(lineage).to_contain_text(f"Seed group #{group_id}: 2 seeds")
    expect(lineage.get_by_test_id("sibling")).to_have_text([f"seed 0 (#{s0})", f"seed 1 (#{s1})"])
    expect(lineage.get_by_test_id("compare-siblings")).to_have_attribute("href", f"#/compare?runs={s0},{s1}")


CATALOG_FORMATS = """async () => {
  const catalog = await import('/static/js/catalog.js');
  await catalog.loadCatalog();
  return [0.001, 0.00099].map((v) => catalog.formatMetric('lr', v))
    .concat([catalog.formatMetric('linear_acc', 0.9734), catalog.formatMetric('train_seconds', 187),
             catalog.formatMetric('no_such_metric', 2.5), catalog.formatMetric('linear_acc', null)]);
}"""


def test_labels_formats_and_statuses_come_from_the_catalogue(page: Page, http: httpx.Client,
                                                              two_runs: list[dict]) -> None:
    catalog = http.get("/api/schema/catalog").json()
    metrics = catalog["metrics"]
    a, b = (run["id"] for run in two_runs)
    page.goto(f"/#/compare?runs={a},{b}")
    page.wait_for_selector("main[data-painted]")
    # The final-metrics columns are the catalogue's summary metrics that some run has, in its order and words.
    present = [name for name in catalog["summary_metrics"] if any(name in run["summary"] for run in two_runs)]
    assert {"linear_acc", "knn_acc", "silhouette", "train_seconds"} <= set(present), present
    table = page.get_by_test_id("final-metrics")
    headers = table.locator("thead th[data-col]").evaluate_all("ths => ths.map((th) => th.textContent)")
    assert headers == [metrics[name]["label"] for name in present]  # (the CSS shows them in capitals)
    linear = two_runs[0]["summary"]["linear_acc"]
    expect(table.locator(f"tr[data-run-id='{a}'] td[data-col=linear_acc]")).to_have_text(f"{linear * 100:.1f} %")
    expect(page.get_by_test_id("compare-charts").locator("h2").first).to_have_text(metrics["loss"]["label"])
    assert page.evaluate(CATALOG_FORMATS) == ["1e-3", "9.9e-4", "97.3 %", "3 m 07 s", "2.5", "—"]

    page.goto("/")
    status_options = page.get_by_test_id("filter-status").locator("option")
    expect(status_options).to_have_count(1 + len(catalog["statuses"]))  # (the list view renders after the hash moves)
    assert status_options.evaluate_all("os => os.map((o) => o.value)") == ["", *catalog["statuses"]]
    method_options = page.get_by_test_id("filter-method").locator("option[value]:not([value=''])")
    expect(method_options).to_have_count(len(catalog["methods"]))  # added once the RunSpec schema is in
    assert method_options.evaluate_all("os => os.map((o) => o.textContent)") == [
        info["label"] for info in catalog["methods"].values()]
    expect(page.locator(f"tr[data-run-id='{a}'] .col-method")).to_have_text(catalog["methods"]["simclr"]["label"])
    header = page.locator("th.col-linear_acc")
    expect(header).to_have_text(metrics["linear_acc"]["label"])

    page.goto(f"/#/runs/{a}")
    expect(page.get_by_test_id("final-train-seconds")).to_have_attribute("data-value", re.compile(r"\d"))
    cards = page.get_by_test_id("summary").locator(".card-label").evaluate_all("els => els.map((e) => e.textContent)")
    own = [name for name in catalog["summary_metrics"] if name not in catalog["baselines"].values()]
    with_baseline = [name for name in catalog["baselines"] if name in own]
    assert cards == [metrics[name]["label"] for name in with_baseline + [n for n in own if n not in with_baseline]]
    acc_traces = "() => document.querySelector('[data-testid=acc-chart]')?.data?.map((t) => t.name) ?? []"
    page.wait_for_function(f"() => ({acc_traces})().length > 0")
    assert metrics["linear_acc"]["label"] in page.evaluate(acc_traces)


def test_a_metric_added_to_the_catalogue_shows_without_touching_the_page(page: Page, two_runs: list[dict]) -> None:
    """The page reads labels, formats and directions: served a different catalogue, it shows differently."""
    a, b = (run["id"] for run in two_runs)

    def catalogue(route: Route) -> None:
        response = route.fetch()
        doc = response.json()
        doc["metrics"]["top5_acc"] = {**doc["metrics"]["linear_acc"], "label": "Top-5 accuracy"}
        doc["summary_metrics"].append("top5_acc")
        doc["metrics"]["linear_acc"]["label"] = "Probe (renamed)"
        doc["metrics"]["train_seconds"]["direction"] = "higher"  # the best time becomes the longest one
        route.fulfill(response=response, json=doc)

    def runs_with_top5(route: Route) -> None:
        response = route.fetch()
        page_of_runs = response.json()
        for run in page_of_runs["items"]:
            run["summary"]["top5_acc"] = 0.5 if run["id"] == a else 0.75
        route.fulfill(response=response, json=page_of_runs)

    page.route("**/api/schema/catalog", catalogue)
    page.route(lambda url: "/api/runs?" in url, runs_with_top5)
    page.goto(f"/#/compare?runs={a},{b}")
    page.wait_for_selector("main[data-painted]")
    table = page.get_by_test_id("final-metrics")
    expect(table.locator("th[data-col=top5_acc]")).to_have_text("Top-5 accuracy")
    expect(table.locator(f"tr[data-run-id='{a}'] td[data-col=top5_acc]")).to_have_text("50.0 %")
    expect(table.locator(f"tr[data-run-id='{b}'] td.best[data-col=top5_acc]")).to_have_count(1)
    expect(table.locator("th[data-col=linear_acc]")).to_have_text("Probe (renamed)")
    times = {run["id"]: run["summary"]["train_seconds"] for run in two_runs}
    longest = max(times, key=lambda run_id: times[run_id])
    expect(table.locator(f"tr[data-run-id='{longest}'] td.best[data-col=train_seconds]")).to_have_count(1)
    # NT-Xent against cross-entropy: two different losses, so neither final loss is "best".
    expect(table.locator("td.best[data-col=final_loss]")).to_have_count(0)


def test_spec_diff_treats_unset_as_one_value_and_fields_that_do_not_apply_as_na(page: Page,
                                                                                 two_runs: list[dict]) -> None:
    """null and "" are one value; temperature under cross-entropy and lr_step_* under cosine are n/a, not diffs."""
    a, b = (run["id"] for run in two_runs)

    def specs_that_differ_only_where_they_do_not_apply(route: Route) -> None:
        response = route.fetch()
        listing = response.json()
        for run in listing["items"]:
            if run["id"] == a:  # simclr, cosine: lr_step_* do not apply
                run["spec"].update(data_path=None, lr_step_epochs=5, temperature=0.5)
            if run["id"] == b:  # supervised: no temperature
                run["spec"].update(data_path="", lr_step_epochs=7, temperature=0.1)
        route.fulfill(response=response, json=listing)

    page.route(lambda url: "/api/runs?" in url, specs_that_differ_only_where_they_do_not_apply)
    page.goto(f"/#/compare?runs={a},{b}")
    page.wait_for_selector("main[data-painted]")
    diff = page.get_by_test_id("spec-diff")
    shown = diff.locator("tbody tr").evaluate_all("rows => rows.map((r) => r.dataset.field)")
    assert {"method", "lr"} <= set(shown), shown
    assert not {"data_path", "temperature", "lr_step_epochs"} & set(shown), shown

    page.get_by_text("Show all fields").click()
    temperature = diff.locator("tr[data-field=temperature]")
    expect(temperature.locator("td")).to_have_text(["0.5", "n/a"])
    expect(temperature).not_to_have_class(re.compile("differs"))
    expect(diff.locator("tr[data-field=lr_step_epochs] td")).to_have_text(["n/a", "n/a"])
    expect(diff.locator("tr[data-field=data_path]")).not_to_have_class(re.compile("differs"))
    expect(diff.locator("tr[data-field=method]")).to_have_class(re.compile("differs"))
    expect(diff.locator("tr[data-field=method] th .diff-mark")).to_have_text("differs")
    expect(diff.locator("tr.differs .diff-mark")).to_have_count(diff.locator("tr.differs").count())
    expect(diff.locator("tr[data-field=dataset] .diff-mark")).to_have_count(0)
    # A wide diff scrolls inside its panel, the field names staying in view.
    sticky = "() => getComputedStyle(document.querySelector('[data-testid=spec-diff] tbody th')).position"
    assert page.evaluate(sticky) == "sticky"
    overflow = "() => getComputedStyle(document.querySelector('[data-testid=spec-diff]').parentElement).overflowX"
    assert page.evaluate(overflow) == "auto"


CHART_TRACES = """(testid) => document.querySelector(`[data-testid=${testid}]`).data
  .filter((t) => t.meta).map((t) => ({ run: t.meta, mode: t.mode, y: t.y, hover: t.hoverinfo !== 'skip' }))"""
TICKS = """(testid) => [...document.querySelectorAll(`[data-testid=${testid}] .ytick text`)]
  .map((t) => t.textContent)"""
KNN = [0.760, 0.7652, 0.7711, 0.7763, 0.7811]  # k-NN at five evaluations: a sparse metric


def test_charts_smooth_only_the_loss_and_read_sparse_metrics_raw_on_unique_ticks(page: Page,
                                                                                   two_runs: list[dict]) -> None:
    """Smoothing leaves k-NN and the learning rate raw; ticks never repeat; log, reset and relative per chart."""
    a, b = (run["id"] for run in two_runs)
    raw: dict[int, dict] = {}

    def with_knn_evaluations(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        last = body["series"]["loss"]["x"][-1]
        body["series"]["knn_acc"] = {"x": [last * (i + 1) / 5 for i in range(5)], "y": KNN, "count": 5}
        raw[body["run_id"]] = body["series"]
        route.fulfill(response=response, json=body)

    page.route(re.compile(r"/api/runs/\d+/series"), with_knn_evaluations)
    page.goto(f"/#/compare?runs={a},{b}&x=step&smooth=0.8")
    page.wait_for_selector("main[data-painted]")

    loss = page.evaluate(CHART_TRACES, "compare-chart-loss")
    assert [t["run"] for t in loss] == [a, a, b, b]  # raw (faint, no hover) and smoothed, per run
    assert [t["hover"] for t in loss] == [False, True, False, True]
    assert loss[0]["y"] == raw[a]["loss"]["y"] and loss[1]["y"] != raw[a]["loss"]["y"]
    for metric, values in (("lr", lambda run: raw[run]["lr"]["y"]), ("knn_acc", lambda run: KNN)):
        traces = page.evaluate(CHART_TRACES, f"compare-chart-{metric}")
        assert [t["run"] for t in traces] == [a, b], metric  # one raw curve per run, not smoothed
        assert all(t["y"] == values(t["run"]) for t in traces), metric
    knn = page.evaluate(CHART_TRACES, "compare-chart-knn_acc")
    assert all("markers" in t["mode"] for t in knn)  # each evaluation is a visible point

    # The hover lists every run at that x with its smoothed and raw value.
    hovermode = "() => document.querySelector('[data-testid=compare-chart-loss]').layout.hovermode"
    assert page.evaluate(hovermode) == "x unified"
    box = page.get_by_test_id("compare-chart-loss").locator(".nsewdrag").first.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    hover = page.get_by_test_id("compare-chart-loss").locator(".hoverlayer")
    expect(hover).to_contain_text(f"#{a}")
    expect(hover).to_contain_text(f"#{b}")
    expect(hover).to_contain_text("raw")

    # The learning rate reads 1e−3, 5e−4 (Plotly writes a minus sign); a zoomed percentage axis never repeats a label.
    lr_ticks = page.evaluate(TICKS, "compare-chart-lr")
    assert len(lr_ticks) > 2 and all(re.fullmatch(r"0|[1-9](\.\d+)?e−\d", t) for t in lr_ticks), lr_ticks
    knn_chart = "document.querySelector('[data-testid=compare-chart-knn_acc]')"
    for zoom in ([0.5, 1.0], [0.755, 0.785], [0.7700, 0.7725]):
        page.evaluate(f"(range) => Plotly.relayout({knn_chart}, {{'yaxis.range': range}})", zoom)
        ticks = page.evaluate(TICKS, "compare-chart-knn_acc")
        assert len(ticks) > 2 and len(set(ticks)) == len(ticks) and all("%" in t for t in ticks), (zoom, ticks)

    # Every curve chart: a log toggle and a y reset; losses relative to their first value.
    panel = page.get_by_test_id("compare-chart-knn_acc").locator("xpath=..")
    panel.get_by_test_id("reset-y").click()
    assert page.evaluate(f"() => {knn_chart}.layout.yaxis.autorange") is True
    panel.get_by_test_id("log-y").click()
    ticks = page.evaluate(TICKS, "compare-chart-knn_acc")
    assert page.evaluate(f"() => {knn_chart}.layout.yaxis.type") == "log" and len(set(ticks)) == len(ticks), ticks
    loss_panel = page.get_by_test_id("compare-chart-loss").locator("xpath=..")
    loss_panel.get_by_test_id("log-y").click()
    y_type = "() => document.querySelector('[data-testid=compare-chart-loss]').layout.yaxis.type"
    assert page.evaluate(y_type) == "log"
    page.get_by_test_id("smoothing").fill("0.5")  # a redraw keeps the user's scale
    page.wait_for_function(f"() => ({CHART_TRACES})('compare-chart-loss')[1].y[1] !== {loss[1]['y'][1]}")
    assert page.evaluate(y_type) == "log"
    loss_panel.get_by_test_id("relative").click()
    page.wait_for_function("() => document.querySelector('[data-testid=compare-chart-loss]').data[0].y[0] === 1")
    assert [t["y"][0] for t in page.evaluate(CHART_TRACES, "compare-chart-loss")] == [1, 1, 1, 1]
    expect(page.get_by_test_id("compare-chart-lr").locator("xpath=..").get_by_test_id("relative")).to_have_count(0)
    page.get_by_test_id("compare-chart-loss").scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    save_screenshots(page, "compare-charts")


def test_list_columns_spec_filters_and_metric_sort_live_in_the_url_and_clone_renames(page: Page,
                                                                                    two_runs: list[dict]) -> None:
    a, b = (run["id"] for run in two_runs)
    labels = {name: info["label"] for name, info in page.request.get("/api/schema/catalog").json()["metrics"].items()}
    page.goto("/#/?cols=silhouette,spec.lr,spec.temperature&spec=lr=0.002")
    expect(page.locator("thead th[data-col='spec.lr']")).to_have_text("lr")
    expect(page.locator("thead th[data-col=silhouette]")).to_have_text(labels["silhouette"])
    expect(page.locator("thead th[data-col=linear_acc]")).to_have_count(0)
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator(f"tr[data-run-id='{b}'] td[data-spec=lr]")).to_have_text("0.002")
    expect(page.locator(f"tr[data-run-id='{b}'] td[data-spec=temperature]")).to_have_text("n/a")  # cross-entropy
    expect(page.get_by_test_id("spec-chip")).to_have_text("lr = 0.002×")

    page.get_by_test_id("spec-chip").get_by_role("button").click()  # filter off; pick a column and a filter
    page.locator(".columns-menu summary").click()
    page.get_by_test_id("col-final_loss").check()
    expect(page.locator("thead th[data-col=final_loss]")).to_have_text(labels["final_loss"])
    expect(page).to_have_url(re.compile(r"cols=silhouette%2Cfinal_loss%2Cspec\.temperature%2Cspec\.lr"))  # menu order
    page.locator(".columns-menu summary").click()
    page.locator("thead th[data-col=final_loss] button").click()  # any final metric sorts, on the server
    expect(page.locator("thead th[data-col=final_loss]")).to_have_attribute("aria-sort", "descending")
    order = page.locator("tbody tr[data-run-id]").evaluate_all("rows => rows.map(r => Number(r.dataset.runId))")
    losses = {run["id"]: run["summary"]["final_loss"] for run in two_runs}
    assert [i for i in order if i in (a, b)] == sorted((a, b), key=lambda i: -losses[i])
    page.locator("thead th[data-col='spec.lr'] button").click()  # and so does any spec field shown
    expect(page).to_have_url(re.compile(r"sort=spec\.lr"))
    expect(page.locator("thead th[data-col='spec.lr']")).to_have_attribute("aria-sort", "descending")
    order = page.locator("tbody tr[data-run-id]").evaluate_all("rows => rows.map(r => Number(r.dataset.runId))")
    assert [i for i in order if i in (a, b)] == [b, a]  # lr 0.002 above SimCLR's default 0.001
    page.get_by_test_id("spec-filter-field").select_option("method")
    page.get_by_test_id("spec-filter-value").fill("supervised")
    page.get_by_test_id("spec-filter-add").click()
    expect(page).to_have_url(re.compile(r"spec=method%3Dsupervised"))
    expect(page.locator("tbody tr")).to_have_count(1)

    page.locator(f"tr[data-run-id='{b}']").get_by_test_id("row-clone").click()
    expect(page.get_by_test_id("field-name")).to_have_value("baseline (copy)")


MEAN_SPREADS = [(kind, mean, spread) for kind in ("percent", "number", "duration", "integer", "scientific")
                for mean, spread in ((0.9734, 0.0042), (0.2841, 0.0042), (4.2, 0.0), (8.34, 0.41), (187.3, 12.2),
                                     (1234.5, 230.0), (0.5, 0.096), (3.14159, 0.000137), (0.9712, 0.0151))]


def test_mean_and_spread_read_as_the_cli_writes_them(page: Page) -> None:
    """The page's mean ± spread is the CLI's format_mean_spread, for every display format."""
    page.goto("/")
    shown = page.evaluate("""async (cases) => {
      const { formatMeanSpread } = await import('/static/js/format.js');
      return cases.map(([kind, mean, spread]) => formatMeanSpread(kind, mean, spread));
    }""", MEAN_SPREADS)
    assert shown == [format_mean_spread(kind, mean, spread) for kind, mean, spread in MEAN_SPREADS]
