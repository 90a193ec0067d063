"""Time for Chromium to paint a study page of 100 runs with 3 metrics × 10 000 points each.

    .venv/bin/python -m bench.study_paint [--points 10000] [--seeds 5] [--repeat 3] [--data-dir DIR]

The study goes through the backend's own code (the grid is expanded and stored as POST /api/studies
stores it: 5 methods × 4 learning rates = 20 cells × 5 seeds), then each run is finished in the
database with a synthetic summary and its curves (loss, lr, knn_acc), and its series overviews are
stored as the finish route does. No training. The API alone is started and Chromium (Debian's, with
the browser tests' flags) opens `#/studies/<id>`. Printed, with the load average before and after, on
a cold server (just started) and warm (reloads), median of --repeat: the time from navigation to the
first screen painted (the results table and any chart whose top lies in the 1366 × 860 viewport: with
20 cells, the table alone), and to every chart drawn (the metric against each axis, the heatmap and the
curves of every cell as mean ± band, one request for all) but the parallel coordinates, and how many
charts Plotly drew twice to widen their margins; then, apart, the time from scrolling the parallel
coordinates into view to their first draw (WebGL: the page draws them when they come into view, since
without a GPU their first draw takes seconds). Beside each: how long the server took over the study's own requests
(the study, its runs, the statistics and the curves: the first sent → the last answered). A finished study's
statistics and curves are kept on disk at their first view (backend.studies.kept), so a cold server reads them;
--no-kept removes them before each start: the first view after the study's last run ended.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine, insert, update

from backend.db import make_engine, make_sessionmaker
from backend.migrate import upgrade
from backend.models import Event, Run
from backend.runs.series import store_overviews
from backend.studies import grid, store
from backend.studies.schemas import StudyCreate
from bench.dashboard_paint import CHUNK, METRICS, _points, paint_ms
from contrastlab.core.catalog import Status
from contrastlab.core.settings import Settings
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.stack import Stack

METHODS = ["simclr", "supcon", "contrastive", "npairs", "supervised"]
LRS = [0.0003, 0.001, 0.003, 0.01]
AXES: dict[str, list[str | bool | int | float | None]] = {"method": [*METHODS], "lr": [*LRS]}
BASE = {"dataset": "digits", "epochs": 100}
CHARTS = ("study-chart-axis-method", "study-chart-axis-lr", "study-chart-heatmap", "study-chart-parcoords")
# When the first screen was painted: the results table and every chart whose top lies in the viewport.
# How many of the drawn charts Plotly drew a second time to widen their margins (automargin; chart_margins.js seeds
# the margins so that it need not).
REDRAWN = """() => [...document.querySelectorAll('main .chart')]
  .filter((div) => div._fullLayout && '_redrawFromAutoMarginCount' in div._fullLayout).length"""
# The study's own requests (study, runs, stats, curves): the first sent → the last answered, in ms.
API_SPAN = """() => {
  const study = performance.getEntriesByType('resource').filter((e) => /\\/api\\/(studies\\/|runs\\?)/.test(e.name));
  return Math.max(...study.map((e) => e.responseEnd)) - Math.min(...study.map((e) => e.startTime));
}"""
FIRST_SCREEN = """() => {
  const main = document.querySelector('main');
  const charts = [...main.querySelectorAll('.chart')].filter((div) => div.getBoundingClientRect().top < innerHeight);
  return Math.max(Number(main.dataset.tableAt), ...charts.map((div) => Number(div.dataset.drawnAt || Infinity)));
}"""


def _summary(rng: random.Random, method: str, lr: float) -> dict[str, float]:
    """Final metrics with a method effect, an lr optimum near 1e-3 and seed noise."""
    skill = {"simclr": 0.90, "supcon": 0.94, "contrastive": 0.88, "npairs": 0.91, "supervised": 0.93}[method]
    linear = skill - 0.01 * abs(lr - 0.001) / 0.001 * 0.3 + rng.gauss(0, 0.006)
    return {"linear_acc": min(linear, 0.999), "knn_acc": min(linear - 0.02 + rng.gauss(0, 0.005), 0.999),
            "silhouette": 0.3 + rng.gauss(0, 0.03), "train_seconds": 600 + rng.gauss(0, 20)}


def _insert_events(engine: Engine, rows: list[dict[str, object]]) -> None:
    """Insert metric points in one transaction. On SQLite straight through the driver's executemany with the
    columns' own bind processors (what SQLAlchemy would store, at a third of the cost per row); elsewhere as
    the bulk Core insert bench.dashboard_paint uses."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            for lo in range(0, len(rows), CHUNK):
                connection.execute(insert(Event), rows[lo:lo + CHUNK])
        return
    table = Event.__table__
    columns = [c for c in table.c.keys() if c != "id"]
    procs = [table.c[c].type._cached_bind_processor(engine.dialect) for c in columns]
    sql = f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for lo in range(0, len(rows), CHUNK):
            cursor.executemany(sql, [tuple(p(r[c]) if p else r[c] for c, p in zip(columns, procs, strict=True))
                                     for r in rows[lo:lo + CHUNK]])
        raw.commit()
    finally:
        raw.close()


def populate(settings: Settings, seeds: int, points: int) -> int:
    """Store the study through backend.studies, finish its runs with `points` points per metric; returns its id."""
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    make_session = make_sessionmaker(engine)
    rng = random.Random(0)
    body = StudyCreate(name="paint bench: methods × lr", base=BASE, axes=AXES, seeds=list(range(seeds)))
    with make_session() as session:
        cells = grid.expand(body, settings)
        study, created = store.create_study(session, body, cells)
        study_id, runs = study.id, [(run.id, run.spec) for run in created]
    start = datetime.now(UTC) - timedelta(hours=2)
    with make_session() as session:
        for run_id, spec in runs:
            session.execute(update(Run).where(Run.id == run_id).values(
                status=Status.SUCCEEDED, summary=_summary(rng, spec["method"], spec["lr"]), progress=1.0, attempt=1,
                started_at=start, finished_at=start + timedelta(hours=1)))
        session.commit()
    batch = 10  # runs per insert: a few hundred thousand rows in memory at a time
    for lo in range(0, len(runs), batch):
        _insert_events(engine, [row for run_id, _ in runs[lo:lo + batch] for name in METRICS
                                for row in _points(run_id, name, points, start)])
    for run_id, _ in runs:
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


def measure(page_url: str, browser: Browser, label: str) -> tuple[float, float, float, float]:
    """Open the study in a new page; print and return (navigation → first screen painted, navigation → every
    chart drawn but the parallel coordinates, scrolled into view → parallel coordinates drawn, the study's requests
    first sent → last answered), in ms."""
    page = browser.new_page(viewport=VIEWPORT)
    nav, mount = paint_ms(page, page_url)
    drawn = page.evaluate("(ids) => ids.filter((id) => document.querySelector(`[data-testid=${id}]`)?.data).length",
                          list(CHARTS[:-1]))
    curves = page.evaluate("document.querySelectorAll('[data-testid=study-curves] .chart').length")
    traces = page.evaluate("document.querySelector('[data-testid=study-curves] .chart').data.length")
    redrawn = page.evaluate(REDRAWN)
    metrics_at = float(page.evaluate("document.querySelector('main').dataset.metricsAt"))
    first_screen = float(page.evaluate(FIRST_SCREEN))
    api = float(page.evaluate(API_SPAN))
    scrolled = float(page.evaluate("""() => {
      document.querySelector('[data-testid=study-chart-parcoords]').scrollIntoView({ block: 'center' });
      return performance.now();
    }"""))
    page.wait_for_selector("[data-testid=study-chart-parcoords][data-drawn-at]", timeout=120_000)
    parcoords = float(page.evaluate("document.querySelector('[data-testid=study-chart-parcoords]').dataset.drawnAt"))
    print(f"{label}: navigation → first screen painted {first_screen:.0f} ms; → every chart drawn but the parallel "
          f"coordinates {nav:.0f} ms (view mount → drawn {mount:.0f} ms; metric charts at {metrics_at:.0f} ms); "
          f"the study's requests answered in {api:.0f} ms; {drawn}/{len(CHARTS) - 1} metric charts, {curves} curve "
          f"charts of {traces} traces, {redrawn} drawn twice for their margins; parallel coordinates drawn "
          f"{parcoords - scrolled:.0f} ms after being scrolled into view")
    page.close()
    return first_screen, nav, parcoords - scrolled, api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=5, help="runs per cell (20 cells)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, help="keep the stored study here and reuse it next time")
    parser.add_argument("--no-kept", action="store_true", help="remove the study's kept statistics and curves "
                        "before each start (their first view)")
    args = parser.parse_args()
    print(f"load average at the start: {_load()}")
    with tempfile.TemporaryDirectory(prefix="contrastlab-study-paint-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        study_id = prepared(data_dir, args.seeds, args.points)
        first: dict[str, list[float]] = {"cold": [], "warm": []}
        every: dict[str, list[float]] = {"cold": [], "warm": []}
        api: dict[str, list[float]] = {"cold": [], "warm": []}
        parcoords: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(args.repeat):  # a fresh API process each time: cold = its first view of the study
                if args.no_kept:
                    shutil.rmtree(Settings(data_dir=data_dir).study_cache_dir, ignore_errors=True)
                stack = Stack(data_dir)
                stack.start_api()
                try:
                    url = f"{stack.url}/#/studies/{study_id}"
                    for label in ("cold", "warm"):
                        screen, nav, deferred, answered = measure(url, browser, label)
                        first[label].append(screen)
                        every[label].append(nav)
                        api[label].append(answered)
                        parcoords.append(deferred)
                finally:
                    stack.stop()
            browser.close()
        for label, note in (("cold", "API just started"), ("warm", "page reloaded, new browser profile")):
            print(f"{label} median over {args.repeat} ({note}): first screen {statistics.median(first[label]):.0f} ms, "
                  f"every chart but the parallel coordinates {statistics.median(every[label]):.0f} ms; the study's "
                  f"requests answered in {statistics.median(api[label]):.0f} ms")
        print(f"parallel coordinates, scrolled into view → drawn, median over {len(parcoords)}: "
              f"{statistics.median(parcoords):.0f} ms (WebGL, software-rendered here)")
    print(f"load average at the end: {_load()} ({os.cpu_count()} CPUs)")


def _load() -> str:
    """The 1, 5 and 15 minute load averages: a busy machine slows every figure above."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
