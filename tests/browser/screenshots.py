"""Regenerate screenshots of every dashboard view, light and dark, for a look by eye.

    .venv/bin/python -m tests.browser.screenshots [--out DIR] [--url http://127.0.0.1:8000]

Starts a fresh service (API + worker) unless --url is given, trains two small runs on digits
(SimCLR and the supervised baseline) and saves PNGs to DIR (default: $CONTRASTLAB_SHOTS or
/tmp/contrastlab-shots). Images are not committed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize, sync_playwright

from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, SHOTS_DIR, VIEWPORT, save_screenshots, start_service

LOSS_POINTS = "() => document.querySelector('[data-testid=loss-chart]')?.data?.[0].x.length ?? 0"
TSNE_DRAWN = "() => !!document.querySelector('[data-testid=tsne-chart]')?.data"


WIDE: ViewportSize = {"width": 1920, "height": 1080}


def shoot(page: Page, name: str, out: Path) -> None:
    """The view at 1366 px and at 1920 px, light and dark (`<name>-light.png`, `<name>-1920-dark.png`, ...)."""
    save_screenshots(page, name, out)
    page.set_viewport_size(WIDE)
    page.wait_for_timeout(400)  # charts relayout on the resize
    save_screenshots(page, f"{name}-1920", out)
    page.set_viewport_size(VIEWPORT)
    page.wait_for_timeout(400)


def shoot_all(page: Page, http: httpx.Client, out: Path) -> None:
    page.goto("/")
    page.get_by_test_id("empty-state").or_(page.get_by_test_id("runs-table")).first.wait_for()
    shoot(page, "runs-empty", out)

    page.goto("/#/new")
    page.get_by_test_id("field-epochs").fill("-1")
    page.get_by_test_id("field-name").fill("typed values survive errors")
    shoot(page, "new-run-form", out)
    page.get_by_test_id("run-form").evaluate("form => { form.noValidate = true; }")
    page.get_by_test_id("submit-run").click()
    page.get_by_test_id("error-epochs").wait_for()
    shoot(page, "new-run-errors", out)

    simclr = http.post("/api/runs", json={"name": "simclr digits", "method": "simclr", "dataset": "digits",
                                          "epochs": 3, "batch_size": 128}).json()
    supervised = http.post("/api/runs", json={"name": "supervised baseline", "method": "supervised",
                                              "dataset": "digits", "epochs": 3, "batch_size": 128}).json()

    page.goto(f"/#/runs/{simclr['id']}")
    page.wait_for_function(f"() => ({LOSS_POINTS})() >= 5", timeout=120_000)
    shoot(page, "run-live", out)
    page.goto("/")
    page.get_by_test_id("runs-table").wait_for()
    shoot(page, "runs-list-live", out)

    for run, name in ((simclr, "run-finished"), (supervised, "run-supervised")):
        page.goto(f"/#/runs/{run['id']}")
        page.get_by_test_id("run-status").filter(has_text="succeeded").wait_for(timeout=300_000)
        page.wait_for_function(TSNE_DRAWN, timeout=30_000)
        page.mouse.move(0, 0)  # no hover labels or mode bars in the pictures
        shoot(page, name, out)

    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"/#/runs/{simclr['id']}")
    page.wait_for_function(TSNE_DRAWN, timeout=30_000)
    save_screenshots(page, "run-finished-1024", out)  # narrow: 1024 only
    page.set_viewport_size(VIEWPORT)

    page.goto("/")
    page.get_by_test_id("runs-table").wait_for()
    for run in (simclr, supervised):
        page.locator(f"tr[data-run-id='{run['id']}']").get_by_test_id("row-select").check()
    shoot(page, "runs-list", out)
    page.get_by_test_id("compare-selected").click()
    page.wait_for_selector("main[data-painted]", timeout=60_000)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=compare-tsne]')].every((d) => d.data)")
    page.mouse.move(0, 0)
    shoot(page, "compare", out)
    page.goto("/#/compare?runs=1")
    page.get_by_test_id("compare-empty").wait_for()
    shoot(page, "compare-empty", out)

    page.goto("/")  # Delete moves a run to the trash at once (restorable); emptying the trash asks first
    page.locator(f"tr[data-run-id='{supervised['id']}']").get_by_test_id("row-delete").click()
    page.get_by_test_id("runs-notice").wait_for()
    page.get_by_test_id("trash-toggle").click()
    page.get_by_test_id("row-restore").first.wait_for()
    shoot(page, "trash", out)
    page.get_by_test_id("empty-trash").click()
    page.get_by_test_id("confirm-dialog").wait_for()
    shoot(page, "trash-empty-confirm", out)
    page.keyboard.press("Escape")
    page.get_by_test_id("row-restore").first.click()
    page.goto("/")
    page.get_by_test_id("filter-method").select_option("supervised")
    page.get_by_test_id("filter-q").fill("no such run")
    page.get_by_test_id("no-match").wait_for()
    shoot(page, "runs-no-match", out)
    page.goto("/#/runs/999999")
    page.get_by_test_id("run-not-found").wait_for()
    shoot(page, "run-not-found", out)

    page.goto(f"/#/runs/{simclr['id']}")  # a t-SNE map enlarged
    page.wait_for_function(TSNE_DRAWN, timeout=30_000)
    page.get_by_test_id("tsne-chart").click()
    page.get_by_test_id("tsne-dialog").wait_for()
    shoot(page, "tsne-dialog", out)
    page.keyboard.press("Escape")
    shoot_studies(page, http, out)


def shoot_studies(page: Page, http: httpx.Client, out: Path) -> None:
    """The new-study form, a study of 2 cells x 2 seeds on digits once finished, its report, the studies list."""
    page.goto("/#/new?mode=study")
    page.get_by_test_id("grid-size").wait_for()
    shoot(page, "study-form", out)
    study = http.post("/api/studies", json={"name": "optimisers on digits", "seeds": [0, 1],
                                            "base": {"dataset": "digits", "epochs": 2, "batch_size": 128},
                                            "axes": {"optimizer": ["adam", "sgd"]}}).json()
    page.goto(f"/#/studies/{study['id']}")
    page.get_by_test_id("study-progress-text").filter(has_text="4 of 4 runs finished").wait_for(timeout=600_000)
    page.wait_for_function("() => document.querySelector('[data-testid=study-curve-loss]')?.data", timeout=60_000)
    page.mouse.move(0, 0)
    shoot(page, "study", out)
    page.goto(f"/api/studies/{study['id']}/report?format=html")  # the report a paper takes, SVG figure inline
    page.locator("svg").first.wait_for()
    shoot(page, "study-report", out)
    page.goto("/#/studies")
    page.get_by_test_id("studies-table").wait_for()
    shoot(page, "studies", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SHOTS_DIR)
    parser.add_argument("--url", help="use this running service instead of starting one")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="contrastlab-shots-") as data_dir:
        stack = None if args.url else start_service(Path(data_dir) / "data")
        url = args.url if stack is None else stack.url
        try:
            with sync_playwright() as playwright, httpx.Client(base_url=url, timeout=30,
                                                               headers={"X-Requested-With": "tests"}) as http:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(base_url=url, viewport=VIEWPORT)
                shoot_all(page, http, args.out)
                browser.close()
        finally:
            if stack is not None:
                stack.stop()
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
