"""Adaptive search against the full grid, through the real service on digits: training steps spent and verdicts.

Starts the API and Celery workers (the embedded broker), submits a 24-run grid (temperature × lr, 3 seeds) and
a search over the same axes (TPE, ASHA on the k-NN monitor, 24 trials, confirmation on 3 fresh seeds), waits for
both, and prints: the training steps each recorded (a run's last recorded step, summed), the search's pruned
trials, the grid's best cell with its 95 % interval, the search's confirmed winner with its confirmed mean, and
both verdicts of the winner against the same baseline cell.

    .venv/bin/python -m bench.search_vs_grid                      # digits, 9 epochs, 2 workers
    .venv/bin/python -m bench.search_vs_grid --epochs 9 --workers 2 --set max_train_samples=320
    .venv/bin/python -m bench.search_vs_grid --no-grid --lr-range   # the search alone, lr sampled from a log range

With --no-grid the grid is not run: its steps are 24 × a full run's (every full run records the same steps), and
no grid verdict is printed. --lr-range samples lr from [1e-4, 1e-2] (log) instead of the grid's two values.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from contrastlab.core import paths
from contrastlab.core.catalog import FINAL_STATUSES
from tests.stack import Stack

TEMPERATURES = [0.1, 0.2, 0.5, 1.0]
LRS = [0.001, 0.01]
BASELINE = "temperature=0.5,lr=0.001"  # the base spec's cell, in both


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _steps(stack: Stack, run_id: int) -> int:
    """The run's training steps: the step of its last recorded point."""
    return max((int(p["step"] or 0) for p in stack.points(run_id)), default=0)


def _final(stack: Stack, study_id: int) -> bool:
    study = stack.get(paths.fill(paths.STUDY, study_id=study_id))
    done = sum(study["status_counts"].get(s, 0) for s in FINAL_STATUSES) == len(study["run_ids"])
    if not study.get("search"):
        return done
    return done and stack.get(paths.fill(paths.STUDY_SEARCH, study_id=study_id))["state"] in {"done", "stopped"}


def _verdict(stats: dict[str, Any], key: str) -> str:
    if key == stats["baseline"]:
        return "baseline"
    row = next(c for c in stats["comparisons"] if c["key"] == key)
    return f"{row['verdict']} (diff {100 * row['diff']:+.2f} points, p {row['p_value']:.3g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="more base RunSpec fields")
    parser.add_argument("--no-grid", action="store_true", help="run the search alone")
    parser.add_argument("--lr-range", action="store_true", help="the search samples lr from a log range")
    args = parser.parse_args()
    base: dict[str, Any] = {"dataset": "digits", "method": "simclr", "epochs": args.epochs, "batch_size": 64,
                            "max_train_samples": 320, "probe_epochs": 5, "tsne_samples": 20, "random_baseline": False,
                            "knn_every": 1, "temperature": 0.5, "lr": 0.001}
    for item in args.set:
        field, _, value = item.partition("=")
        base[field] = _value(value)
    axes = {"temperature": TEMPERATURES, "lr": LRS}
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "data")
        started = time.monotonic()
        try:
            stack.start_api()
            for i in range(args.workers):
                stack.start_worker(f"worker{i + 1}")
            grid = None if args.no_grid else stack.http.post(paths.STUDIES, json={
                "name": "grid", "base": base, "axes": axes, "seeds": [0, 1, 2]})
            searched = {**axes, "lr": {"low": 1e-4, "high": 1e-2, "log": True}} if args.lr_range else axes
            search = stack.http.post(paths.STUDIES, json={
                "name": "search", "base": base, "axes": searched, "seeds": [0],
                "search": {"sampler": "tpe", "pruner": "asha", "trials": args.trials, "parallel": args.parallel,
                           "metric": "knn_acc", "direction": "max", "confirm_seeds": 3}})
            assert (grid is None or grid.status_code == 201) and search.status_code == 201, search.text
            grid_id, search_id = None if grid is None else grid.json()["id"], search.json()["id"]
            stack.wait_until("both studies final", lambda: (grid_id is None or _final(stack, grid_id))
                             and _final(stack, search_id), timeout=6 * 3600)
            report(stack, base, grid_id, search_id, time.monotonic() - started)
        finally:
            stack.stop()


def report(stack: Stack, base: dict[str, Any], grid_id: int | None, search_id: int, seconds: float) -> None:
    view = stack.get(paths.fill(paths.STUDY_SEARCH, study_id=search_id))
    print(f"search axes: {stack.get(paths.fill(paths.STUDY, study_id=search_id))['axes']}")
    if grid_id is None:
        full = max(t["steps"] for t in view["trials"])
        grid_steps = len(TEMPERATURES) * len(LRS) * 3 * full
        print(f"grid not run: 24 runs × {full} steps (a full run's) = {grid_steps}; wall {seconds / 60:.1f} min")
    else:
        grid = stack.get(paths.fill(paths.STUDY, study_id=grid_id))
        grid_steps = sum(_steps(stack, run_id) for run_id in grid["run_ids"])
        print(f"grid: {len(grid['run_ids'])} runs, {grid['status_counts']}; wall {seconds / 60:.1f} min for both")
    trial_steps = sum(t["steps"] for t in view["trials"])
    confirm = view["confirmation"]
    confirm_steps = sum(_steps(stack, run_id) for run_id in confirm["runs"]) if confirm else 0
    pruned = [t for t in view["trials"] if t["status"] == "pruned"]
    print(f"base: {base}")
    print(f"grid training steps:          {grid_steps}")
    print(f"search trial steps:           {trial_steps} ({trial_steps / grid_steps:.1%} of the grid), "
          f"{len(view['trials'])} trials, {len(pruned)} pruned at epochs "
          f"{sorted(t['pruned_epoch'] for t in pruned)}")
    print(f"search confirmation steps:    {confirm_steps}; trials + confirmation: {trial_steps + confirm_steps} "
          f"({(trial_steps + confirm_steps) / grid_steps:.1%} of the grid)")
    search_stats = stack.get(paths.fill(paths.STUDY_STATS, study_id=search_id), metric="knn_acc")
    if grid_id is None:
        for cell in search_stats["cells"]:
            print(f"confirmed {cell['key']}: k-NN {100 * cell['mean']:.2f} % (n {cell['n']}); verdict "
                  f"{_verdict(search_stats, cell['key'])}")
        return
    grid_stats = stack.get(paths.fill(paths.STUDY_STATS, study_id=grid_id), metric="knn_acc", baseline=BASELINE)
    best_cell = max(grid_stats["cells"], key=lambda c: c["mean"] if c["mean"] is not None else -1)
    low, high = best_cell["ci95"]
    print(f"grid best cell: {best_cell['key']}: k-NN {100 * best_cell['mean']:.2f} % "
          f"[{100 * low:.2f}, {100 * high:.2f}] (95 % interval, n {best_cell['n']})")
    if not confirm:
        print(f"search state: {view['state']}; no confirmation")
        return
    winner = next(c for c in search_stats["cells"] if c["key"] == confirm["best"])
    print(f"search winner: {confirm['best']} (trial {view['best']}), confirmed on seeds {confirm['seeds']}: "
          f"k-NN {100 * winner['mean']:.2f} % (n {winner['n']}); within the grid's best interval: "
          f"{low <= winner['mean'] <= high}")
    grid_keys = {c["key"] for c in grid_stats["cells"]}
    grid_verdict = _verdict(grid_stats, confirm["best"]) if confirm["best"] in grid_keys else "not a grid cell"
    print(f"verdict of {confirm['best']} against {BASELINE}: search (confirmation runs) "
          f"{_verdict(search_stats, confirm['best'])}; grid {grid_verdict}")


if __name__ == "__main__":
    main()
