"""Run the engine from a shell, without the service: python -m worker.engine [field=value ...] [--out DIR]

Example: python -m worker.engine method=simclr epochs=2 batch_size=128
Prints phase messages with elapsed seconds, per-epoch metrics and the summary.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from contrastlab.core.spec import RunSpec

from . import train


class PrintReporter:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def metric(self, name: str, value: float, step: int, epoch: float) -> None:
        if name not in ("loss", "lr"):  # per-step curves would flood the terminal
            print(f"{self._elapsed()} step {step} epoch {epoch:g}: {name} = {value:.4f}")

    def message(self, text: str) -> None:
        print(f"{self._elapsed()} {text}")

    def phase(self, name: str, done: int = 0, total: int | None = None, views_per_unit: int = 0) -> None:
        pass  # the messages say which phase; per-step progress would flood the terminal

    def should_stop(self) -> bool:
        return False

    def checkpoint(self, path: Path, epoch: int, step: int) -> None:
        pass

    def _elapsed(self) -> str:
        return f"[{time.perf_counter() - self.started:6.1f}s]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fields", nargs="*", help="RunSpec fields as name=value (values parsed as JSON if they can be)")
    parser.add_argument("--out", type=Path, help="artifact folder (default: a temporary one, deleted afterwards)")
    parser.add_argument("--data-root", type=Path, help="folder holding the dataset folders")
    args = parser.parse_args()
    values = {}
    for field in args.fields:
        name, _, raw = field.partition("=")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    spec = RunSpec(**values)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        summary = train(spec, args.out or Path(scratch), PrintReporter(), args.data_root)
    print(json.dumps({**summary, "wall_seconds": round(time.perf_counter() - started, 2)}, indent=1))


if __name__ == "__main__":
    main()
