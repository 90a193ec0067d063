"""Load: live viewers against health checks and worker reports, and the ingestion rate, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.load [--streams 500] [--runs 50] [--database sqlite postgres] [--points 100000]

Starts the real API (`python -m contrastlab.launch`, no Celery worker: this script plays the workers) for each
database and prints:
- ingestion: points/s of batches of 2,000 points from one reporter, then from four at once (each its own run), and
  the CPU time a batch cost the API process, PostgreSQL's backends of its connections, and this client (they share
  the machine's cores: the server's CPU a batch is its cost whatever else runs);
- before any stream: /api/health p50 and p95, and a worker's report p50/p95 (batches of 50 points, as a
  training worker sends every 0.25 s);
- with --streams event streams open (spread over --runs running runs, held by a separate process so that
  reading them does not delay this one's timings): how many are held, the same health and report figures,
  and whether every viewer of the reported run received every reported point.
The machine's load average is printed beside the figures: the client and the server share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from contrastlab.core import paths
from contrastlab.core.protocol import Claim, ClaimGranted, EventBatch, PointIn, lease_headers
from tests.conftest import postgres_database
from tests.stack import Stack, parse_sse

SETTINGS = {"LEASE_SECONDS": "3600", "SUBMISSIONS_PER_MINUTE": "1000000"}  # the bench's runs stay theirs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: list[float]) -> str:
    return f"p50 {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms"


class Reporter:
    """A worker holding one run's lease, reporting batches of points as worker/runner.py does."""

    def __init__(self, url: str, run_id: int) -> None:
        self.http = httpx.Client(base_url=url, timeout=120)
        self.run_id, self.seq = run_id, 0
        claim = Claim(worker=f"bench-{run_id}")
        answer = self.http.post(paths.fill(paths.RUN_CLAIM, run_id=run_id), json=claim.model_dump(mode="json"))
        grant = ClaimGranted.model_validate_json(answer.raise_for_status().content)
        self.attempt, self.headers = grant.attempt, lease_headers(grant.lease_secret)

    def report(self, points: int) -> float:
        """Post one batch, encoded as worker/api.py encodes it; its milliseconds."""
        first, self.seq = self.seq, self.seq + points
        batch = EventBatch(worker=f"bench-{self.run_id}", attempt=self.attempt,
                           points=[PointIn(key=f"{self.attempt}:{s}", name="loss", step=s, epoch=s / 1000,
                                           value=1.0 / (s + 1)) for s in range(first, first + points)])
        body = batch.model_dump_json().encode()
        began = time.perf_counter()
        response = self.http.post(paths.fill(paths.RUN_EVENTS, run_id=self.run_id), content=body,
                                  headers={**self.headers, "Content-Type": "application/json"})
        elapsed = (time.perf_counter() - began) * 1000
        response.raise_for_status()
        return elapsed


def health_ms(http: httpx.Client, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        http.get(paths.HEALTH).raise_for_status()
        times.append((time.perf_counter() - began) * 1000)
        time.sleep(0.02)
    return times


def report_ms(reporter: Reporter, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        times.append(reporter.report(50))
        time.sleep(0.05)
    return times


class CpuClock:
    """CPU seconds of the API process and of PostgreSQL's backends serving its database (none on SQLite)."""

    def __init__(self, api_pid: int, database_url: str) -> None:
        self.api, self.database_url = psutil.Process(api_pid), database_url

    def _backends(self) -> dict[int, float]:
        if not self.database_url:
            return {}
        with psycopg.connect(self.database_url) as connection:
            pids = [pid for (pid,) in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        return {pid: cpu_seconds(psutil.Process(pid)) for pid in pids if psutil.pid_exists(pid)}

    def read(self) -> tuple[float, dict[int, float]]:
        return cpu_seconds(self.api), self._backends()

    def since(self, start: tuple[float, dict[int, float]]) -> tuple[float, float]:
        """(API, database) CPU seconds since `start` (a backend that started since counts from zero)."""
        api, backends = self.read()
        return api - start[0], sum(now - start[1].get(pid, 0.0) for pid, now in backends.items())


def cpu_seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:  # a backend that ended meanwhile
        return 0.0
    return times.user + times.system


def ingestion(url: str, run_ids: list[int], points: int, clock: CpuClock) -> tuple[float, str]:
    """Points per second of batches of 2,000, one reporter thread per run, `points` in all; and the CPU a batch
    cost the server, the database and this client."""
    reporters = [Reporter(url, run_id) for run_id in run_ids]
    batches = points // 2000 // len(reporters)

    def send(reporter: Reporter) -> None:
        for _ in range(batches):
            reporter.report(2000)

    threads = [threading.Thread(target=send, args=(r,)) for r in reporters]
    start, client = clock.read(), time.process_time()
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = batches * 2000 * len(reporters) / (time.perf_counter() - began)
    sent = batches * len(reporters)
    api, database = (seconds * 1000 / sent for seconds in clock.since(start))
    mine = (time.process_time() - client) * 1000 / sent
    cost = f"CPU a batch: API {api:.1f} ms" + (f", PostgreSQL {database:.1f} ms" if clock.database_url else "")
    return rate, f"{cost}, client {mine:.1f} ms"


async def _follow(client: httpx.AsyncClient, run_id: int, tally: dict[str, Any]) -> None:
    """One viewer: counts the metric events it receives until cancelled."""
    try:
        async with client.stream("GET", paths.fill(paths.RUN_EVENTS, run_id=run_id)) as response:
            if response.status_code != 200:
                tally["errors"] += 1
                return
            tally["opened"] += 1
            block: list[str] = []
            async for line in response.aiter_lines():
                block.append(line)
                if not line:
                    tally["points"][run_id] = tally["points"].get(run_id, 0) + sum(
                        1 for _, event, _ in parse_sse(block) if event == "metric")
                    block = []
    except httpx.HTTPError:
        tally["errors"] += 1
    finally:
        tally["closed"] += 1


async def _viewers(url: str, run_ids: list[int], streams: int, pipe: Any) -> None:
    tally: dict[str, Any] = {"opened": 0, "closed": 0, "errors": 0, "points": {}}
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120, read=None), limits=limits) as client:
        tasks = [asyncio.create_task(_follow(client, run_ids[i % len(run_ids)], tally)) for i in range(streams)]
        deadline = time.monotonic() + 180
        while tally["opened"] + tally["errors"] < streams and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        pipe.send({k: tally[k] for k in ("opened", "errors")})
        await asyncio.to_thread(pipe.recv)  # until the measurements are done
        held = tally["opened"] - tally["closed"]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pipe.send({"held": held, "errors": tally["errors"], "points": tally["points"]})


def viewers_process(url: str, run_ids: list[int], streams: int, pipe: Any) -> None:
    """The viewers, in their own process: `streams` event streams over the runs."""
    asyncio.run(_viewers(url, run_ids, streams, pipe))


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        yield ""
    else:
        with contextlib.closing(postgres_database()) as urls:
            yield next(urls)


def measure(kind: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="contrastlab-load-") as tmp, database(kind) as url:
        stack = Stack(Path(tmp) / "data", database_url=url, **SETTINGS)
        try:
            stack.start_api()
            runs = [stack.submit(name=f"load {i}", dataset="digits", epochs=1)["id"] for i in range(args.runs + 6)]
            watched, idle_run, one_run, four_runs = runs[:args.runs], runs[-6], runs[-5], runs[-4:]
            assert stack.api is not None
            clock = CpuClock(stack.api.pid, url)
            one, one_cost = ingestion(stack.url, [one_run], args.points, clock)
            four, four_cost = ingestion(stack.url, four_runs, args.points, clock)
            print(f"{kind}: ingestion, batches of 2,000 points: one reporter {one:,.0f} points/s ({one_cost}); "
                  f"four at once {four:,.0f} points/s ({four_cost})  [load {os.getloadavg()[0]:.2f}]", flush=True)
            idle_health = health_ms(stack.http, args.samples)
            idle_report = report_ms(Reporter(stack.url, idle_run), args.samples)
            print(f"{kind}: no streams: /api/health {spread(idle_health)}; worker report (50 points) "
                  f"{spread(idle_report)}  [load {os.getloadavg()[0]:.2f}]", flush=True)
            during(stack, kind, args, watched, Reporter(stack.url, watched[0]))
        finally:
            stack.stop()


def during(stack: Stack, kind: str, args: argparse.Namespace, watched: list[int], reporter: Reporter) -> None:
    """The same figures with the streams open, then what the reported run's viewers received."""
    spawn = multiprocessing.get_context("spawn")
    here, there = spawn.Pipe()
    process = spawn.Process(
        target=viewers_process, args=(stack.url, watched, args.streams, there), daemon=True)
    began = time.perf_counter()
    process.start()
    opened = here.recv()
    ramp = time.perf_counter() - began
    health, report = health_ms(stack.http, args.samples), report_ms(reporter, args.samples)
    load = os.getloadavg()[0]
    time.sleep(1.5)  # the last report reaches its viewers
    here.send("stop")
    final = here.recv()
    process.join(30)
    viewers = len(range(0, args.streams, len(watched)))  # stream i watches run i mod len(watched)
    got = final["points"].get(watched[0], 0)
    print(f"{kind}: {final['held']} of {args.streams} streams held over {len(watched)} runs "
          f"({opened['opened']} opened in {ramp:.1f} s, {final['errors']} errors): /api/health {spread(health)}; "
          f"worker report {spread(report)}  [load {load:.2f}]")
    print(f"{kind}: the reported run's {viewers} viewers received {got:,} of {viewers} x {reporter.seq:,} "
          f"reported points", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50, help="running runs the streams are spread over")
    parser.add_argument("--database", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    parser.add_argument("--points", type=int, default=100_000, help="points per ingestion measurement")
    parser.add_argument("--samples", type=int, default=200, help="health checks and reports per phase")
    args = parser.parse_args()
    for kind in args.database:
        measure(kind, args)


if __name__ == "__main__":
    main()
