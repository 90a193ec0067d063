"""Workers on the real stack: `make run`'s worker (one CPU slot) beats and is listed; a run it holds while it waits
for that slot says so and is never sent twice (Redis, PostgreSQL); a worker killed outright is marked lost; and the
shared stacks' workers (SQLite and PostgreSQL) and their preview consumers are listed online."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.operations.broker_scan import pending_run_ids
from tests.conftest import postgres_database
from tests.integration.conftest import Stacks
from tests.stack import REDIS_TEST_URL, Stack

pytestmark = pytest.mark.integration
TINY = {"dataset": "digits", "epochs": 1, "batch_size": 32, "max_train_samples": 128, "probe_epochs": 5,
        "tsne_samples": 20, "random_baseline": False}


def listed(stack: Stack) -> dict[str, dict]:
    return {worker["name"]: worker for worker in stack.get("/api/workers")["items"]}


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[Stack]:
    """`make run` (API and its worker) on Redis and PostgreSQL, with a short resend wait and fast heartbeats."""
    database = postgres_database()
    stack = Stack(tmp_path / "data", broker_url=REDIS_TEST_URL, database_url=next(database), OMP_NUM_THREADS="1",
                  REQUEUE_AFTER_SECONDS="3", RECONCILE_SECONDS="0.5", WORKER_HEARTBEAT_SECONDS="1",
                  WORKER_LOST_SECONDS="4")
    try:
        stack.start_api(with_worker=True)
        yield stack
    finally:
        stack.stop()
        print(stack.all_logs())
        database.close()


def test_a_run_the_worker_holds_while_it_waits_for_its_slot_is_not_sent_twice(launched: Stack) -> None:
    stack = launched
    embedded = stack.wait_until("make run's worker to beat", lambda: next(
        (w for w in listed(stack).values() if w["role"] == "runs"), None))
    assert embedded["status"] == "online" and embedded["activity"] == "idle"
    assert embedded["slots"] == ["cpu0"] and embedded["devices"] == 1 and not embedded["gpu"]  # one CPU slot

    (stack.data_dir / "slots").mkdir(exist_ok=True)
    slot = os.open(stack.data_dir / "slots" / "slot-0.lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(slot, fcntl.LOCK_EX)  # another run of this host holds the only slot
    try:
        run = stack.submit(**TINY, name="held")
        holder = stack.wait_until("the worker to say it holds the run", lambda: next(
            (w for w in listed(stack).values() if w["run_id"] == run["id"]), None))
        assert holder["activity"] == "waiting"
        reason = stack.get(f"/api/runs/{run['id']}")["waiting_reason"]
        assert reason == f"worker {holder['name']} holds it and waits for 1 device of its host's 1 to be free"
        # Three resend waits (REQUEUE_AFTER_SECONDS=3) pass: before workers were rows, the reconciler sent the run
        # again after the first, and a second message waited in the queue for nothing.
        time.sleep(9)
        texts = [entry["text"] for entry in stack.log_entries(run["id"])]
        assert not any("sent to the broker again" in text for text in texts), texts
        assert run["id"] not in pending_run_ids(REDIS_TEST_URL, stack.env["QUEUE"], {})
        assert stack.get(f"/api/runs/{run['id']}")["status"] == "queued"
    finally:
        os.close(slot)
    done = stack.wait(run["id"], {"succeeded", "failed", "canceled"})
    assert done["status"] == "succeeded" and done["attempt"] == 1, done["error"]


def test_a_worker_killed_outright_is_marked_lost(launched: Stack) -> None:
    stack = launched
    doomed = stack.start_worker("doomed")
    online = stack.wait_until("the worker to beat", lambda: next(
        (w for name, w in listed(stack).items() if name.startswith("doomed@")), None), timeout=120)
    assert online["status"] == "online" and online["slots"] == [] and online["devices"] == 1
    stack.kill(doomed)
    lost = stack.wait_until("the worker to be marked lost", lambda: next(
        (w for name, w in listed(stack).items() if name.startswith("doomed@") and w["status"] == "lost"), None),
        timeout=30)
    assert lost["run_id"] is None
    assert any(w["status"] == "online" for name, w in listed(stack).items() if not name.startswith("doomed@"))


@pytest.mark.parametrize("kind", ["embedded", "redis+postgres"])
def test_the_shared_stacks_worker_is_listed_online(stacks: Stacks, kind: str) -> None:
    stack = stacks.get(kind)
    worker = stack.wait_until("the worker to beat", lambda: listed(stack).get(next(
        (name for name in listed(stack) if name.startswith("worker1@")), ""), None))
    assert worker["status"] == "online" and worker["queues"] == [stack.env["QUEUE"]] and worker["role"] == "runs"
    assert worker["last_seen"].endswith("Z") and worker["version"]
    consumer = stack.wait_until("the preview consumer to beat", lambda: next(
        (w for name, w in listed(stack).items() if name.startswith("preview-worker1@")), None))
    assert (consumer["status"], consumer["role"], consumer["queues"], consumer["gpu"], consumer["slots"]) == \
        ("online", "previews", [f"{stack.env['QUEUE']}.preview"], False, [])
