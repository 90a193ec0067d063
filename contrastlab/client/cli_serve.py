"""`contrastlab serve` and `contrastlab worker`: start the API or the workers (other programs, exec'd)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer


def register(app: typer.Typer, friendly: Callable[[Any], Any]) -> None:
    """Add the commands to `app`."""

    @app.command()
    def serve(host: Annotated[str | None, typer.Option(help="Address to listen on (env HOST).")] = None,
              port: Annotated[int | None, typer.Option(help="Port (env PORT).")] = None,
              worker: Annotated[bool | None, typer.Option(
                  "--worker/--no-worker", help="Start one worker (and its preview consumer) beside the API (env "
                  "START_WORKER).")] = None) -> None:
        """Serve the API and dashboard, as `make run` does (migrations first, then one worker unless --no-worker)."""
        for variable, value in (("HOST", host), ("PORT", port), ("START_WORKER", worker)):
            if value is not None:
                os.environ[variable] = str(int(value)) if isinstance(value, bool) else str(value)
        # The API is another program: the client imports none of it (`make run` does the same).
        os.execv(sys.executable, [sys.executable, "-m", "contrastlab.launch"])

    @app.command("worker")
    @friendly
    def start_worker(gpus: Annotated[str, typer.Option(help="The host's GPUs, e.g. 0,1,2,3: one worker process per "
                                                       "GPU; they run four 1-device runs or one 4-device run (spec "
                                                       "devices). Empty: one worker.")] = "",
                     slots: Annotated[int, typer.Option(help="CPU device slots instead of GPUs: runs of up to this "
                                                        "many devices train as gloo processes.", min=0)] = 0,
                     name: Annotated[str, typer.Option(help="Worker name prefix (Celery node name).")] = "worker"
                     ) -> None:
        """Start Celery workers for the queue, and the preview consumer beside them (BROKER_URL, API_URL, QUEUE,
        DATA_DIR from the environment)."""
        # The workers are another program (they carry torch): the client imports none of it.
        os.execv(sys.executable, [sys.executable, "-m", "worker.supervise", "--gpus", gpus, "--slots", str(slots),
                                  "--name", name])
