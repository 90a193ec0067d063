"""What the browser tests and the screenshot script share: the service, Chromium's settings, screenshots."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize

from tests.stack import Stack

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS_DIR = Path(os.environ.get("CONTRASTLAB_SHOTS", "/tmp/contrastlab-shots"))
VIEWPORT: ViewportSize = {"width": 1366, "height": 860}


def start_service(data_dir: Path, **env: str) -> Stack:
    """`python -m contrastlab.launch` on a free port with its own data dir, plus one Celery worker and its preview
    consumer; healthy on return. env: more settings for both processes (see Stack)."""
    stack = Stack(data_dir, **env)
    try:
        stack.start_api()
        stack.start_worker()
        stack.start_preview_consumer()  # the form's augmentation preview
        # Ready before the first test submits: a worker that cannot start fails here with its log, not as a run
        # that stays queued until a test's deadline.
        stack.wait_until("the worker and the preview consumer are ready", lambda: all(
            " ready." in stack.log(name) for name in ("worker1.log", "preview-worker1.log")), timeout=180)
    except BaseException:
        stack.stop()
        raise
    return stack


def save_screenshots(page: Page, name: str, directory: Path = SHOTS_DIR) -> list[Path]:
    """Full-page screenshots of the current view in the light and the dark theme."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(250)  # charts relayout on the colour-scheme change
        path = directory / f"{name}-{scheme}.png"
        page.screenshot(path=path, full_page=True)
        paths.append(path)
    page.emulate_media(color_scheme="light")
    return paths


FINAL = ("succeeded", "failed", "canceled", "pruned")  # a search prunes its trials: final too


def wait_final(http: httpx.Client, run_id: int, timeout: float = 300) -> dict:
    """The run once it is succeeded, failed, canceled or pruned."""
    deadline = time.monotonic() + timeout
    while (run := http.get(f"/api/runs/{run_id}").json())["status"] not in FINAL:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} did not finish in {timeout} s: {run['status']}")
        time.sleep(0.3)
    return run


def empty_service(http: httpx.Client) -> None:
    """Cancel every run that waits or trains, then delete every study and run: the service is as a fresh one (only
    the ids go on), so a test module that shares it with others starts from no runs, as it would on its own."""
    def every(path: str) -> list[dict]:
        items = http.get(path, params={"limit": 500}).json()["items"]
        return list(items)

    runs = every("/api/runs")
    for run in runs:
        if run["status"] not in FINAL:
            http.post(f"/api/runs/{run['id']}/cancel")  # 409 if it finished meanwhile: nothing to do then
    for run in runs:
        wait_final(http, run["id"])
    while studies := every("/api/studies"):
        for study in studies:
            response = http.delete(f"/api/studies/{study['id']}")
            assert response.status_code == 204, response.text
    while runs := every("/api/runs"):
        for run in runs:
            response = http.delete(f"/api/runs/{run['id']}")
            assert response.status_code == 204, response.text
    assert http.delete("/api/trash").status_code == 200


def wait_succeeded(http: httpx.Client, run_ids: Sequence[int], timeout: float = 600) -> list[dict]:
    """The runs once all have finished; each must have succeeded."""
    deadline = time.monotonic() + timeout
    runs = [wait_final(http, run_id, max(1.0, deadline - time.monotonic())) for run_id in run_ids]
    for run in runs:
        assert run["status"] == "succeeded", run
    return runs
