"""A run's phase and its place in the queue, against the real API and database: the worker's reporter sends the
phase with its speed, the run's JSON and its live stream carry it, and a queued run says how many wait before it."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from backend.streams.feeds import StreamHub
from contrastlab.core.catalog import TRAINING_SHARE, phase_progress
from contrastlab.core.protocol import Claim
from tests.stack import parse_sse, run_coroutine
from tests.unit.api.conftest import FakeWorker
from tests.unit.api.test_streams import drain, open_stream, until, viewers
from worker.api import Lease, WorkerApi
from worker.reporting import FLUSH_S, HttpReporter


def reporter_for(client, run_id: int) -> HttpReporter:
    """The reporter a worker builds after claiming the run (its threads are not started: the test flushes)."""
    api = WorkerApi("http://localhost", client=client)
    return HttpReporter(Lease(api, run_id, "w1", api.claim(run_id, Claim(worker="w1"))))


def test_the_reporter_sends_the_phase_its_speed_and_the_overall_progress(client, submit) -> None:
    rid = submit()["id"]
    reporter = reporter_for(client, rid)
    reporter.phase("pretraining", 0, 400, views_per_unit=256)
    time.sleep(FLUSH_S)  # the speed needs two samples some time apart
    reporter.phase("pretraining", 100, 400, views_per_unit=256)
    reporter.flush()
    run = client.get(f"/api/runs/{rid}").json()
    phase = run["phase"]
    assert (phase["name"], phase["done"], phase["total"]) == ("pretraining", 100, 400)
    assert phase["rate"] > 0 and phase["views_per_s"] == pytest.approx(256 * phase["rate"])
    assert run["progress"] == pytest.approx(TRAINING_SHARE * 100 / 400)

    # Evaluation moves the bar on past training, phase by phase; a phase with no measure has no speed.
    reporter.phase("probe", 30, 100)
    reporter.flush()
    run = client.get(f"/api/runs/{rid}").json()
    assert run["phase"] == {"name": "probe", "done": 30, "total": 100, "rate": None, "views_per_s": None}
    assert run["progress"] == pytest.approx(phase_progress("probe", 30, 100))
    assert TRAINING_SHARE < run["progress"] < 0.99
    reporter.phase("tsne")
    reporter.flush()
    assert client.get(f"/api/runs/{rid}").json()["phase"]["name"] == "tsne"

    # A batch without a new phase keeps the last one; the finished run keeps it too (where it ended).
    reporter.message("a line")
    reporter.flush()
    assert client.get(f"/api/runs/{rid}").json()["phase"]["name"] == "tsne"
    finish = {"worker": "w1", "attempt": reporter.attempt, "status": "succeeded"}
    done = client.post(f"/api/runs/{rid}/finish", json=finish, headers=reporter.lease.headers).json()
    assert done["progress"] == 1.0 and done["phase"]["name"] == "tsne"


def test_overall_progress_never_goes_back() -> None:
    shares = [phase_progress(name, done, total) for name, done, total in [
        ("loading", 0, None), ("pretraining", 0, 10), ("pretraining", 10, 10), ("features", 5, 10),
        ("knn", 0, None), ("probe", 50, 100), ("random_baseline", 0, None), ("tsne", 0, None), ("saving", 0, None)]]
    assert shares == sorted(shares) and shares[-1] == 0.98 and shares[2] == TRAINING_SHARE
    assert phase_progress("supervised", 5, 10) == phase_progress("pretraining", 5, 10)  # alternatives


def test_a_bad_phase_is_refused_naming_the_field(client, submit) -> None:
    rid = submit()["id"]
    worker = FakeWorker(client, rid)
    worker.claim()
    body = {"worker": "w1", "attempt": worker.attempt, "phase": {"name": "probe", "done": -1}}
    response = client.post(f"/api/runs/{rid}/events", json=body, headers=worker.headers)
    assert response.status_code == 422 and "done" in response.text


def test_a_requeued_run_forgets_its_phase(client, submit) -> None:
    rid = submit()["id"]
    reporter = reporter_for(client, rid)
    reporter.phase("features", 10, 20)
    reporter.flush()
    body = {"worker": "w1", "attempt": reporter.attempt, "reason": "shutting down"}
    released = client.post(f"/api/runs/{rid}/release", json=body, headers=reporter.lease.headers).json()
    assert released["status"] == "queued" and released["phase"] is None


def test_a_queued_run_says_its_place_in_its_queue(client, submit) -> None:
    first, second, third = (submit()["id"] for _ in range(3))
    client.post(f"/api/runs/{first}/claim", json={"worker": "w1"})
    read = {rid: client.get(f"/api/runs/{rid}").json() for rid in (first, second, third)}
    assert (read[second]["queue_position"], read[second]["runs_running"]) == (1, 1)
    assert (read[third]["queue_position"], read[third]["runs_running"]) == (2, 1)
    assert read[first]["queue_position"] is None and read[first]["runs_running"] is None  # running: no place

    # A run that leaves the queue moves the others up; a run on another device count's queue counts apart.
    assert client.post(f"/api/runs/{second}/cancel").json()["status"] == "canceled"
    assert client.get(f"/api/runs/{third}").json()["queue_position"] == 1
    two_devices = submit(devices=2, batch_size=64)["id"]
    assert client.get(f"/api/runs/{two_devices}").json()["queue_position"] == 1
    later = submit()["id"]
    assert client.get(f"/api/runs/{later}").json()["queue_position"] == 2
    # Only a queued run read alone pays for the count: lists leave it out.
    listed = client.get("/api/runs").json()["items"]
    assert all(item["queue_position"] is None for item in listed)


def arrived(text: str, received: list[str]) -> bool:
    return text in "".join(received)


def test_the_live_stream_sends_the_phase_as_it_changes(client, submit) -> None:
    rid = submit()["id"]
    reporter = reporter_for(client, rid)
    hub: StreamHub = client.app.state.streams

    async def scenario() -> list[str]:
        received: list[str] = []
        task = asyncio.create_task(drain(await open_stream(hub, rid), received))
        await until("the viewer joined the run's feed", lambda: viewers(hub, rid) == 1)
        for done in (1, 2):  # no metric point: the phase alone reaches the page
            reporter.phase("features", done, 2)
            reporter.flush()
            await until(f"the viewer got features {done} of 2", functools.partial(arrived, f'"done":{done}', received))
        client.post(f"/api/runs/{rid}/finish", json={"worker": "w1", "attempt": reporter.attempt,
                                                      "status": "succeeded"}, headers=reporter.lease.headers)
        await asyncio.wait_for(task, 30)
        return received

    events = list(parse_sse("".join(run_coroutine(scenario())).split("\n")))
    progress = [data for _, event, data in events if event == "progress"]
    assert [(p["phase"]["name"], p["phase"]["done"]) for p in progress] == [("features", 1), ("features", 2)]
    assert progress[-1]["progress"] == pytest.approx(phase_progress("features", 2, 2))
    assert all(event_id is None for event_id, event, _ in events if event == "progress")  # no cursor of its own
    assert events[-1][1] == "end"
