"""Layout at 1366 and 1920 px, and the run page's confusion matrix, in Chromium against the real service.

One study on digits (SimCLR and the supervised baseline, two seeds, 200 training images, one epoch) gives the runs
list, a run page, the compare page and the study page something to show.
"""

from __future__ import annotations

import io
from typing import Literal

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.helpers import save_screenshots, wait_succeeded

pytestmark = pytest.mark.browser

BASE = {"dataset": "digits", "epochs": 1, "batch_size": 64, "max_train_samples": 200, "probe_epochs": 5,
        "tsne_samples": 50}
SIZES = {1366: 860, 1920: 1080}
# Fashion-MNIST's class names (worker/engine/data.py): long enough to be drawn rotated under the matrix.
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Elements whose right edge passes the viewport's, outside any box that clips or scrolls them (those are allowed
# to be wider than the screen: the user scrolls inside them).
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  return [...document.body.querySelectorAll("*")].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > width + 0.5 && !clipped(el);
  }).map((el) => `${el.tagName.toLowerCase()}.${el.className} right=${Math.round(el.getBoundingClientRect().right)}`);
}"""
# Whether a click at the element's centre reaches it (nothing drawn over it: a pinned column, a neighbour).
REACHABLE = """(el) => {
  const r = el.getBoundingClientRect();
  return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
}"""
CONTENT_WIDTH = """() => {
  const main = document.querySelector("main"), style = getComputedStyle(main);
  return main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}"""
# Per chart grid: how many tracks it has (auto-fit's collapsed ones included) and in how many columns its charts sit.
CHART_GRID = """(selector) => {
  const grid = document.querySelector(selector);
  const lefts = new Set([...grid.children].map((panel) => Math.round(panel.getBoundingClientRect().left)));
  const widths = [...grid.querySelectorAll(".js-plotly-plot")].map((chart) => chart.getBoundingClientRect().width);
  return { tracks: getComputedStyle(grid).gridTemplateColumns.split(" ").length, columns: lefts.size, widths };
}"""
CHARTS_DRAWN = """(selector) => {
  const charts = [...document.querySelectorAll(`${selector} .chart`)];
  return charts.length >= 2 && charts.every((chart) => chart.data);
}"""
CONFUSION = "document.querySelector('[data-testid=confusion-chart]')"
# The confusion chart as drawn: tick label and axis title boxes, each cell's centre and size, each annotation.
CONFUSION_DRAWN = f"""() => {{
  const div = {CONFUSION}, fl = div._fullLayout, box = div.getBoundingClientRect();
  const rect = (el) => {{ const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }};
  const n = div.data[0].x.length;
  const centres = (axis, offset) => Array.from({{length: n}}, (_, i) => offset + axis._offset + axis.l2p(i));
  return {{
    n, view: div.dataset.view, counts: div.data[0].text,
    xTitle: rect(div.querySelector(".xtitle")), yTitle: rect(div.querySelector(".ytitle")),
    xTicks: [...div.querySelectorAll(".xtick text")].map(rect),
    yTicks: [...div.querySelectorAll(".ytick text")].map(rect),
    cx: centres(fl.xaxis, box.left), cy: centres(fl.yaxis, box.top),
    cell: Math.abs(fl.xaxis.l2p(1) - fl.xaxis.l2p(0)),
    notes: [...div.querySelectorAll("g.annotation")].map((g) => {{
      const text = g.querySelector("text");
      return [Number(g.dataset.index), text.textContent, getComputedStyle(text).fill];
    }}),
  }};
}}"""


@pytest.fixture(scope="module")
def study(http: httpx.Client) -> dict:
    """A finished study of four runs: {"id": study id, "run_ids": its runs, SimCLR's first}."""
    response = http.post("/api/studies", json={"name": "layout", "base": BASE, "seeds": [0, 1],
                                               "axes": {"method": ["simclr", "supervised"]}})
    assert response.status_code == 201, response.text
    run_ids = [run["id"] for run in response.json()["runs"]]
    wait_succeeded(http, run_ids)
    return {"id": response.json()["id"], "run_ids": run_ids}


def _open(page: Page, view: str, study: dict) -> None:
    """Go to a view and wait until its tables and charts are drawn."""
    ids = study["run_ids"]
    if view == "runs":
        page.goto("/")
        expect(page.get_by_test_id("row-delete")).to_have_count(len(ids))
        _unfold_groups(page)
    elif view == "run":
        page.goto(f"/#/runs/{ids[0]}")
        page.wait_for_function(f"() => Boolean({CONFUSION}?.data) && ({CHARTS_DRAWN})('.grid-2')", timeout=30_000)
    elif view == "compare":
        page.goto(f"/#/compare?runs={','.join(map(str, ids))}")
        page.wait_for_function(f"() => ({CHARTS_DRAWN})('[data-testid=compare-charts]')", timeout=30_000)
    else:
        page.goto(f"/#/studies/{study['id']}")
        page.wait_for_function(f"() => ({CHARTS_DRAWN})('[data-testid=study-curves]')", timeout=30_000)
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)  # responsive charts settle after the last resize


def _unfold_groups(page: Page) -> None:
    """Expand every folded seed group of the runs list (a study's cells are seed groups), so each run has its row."""
    folded = page.locator("[data-testid=group-toggle][aria-expanded=false]")
    for _ in range(folded.count()):
        folded.first.click()
    expect(page.locator("[data-testid=row-delete]:visible")).to_have_count(
        page.get_by_test_id("row-delete").count())


CHART_GRIDS = {"run": ".grid-2", "compare": "[data-testid=compare-charts]", "study": "[data-testid=study-curves]"}


@pytest.mark.parametrize("width", SIZES)
@pytest.mark.parametrize("view", ["runs", "run", "compare", "study"])
def test_views_fit_the_screen_and_use_its_width(page: Page, study: dict, view: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": SIZES[width]})
    _open(page, view, study)
    save_screenshots(page, f"layout-{view}-{width}")

    assert page.evaluate(OVERFLOWING) == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # no sideways scroll of the page
    content = page.evaluate(CONTENT_WIDTH)
    assert content > (1600 if width == 1920 else 1300), content

    if view in CHART_GRIDS:
        grid = page.evaluate(CHART_GRID, CHART_GRIDS[view])
        assert grid["columns"] >= 2, grid
        assert min(grid["widths"]) >= 500, grid  # each chart gets a useful width, 1366 px included
        if view != "run":  # the compare and study charts may take three columns on a wide screen
            assert grid["tracks"] == (3 if width == 1920 else 2), grid


@pytest.mark.parametrize("width", SIZES)
def test_runs_table_row_actions_are_fully_visible(page: Page, study: dict, width: int) -> None:
    page.set_viewport_size({"width": width, "height": SIZES[width]})
    _open(page, "runs", study)
    wrap = page.get_by_test_id("runs-table").locator("xpath=ancestor::div[contains(@class, 'table-wrap')]")
    sizes = wrap.evaluate("(w) => [w.scrollWidth, w.clientWidth]")
    assert sizes[0] <= sizes[1], sizes  # the default columns fit, seed groups open: nothing hidden under the actions
    box = wrap.bounding_box()
    assert box is not None
    buttons = page.locator("[data-testid=runs-table] tbody td.col-actions .button:visible").all()
    assert len(buttons) >= 2 * len(study["run_ids"])  # Clone and Delete on every row
    for button in buttons:
        inner = button.bounding_box()
        assert inner is not None
        right = inner["x"] + inner["width"]
        assert box["x"] <= inner["x"] and right <= min(box["x"] + box["width"], width), (inner, box)
        assert button.evaluate(REACHABLE)


def test_runs_table_with_many_columns_scrolls_and_keeps_its_actions_in_view(page: Page, study: dict) -> None:
    """Columns chosen beyond the screen's width: the table scrolls inside its box, the row actions stay pinned."""
    cols = "knn_acc,linear_acc,linear_acc_head,silhouette,final_loss,spec.lr,spec.temperature,spec.batch_size"
    page.goto(f"/#/?cols={cols},spec.optimizer")
    expect(page.get_by_test_id("row-delete")).to_have_count(len(study["run_ids"]))
    _unfold_groups(page)
    wrap = page.locator(".table-wrap")
    sizes = wrap.evaluate("(w) => [w.scrollWidth, w.clientWidth]")
    assert sizes[0] > sizes[1], sizes  # wider than the screen: the case under test
    assert page.evaluate(OVERFLOWING) == []
    box = wrap.bounding_box()
    assert box is not None
    for scroll in ("0", "w.scrollWidth / 2"):
        wrap.evaluate(f"(w) => {{ w.scrollLeft = {scroll}; }}")
        for button in page.get_by_test_id("row-delete").all():
            inner = button.bounding_box()
            assert inner is not None and inner["x"] + inner["width"] <= box["x"] + box["width"], (scroll, inner, box)
            assert button.evaluate(REACHABLE), scroll


def test_spec_diff_scrolls_with_its_field_column_in_view(page: Page, study: dict) -> None:
    """At a width where the diff of four runs (all fields) is wider than its panel, it scrolls inside the panel and
    the field names stay put."""
    page.set_viewport_size({"width": 760, "height": 860})
    _open(page, "compare", study)
    page.locator("label[for=spec-all]").click()
    scroller = page.locator(".spec-diff-scroll")
    sizes = scroller.evaluate("(s) => [s.scrollWidth, s.clientWidth]")
    assert sizes[0] > sizes[1], sizes  # wider than the panel: the case under test
    assert page.evaluate(OVERFLOWING) == []
    field = scroller.locator("tbody tr th").first
    value = scroller.locator("tbody tr td").last
    before = (field.bounding_box(), value.bounding_box())
    scroller.evaluate("(s) => { s.scrollLeft = s.scrollWidth; }")
    after = (field.bounding_box(), value.bounding_box())
    assert before[0] and after[0] and before[1] and after[1]
    assert after[0]["x"] == pytest.approx(before[0]["x"], abs=0.5)  # the field column is sticky
    assert after[1]["x"] < before[1]["x"] - 20  # the values moved
    # The last value is now in view, not hidden behind the sticky column.
    scroll_box = scroller.bounding_box()
    assert scroll_box and after[1]["x"] + after[1]["width"] <= scroll_box["x"] + scroll_box["width"] + 0.5


def _intersects(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _luminance(rgb: tuple[int, ...]) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb[:3])]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in css[css.index("(") + 1:-1].split(",")[:3])


def _confusion(page: Page) -> dict:
    page.evaluate(f"() => {CONFUSION}.scrollIntoView({{block: 'center'}})")
    page.mouse.move(0, 0)
    page.wait_for_timeout(200)
    drawn: dict = page.evaluate(CONFUSION_DRAWN)
    return drawn


def _assert_titles_clear(drawn: dict) -> None:
    assert drawn["xTicks"] and drawn["yTicks"]
    assert not [tick for tick in drawn["xTicks"] if _intersects(tick, drawn["xTitle"])], drawn
    assert not [tick for tick in drawn["yTicks"] if _intersects(tick, drawn["yTitle"])], drawn
    assert drawn["xTitle"][1] >= max(tick[3] for tick in drawn["xTicks"])  # "predicted" below the class names
    assert drawn["yTitle"][2] <= min(tick[0] for tick in drawn["yTicks"])  # "true class" left of them


@pytest.mark.parametrize("width", SIZES)
def test_confusion_titles_clear_of_class_names(page: Page, study: dict, width: int) -> None:
    page.set_viewport_size({"width": width, "height": SIZES[width]})
    _open(page, "run", study)
    _assert_titles_clear(_confusion(page))
    # The same matrix under Fashion-MNIST's long class names, which are drawn rotated.
    page.evaluate(f"""async (names) => {{
      const {{ drawConfusion }} = await import("/static/js/evaluation.js");
      const div = {CONFUSION};
      await drawConfusion(div, {{ classes: names, confusion_matrix: div.data[0].text }});
    }}""", FASHION)
    drawn = _confusion(page)
    assert page.evaluate(f"() => {CONFUSION}.layout.xaxis.tickangle") != 0
    _assert_titles_clear(drawn)


def test_confusion_recall_view_rows_sum_to_100_and_counts_stay_in_hover(page: Page, http: httpx.Client,
                                                                         study: dict) -> None:
    run_id = study["run_ids"][0]
    matrix = http.get(f"/api/runs/{run_id}/artifacts/evaluation.json").json()["confusion_matrix"]
    _open(page, "run", study)
    expect(page.get_by_test_id("confusion-counts")).to_have_attribute("aria-pressed", "true")
    drawn = _confusion(page)
    n = drawn["n"]
    assert drawn["view"] == "counts"
    assert [[int(text) for _, text, _ in drawn["notes"][i * n:(i + 1) * n]] for i in range(n)] == matrix

    page.get_by_test_id("confusion-recall").click()
    expect(page.get_by_test_id("confusion-recall")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("confusion-counts")).to_have_attribute("aria-pressed", "false")
    drawn = _confusion(page)
    assert drawn["view"] == "recall"
    rows = [[int(text) for _, text, _ in drawn["notes"][i * n:(i + 1) * n]] for i in range(n)]
    for row, counts in zip(rows, matrix, strict=True):
        assert sum(row) == 100, row
        assert all(abs(shown - 100 * count / sum(counts)) < 1 for shown, count in zip(row, counts, strict=True))
    assert drawn["counts"] == matrix  # the hover still gives the counts (%{text} images)
    assert "%{text} images" in page.evaluate(f"() => {CONFUSION}.data[0].hovertemplate")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_confusion_cell_text_passes_wcag_aa(page: Page, study: dict, scheme: Literal["light", "dark"]) -> None:
    """Every cell's text against the cell's colour as drawn (read from the screen), in counts and in recall."""
    _open(page, "run", study)
    page.emulate_media(color_scheme=scheme)
    for view in ("counts", "recall"):
        page.get_by_test_id(f"confusion-{view}").click()
        page.wait_for_function(f"() => {CONFUSION}.dataset.view === '{view}'")
        page.wait_for_timeout(300)  # redrawn after the scheme change
        drawn = _confusion(page)
        assert drawn["cell"] >= 12, drawn["cell"]  # room to sample the fill beside the text
        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        fills = set()
        for index, text, color in drawn["notes"]:
            i, j = divmod(index, drawn["n"])
            corner = (int(drawn["cx"][j] - drawn["cell"] / 2 + 3), int(drawn["cy"][i] - drawn["cell"] / 2 + 3))
            fill = shot.getpixel(corner)
            assert isinstance(fill, tuple)
            fills.add(fill)
            ratio = _contrast(_rgb(color), fill)
            assert ratio >= 4.5, f"{scheme} {view}: cell ({i}, {j}) '{text}' {color} on {fill}: {ratio:.2f}"
        assert len(fills) > 2  # the cells are shaded by share, not one flat colour
    save_screenshots(page, "confusion-recall")
