"""The run page while a run runs, in Chromium against the real service (one worker slot): the phase with the epoch
and step of the total, views/s and the time left; evaluation phases with their own progress past training's share
of the bar; a queued run's place in the queue; and the last training loss, still shown once the run is over."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import save_screenshots

pytestmark = pytest.mark.browser

# Long enough to look at while it trains; canceled once looked at.
LONG = {"name": "long", "method": "simclr", "dataset": "digits", "encoder": "small_cnn", "epochs": 300,
        "batch_size": 128, "device": "cpu", "probe_epochs": 10, "tsne_samples": 50, "random_baseline": False}
# Short training, a long evaluation: the page is seen in an evaluation phase, past training's 90 % of the bar. The
# linear probe is a solve of well under a second on small sets, so the phase looked at is t-SNE: 2,000 Fashion-MNIST
# test images take seconds, and the page, updated at most once a second, sees it.
SHORT = {**LONG, "name": "short", "dataset": "fashion_mnist", "max_train_samples": 1000, "epochs": 2,
         "tsne_samples": 2000}
SHORT_STEPS = 2 * (1000 // 128)  # whole batches of its 1,000 training images, two epochs
HEADERS = {"X-Requested-With": "tests"}

BAR = """(testid) => Number(document.querySelector(`[data-testid=${testid}]`).getAttribute('aria-valuenow'))"""


def number(pattern: str, text: str | None) -> int:
    match = re.search(pattern, text or "")
    assert match, f"{pattern} not in {text!r}"
    return int(match.group(1).replace(",", ""))


def submit(page: Page, spec: dict) -> int:
    response = page.request.post("/api/runs", data=spec, headers=HEADERS)
    assert response.status == 201, response.text()
    return int(response.json()["id"])


def test_the_run_page_says_where_a_run_is_and_what_waits_behind_it(page: Page) -> None:
    long_id = submit(page, LONG)
    page.goto(f"/#/runs/{long_id}")
    phase, detail = page.get_by_test_id("run-phase"), page.get_by_test_id("phase-detail")
    expect(phase).to_have_text("Pretraining", timeout=120_000)
    expect(detail).to_have_text(re.compile(r"^epoch \d+ of 300 · step [\d,]+ of [\d,]+$"))
    total_steps = number(r"of ([\d,]+)$", detail.text_content())
    assert total_steps % 300 == 0  # whole epochs of whole batches
    final_loss = re.compile(rf"^last loss \d+(\.\d+)? \(step {SHORT_STEPS}\)$")  # the short run's last step
    expect(page.get_by_test_id("run-speed")).to_have_text(re.compile(r"^[\d,]+ views/s$"), timeout=30_000)
    views = int(re.sub(r"\D", "", page.get_by_test_id("run-speed").text_content() or ""))
    assert views > 0
    expect(page.get_by_test_id("run-eta")).to_have_text(re.compile(r"(about \d.* left|a few seconds left)$"))
    expect(page.get_by_test_id("last-loss")).to_have_text(re.compile(r"last loss \d+(\.\d+)? \(step [\d,]+\)"))
    # The bars follow the steps: the phase's own and the run's (training is 90 % of it).
    step = number(r"step ([\d,]+) of", detail.text_content())
    assert page.evaluate(BAR, "phase-progress") >= 0 and page.evaluate(BAR, "run-progress") <= 90
    assert step <= total_steps
    save_screenshots(page, "run-progress-training")

    # Two runs behind it, on the one worker slot: the page of the second says its place.
    short_id = submit(page, SHORT)
    third_id = submit(page, {**SHORT, "name": "third"})
    page.goto(f"/#/runs/{third_id}")
    expect(page.get_by_test_id("run-phase")).to_have_text("Queued")
    expect(page.get_by_test_id("queue-place")).to_have_text("2nd in the queue, 1 run ahead of it · 1 run running")
    save_screenshots(page, "run-progress-queued")
    page.request.post(f"/api/runs/{third_id}/cancel", headers=HEADERS)
    page.goto(f"/#/runs/{short_id}")
    expect(page.get_by_test_id("queue-place")).to_have_text("next in the queue · 1 run running")

    # The long run ends; the short one starts: its page moves on by itself to training, then to its evaluation.
    page.request.post(f"/api/runs/{long_id}/cancel", headers=HEADERS)
    expect(page.get_by_test_id("run-phase")).to_have_text("t-SNE", timeout=120_000)
    assert 90 <= page.evaluate(BAR, "run-progress") < 100  # past training, not stuck at 99 %
    assert page.get_by_test_id("queue-place").is_hidden()
    expect(page.get_by_test_id("last-loss")).to_have_text(final_loss)
    save_screenshots(page, "run-progress-probe")

    # Over: the bar is full, the phase line gives way, and the last loss stays, also after a reload.
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded", timeout=300_000)
    assert page.evaluate(BAR, "run-progress") == 100
    expect(page.get_by_test_id("run-phase")).to_be_hidden()
    expect(page.get_by_test_id("last-loss")).to_have_text(final_loss)
    page.reload()
    expect(page.get_by_test_id("last-loss")).to_have_text(final_loss)
    save_screenshots(page, "run-progress-finished")

    # The canceled run says where it stopped.
    page.goto(f"/#/runs/{long_id}")
    expect(page.get_by_test_id("run-phase")).to_have_text("Stopped during pretraining")
