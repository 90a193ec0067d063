"""t-SNE maps in Chromium against the real service (issue 14, point 1): wide maps with one class legend on the
compare page, aligned by Procrustes, enlarged in a dialog, and the random-init map beside the trained one.

Three real digits runs are trained once for the module: two with the random-init baseline (200 sampled test
images), one without it and with a smaller sample (100 images, a subset of the others': the sample is fixed).
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.helpers import save_screenshots, wait_succeeded

pytestmark = pytest.mark.browser

SPEC = {"dataset": "digits", "epochs": 1, "batch_size": 128, "probe_epochs": 20, "tsne_samples": 200}
DRAWN = "(testid) => [...document.querySelectorAll(`[data-testid=${testid}]`)].filter((d) => d.data).length"
# Each drawn map's points as {x, y, index}, read from the Plotly traces in the page.
MAP_POINTS = """(testid) => [...document.querySelectorAll(`[data-testid=${testid}]`)].map((div) =>
  div.data.flatMap((trace) => trace.x.map((x, i) => ({ x, y: trace.y[i], index: trace.customdata[i] }))))"""
# How far a map still moves when Procrustes-aligned to the reference again, relative to the reference's extent:
# about 0 when it is aligned already.
REFIT_MOVE = """async ([reference, points]) => {
  const { procrustes, rmsDistance } = await import('/static/js/tsne.js');
  const fit = procrustes(reference, points);
  const mean = (key) => reference.reduce((sum, p) => sum + p[key], 0) / reference.length;
  const [cx, cy] = [mean('x'), mean('y')];
  const extent = Math.sqrt(reference.reduce((sum, p) => sum + (p.x - cx) ** 2 + (p.y - cy) ** 2, 0) / reference.length);
  return rmsDistance(points, points.map(fit.apply)) / extent;
}"""
RMS = """async ([a, b]) => (await import('/static/js/tsne.js')).rmsDistance(a, b)"""


@pytest.fixture(scope="module")
def runs(http: httpx.Client) -> list[dict]:
    """Three finished runs: SimCLR and supervised with the random-init baseline, SimCLR without it."""
    specs = [{**SPEC, "name": "contrastive", "method": "simclr"},
             {**SPEC, "name": "supervised baseline with a long name that cannot fit on one line",
              "method": "supervised"},
             {**SPEC, "name": "no baseline", "method": "simclr", "seed": 1, "tsne_samples": 100,
              "random_baseline": False}]
    return wait_succeeded(http, [http.post("/api/runs", json=spec).json()["id"] for spec in specs])


def _open_compare(page: Page, runs: list[dict]) -> None:
    page.goto(f"/#/compare?runs={','.join(str(run['id']) for run in runs)}")
    page.wait_for_function(f"() => ({DRAWN})('compare-tsne') === {len(runs)}", timeout=30_000)


def test_compare_maps_fill_the_row_share_one_legend_and_enlarge(page: Page, runs: list[dict]) -> None:
    _open_compare(page, runs)
    legend = page.get_by_test_id("tsne-legend")
    expect(legend).to_have_count(1)  # once for all maps, not once per card
    expect(legend.locator("li")).to_have_count(10)
    sizes = page.evaluate("""() => [...document.querySelectorAll('[data-testid=compare-tsne]')].map((d) => {
      const box = d.getBoundingClientRect();
      return { w: d._fullLayout.xaxis._length, h: d._fullLayout.yaxis._length, legend: d._fullLayout.showlegend,
               top: box.top, left: box.left };
    })""")
    for size in sizes:
        assert size["w"] >= 400 and 0.8 <= size["h"] / size["w"] <= 1.25 and not size["legend"], sizes
    assert sizes[0]["top"] == sizes[1]["top"] < sizes[2]["top"], sizes  # 2 a row at 1366 px
    # Every class has one colour in every map.
    colours = page.evaluate("""() => [...document.querySelectorAll('[data-testid=compare-tsne]')].map((d) =>
      Object.fromEntries(d.data.map((t) => [t.name, t.marker.color])))""")
    assert colours[0] == colours[1] == colours[2] and len(set(colours[0].values())) == 10
    # Titles on one line, the long name cut with an ellipsis and whole in the tooltip, so the cards line up.
    titles = page.locator(".tsne-card .tsne-title")
    heights = titles.evaluate_all("(hs) => hs.map((t) => t.getBoundingClientRect().height)")
    assert len(set(heights)) == 1 and heights[0] < 30, heights
    long_title = titles.nth(1)
    expect(long_title).to_have_attribute("title", f"{runs[1]['name']} #{runs[1]['id']} · silhouette "
                                         f"{runs[1]['summary']['silhouette']:.3f}")
    assert long_title.evaluate("(t) => t.scrollWidth > t.clientWidth")

    small = sizes[0]["w"]
    first = page.get_by_test_id("compare-tsne").first
    expect(first).to_have_attribute("aria-label", f"contrastive #{runs[0]['id']} · silhouette "
                                    f"{runs[0]['summary']['silhouette']:.3f}: t-SNE map, press Enter to enlarge")
    first.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_test_id("tsne-dialog")
    expect(dialog).to_be_visible()
    page.wait_for_function("() => document.querySelector('[data-testid=tsne-dialog-map]')?.data")
    large = page.evaluate("() => document.querySelector('[data-testid=tsne-dialog-map]')._fullLayout.xaxis._length")
    assert large > 1.2 * small, (large, small)
    expect(dialog).to_contain_text(f"contrastive #{runs[0]['id']}")
    save_screenshots(page, "tsne-dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert page.evaluate("() => document.activeElement.dataset.testid") == "compare-tsne"  # focus comes back

    page.get_by_test_id("compare-tsne").nth(1).click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(runs[1]["name"])
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    page.locator(".tsne-head").scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    save_screenshots(page, "tsne-compare-1366")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_timeout(300)  # Plotly follows the cards' new width
    wide = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=compare-tsne]')].map((d) => d._fullLayout.xaxis._length)")
    assert min(wide) >= 400, wide
    save_screenshots(page, "tsne-compare-1920")


def test_compare_maps_are_aligned_to_the_first_run(page: Page, runs: list[dict], http: httpx.Client) -> None:
    # The alignment itself (the page's own module): a rotated, mirrored, scaled and shifted copy of a point set
    # is laid back exactly.
    page.goto("/")
    error = page.evaluate("""async () => {
      const { procrustes } = await import('/static/js/tsne.js');
      const reference = Array.from({ length: 50 },
        (_, i) => ({ index: i, x: Math.sin(i * 1.7) * 9 + i % 7, y: Math.cos(i * 0.3) * 4 - i / 5 }));
      const [c, s] = [Math.cos(2.1), Math.sin(2.1)];
      // a reflection [[c, s], [s, -c]], scaled by 3.7 and shifted
      const moved = reference.map((p) => ({ index: p.index,
        x: 3.7 * (c * p.x + s * p.y) + 11, y: 3.7 * (s * p.x - c * p.y) - 5 }));
      const fit = procrustes(reference, moved.reverse());
      const back = new Map(moved.map((p) => [p.index, fit.apply(p)]));
      const misses = reference.map((p) => Math.hypot(back.get(p.index).x - p.x, back.get(p.index).y - p.y));
      return { error: Math.max(...misses),
               reflected: fit.reflected, tooFew: procrustes(reference, moved.slice(0, 2)) };
    }""")
    assert error["error"] < 1e-6 and error["reflected"] and error["tooFew"] is None, error

    _open_compare(page, runs)
    first = runs[0]["id"]
    expect(page.get_by_test_id("tsne-align-note")).to_contain_text(f"Maps aligned to run #{first}'s")
    expect(page.get_by_test_id("tsne-not-aligned")).to_have_count(0)
    drawn = page.evaluate(MAP_POINTS, "compare-tsne")
    raw = [http.get(f"/api/runs/{run['id']}/embeddings").json()["points"] for run in runs]
    assert len(drawn[2]) == 100 and {p["index"] for p in drawn[2]} <= {p["index"] for p in drawn[0]}
    assert page.evaluate(RMS, [drawn[0], raw[0]]) < 1e-9  # the reference map is drawn as it is
    for other in (1, 2):
        assert page.evaluate(REFIT_MOVE, [drawn[0], drawn[other]]) < 1e-6  # nothing left to align
        assert page.evaluate(RMS, [drawn[0], drawn[other]]) < page.evaluate(RMS, [drawn[0], raw[other]])


def test_alignment_is_skipped_with_a_note_when_maps_share_too_few_images(page: Page, runs: list[dict]) -> None:
    second = runs[1]["id"]

    def other_images(route: Route) -> None:
        embedding = route.fetch().json()
        for point in embedding["points"][2:]:
            point["index"] += 100_000  # only 2 test images in common with the first run's map
        route.fulfill(status=200, content_type="application/json", body=json.dumps(embedding))

    page.route(f"**/api/runs/{second}/embeddings", other_images)
    _open_compare(page, runs[:2])
    expect(page.get_by_test_id("tsne-not-aligned")).to_have_text(
        f"Not aligned: shares fewer than 3 test images with run #{runs[0]['id']}'s map.")
    expect(page.get_by_test_id("tsne-align-note")).to_contain_text("Maps not aligned")


def test_random_init_maps_on_compare_and_beside_the_trained_map(page: Page, runs: list[dict]) -> None:
    _open_compare(page, runs)
    toggle = page.get_by_test_id("tsne-random-toggle")
    expect(toggle).to_be_enabled()
    expect(page.get_by_test_id("compare-tsne-random")).to_have_count(0)
    toggle.check()
    page.wait_for_function(f"() => ({DRAWN})('compare-tsne-random') === 2")
    expect(page.locator(".tsne-card-random")).to_have_count(3)
    expect(page.locator(".tsne-card-random").nth(2)).to_contain_text("No random-init map was recorded for this run")
    reference = page.evaluate(MAP_POINTS, "compare-tsne")[0]
    for random in page.evaluate(MAP_POINTS, "compare-tsne-random"):
        assert page.evaluate(REFIT_MOVE, [reference, random]) < 1e-6
    page.mouse.move(0, 0)
    save_screenshots(page, "tsne-compare-random")
    expect(page).to_have_url(re.compile(r"random=1"))  # the link reopens them shown
    page.reload()
    page.wait_for_function(f"() => ({DRAWN})('compare-tsne-random') === 2")
    expect(page.get_by_test_id("tsne-random-toggle")).to_be_checked()

    page.goto(f"/#/runs/{runs[0]['id']}")
    page.wait_for_function(f"() => ({DRAWN})('tsne-chart') + ({DRAWN})('tsne-random-chart') === 2", timeout=30_000)
    panel = page.get_by_test_id("tsne-panel")
    expect(panel.get_by_test_id("tsne-legend")).to_have_count(1)
    trained, random = page.get_by_test_id("tsne-chart"), page.get_by_test_id("tsne-random-chart")
    trained_box, random_box = trained.bounding_box(), random.bounding_box()
    assert trained_box and random_box and trained_box["y"] == random_box["y"] and random_box["x"] > trained_box["x"]
    embedding = page.evaluate(f"async () => (await fetch('/api/runs/{runs[0]['id']}/embeddings')).json()")
    expect(panel.locator("figcaption").nth(1)).to_have_text(
        f"Random init · silhouette {embedding['random_init']['silhouette']:.3f}")
    [trained_points] = page.evaluate(MAP_POINTS, "tsne-chart")
    [random_points] = page.evaluate(MAP_POINTS, "tsne-random-chart")
    assert page.evaluate(REFIT_MOVE, [trained_points, random_points]) < 1e-6  # aligned to the trained map
    random.click()
    expect(page.get_by_test_id("tsne-dialog")).to_contain_text("Random init")
    page.keyboard.press("Escape")
    page.mouse.move(0, 0)
    save_screenshots(page, "tsne-run-page")

    page.goto(f"/#/runs/{runs[2]['id']}")
    page.wait_for_function(f"() => ({DRAWN})('tsne-chart') === 1", timeout=30_000)
    expect(page.get_by_test_id("tsne-note")).to_contain_text("No random-init map")
    expect(page.get_by_test_id("tsne-random-chart")).to_have_count(0)
