"""The runs list at N runs: p50/p95 of GET /api/runs for each sort, filter and deep page, SQLite and PostgreSQL.

    .venv/bin/python -m bench.list_runs [--runs 100000] [--repeat 20] [--database sqlite postgres]

Builds a database of N finished runs through the project's own migrations and models (rows inserted as the API
stores them, no training: a summary with every final metric, a spec with the fields people sort by, tags on one
run in ten, `paper` on one in a thousand), then times each query through the API in-process (routing, SQL and the
JSON of a page of 50). The machine's load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from backend.main import create_app
from backend.migrate import prestart
from backend.models import Run, RunTag, tag_rows
from contrastlab.core import paths
from contrastlab.core.catalog import SUMMARY_METRICS
from contrastlab.core.settings import Settings
from tests.conftest import postgres_database

QUERIES: dict[str, dict[str, Any]] = {
    "id": {}, "sort=linear_acc": {"sort": "linear_acc"}, "sort=spec.lr": {"sort": "spec.lr"},
    "sort=duration": {"sort": "duration"}, "sort=name": {"sort": "name"}, "spec=lr=0.001": {"spec": "lr=0.001"},
    # Free text: many matches among the newest, one match deep down, a short one (many matches, then none), an id.
    "q=run 99": {"q": "run 99"}, "q=run 12345": {"q": "run 12345"}, "q=7": {"q": "7"}, "q=zz": {"q": "zz"},
    "q=#12345": {"q": "#12345"}, "q=run 99 sort=acc": {"q": "run 99", "sort": "linear_acc"},
    # Tags: a key on one run in ten, key:value on one in thirty, a key on one in a thousand, with a sort.
    "tag=baseline": {"tag": "baseline"}, "tag=opt:sgd": {"tag": "opt:sgd"}, "tag=paper": {"tag": "paper"},
    "tag=opt:sgd sort=acc": {"tag": "opt:sgd", "sort": "linear_acc"},
    "tag=paper sort=acc": {"tag": "paper", "sort": "linear_acc"},
    "offset=90000": {"offset": 90_000},
}


def _tags(i: int, spec: dict[str, Any]) -> list[str] | None:
    """One run in ten: `baseline` and its optimiser; one in a thousand: `paper` too."""
    if i % 10:
        return None
    return ["baseline", f"opt:{spec['optimizer']}", *(["paper"] if i % 1000 == 0 else [])]


def _rows(n: int) -> Iterator[list[dict[str, Any]]]:
    """The runs, in chunks of 5,000: finished, with a summary, a spec and (one in ten) tags."""
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    chunk: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        started = start + timedelta(minutes=i)
        spec = {"method": rng.choice(("simclr", "supcon", "byol")), "dataset": rng.choice(("digits", "cifar10")),
                "encoder": "small_cnn", "lr": rng.choice((1e-4, 3e-4, 1e-3, 3e-3, 1e-2)),
                "batch_size": rng.choice((64, 128, 256, 512)), "optimizer": rng.choice(("adam", "sgd", "lars")),
                "epochs": rng.choice((10, 50, 100)), "seed": i % 5}
        chunk.append({
            "id": i, "name": f"run {i}", "status": "succeeded", "spec": spec,
            "summary": {m: round(rng.random(), 4) for m in SUMMARY_METRICS}, "progress": 1.0, "attempt": 1,
            "cancel_requested": False, "created_at": started, "started_at": started,
            "finished_at": started + timedelta(seconds=rng.randint(10, 5000)),
            "tags": _tags(i, spec),
        })
        if len(chunk) == 5000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _timed(client: TestClient, params: dict[str, Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        client.get(paths.RUNS, params={"limit": 50, **params}).raise_for_status()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _report(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"  {name:<26} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms", flush=True)


def bench(database: str, runs: int, repeat: int) -> None:
    with contextlib.ExitStack() as cleanup:
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-list-")))
        url = next(cleanup.enter_context(contextlib.closing(postgres_database()))) if database == "postgres" else ""
        settings = Settings(data_dir=folder, database_url=url, redis_url="", broker_url="")
        prestart(settings)
        app = create_app(settings)
        cleanup.callback(app.state.engine.dispose)
        began = time.perf_counter()
        with app.state.sessionmaker() as session:
            for chunk in _rows(runs):
                session.execute(insert(Run), chunk)
                tags = [tag for row in chunk for tag in tag_rows(row["id"], row["tags"])]
                if tags:  # a core insert passes by the ORM's flush, which writes run_tags for the API
                    session.execute(insert(RunTag), tags)
            if database == "postgres":
                session.execute(text("SELECT setval('runs_id_seq', :n)"), {"n": runs})
            session.commit()
            session.execute(text("ANALYZE"))
            session.commit()
        if database == "postgres":  # as autovacuum leaves a table after a bulk load: visibility map set
            with app.state.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        print(f"{database}: {runs:,} runs inserted in {time.perf_counter() - began:.1f} s; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        client = cleanup.enter_context(TestClient(app, base_url="http://localhost",
                                                  headers={"X-Requested-With": "bench"}))
        for name, params in QUERIES.items():
            _timed(client, params, 2)  # warm the page cache and the statement cache
            _report(name, _timed(client, params, repeat))
        deep = client.get(paths.RUNS, params={"limit": 50, "offset": 89_950}).json()
        if deep.get("next_after"):
            _report("after=<page 1,800>", _timed(client, {"after": deep["next_after"]}, repeat))
            body = client.get(paths.RUNS).json()
            print(f"  count: total {body['total']:,}, exact {body['total_exact']}")
        else:
            print("  after=<cursor>           n/a (this version has no keyset cursor)")
        print(f"  load average after: {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    args = parser.parse_args()
    for database in args.database:
        bench(database, args.runs, args.repeat)


if __name__ == "__main__":
    main()
