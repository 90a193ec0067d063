"""Time for Chromium to paint a compare page of 20 runs × 100 000 points per metric.

    .venv/bin/python -m bench.dashboard_paint [--runs 20] [--points 100000] [--repeat 3] [--data-dir DIR]

Synthetic points go straight into a temporary SQLite database through the backend's
own models (no training); then the API alone is started and Chromium (Debian's, with
the browser tests' flags) opens `#/compare?runs=…`. Printed: the time from navigation
to every metric chart drawn, on a cold server (just started: the overviews stored when
the runs finished are read from the database), warm (reloads), and with a browser cache.
With --no-overviews the stored overviews are dropped first, so the cold load builds them
from the 6 million events, as the first view of runs finished before they existed does.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from sqlalchemy import delete, insert

from backend.db import make_engine, make_sessionmaker
from backend.migrate import upgrade
from backend.models import Event, Run, SeriesOverview
from backend.runs.series import store_overviews
from contrastlab.core.catalog import Status
from contrastlab.core.settings import Settings
from contrastlab.core.spec import RunSpec
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.stack import Stack

METRICS = ("loss", "lr", "knn_acc")
CHUNK = 50_000


def _points(run_id: int, name: str, n: int, start: datetime) -> list[dict[str, object]]:
    """A noisy decaying curve (loss), a cosine schedule (lr) or a rising accuracy, one point per step."""
    rows = []
    for step in range(1, n + 1):
        t = step / n
        if name == "loss":
            value = 4.0 * math.exp(-3 * t) + 0.3 + 0.2 * math.sin(step * 0.37 + run_id) * (1 - t)
        elif name == "lr":
            value = 0.001 * 0.5 * (1 + math.cos(math.pi * t))
        else:
            value = 0.5 + 0.45 * (1 - math.exp(-5 * t)) + 0.01 * math.sin(step + run_id)
        rows.append({"run_id": run_id, "kind": "metric", "key": f"1:{name}:{step}", "name": name, "step": step,
                     "epoch": 100 * t, "value": value, "text": None, "time": start + timedelta(milliseconds=step * 20)})
    return rows


def populate(settings: Settings, runs: int, points: int) -> list[int]:
    """Insert finished runs with `points` points for each metric; returns their ids."""
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    ids = []
    with make_sessionmaker(engine)() as session:
        for i in range(runs):
            start = datetime.now(UTC) - timedelta(hours=2)
            spec = RunSpec(name=f"synthetic {i}", dataset="digits", lr=0.001 * (1 + i % 4), seed=i)
            run = Run(name=spec.name, status=Status.SUCCEEDED, spec=spec.model_dump(mode="json"),
                      summary={"linear_acc": 0.9 + i / 1000, "knn_acc": 0.85 + i / 1000}, progress=1.0, attempt=1,
                      cancel_requested=False, started_at=start, finished_at=start + timedelta(hours=1))
            session.add(run)
            session.flush()
            for name in METRICS:
                rows = _points(run.id, name, points, start)
                for lo in range(0, len(rows), CHUNK):
                    session.execute(insert(Event), rows[lo:lo + CHUNK])
            session.commit()
            ids.append(run.id)
    for run_id in ids:  # what the finish route does once a run ends
        store_overviews(make_sessionmaker(engine), run_id)
    engine.dispose()
    return ids


def drop_overviews(settings: Settings) -> None:
    """Forget the stored overviews: runs that finished before they existed (built on first view)."""
    engine = make_engine(settings.resolved_database_url)
    with make_sessionmaker(engine)() as session:
        session.execute(delete(SeriesOverview))
        session.commit()
    engine.dispose()


def prepared(data_dir: Path, runs: int, points: int) -> list[int]:
    """The ids of the synthetic runs in data_dir, inserted first unless a previous --data-dir run left them."""
    ids_file = data_dir / f"paint-runs-{runs}x{points}.txt"
    if ids_file.exists():
        return [int(i) for i in ids_file.read_text().split(",")]
    began = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    ids = populate(Settings(data_dir=data_dir), runs, points)
    ids_file.write_text(",".join(map(str, ids)))
    print(f"inserted {runs} runs × {len(METRICS)} metrics × {points:,} points in {time.perf_counter() - began:.1f} s")
    return ids


def paint_ms(page: Page, url: str) -> tuple[float, float]:
    """(navigation → painted, view mounted → painted) in milliseconds."""
    page.goto(url)
    page.wait_for_selector("main[data-painted]", timeout=120_000)
    since_mount = float(page.evaluate("document.querySelector('main').dataset.paintMs"))
    since_nav = float(page.evaluate("document.querySelector('main').dataset.paintAt"))
    return since_nav, since_mount


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, help="keep the inserted runs here and reuse them next time "
                        "(inserting 6 million points takes minutes)")
    parser.add_argument("--no-overviews", action="store_true", help="drop the stored series overviews first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contrastlab-paint-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        ids = prepared(data_dir, args.runs, args.points)
        if args.no_overviews:
            drop_overviews(Settings(data_dir=data_dir))
        stack = Stack(data_dir)
        stack.start_api()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                url = f"{stack.url}/#/compare?runs={','.join(map(str, ids))}"
                results = []
                for attempt in range(args.repeat + 1):
                    page = browser.new_page(viewport=VIEWPORT)
                    nav, mount = paint_ms(page, url)
                    traces = page.evaluate("document.querySelector('[data-testid=compare-chart-loss]').data.length")
                    kind = page.evaluate("document.querySelector('[data-testid=compare-chart-loss]').data[0].type")
                    label = "cold" if attempt == 0 else "warm"
                    print(f"{label}: navigation → painted {nav:.0f} ms (view mount → painted {mount:.0f} ms), "
                          f"{traces} traces of {kind} in the loss chart")
                    if attempt:
                        results.append(nav)
                    page.close()
                # A returning user: the same browser profile, so plotly.js comes from the HTTP cache with V8's
                # code cache (Chromium stores compiled code from the second load of a script on).
                context = browser.new_context(viewport=VIEWPORT)
                cached = []
                for attempt in range(args.repeat + 2):
                    page = context.new_page()
                    nav, mount = paint_ms(page, url)
                    if attempt >= 2:
                        cached.append(nav)
                        print(f"browser cache: navigation → painted {nav:.0f} ms (view mount → painted {mount:.0f} ms)")
                    page.close()
                browser.close()
            print(f"warm median over {args.repeat}: {statistics.median(results):.0f} ms "
                  "(new browser profile each time)")
            print(f"browser-cache median over {args.repeat}: {statistics.median(cached):.0f} ms")
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
