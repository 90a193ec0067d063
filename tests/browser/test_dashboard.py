"""The dashboard in Chromium against the real service: empty list, schema-built form, a live run
page whose charts grow while training runs, the checkpoint download, inline validation errors, cancel.

The tests share one service and run in file order: the first one expects no runs yet.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import save_screenshots

pytestmark = pytest.mark.browser

FINAL = {"succeeded", "failed", "canceled"}

STATUS_AND_LOSS_POINTS = """() => {
  const chart = document.querySelector('[data-testid=loss-chart]');
  const status = document.querySelector('[data-testid=run-status]');
  return [status ? status.textContent : null, chart && chart.data ? chart.data[0].x.length : -1];
}"""

# Count calls that redraw the loss chart from scratch versus calls that append to it.
COUNT_LOSS_CHART_CALLS = """() => {
  window.lossChartCalls = {newPlot: 0, react: 0, redraw: 0, extendTraces: 0};
  for (const name of Object.keys(window.lossChartCalls)) {
    const original = Plotly[name];
    Plotly[name] = function (gd, ...rest) {
      if (gd && gd.dataset && gd.dataset.testid === 'loss-chart') window.lossChartCalls[name] += 1;
      return original.call(this, gd, ...rest);
    };
  }
}"""

TSNE_TRACES = """() => {
  const chart = document.querySelector('[data-testid=tsne-chart]');
  return chart && chart.data ? chart.data.map((t) => [t.name, t.type, t.x.length]) : [];
}"""


def run_id_from_url(page: Page) -> int:
    match = re.search(r"#/runs/(\d+)$", page.url)
    assert match, page.url
    return int(match.group(1))


def test_new_run_from_form_streams_live_and_downloads_checkpoint(page: Page) -> None:
    page.goto("/")
    empty = page.get_by_test_id("empty-state")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("No runs yet — start one")
    save_screenshots(page, "runs-empty")

    empty.get_by_role("link", name="start one").click()
    expect(page).to_have_url(re.compile(r"#/new$"))
    method = page.get_by_test_id("field-method")
    expect(method).to_be_visible()
    # Methods and datasets read as the catalogue's labels. Fields that apply to some methods only follow the method.
    catalog = page.request.get("/api/schema/catalog").json()
    # The method menu is grouped by family, in the catalogue's order, each method under its own family.
    groups = method.locator("optgroup").evaluate_all(
        "gs => gs.map(g => [g.label, [...g.querySelectorAll('option')].map(o => o.title)])")
    assert [label for label, _ in groups] == list(catalog["families"].values())
    for label, names in groups:
        assert names and all(catalog["families"][catalog["methods"][n]["family"]] == label for n in names)
    assert sorted(n for _, names in groups for n in names) == sorted(catalog["methods"])
    method.select_option(label=catalog["methods"]["byol"]["label"])
    expect(page.get_by_test_id("field-byol_momentum")).to_be_visible()
    method.select_option(label=catalog["methods"]["supervised"]["label"])
    expect(page.get_by_test_id("field-temperature")).to_be_hidden()
    method.select_option(label=catalog["methods"]["simclr"]["label"])
    expect(page.get_by_test_id("field-temperature")).to_be_visible()
    # ... and so do those of one dataset or one optimiser.
    dataset = page.get_by_test_id("field-dataset")
    dataset.select_option(label=catalog["datasets"]["image_folder"]["label"])
    expect(page.get_by_test_id("field-data_path")).to_be_visible()
    page.locator("details[data-group=optimisation] > summary").click()
    page.get_by_test_id("field-optimizer").select_option(label="sgd")
    expect(page.get_by_test_id("field-nesterov")).to_be_visible()
    # The folded section's count is of the fields that apply: sgd's momentum and nesterov leave with adam.
    count = page.locator("details[data-group=optimisation] > summary .count")
    with_sgd = int(re.sub(r"\D", "", count.inner_text()))
    page.get_by_test_id("field-optimizer").select_option(label="adam")
    expect(page.get_by_test_id("field-nesterov")).to_be_hidden()
    expect(count).to_have_text(re.compile(rf"\({with_sgd - 2}\)"))
    dataset.select_option(label=catalog["datasets"]["digits"]["label"])
    expect(page.get_by_test_id("field-data_path")).to_be_hidden()
    # Small batches give a few seconds of training: long enough to watch the curve grow.
    page.get_by_test_id("field-epochs").fill("4")
    page.get_by_test_id("field-batch_size").fill("32")
    page.get_by_test_id("field-name").fill("browser test")
    save_screenshots(page, "new-run-form")
    page.get_by_test_id("submit-run").click()

    expect(page).to_have_url(re.compile(r"#/runs/\d+$"))
    run_id = run_id_from_url(page)
    expect(page.get_by_test_id("run-name")).to_have_text("browser test")
    page.wait_for_function("() => document.querySelector('[data-testid=loss-chart]').data !== undefined")
    page.evaluate(COUNT_LOSS_CHART_CALLS)

    samples: list[tuple[str, int]] = []
    shot_live = False
    deadline = time.monotonic() + 400  # generous: CI machines may be busy
    while time.monotonic() < deadline:
        status, points = page.evaluate(STATUS_AND_LOSS_POINTS)
        samples.append((status, points))
        if status in FINAL:
            break
        running = [n for s, n in samples if s == "running"]
        if not shot_live and len(running) >= 2 and running[-1] > running[0]:
            save_screenshots(page, "run-live")  # only once growth is seen: a fast run may be short
            shot_live = True
        page.wait_for_timeout(250)
    assert samples[-1][0] == "succeeded", f"run {run_id} ended as {samples[-1]}"

    # The loss chart gained points while the run was still running, by appending, not redrawing.
    running = [points for status, points in samples if status == "running"]
    assert len(running) >= 2 and running[-1] > running[0] >= 0, samples
    calls = page.evaluate("window.lossChartCalls")
    assert calls["extendTraces"] > 0 and calls["newPlot"] == calls["react"] == calls["redraw"] == 0, calls

    linear = page.get_by_test_id("final-linear-acc")
    expect(linear).to_have_attribute("data-value", re.compile(r"\d"))
    value = float(linear.get_attribute("data-value") or "nan")
    assert value > 0.5
    shown = linear.inner_text()
    assert re.fullmatch(r"\d+\.\d %", shown) and abs(float(shown[:-2]) / 100 - value) < 1e-3, shown

    page.wait_for_function(f"() => ({TSNE_TRACES})().length > 0", timeout=30_000)
    traces = page.evaluate(TSNE_TRACES)
    assert [name for name, _, _ in traces] == [str(digit) for digit in range(10)], traces  # one trace per class
    assert sum(count for _, _, count in traces) > 0

    # The System panel: the run's host memory against time, as the worker sampled it (the points stored).
    memory_chart = "document.querySelector('[data-testid=system-memory-chart]')"
    page.wait_for_function(f"() => ({memory_chart}.data || []).some(t => t.y.length > 0)")
    drawn = page.evaluate(f"() => {memory_chart}.data.map(t => [t.name, t.y])")
    stored = page.request.get(f"/api/runs/{run_id}/metrics", params={"limit": 10000}).json()["items"]
    assert drawn == [["Host memory", [p["value"] for p in stored if p["name"] == "system.rss_mb"]]]
    expect(page.get_by_test_id("system-note")).to_be_hidden()
    # Drawn, not only held: the use chart's x axis reaches its last sample (CPU, and the data wait of each epoch).
    use_chart = "document.querySelector('[data-testid=system-use-chart]')"
    last_x, axis_end, waits = page.evaluate(
        f"() => [Math.max(...{use_chart}.data.flatMap(t => t.x)), {use_chart}._fullLayout.xaxis.range[1],"
        f" {use_chart}.data.find(t => t.name === 'Data wait').x.length]")
    assert last_x > 1 and axis_end >= last_x and waits == 4, (last_x, axis_end, waits)

    # The spec lists what this SimCLR run used, not the knobs of other methods or optimisers.
    spec_rows = page.get_by_test_id("spec-table").locator("th")
    expect(spec_rows.filter(has_text=re.compile(r"^temperature$"))).to_have_count(1)
    expect(spec_rows.filter(has_text=re.compile(r"^margin$"))).to_have_count(0)
    expect(spec_rows.filter(has_text=re.compile(r"^nesterov$"))).to_have_count(0)

    button = page.get_by_test_id("download-checkpoint")
    expect(button).to_be_visible()
    save_screenshots(page, "run-finished")
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename == f"run-{run_id}-encoder.safetensors"
    data = download.path().read_bytes()
    assert len(data) > 8
    header_size = int.from_bytes(data[:8], "little")
    assert json.loads(data[8:8 + header_size]), "not a safetensors file"

    page.get_by_role("link", name="← All runs").click()
    row = page.locator(f"tr[data-run-id='{run_id}']")
    expect(row.get_by_test_id("row-status")).to_have_text("succeeded")
    expect(row.locator(".col-linear_acc")).to_have_text(re.compile(r"\d+\.\d %"))
    save_screenshots(page, "runs-list")


def test_server_validation_errors_show_next_to_their_fields(page: Page) -> None:
    total_before = page.request.get("/api/runs").json()["total"]
    page.goto("/#/new")
    page.get_by_test_id("field-name").fill("keep me")
    epochs = page.get_by_test_id("field-epochs")
    epochs.fill("-1")

    # The browser's own min check stops the first attempt; nothing is sent.
    page.get_by_test_id("submit-run").click()
    expect(page.get_by_test_id("error-epochs")).to_be_hidden()

    page.get_by_test_id("run-form").evaluate("form => { form.noValidate = true; }")
    page.get_by_test_id("submit-run").click()
    error = page.locator(".field[data-field=epochs] [data-testid=error-epochs]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("greater than or equal to 0")
    expect(epochs).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("form-errors")).to_be_visible()
    # What the user typed is kept, and the page did not move.
    expect(epochs).to_have_value("-1")
    expect(page.get_by_test_id("field-name")).to_have_value("keep me")
    expect(page).to_have_url(re.compile(r"#/new$"))
    save_screenshots(page, "new-run-errors")

    # A cross-field error lands in its collapsed section, which opens.
    epochs.fill("3")
    expect(page.get_by_test_id("error-epochs")).to_be_hidden()
    page.locator("details[data-group=optimisation] > summary").click()
    page.get_by_test_id("field-warmup_epochs").fill("5")
    page.locator("details[data-group=optimisation] > summary").click()
    page.get_by_test_id("submit-run").click()
    warmup_error = page.get_by_test_id("error-warmup_epochs")
    expect(warmup_error).to_be_visible()
    expect(warmup_error).to_contain_text("smaller than epochs")
    assert page.request.get("/api/runs").json()["total"] == total_before


def test_list_refreshes_without_reload_and_a_run_can_be_canceled(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    page.evaluate("window.sameDocument = true")
    response = page.request.post("/api/runs", data={"name": "to cancel", "dataset": "digits", "epochs": 500})
    assert response.status == 201, response.text()
    run_id = response.json()["id"]

    row = page.locator(f"tr[data-run-id='{run_id}']")
    expect(row).to_be_visible(timeout=10_000)
    assert page.evaluate("window.sameDocument") is True
    row.get_by_test_id("run-link").click()
    expect(page).to_have_url(re.compile(rf"#/runs/{run_id}$"))

    cancel = page.get_by_test_id("cancel-run")
    expect(cancel).to_be_visible()
    cancel.click()
    expect(page.get_by_test_id("run-status")).to_have_text("canceled", timeout=120_000)
    expect(cancel).to_be_hidden()
    expect(page.get_by_test_id("status-log")).to_contain_text("canceled")

    # The same settings can seed a new run.
    page.get_by_test_id("clone-run").click()
    expect(page).to_have_url(re.compile(rf"#/new\?from={run_id}$"))
    expect(page.get_by_test_id("field-epochs")).to_have_value("500")
    expect(page.get_by_test_id("field-name")).to_have_value("to cancel (copy)")  # the copy gets its own name


def test_unknown_run_says_not_found(page: Page) -> None:
    page.goto("/#/runs/987654")
    expect(page.get_by_test_id("run-not-found")).to_contain_text("Run #987654 not found")


def test_new_run_is_reachable_by_keyboard(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "new-run":
            break
    else:
        pytest.fail("Tab never reached the New run button")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/new$"))
    expect(page.get_by_test_id("field-method")).to_be_focused()


LIVE_LOSS_CHART = """async (batches) => {
  const { MetricCharts } = await import('/static/js/run_charts.js');
  await (await import('/static/js/catalog.js')).loadCatalog();  // the app loads it too; this is the same promise
  await window.plotlyReady;
  const loss = document.createElement('div'), acc = document.createElement('div');
  for (const div of [loss, acc]) { div.style.width = '600px'; div.style.height = '300px'; document.body.append(div); }
  const charts = new MetricCharts(loss, acc, 10);
  await charts.init([]);
  const types = [loss.data[0].type];
  let step = 0;
  for (const size of batches) {
    for (let i = 0; i < size; i++) {
      step += 1;
      charts.add({ name: 'loss', step, epoch: step / 1000, value: 1 / step });
      charts.add({ name: 'lr', step, epoch: step / 1000, value: 0.1 });
    }
    charts.flush();
    await new Promise((resolve) => setTimeout(resolve, 50));
    types.push(loss.data[0].type, loss.data[1].type);
  }
  const points = loss.data[0].x.length;
  charts.dispose();
  return { types, points };
}"""


def test_live_loss_chart_is_svg_until_a_trace_passes_20000_points(page: Page) -> None:
    page.goto("/")
    page.evaluate("async () => (await import('/static/js/charts.js')).loadPlotly()")  # a chart's first draw does
    page.wait_for_function("() => window.Plotly !== undefined")
    page.evaluate("() => { window.plotlyReady = Promise.resolve(); }")
    result = page.evaluate(LIVE_LOSS_CHART, [100, 19_800, 200])
    # Empty, then 100 and 19,900 points as SVG; at 20,100 both traces turn to WebGL and keep every point.
    assert result["types"] == ["scatter", "scatter", "scatter", "scatter", "scatter", "scattergl", "scattergl"]
    assert result["points"] == 20_100


RUN_CHARTS_IN_PANELS = """async () => {
  const { MetricCharts } = await import('/static/js/run_charts.js');
  await (await import('/static/js/catalog.js')).loadCatalog();
  const divs = ['loss', 'acc'].map((name) => {
    const [panel, title, div] = ['section', 'h2', 'div'].map((tag) => document.createElement(tag));
    title.textContent = name;
    panel.dataset.testid = `panel-${name}`;
    Object.assign(div.style, { width: '600px', height: '300px' });
    panel.append(title, div);
    document.querySelector('main').append(panel);
    return div;
  });
  window.runCharts = new MetricCharts(divs[0], divs[1], 4);
  await window.runCharts.init([]);
}"""

FIRST_POINTS = """async () => {
  for (let step = 1; step <= 20; step++) {
    window.runCharts.add({ name: 'loss', step, epoch: step / 5, value: 2 / step });
    window.runCharts.add({ name: 'lr', step, epoch: step / 5, value: 0.001 - step * 0.00001 });
  }
  window.runCharts.add({ name: 'knn_acc', step: 5, epoch: 1, value: 0.61 });
  window.runCharts.flush();
}"""

AXES = """(name) => {
  const div = document.querySelector(`[data-testid=panel-${name}] .js-plotly-plot`);
  const texts = (selector) => [...div.querySelectorAll(selector)].map((t) => t.textContent);
  return { y: texts('.ytick text'), y2: texts('.y2tick text'), x: texts('.xtick text'),
           notes: texts('.annotation-text'), type: div._fullLayout.yaxis.type, range: div._fullLayout.yaxis.range };
}"""


def test_run_charts_wait_for_the_first_point_then_read_lr_as_9_9e_4_with_log_and_reset(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    page.evaluate(RUN_CHARTS_IN_PANELS)
    for name in ("loss", "acc"):  # a sentence, not axes from −1 to 4
        empty = page.evaluate(AXES, name)
        assert empty["notes"] == ["Waiting for the first point…"] and empty["x"] == empty["y"] == [], empty
    page.evaluate(FIRST_POINTS)
    page.wait_for_function(f"() => ({AXES})('loss').y.length > 0")
    loss = page.evaluate(AXES, "loss")
    assert loss["notes"] == [] and loss["x"], loss
    assert loss["y2"] and all(re.fullmatch(r"[1-9](\.\d)?e−\d", t) for t in loss["y2"]), loss["y2"]  # learning rate

    acc = page.get_by_test_id("panel-acc")
    acc.get_by_test_id("log-y").click()
    assert page.evaluate(AXES, "acc")["type"] == "log"
    acc.get_by_test_id("log-y").click()
    page.evaluate("() => Plotly.relayout(window.runCharts.divs.acc, {'yaxis.range': [0.6, 0.62]})")
    acc.get_by_test_id("reset-y").click()
    shown = page.evaluate(AXES, "acc")
    # Fitted to the one point (61 %), not 0–100 %: its span padded by 2 points of percent each side.
    assert shown["type"] == "linear" and [round(v, 4) for v in shown["range"]] == [0.59, 0.63], shown
    assert len(set(shown["y"])) == len(shown["y"]) and all(t.endswith("%") for t in shown["y"]), shown
