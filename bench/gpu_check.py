"""The engine on a CUDA GPU: every method end to end, reproducibility, torch.compile, OOM, throughput.

What CPU tests cannot reach: bf16 autocast, channels_last, the sync-every-10-steps loss fetch, the
pinned/device data budget, torch.compile and the out-of-memory path. Every part prints what it
measured and one line per check, PASS or FAIL; the exit status is 1 when any check failed.

    python -m bench.gpu_check                 # on a machine with a CUDA GPU (about 5 min on an H100)
    python -m bench.gpu_check --device cpu --quick   # the same code path on a CPU, to try the script
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.train_throughput import ours, reference
from contrastlab.core.catalog import METHODS
from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, TrainingFailed, train

RESULTS: dict[str, Any] = {"checks": {}}


def check(name: str, ok: bool, detail: str = "") -> None:
    RESULTS["checks"][name] = ok
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


def part(title: str, body: Callable[[], None]) -> None:
    """Run one part; an exception fails it and the script goes on to the next."""
    print(f"\n== {title}", flush=True)
    started = time.perf_counter()
    try:
        body()
    except Exception:
        traceback.print_exc()
        check(title, False, "raised")
    print(f"({time.perf_counter() - started:.1f} s)", flush=True)


def run_digits(device: str, **fields: Any) -> tuple[dict[str, float], ListReporter, float]:
    spec = RunSpec(dataset="digits", device=device, **fields)
    reporter = ListReporter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = train(spec, Path(out), reporter)
    return summary, reporter, time.perf_counter() - started


def methods(device: str, epochs: int) -> None:
    """Every method with ResNet-18 on digits: bf16 autocast, channels_last, finite losses, a useful encoder."""
    rows = {}
    for method in METHODS:
        summary, reporter, seconds = run_digits(device, method=method, encoder="resnet18", epochs=epochs,
                                                batch_size=256, probe_epochs=50, tsne_samples=300,
                                                random_baseline=False)
        losses = reporter.values("loss")
        # Views through the encoder while training (a step's images x the method's views; a target network's
        # forward is not counted), over the training time alone.
        training = [p for p in reporter.phases if p.views_per_unit]
        views = training[-1].done * training[-1].views_per_unit if training else 0
        views_per_s = views / summary["train_seconds"] if summary["train_seconds"] else 0.0
        rows[method] = {"linear_acc": summary["linear_acc"], "knn_acc": summary["knn_acc"], "seconds": seconds,
                        "first_loss": losses[0], "last_loss": losses[-1], "steps": len(losses),
                        "views_per_s": views_per_s}
        print(f"{method:20s} linear {summary['linear_acc']:.3f}  k-NN {summary['knn_acc']:.3f}  "
              f"loss {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} steps  {views_per_s:8.0f} views/s  "
              f"{seconds:5.1f} s", flush=True)
        check(f"{method} trains on {device}", summary["linear_acc"] > 0.5 and summary["knn_acc"] > 0.5
              and losses[-1] < losses[0], f"linear {summary['linear_acc']:.3f}")
    RESULTS["methods"] = rows


def reproducibility(device: str, epochs: int) -> None:
    """The same spec and seed twice: are the losses and accuracies bit-identical on this device?"""
    fields = {"method": "simclr", "encoder": "resnet18", "epochs": epochs, "batch_size": 256, "probe_epochs": 50,
              "tsne_samples": 300, "random_baseline": False, "seed": 3}
    first, a, _ = run_digits(device, **fields)
    second, b, _ = run_digits(device, **fields)
    la, lb = torch.tensor(a.values("loss")), torch.tensor(b.values("loss"))
    diff = float((la - lb).abs().max())
    RESULTS["reproducibility"] = {"max_loss_diff": diff, "identical_losses": bool(torch.equal(la, lb)),
                                  "linear_acc": [first["linear_acc"], second["linear_acc"]],
                                  "knn_acc": [first["knn_acc"], second["knn_acc"]]}
    print(f"losses bit-identical: {torch.equal(la, lb)}; max |difference| {diff:.2e} over {len(la)} steps; "
          f"linear {first['linear_acc']:.4f} / {second['linear_acc']:.4f}; "
          f"k-NN {first['knn_acc']:.4f} / {second['knn_acc']:.4f}", flush=True)
    check("same seed gives close losses", diff < 0.05, f"max |difference| {diff:.2e}")


def compiled(device: str, epochs: int) -> None:
    """torch.compile end to end: trains, and its accuracy is that of the eager run's neighbourhood."""
    fields = {"method": "simclr", "encoder": "resnet18", "epochs": epochs, "batch_size": 256, "probe_epochs": 50,
              "tsne_samples": 300, "random_baseline": False}
    eager, _, eager_s = run_digits(device, **fields)
    comp, reporter, comp_s = run_digits(device, torch_compile=True, **fields)
    RESULTS["compile"] = {"eager_linear_acc": eager["linear_acc"], "compiled_linear_acc": comp["linear_acc"],
                          "eager_seconds": eager_s, "compiled_seconds_with_compilation": comp_s}
    print(f"eager linear {eager['linear_acc']:.3f} in {eager_s:.1f} s; compiled linear {comp['linear_acc']:.3f} "
          f"in {comp_s:.1f} s (compilation included)", flush=True)
    check("torch.compile run trains", comp["linear_acc"] > 0.5 and abs(comp["linear_acc"] - eager["linear_acc"]) < 0.1)


def out_of_memory(device: str) -> None:
    """A run that cannot fit fails with the batch-size hint, and gives its memory back."""
    if device != "cuda":
        print("skipped: needs CUDA")
        return
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    free, _ = torch.cuda.mem_get_info()
    filler = torch.empty(free - (96 << 20), dtype=torch.uint8, device="cuda")  # leave 96 MiB
    message = ""
    try:
        run_digits(device, method="simclr", encoder="resnet50", epochs=1, batch_size=1024)
    except TrainingFailed as error:
        message = str(error)
    del filler
    # Without a collection an H200 showed 128.7 MiB kept (about the ResNet-50's weights): the failed run's objects,
    # freed once collected. A GPU worker trains each run in a fresh process, so nothing stays there either way.
    gc.collect()
    torch.cuda.synchronize()
    after = torch.cuda.memory_allocated()
    RESULTS["oom"] = {"message": message, "allocated_before": before, "allocated_after": after}
    print(f"message: {message!r}; allocated before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB",
          flush=True)
    check("OOM names batch_size and the largest that fits", "batch_size 1024" in message
          and ("largest batch_size" in message or "halve" in message))
    check("OOM releases the run's memory", after <= before + (1 << 20), f"{(after - before) / 2**20:.1f} MiB kept")


def throughput(device: str, images: int, batch: int, workers: list[int], with_compile: bool) -> None:
    """SimCLR ResNet-18 views/s on 32x32 images: ours against the plain DataLoader loop (bench.train_throughput).

    with_compile: ours with torch.compile, against the reference figures an earlier call measured.
    """
    dev = torch.device(device)
    data = torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    rows: dict[str, float] = RESULTS.setdefault("throughput", {})
    name = "ours_compiled" if with_compile else "ours"
    spec = RunSpec(method="simclr", encoder="resnet18", batch_size=batch, epochs=2, knn_every=1000,
                   torch_compile=with_compile, device=device)
    ours(spec, data[: batch * 4], dev)  # warm-up: cuDNN autotuning, compilation
    rows[name] = ours(spec, data, dev)
    for n in workers:
        rows[f"reference_workers_{n}"] = reference(spec, data, dev, n)
    print(f"{images} images 32x32, 2 epochs, batch {batch}, views/s:", flush=True)
    for key, value in rows.items():
        print(f"  {key:22s} {value:10.0f}", flush=True)
    references = {k: v for k, v in rows.items() if k.startswith("reference")}
    for ref, value in references.items():
        print(f"  ratio {name} / {ref} = {rows[name] / value:.2f}", flush=True)
    if device == "cuda" and references and not with_compile:
        best = max(references.values())
        check("ours >= 5x the reference loop (its best worker count)", rows[name] >= 5 * best,
              f"{rows[name] / best:.2f}x")


class _Samples:
    """A sink for worker.system.SystemSampler that keeps what it is given."""

    attempt = 1

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def sample(self, key: str, values: dict[str, float]) -> None:
        self.rows.append(values)


def system_metrics(device: str) -> None:
    """The worker's system sampler beside a training run: the system.gpu_* metrics read through NVML."""
    from worker.system import SAMPLED, SystemSampler, gpu_indices

    sink = _Samples()
    sampler = SystemSampler(sink, gpu_indices(None, device), interval_s=0.5)
    sampler.start()
    try:
        run_digits(device, method="simclr", encoder="resnet18", epochs=3, batch_size=256, probe_epochs=50,
                   tsne_samples=300, random_baseline=False)
    finally:
        sampler.stop()
    peaks = {name: max((row[name] for row in sink.rows if name in row), default=None) for name in SAMPLED}
    RESULTS["system"] = {"samples": len(sink.rows), "peaks": peaks}
    print(f"{len(sink.rows)} samples; peaks: " + ", ".join(f"{k} {v:.1f}" if v is not None else f"{k} none"
                                                          for k, v in peaks.items()), flush=True)
    if device == "cuda":
        check("system.gpu_* recorded through NVML", all(peaks[k] is not None for k in SAMPLED[2:])
              and (peaks["system.gpu_memory_mb"] or 0) > 0 and (peaks["system.gpu_power_w"] or 0) > 0,
              f"gpu {peaks['system.gpu_percent']} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: try the script on a CPU")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip", nargs="*", default=[],
                        help="parts to leave out: speed methods system oom repro compile speed_compile")
    args = parser.parse_args()
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("no CUDA GPU here; try --device cpu --quick")
        props = torch.cuda.get_device_properties(0)
        RESULTS["device"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    else:
        RESULTS["device"] = "cpu"
    RESULTS["torch"] = torch.__version__
    print(f"device {RESULTS['device']}; torch {torch.__version__}", flush=True)
    epochs = 1 if args.quick else 5
    images, batch = (1024, 128) if args.quick else (16384, 512)
    workers = [1] if args.quick else [1, 8]
    parts: dict[str, tuple[str, Callable[[], None]]] = {
        "speed": ("throughput", lambda: throughput(args.device, images, batch, workers, with_compile=False)),
        "methods": ("every method, ResNet-18 on digits", lambda: methods(args.device, 1 if args.quick else 3)),
        "system": ("system metrics", lambda: system_metrics(args.device)),
        "oom": ("out of memory", lambda: out_of_memory(args.device)),
        "repro": ("reproducibility", lambda: reproducibility(args.device, epochs)),
        "compile": ("torch.compile", lambda: compiled(args.device, epochs)),
        "speed_compile": ("throughput, compiled", lambda: throughput(args.device, images, batch, [],
                                                                    with_compile=True)),
    }
    for key, (title, body) in parts.items():
        if key not in args.skip:
            part(title, body)
    if args.json:
        args.json.write_text(json.dumps(RESULTS, indent=2))
    failed = [name for name, ok in RESULTS["checks"].items() if not ok]
    print(f"\n{len(RESULTS['checks']) - len(failed)} checks passed, {len(failed)} failed {failed or ''}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
