"""Time for Chromium to paint a study page of 100 runs with 3 metrics × 10 000 points each.

    .venv/bin/python -m bench.study_paint [--points 10000] [--seeds 5] [--repeat 3] [--data-dir DIR]

The study goes through the backend's own code (the grid is expanded and stored as POST /api/studies
stores it: 5 methods × 4 learning rates = 20 cells × 5 seeds), then each run is finished in the
database with a synthetic summary and its curves (loss, lr, knn_acc), and its series overviews are
stored as the finish route does. No training. The API alone is started and Chromium (Debian's, with
the browser tests' flags) opens `#/studies/<id>`. Printed: the time from navigation to every chart of
the page drawn (the metric against each axis, the heatmap, the parallel coordinates and the curves
of every cell as mean ± band), on a cold server (just started) and warm (reloads), median of --repeat.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import insert, update

from backend import studies
from backend.db import make_engine, make_sessionmaker
from backend.migrate import upgrade
from backend.models import Event, Run
from backend.series import store_overviews
from backend.study_schemas import StudyCreate
from bench.dashboard_paint import CHUNK, METRICS, _points, paint_ms
from contrastlab.core.settings import Settings
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.stack import Stack

METHODS = ["simclr", "supcon", "contrastive", "npairs", "supervised"]
LRS = [0.0003, 0.001, 0.003, 0.01]
AXES: dict[str, list[str | bool | int | float | None]] = {"method": [*METHODS], "lr": [*LRS]}
BASE = {"dataset": "digits", "epochs": 100}
CHARTS = ("study-chart-axis-method", "study-chart-axis-lr", "study-chart-heatmap", "study-chart-parcoords")


def _summary(rng: random.Random, method: str, lr: float) -> dict[str, float]:
    """Final metrics with a method effect, an lr optimum near 1e-3 and seed noise."""
    skill = {"simclr": 0.90, "supcon": 0.94, "contrastive": 0.88, "npairs": 0.91, "supervised": 0.93}[method]
    linear = skill - 0.01 * abs(lr - 0.001) / 0.001 * 0.3 + rng.gauss(0, 0.006)
    return {"linear_acc": min(linear, 0.999), "knn_acc": min(linear - 0.02 + rng.gauss(0, 0.005), 0.999),
            "silhouette": 0.3 + rng.gauss(0, 0.03), "train_seconds": 600 + rng.gauss(0, 20)}


def populate(settings: Settings, seeds: int, points: int) -> int:
    """Store the study through backend.studies, finish its runs with `points` points per metric; returns its id."""
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    make_session = make_sessionmaker(engine)
    rng = random.Random(0)
    body = StudyCreate(name="paint bench: methods × lr", base=BASE, axes=AXES, seeds=list(range(seeds)))
    with make_session() as session:
        cells = studies.expand(body, settings.study_max_runs, settings.data_roots)
        study, created = studies.create_study(session, body, cells)
        study_id, runs = study.id, [(run.id, run.spec) for run in created]
    start = datetime.now(UTC) - timedelta(hours=2)
    for run_id, spec in runs:
        with make_session() as session:
            session.execute(update(Run).where(Run.id == run_id).values(
                status="succeeded", summary=_summary(rng, spec["method"], spec["lr"]), progress=1.0, attempt=1,
                started_at=start, finished_at=start + timedelta(hours=1)))
            for name in METRICS:
                rows = _points(run_id, name, points, start)
                for lo in range(0, len(rows), CHUNK):
                    session.execute(insert(Event), rows[lo:lo + CHUNK])
            session.commit()
        store_overviews(make_session, run_id)  # what the finish route does once a run ends
    engine.dispose()
    return study_id


def prepared(data_dir: Path, seeds: int, points: int) -> int:
    """The study's id in data_dir, stored first unless a previous --data-dir run left it."""
    id_file = data_dir / f"study-paint-{seeds}x{points}.txt"
    if id_file.exists():
        return int(id_file.read_text())
    began = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    study_id = populate(Settings(data_dir=data_dir), seeds, points)
    id_file.write_text(str(study_id))
    runs = len(METHODS) * len(LRS) * seeds
    print(f"stored a study of {runs} runs × {len(METRICS)} metrics × {points:,} points "
          f"in {time.perf_counter() - began:.1f} s")
    return study_id


def measure(page_url: str, browser: Browser, label: str) -> float:
    """Open the study in a new page; print and return navigation → every chart drawn, in ms."""
    page = browser.new_page(viewport=VIEWPORT)
    nav, mount = paint_ms(page, page_url)
    drawn = page.evaluate("(ids) => ids.filter((id) => document.querySelector(`[data-testid=${id}]`)?.data).length",
                          list(CHARTS))
    curves = page.evaluate("document.querySelectorAll('[data-testid=study-curves] .chart').length")
    traces = page.evaluate("document.querySelector('[data-testid=study-curves] .chart').data.length")
    metrics_at = float(page.evaluate("document.querySelector('main').dataset.metricsAt"))
    print(f"{label}: navigation → every chart drawn {nav:.0f} ms (view mount → drawn {mount:.0f} ms; table and "
          f"metric charts at {metrics_at:.0f} ms); {drawn}/{len(CHARTS)} metric charts, {curves} curve charts "
          f"of {traces} traces")
    page.close()
    return nav


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=5, help="runs per cell (20 cells)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, help="keep the stored study here and reuse it next time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contrastlab-study-paint-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        study_id = prepared(data_dir, args.seeds, args.points)
        cold: list[float] = []
        warm: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(args.repeat):  # a fresh API process each time: cold = its first view of the study
                stack = Stack(data_dir)
                stack.start_api()
                try:
                    url = f"{stack.url}/#/studies/{study_id}"
                    cold.append(measure(url, browser, "cold"))
                    warm.append(measure(url, browser, "warm"))
                finally:
                    stack.stop()
            browser.close()
        print(f"cold median over {len(cold)}: {statistics.median(cold):.0f} ms (API just started)")
        print(f"warm median over {len(warm)}: {statistics.median(warm):.0f} ms (new browser profile each time)")


if __name__ == "__main__":
    main()
