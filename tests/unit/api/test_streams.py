"""Live event streams share one poller per run, and a viewer that falls behind still gets every point once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from backend.models import Event
from backend.runs import lifecycle as runs
from backend.streams import feeds as stream_feeds
from backend.streams import reads as stream_reads
from backend.streams.feeds import PENDING_CAP, StreamHub
from backend.streams.stream import run_stream
from tests.stack import parse_sse, run_coroutine
from tests.unit.api.conftest import FakeWorker

VIEWERS = 20


async def _connected() -> bool:
    return False


async def until(what: str, check: Callable[[], bool]) -> None:
    """Poll check() (bounded: a test never hangs); the feed runs on this loop meanwhile."""
    for _ in range(3000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def open_stream(hub: StreamHub, run_id: int) -> AsyncIterator[str]:
    first = await hub.read(run_id, 0, tail=True)
    assert first is not None
    return run_stream(hub, run_id, 0, first, _connected)


async def drain(stream: AsyncIterator[str], into: list[str]) -> None:
    async for text in stream:
        into.append(text)


async def take(stream: AsyncIterator[str], into: list[str], metrics: int) -> None:
    while len(metric_ids(into)) < metrics:
        into.append(await anext(stream))


def metric_ids(texts: list[str]) -> list[int]:
    lines = "".join(texts).split("\n")
    return [data["id"] for _, event, data in parse_sse(lines) if event == "metric"]


def feed_reached(hub: StreamHub, run_id: int, last: int) -> Callable[[], bool]:
    """Whether the run's feed has read up to `last` (or stopped, its viewers gone)."""
    return lambda: (hub.watching(run_id) or (last, 0))[0] == last


def viewers(hub: StreamHub, run_id: int) -> int:
    return (hub.watching(run_id) or (0, 0))[1]


def test_viewers_of_one_run_share_one_poll_and_leave_when_they_disconnect(client, submit, monkeypatch) -> None:
    rid = submit()["id"]
    worker = FakeWorker(client, rid)
    worker.claim()
    hub: StreamHub = client.app.state.streams
    reads = {"n": 0}
    real_read = stream_reads.read_events

    def counted(*args: object, **kwargs: object) -> object:
        reads["n"] += 1
        return real_read(*args, **kwargs)  # type: ignore[arg-type]

    async def scenario() -> list[list[str]]:
        received: list[list[str]] = [[] for _ in range(VIEWERS)]
        tasks = [asyncio.create_task(drain(await open_stream(hub, rid), texts)) for texts in received]
        await until("every viewer joined the run's feed", lambda: viewers(hub, rid) == VIEWERS)
        for task in tasks[:5]:  # five tabs closed: their streams are cancelled, as Starlette does
            task.cancel()
        await until("the closed tabs left the feed", lambda: viewers(hub, rid) == VIEWERS - 5)
        monkeypatch.setattr(stream_reads, "read_events", counted)
        assert worker.send([("loss", 1, 0.1, 1.5)]).status_code == 200
        await until("every open viewer got the point", lambda: all(metric_ids(r) for r in received[5:]))
        assert reads["n"] <= 3, f"{reads['n']} reads for {VIEWERS - 5} viewers of one new point"
        worker.finish()
        await asyncio.wait_for(asyncio.gather(*tasks[5:]), 30)
        return received[5:]

    received = run_coroutine(scenario())
    stored = [p["id"] for p in client.get(f"/api/runs/{rid}/metrics").json()["items"]]
    for texts in received:
        assert metric_ids(texts) == stored and "event: end" in texts[-1]
    assert hub.watching(rid) is None  # the run ended: its feed stopped


@pytest.mark.parametrize("behind", [PENDING_CAP + 4])
def test_a_viewer_that_falls_behind_catches_up_and_gets_every_point_once(client, submit, behind: int) -> None:
    rid = submit()["id"]
    worker = FakeWorker(client, rid)
    worker.claim()
    hub: StreamHub = client.app.state.streams

    def last_id() -> int:
        return int(client.get(f"/api/runs/{rid}/metrics", params={"limit": 10_000}).json()["next_cursor"])

    async def scenario() -> list[str]:
        stream = await open_stream(hub, rid)
        received: list[str] = []
        first_point = asyncio.create_task(take(stream, received, metrics=1))
        await until("the viewer caught up and joined the run's feed", lambda: viewers(hub, rid) == 1)
        worker.send([("loss", 1, 0.0, 2.0)])
        await asyncio.wait_for(first_point, 30)
        for seq in range(2, behind + 2):  # the viewer reads nothing meanwhile: its queue overflows
            worker.send([("loss", seq, 0.0, 1.0 / seq), ("acc", seq, 0.0, 0.1)], first_seq=2 * seq)
            await until("the feed read the batch", feed_reached(hub, rid, last_id()))
        assert viewers(hub, rid) == 0, "a viewer past its cap is dropped from the feed"
        worker.finish()
        await asyncio.wait_for(drain(stream, received), 30)
        return received

    received = run_coroutine(scenario())
    stored = [p["id"] for p in client.get(f"/api/runs/{rid}/metrics", params={"limit": 10_000}).json()["items"]]
    assert len(stored) == 1 + 2 * behind
    assert metric_ids(received) == stored  # every point, once, in order
    assert "event: end" in received[-1]


def test_reads_by_kind_page_through_every_event_once_in_order(client, submit) -> None:
    rid = submit()["id"]
    worker = FakeWorker(client, rid)
    worker.claim()
    for seq in range(1, 7):  # metrics, a message and (claim, finish) status events interleaved
        worker.send([("loss", seq, 0.0, 1.0), ("acc", seq, 0.0, 0.5)], logs=["linear probe"] if seq == 3 else [],
                    first_seq=2 * seq)
    worker.finish()
    with client.app.state.sessionmaker() as session:
        everything = [e.id for e in runs.events_after(session, rid, 0, 10_000)]
        for limit in (1, 2, 3, 5, 100):
            seen, cursor, more = [], 0, True
            while more:
                page, more = stream_reads.events_after(session, rid, cursor, limit)
                assert len(page) <= limit and (page or not more)
                seen += [e.id for e in page]
                cursor = seen[-1] if seen else cursor
            assert seen == everything, limit
        assert stream_reads.last_event_id(session, rid) == everything[-1]


def test_a_write_that_bumps_no_notifier_here_still_reaches_the_viewers(client, submit, monkeypatch) -> None:
    rid = submit()["id"]
    FakeWorker(client, rid).claim()
    hub: StreamHub = client.app.state.streams
    monkeypatch.setattr(stream_feeds, "IDLE_READ_S", 3600.0)  # only the shared "which runs have news" query

    async def scenario() -> list[str]:
        received: list[str] = []
        first_point = asyncio.create_task(take(await open_stream(hub, rid), received, metrics=1))
        await until("the viewer joined the run's feed", lambda: viewers(hub, rid) == 1)
        with client.app.state.sessionmaker() as session:  # as another API process writes: no bump here
            session.add(Event(run_id=rid, kind="metric", key="1:1", name="loss", step=1, epoch=0.1, value=2.0))
            session.commit()
        await asyncio.wait_for(first_point, 30)
        return received

    assert len(metric_ids(run_coroutine(scenario()))) == 1
