"""A study file's grid straight through the engine (no service), several runs at once, then its verdicts.

For a machine that has a GPU but not the service (no Redis, no database): every cell x seed of the study
file is a RunSpec trained by `worker.engine.train`, in `--procs` processes sharing the device. It writes one
row per run (the cell, the seed, the final metrics) to `--json`, and prints per cell the mean and Student-t
95 % interval of the linear probe and k-NN, the random-init encoder's beside them, and each cell's verdict
against the baseline cell (the supervised one), with the same statistics the study page uses
(backend.studies.stats: Welch's t, Holm). `--from-json` prints the table of an earlier run again.

    python -m bench.study_engine examples/studies/methods_fashion_mnist.yaml --device cuda --procs 4 --json r.json
    python -m bench.study_engine examples/studies/methods_fashion_mnist.yaml --json r.json --resume  # the rest
    python -m bench.study_engine --from-json r.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

METRICS = ("linear_acc", "knn_acc", "linear_acc_head", "random_linear_acc", "random_knn_acc")


def grid(study: dict[str, Any], overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per cell x seed: the cell's axis values, the seed, and the spec's fields."""
    axes = study.get("axes") or {}
    names = list(axes)
    rows = []
    for combo in itertools.product(*(axes[n] for n in names)):
        values = dict(zip(names, combo, strict=True))
        for seed in study.get("seeds") or [0]:
            fields = {**study.get("base", {}), **values, **overrides, "seed": seed}
            rows.append({"cell": ", ".join(f"{k}={v}" for k, v in values.items()), "values": values,
                         "seed": seed, "fields": fields})
    return rows


def _one(row: dict[str, Any]) -> dict[str, Any]:
    from contrastlab.core.spec import RunSpec
    from worker.engine import ListReporter, train

    spec = RunSpec(**row["fields"])
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as out:
            summary = train(spec, Path(out), ListReporter())
    except Exception as error:  # one failed run is a row, not the end of the study
        return {**row, "error": f"{type(error).__name__}: {error}", "seconds": time.perf_counter() - started}
    kept = {k: float(summary[k]) for k in METRICS if summary.get(k) is not None}
    return {**row, **kept, "seconds": time.perf_counter() - started}


def run(rows: list[dict[str, Any]], procs: int, done: list[dict[str, Any]], out: Path | None) -> list[dict[str, Any]]:
    """Train the rows not in `done` yet; `out` is rewritten after each run, so a stopped study resumes."""
    finished = {(r["cell"], r["seed"]) for r in done if "error" not in r}
    todo = [r for r in rows if (r["cell"], r["seed"]) not in finished]
    done = [r for r in done if "error" not in r]
    print(f"{len(rows)} runs, {len(rows) - len(todo)} done before, {len(todo)} to train, {procs} at once", flush=True)
    context = multiprocessing.get_context("spawn")  # CUDA in children needs spawn
    with context.Pool(procs) as pool:
        for result in pool.imap_unordered(_one, todo):
            done.append(result)
            if out:
                out.write_text(json.dumps(done, indent=1))
            shown = result.get("error") or "  ".join(f"{m} {result[m]:.4f}" for m in METRICS if m in result)
            print(f"[{len(done):3d}/{len(rows)}] {result['cell']} seed {result['seed']}: {shown} "
                  f"({result['seconds']:.1f} s)", flush=True)
    return done


def table(rows: list[dict[str, Any]], baseline_method: str = "supervised") -> None:
    """Per cell: n, mean and 95 % interval of each metric in percent, and the verdict against the baseline."""
    from backend.studies.stats import cell_stats, compare_cells

    ok = [r for r in rows if "error" not in r]
    failed = [r for r in rows if "error" in r]
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    print(f"\n{len(ok)} runs succeeded, {len(failed)} failed")
    for r in failed:
        print(f"  FAILED {r['cell']} seed {r['seed']}: {r['error']}")
    for metric in ("linear_acc", "knn_acc"):
        stats, samples = [], {}
        for cell in cells:
            mine = [r for r in ok if r["cell"] == cell and metric in r]
            samples[cell] = [100 * r[metric] for r in mine]
            values = mine[0]["values"] if mine else {}
            stats.append(cell_stats(cell, values, samples[cell], [r["seed"] for r in mine]))
        base = next((c.key for c in stats if c.values.get("method") == baseline_method), stats[0].key)
        verdicts = {c.key: c for c in compare_cells(stats, samples, base, "higher")}
        randoms = {cell: [100 * r[f"random_{metric}"] for r in ok if r["cell"] == cell and f"random_{metric}" in r]
                   for cell in cells}
        print(f"\n{metric} (%), mean [95 % interval], n; random-init encoder beside; verdict against {base}")
        for c in stats:
            interval = f"[{max(0.0, c.ci95[0]):5.1f}, {min(100.0, c.ci95[1]):5.1f}]" if c.ci95 else "[   -  ,   -  ]"
            rand = randoms[c.key]
            rand_text = f"{sum(rand) / len(rand):5.1f}" if rand else "  -  "
            v = verdicts.get(c.key)
            said = "baseline" if c.key == base else f"{v.verdict} (diff {v.diff:+.1f}, p Holm {v.p_holm:.3g})" \
                if v and v.diff is not None and v.p_holm is not None else (v.verdict if v else "")
            mean = f"{c.mean:5.1f}" if c.mean is not None else "  -  "
            print(f"  {c.key:32s} {mean} {interval} n={c.n}  random {rand_text}  {said}")


def paired(rows: list[dict[str, Any]], metric: str, other: str) -> None:
    """Per cell, `metric` against `other` on the same runs, as the study page's "Paired with" (in points)."""
    from backend.studies.stats import PairedCell, compare_paired

    ok = [r for r in rows if "error" not in r]
    cells = []
    for cell in dict.fromkeys(r["cell"] for r in rows):
        pairs = [(r["seed"], 100 * r[metric], 100 * r[other]) for r in ok
                 if r["cell"] == cell and metric in r and other in r]
        cells.append(PairedCell(cell, pairs, bool(pairs)))
    print(f"\n{metric} against {other} on the same runs (points; paired t, bootstrap, Wilcoxon, Holm)")
    for c in compare_paired(cells, metric, other, "higher"):
        shown = (f"{c.mean_diff:+.2f} [{c.ci95[0]:+.2f}, {c.ci95[1]:+.2f}] bootstrap "
                 f"[{c.bootstrap_ci95[0]:+.2f}, {c.bootstrap_ci95[1]:+.2f}]" if c.ci95 and c.bootstrap_ci95
                 else "-")
        ps = "  ".join(f"{name} {value:.2g}" for name, value in (("p", c.p_value), ("Wilcoxon p", c.wilcoxon_p))
                       if value is not None)
        print(f"  {c.key:32s} n={c.n} diff {shown}  {ps}  {c.verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", nargs="?", type=Path, help="a study file (YAML or JSON, as `contrastlab study`)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--procs", type=int, default=1, help="runs at once")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a base field (YAML value), as `contrastlab study --set`")
    parser.add_argument("--json", type=Path, help="write the rows here, after each run")
    parser.add_argument("--resume", action="store_true", help="keep the runs --json holds; train the others")
    parser.add_argument("--from-json", type=Path, help="print the table of rows written earlier")
    parser.add_argument("--paired", nargs=2, action="append", default=[], metavar=("METRIC", "OTHER"),
                        help="also compare two metrics of the same runs, e.g. linear_acc linear_acc_head")
    args = parser.parse_args()
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
        table(rows)
        for metric, other in args.paired:
            paired(rows, metric, other)
        return
    if args.study is None:
        parser.error("give a study file, or --from-json")
    overrides = {"device": args.device}
    for item in args.set:
        field, _, value = item.partition("=")
        overrides[field] = yaml.safe_load(value)
    rows = grid(yaml.safe_load(args.study.read_text()), overrides)
    done = json.loads(args.json.read_text()) if args.resume and args.json and args.json.exists() else []
    started = time.perf_counter()
    results = run(rows, args.procs, done, args.json)
    print(f"trained in {time.perf_counter() - started:.1f} s on {args.device}", flush=True)
    table(results)
    for metric, other in args.paired:
        paired(results, metric, other)


if __name__ == "__main__":
    main()
