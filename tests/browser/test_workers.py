"""The Workers view in Chromium: reached from the nav, it lists the service's worker, its preview consumer (apart:
no device slot) and the ones a script says it has (a GPU worker holding a run while it waits for device slots, a
stopped one greyed), passes axe-core, and a queued run's page and the new-run form say why a run waits."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.helpers import save_screenshots

GPU_WORKER, GONE = "worker-gpu0@gpu-box", "worker@old-box"


def beat(http: httpx.Client, name: str, **fields: object) -> None:
    response = http.post("/api/workers/heartbeat", json={"name": name, "host": name.split("@")[1],
                                                         "queues": ["contrastlab"], "version": "0.1.0", **fields})
    assert response.status_code == 200, response.text


@pytest.fixture
def held_run(http: httpx.Client) -> Iterator[int]:
    """A two-device run that a GPU worker holds while it waits for its two slots; the worker stops afterwards."""
    run = http.post("/api/runs", json={"dataset": "digits", "epochs": 1, "devices": 2, "name": "two GPUs"}).json()
    beat(http, GPU_WORKER, devices=2, slots=["0", "1"], gpu=True, run_id=run["id"])
    beat(http, GONE, stopping=True)
    yield run["id"]
    http.post(f"/api/runs/{run['id']}/cancel")
    beat(http, GPU_WORKER, devices=2, slots=["0", "1"], gpu=True, stopping=True)


def test_the_workers_view_shows_devices_activity_and_greys_the_gone(page: Page, held_run: int) -> None:
    a11y.install(page)
    page.goto("/#/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workers").click()
    expect(page).to_have_url(re.compile(r"#/workers$"))
    expect(page.locator("[data-nav=workers]")).to_have_attribute("aria-current", "page")
    table = page.get_by_test_id("workers-table")
    gpu = table.locator(f"tr[data-worker='{GPU_WORKER}']")
    expect(gpu.locator("td").nth(1)).to_have_text("online")
    expect(gpu.locator("td").nth(2)).to_have_text(f"waiting for device slots: run #{held_run}")
    expect(gpu.locator("td").nth(3)).to_have_text("GPU 0, 1")
    own = table.locator("tr[data-worker^='worker1@']")
    expect(own.locator("td").nth(1)).to_have_text("online")
    expect(own.locator("td").nth(2)).to_have_text("idle")
    expect(own.locator("td").nth(3)).to_have_text("1 CPU")
    consumer = table.locator("tr[data-worker^='preview-worker1@']")  # beside it, no device slot
    expect(consumer.locator("td").nth(1)).to_have_text("online")
    expect(consumer.locator("td").nth(2)).to_have_text("draws previews")
    expect(consumer.locator("td").nth(3)).to_have_text("previews (CPU)")
    expect(consumer.locator("td").nth(4)).to_have_text("—")
    gone = table.locator(f"tr[data-worker='{GONE}']")
    expect(gone).to_have_class(re.compile("worker-gone"))
    expect(gone.locator("td").nth(1)).to_have_text("stopped")
    names = table.locator("tbody tr").evaluate_all("(rows) => rows.map((row) => row.dataset.worker)")
    assert names[-1] == GONE and names[0] == GPU_WORKER  # online first, by name
    muted, normal = (row.locator("td").first.evaluate("(td) => getComputedStyle(td).color") for row in (gone, own))
    assert muted != normal  # greyed
    expect(page.get_by_test_id("workers-summary")).to_contain_text(
        "2 online (1 waiting for device slots, 1 idle) · 1 preview consumer · 1 lost or stopped")
    a11y.assert_axe_clean(page, "the workers view")
    save_screenshots(page, "workers")

    gpu.get_by_test_id("worker-run").click()
    expect(page).to_have_url(re.compile(rf"#/runs/{held_run}$"))
    expect(page.get_by_test_id("waiting-reason")).to_have_text(
        f"Waiting: worker {GPU_WORKER} holds it and waits for 2 devices of its host's 2 to be free.")


def test_the_form_says_at_once_when_no_worker_offers_the_devices(page: Page, http: httpx.Client) -> None:
    beat(http, GPU_WORKER, devices=2, slots=["0", "1"], gpu=True)
    page.goto("/#/new")
    page.get_by_test_id("field-epochs").fill("1")
    devices = page.get_by_test_id("field-devices")
    if not devices.is_visible():
        page.locator("details:has([data-testid=field-devices]) > summary").click()
    devices.fill("4")
    page.get_by_test_id("submit-run").click()
    warning = page.get_by_test_id("submit-warnings")
    expect(warning).to_contain_text("needs 4 devices; the largest connected worker has 2")
    link = warning.get_by_test_id("submitted-link")
    run_id = int(link.inner_text().split("#")[1])
    link.click()
    expect(page.get_by_test_id("waiting-reason")).to_have_text(
        "Waiting: needs 4 devices; the largest connected worker has 2.")
    http.post(f"/api/runs/{run_id}/cancel")
    beat(http, GPU_WORKER, devices=2, slots=["0", "1"], gpu=True, stopping=True)
