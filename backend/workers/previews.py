"""Who draws an augmentation preview now, or why no one will: the preview consumers and the workers, as they beat.

A preview consumer (beside each host's workers) draws previews while the workers train, one at a time; a worker
that lists the preview queue among its own (one started by hand with it, or of an older version) draws one only
while it is idle, for a preview is not queued behind hours of training.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.workers.registry import connected, preview_consumers
from contrastlab.queue import preview_queue

START_ONE = ("`make run` and `contrastlab worker` start one beside their workers; by hand: `celery -A worker.main "
             "worker --pool solo --queues {queue}`")


def preview_refusal(session: Session, queue: str, lost_seconds: float) -> str | None:
    """Why no one would draw a preview sent to `queue`'s preview queue now; None when someone would."""
    previews = preview_queue(queue)
    if any(previews in (consumer.queues or []) for consumer in preview_consumers(session, lost_seconds)):
        return None
    workers = connected(session, lost_seconds)
    if any(worker.run_id is None and previews in (worker.queues or []) for worker in workers):
        return None
    if not workers:
        return ("no worker is connected, and a preview is drawn beside the workers with the engine's own augment "
                "code; start one (`make run`, or `contrastlab worker`)")
    start = START_ONE.format(queue=previews)
    if all(worker.run_id is not None for worker in workers):
        return (f"every connected worker ({len(workers)}) is busy with a run, and no preview consumer is "
                f"connected to draw it meanwhile; {start}")
    return f"no preview consumer is connected, and the idle workers take runs only; {start}"
