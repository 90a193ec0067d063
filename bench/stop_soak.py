"""Stop soak: `make run` stopped again and again while it trains, over one data folder; what became of each run.

    .venv/bin/python -m bench.stop_soak [--stops 20] [--seed 0]

Each round starts the launcher (`python -m contrastlab.launch`: the API, its worker and preview consumer, as
`make run` does), lets the run handed back by the round before finish, submits a short digits run, waits until it
trains, waits a random 0-3 s more (so the signal lands in training, in the evaluation or after the end), and sends
SIGTERM to the launcher's process group. After each stop it reads the run's row from the database and the
launcher's log, and at the end prints:

- handed back / finished before the stop / left `running` (the last must be 0: a run the worker neither handed
  back nor finished waits for its lease to expire and counts as lost);
- pool processes killed by a stop (billiard's "exited with 'signal 15'": an idle pool process must outlive it) and
  grace kills (the launcher's "still running 30 s after SIGTERM");
- the seconds from the signal to the launcher's exit (median, max): the machine's time, never a pass mark.

Exit status 1 when a run was left `running`, a pool process was killed or a grace kill happened.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from contrastlab.core.catalog import Status
from tests.integration.test_shutdown import SHORT, stored_run, training
from tests.stack import Stack

DELAYS_S = (0.0, 0.3, 0.7, 1.5, 3.0)  # after the run's first stored point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    killed_pools = grace_kills = 0
    stop_seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stop-soak-") as folder:
        stack = Stack(Path(folder) / "data")
        handed_back: int | None = None
        try:
            for number in range(args.stops):
                stack.start_api(with_worker=True)
                if handed_back is not None:
                    stack.wait(handed_back, {Status.SUCCEEDED, Status.FAILED}, timeout=300)
                run = stack.submit(**SHORT)
                training(stack, run["id"])
                delay = rng.choice(DELAYS_S)
                time.sleep(delay)
                assert stack.api is not None
                sent = time.monotonic()
                os.killpg(stack.api.pid, signal.SIGTERM)
                stack.api.wait(timeout=120)
                stop_seconds.append(time.monotonic() - sent)
                row = stored_run(stack.data_dir, run["id"])
                log = (stack.logs / "api.log").read_text(errors="replace").rsplit("ContrastLab on http", 1)[-1]
                killed_pools += log.count("exited with 'signal")
                grace_kills += log.count("s after SIGTERM: killing")
                outcome = {Status.QUEUED: "handed back", Status.SUCCEEDED: "finished before the stop"}.get(
                    row["status"], f"left {row['status']}")
                outcomes[outcome] += 1
                handed_back = run["id"] if row["status"] == Status.QUEUED else None
                print(f"stop {number + 1:>3}: run {run['id']:>3}, signal {delay:.1f} s after its first point, "
                      f"{outcome}, launcher gone in {stop_seconds[-1]:.1f} s", flush=True)
        finally:
            stack.stop()
    print(f"\n{args.stops} stops: " + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))
    print(f"pool processes killed by a stop: {killed_pools}; grace kills: {grace_kills}")
    print(f"signal to launcher gone: median {statistics.median(stop_seconds):.1f} s, max {max(stop_seconds):.1f} s")
    left = sum(n for what, n in outcomes.items() if what.startswith("left"))
    return 1 if left or killed_pools or grace_kills else 0


if __name__ == "__main__":
    sys.exit(main())
