"""Time of one `GET /api/runs/{id}/series` for a run of 3 metrics × 100 000 points, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.series_query [--points 100000] [--width 1600] [--repeat 5] [--database sqlite|postgres]

The same synthetic run as bench/dashboard_paint.py, inserted through the backend's
models; the request goes through the whole app (FastAPI TestClient, no network).
Printed: the median time of a first request with no stored overview (it builds
them), of a cold one (the in-memory cache emptied first, the overviews stored when
the run finished), of a warm one (served from memory), and how many points came back.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from backend.api.routes import series as series_route
from backend.main import create_app
from backend.migrate import prestart
from bench.dashboard_paint import drop_overviews, populate
from contrastlab.core import paths
from contrastlab.core.settings import Settings
from tests.conftest import postgres_database


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A database URL of the given kind ('' is the embedded SQLite default), dropped afterwards."""
    if kind == "sqlite":
        yield ""
    else:
        yield from postgres_database()


def timed_ms(client: TestClient, path: str, params: dict[str, object]) -> tuple[float, int]:
    """(milliseconds, points returned over every metric) of one request."""
    began = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - began) * 1000
    response.raise_for_status()
    return elapsed, sum(len(s["x"]) for s in response.json()["series"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--width", type=int, default=1600, help="the `points` query parameter")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contrastlab-series-") as tmp, database(args.database) as url:
        settings = Settings(data_dir=Path(tmp) / "data", database_url=url, redis_url="", broker_url="")
        prestart(settings)
        (run_id,) = populate(settings, 1, args.points)
        app = create_app(settings)
        with TestClient(app, base_url="http://localhost") as client:
            path = paths.fill(paths.RUN_SERIES, run_id=run_id)
            for x in ("step", "time"):
                params = {"points": args.width, "x": x}
                unbuilt, cold = [], []
                for _ in range(args.repeat):
                    drop_overviews(settings)
                    series_route._cache.clear()
                    unbuilt.append(timed_ms(client, path, params)[0])  # builds and stores the overviews
                for _ in range(args.repeat):
                    series_route._cache.clear()
                    cold.append(timed_ms(client, path, params)[0])
                warm, returned = zip(*(timed_ms(client, path, params) for _ in range(args.repeat)), strict=True)
                print(f"{args.database} x={x}: 3 metrics × {args.points:,} points → {returned[0]} points; "
                      f"first view, no overview yet: median {statistics.median(unbuilt):.0f} ms; "
                      f"cold (overview stored): median {statistics.median(cold):.0f} ms; "
                      f"warm median {statistics.median(warm):.1f} ms")
        app.state.engine.dispose()


if __name__ == "__main__":
    main()
