"""Tags as chips edited in place, long names ellipsised, and the trash (move a selection, restore, empty) in
Chromium against the real service, with axe-core on each; screenshots at 1,366 and 1,920 px."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.helpers import SHOTS_DIR, save_screenshots, wait_succeeded

pytestmark = pytest.mark.browser

SPEC = {"dataset": "digits", "epochs": 1, "max_train_samples": 200, "probe_epochs": 5, "tsne_samples": 20,
        "batch_size": 64}
LONG = "x" * 120  # the longest name, without a space to break it
ELLIPSISED = "(a) => [a.scrollWidth > a.clientWidth, a.getBoundingClientRect().width]"


@pytest.fixture(scope="module")
def runs(http: httpx.Client) -> list[dict]:
    """Two finished runs: one with the longest name there is."""
    ids = [http.post("/api/runs", json={**SPEC, "name": name}).json()["id"] for name in ("tagged", LONG)]
    return wait_succeeded(http, ids)


def _shoot(page: Page, name: str) -> None:
    save_screenshots(page, name, SHOTS_DIR)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_timeout(300)
    save_screenshots(page, f"{name}-1920", SHOTS_DIR)
    page.set_viewport_size({"width": 1366, "height": 860})


def test_tags_are_chips_edited_in_place_and_filter_the_list(page: Page, http: httpx.Client, runs: list[dict]) -> None:
    tagged, long = (run["id"] for run in runs)
    a11y.install(page)
    page.goto("/")
    row = page.locator(f"tr[data-run-id='{tagged}']")
    for tag in ("baseline", "opt:sgd", "lr:0.1"):
        row.get_by_test_id("tag-add").click()
        row.get_by_test_id("tag-input").fill(tag)
        row.get_by_test_id("tag-input").press("Enter")
        expect(row.locator(f"[data-testid=tag-chip][data-tag='{tag}']")).to_be_visible()
    assert http.get(f"/api/runs/{tagged}").json()["tags"] == ["baseline", "opt:sgd", "lr:0.1"]
    row.get_by_test_id("tag-add").click()
    row.get_by_test_id("tag-input").fill("two words")
    row.get_by_test_id("tag-input").press("Enter")
    expect(row.locator(".tag-error")).to_contain_text("“two words”")
    row.get_by_test_id("tag-input").press("Escape")
    row.get_by_role("button", name="Remove the tag lr:0.1").click()
    expect(row.get_by_test_id("tag-chip")).to_have_count(2)
    assert http.get(f"/api/runs/{tagged}").json()["tags"] == ["baseline", "opt:sgd"]

    # The longest name stays on one line of a bounded column, cut with an ellipsis; the tooltip has it whole.
    link = page.locator(f"tr[data-run-id='{long}'] [data-testid=run-link]")
    cut, width = link.evaluate(ELLIPSISED)
    assert cut and width < 400, (cut, width)
    expect(link).to_have_attribute("title", LONG)
    page.locator("th.col-linear_acc button").click()  # sorted, the cells still render (issue 26: they went blank)
    expect(page.locator(f"tr[data-run-id='{long}'] [data-testid=row-select]")).to_be_visible()
    a11y.assert_axe_clean(page, "the runs list with tags")
    _shoot(page, "runs-tags")

    row.locator("[data-testid=tag-chip][data-tag='opt:sgd'] .tag-text").click()
    expect(page).to_have_url(re.compile(r"tag=opt%3Asgd|tag=opt:sgd"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("tag-filter")).to_contain_text("opt:sgd")


def test_a_selection_goes_to_the_trash_restores_whole_and_emptying_frees_its_bytes(
        page: Page, http: httpx.Client, runs: list[dict]) -> None:
    ids = [run["id"] for run in runs]
    files = {i: {a["name"]: a["sha256"] for a in http.get(f"/api/runs/{i}/artifacts").json()["items"]} for i in ids}
    a11y.install(page)
    page.goto("/")
    for run_id in ids:
        page.locator(f"tr[data-run-id='{run_id}'] [data-testid=row-select]").check()
    page.get_by_test_id("trash-selected").click()
    expect(page.get_by_test_id("runs-notice")).to_contain_text("2 runs moved to the trash.")
    expect(page.locator("tbody tr")).to_have_count(0)

    page.get_by_test_id("trash-toggle").click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    expect(page.get_by_test_id("row-restore")).to_have_count(2)
    held = http.get("/api/trash").json()
    assert held["runs"] == 2 and held["file_bytes"] > 0
    expect(page.get_by_test_id("trash-summary")).to_contain_text("2 runs in the trash")
    a11y.assert_axe_clean(page, "the trash")
    _shoot(page, "trash")

    page.locator(f"tr[data-run-id='{ids[0]}']").get_by_test_id("row-restore").click()
    expect(page.get_by_test_id("row-restore")).to_have_count(1)
    restored = http.get(f"/api/runs/{ids[0]}").json()
    assert restored["trashed_at"] is None and restored["summary"] == runs[0]["summary"]
    assert {a["name"]: a["sha256"] for a in http.get(f"/api/runs/{ids[0]}/artifacts").json()["items"]} == \
        files[ids[0]]

    page.get_by_test_id("empty-trash").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text("1 run in the trash")
    expect(dialog).to_contain_text("freed")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("runs-notice")).to_contain_text("Freed")
    expect(page.get_by_test_id("trash-summary")).to_have_text("The trash is empty.")
    assert http.get(f"/api/runs/{ids[1]}").status_code == 404
    assert http.get("/api/trash").json()["file_bytes"] == 0


def test_a_canceled_runs_empty_charts_say_it_was_canceled(page: Page, http: httpx.Client) -> None:
    run = http.post("/api/runs", json={**SPEC, "name": "never started"}).json()
    http.post(f"/api/runs/{run['id']}/cancel")
    page.goto(f"/#/runs/{run['id']}")
    notes = page.locator("[data-testid=loss-chart] .annotation-text, [data-testid=acc-chart] .annotation-text")
    expect(notes).to_have_text(["The run was canceled before this chart's first point."] * 2)


LOSS_TRACES = """() => document.querySelector('[data-testid=loss-chart]').data
  .filter((t) => t.name.startsWith('Loss')).map((t) => [t.name, t.y[t.y.length - 1], t.y.length])"""


def test_the_run_page_smooths_the_loss_as_compare_does(page: Page, runs: list[dict]) -> None:
    """Runs after the trash test, which restored the first run."""
    page.goto(f"/#/runs/{runs[0]['id']}")
    page.wait_for_function("() => document.querySelector('[data-testid=loss-chart]')?.data?.[0]?.y?.length > 2")
    (raw_name, raw_last, count), (smooth_name, smooth_last, smooth_count) = page.evaluate(LOSS_TRACES)
    assert smooth_name == f"{raw_name} (smoothed)" and smooth_count == count and smooth_last != raw_last
    page.get_by_test_id("run-smoothing").fill("0")
    page.wait_for_function(f"() => ({LOSS_TRACES})()[1][1] === ({LOSS_TRACES})()[0][1]")


def test_notes_render_markdown_without_running_html(page: Page, http: httpx.Client, runs: list[dict]) -> None:
    run_id = runs[0]["id"]
    page.goto(f"/#/runs/{run_id}")
    # By keyboard: the panel sits below charts and files that load after it, and on a loaded machine a click's
    # coordinates can go stale as they push it down (the click then lands beside the button).
    page.get_by_test_id("notes-edit").press("Enter")
    page.get_by_test_id("notes-editor").fill("# Why\n**bold** and `code`\n- <img src=x onerror=alert(1)>\n"
                                            "[bad](javascript:alert(1)) [good](https://example.org)")
    page.get_by_test_id("notes-save").press("Enter")
    notes = page.get_by_test_id("run-notes")
    expect(notes.locator("strong")).to_have_text("bold")
    expect(notes.locator("li")).to_have_text("<img src=x onerror=alert(1)>")  # shown as text
    assert notes.locator("img, script").count() == 0
    assert notes.locator("a").evaluate_all("links => links.map((a) => a.getAttribute('href'))") == \
        ["https://example.org"]
    assert http.get(f"/api/runs/{run_id}").json()["notes"].startswith("# Why")
    page.mouse.move(0, 0)
    _shoot(page, "run-notes")


def test_the_form_bounds_are_the_servers_caps_and_a_bad_seed_is_named(page: Page) -> None:
    page.goto("/#/new")
    expect(page.get_by_test_id("field-epochs")).to_have_attribute("max", "1000")  # MAX_EPOCHS, not the spec's 10,000
    expect(page.get_by_test_id("field-batch_size")).to_have_attribute("max", "8192")
    page.get_by_test_id("field-seeds").fill("0, one, 2")
    page.get_by_test_id("submit-run").click()
    expect(page.get_by_test_id("error-seeds")).to_contain_text("(got “one”)")
