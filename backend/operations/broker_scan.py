"""Which runs have a task message waiting in the broker (Redis or the embedded filesystem broker).

The reconciler resends a run that sits in `queued` with no message for it, e.g.
after Redis restarted without its data. Only waiting messages count: one that a
worker has taken but not acknowledged belongs to a claim in progress or to a
dead worker, and a duplicate is harmless (the claim only takes a queued run).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis

from contrastlab.queue import TASK_RUN, all_run_queues

# kombu's Redis transport keeps one list per priority step: "queue", "queue\x06\x163", ...
REDIS_PRIORITY_SEPARATOR = "\x06\x16"
REDIS_PRIORITY_STEPS = (3, 6, 9)


def pending_run_ids(broker_url: str, queue: str, transport_options: dict[str, Any]) -> set[int]:
    """Run ids of the waiting task messages on `queue` and its queues of multi-device runs; raises when the broker
    cannot be read."""
    queues = all_run_queues(queue)
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return _run_ids(_redis_messages(broker_url, queues))
    if broker_url.startswith("filesystem://"):
        folder = Path(str(transport_options["data_folder_in"]))
        return _run_ids(message for name in queues for message in _folder_messages(folder, name))
    raise NotImplementedError(f"cannot list the messages of broker {broker_url.split(':', 1)[0]}")


def _redis_messages(url: str, queues: list[str]) -> list[bytes | str]:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = [key for queue in queues
                for key in (queue, *(f"{queue}{REDIS_PRIORITY_SEPARATOR}{step}" for step in REDIS_PRIORITY_STEPS))]
        with client.pipeline(transaction=False) as pipe:  # one round trip for the 64 lists
            for key in keys:
                pipe.lrange(key, 0, -1)
            return [item for items in pipe.execute() for item in items]
    finally:
        client.close()


def _folder_messages(folder: Path, queue: str) -> list[bytes | str]:
    messages: list[bytes | str] = []
    for path in folder.glob(f"*.{queue}.msg"):
        try:
            messages.append(path.read_bytes())
        except FileNotFoundError:  # taken by a worker meanwhile
            continue
    return messages


def _run_ids(messages: Iterable[bytes | str]) -> set[int]:
    ids = set()
    for raw in messages:
        run_id = _run_id(raw)
        if run_id is not None:
            ids.add(run_id)
    return ids


def _run_id(raw: bytes | str) -> int | None:
    """The run id of a Celery (protocol 2) message for our task, or None for anything else."""
    try:
        message = json.loads(raw)
        if message.get("headers", {}).get("task") != TASK_RUN:
            return None
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return int(args[0])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
