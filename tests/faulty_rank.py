"""A rank of a multi-device run whose loss raises on rank $FAULT_RANK at its $FAULT_STEP-th step.

`python -m tests.faulty_rank OUT_DIR`, in place of worker.rank, so a test can fail one rank of a real torchrun.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from worker import rank
from worker.engine.losses import LOSSES


def main() -> int:
    if os.environ["RANK"] == os.environ.get("FAULT_RANK", "1"):
        calls = {"n": 0}
        for method, objective in list(LOSSES.items()):
            def loss(outputs: Any, labels: Any, spec: Any, _inner: Any = objective.loss) -> Any:
                calls["n"] += 1
                if calls["n"] >= int(os.environ.get("FAULT_STEP", "2")):
                    raise RuntimeError(f"fault injected on rank {os.environ['RANK']}")
                return _inner(outputs, labels, spec)
            LOSSES[method] = dataclasses.replace(objective, loss=loss)
    return rank.main()


if __name__ == "__main__":
    sys.exit(main())
