"""Device slots: a run holds the devices it asked for, waits in arrival order, and frees them when it ends."""

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from worker.slots import Slots, SlotsWaitInterrupted


def _taker(slots: Slots, count: int, log: list[tuple[str, str, list[str]]], name: str, hold: threading.Event,
           stop: threading.Event) -> threading.Thread:
    def work() -> None:
        with slots.take(count, stop) as got:
            log.append(("start", name, got))
            hold.wait(10)
            log.append(("end", name, got))

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def test_a_two_device_run_is_not_overtaken_and_slots_are_never_given_twice(tmp_path: Path):
    slots, stop = Slots(("cpu0", "cpu1"), tmp_path / "slots"), threading.Event()
    log: list[tuple[str, str, list[str]]] = []
    holds = {name: threading.Event() for name in ("a", "big", "c")}
    a = _taker(slots, 1, log, "a", holds["a"], stop)
    _until(lambda: len(log) == 1)
    big = _taker(slots, 2, log, "big", holds["big"], stop)  # waits for a's slot, keeping the free one
    time.sleep(0.3)
    c = _taker(slots, 1, log, "c", holds["c"], stop)  # came later: must not take the free slot
    time.sleep(0.3)
    assert [entry[:2] for entry in log] == [("start", "a")]
    holds["a"].set()
    _until(lambda: ("start", "big") in [entry[:2] for entry in log])
    holds["big"].set()
    holds["c"].set()
    for thread in (a, big, c):
        thread.join(10)
    assert [entry[:2] for entry in log] == [("start", "a"), ("end", "a"), ("start", "big"), ("end", "big"),
                                            ("start", "c"), ("end", "c")]
    assert sorted(log[2][2]) == ["cpu0", "cpu1"]


def test_waiting_stops_on_shutdown_and_a_run_larger_than_the_host_is_refused(tmp_path: Path):
    slots, stop = Slots(("cpu0",), tmp_path / "slots"), threading.Event()
    with pytest.raises(ValueError, match="2-device run cannot run on a worker with 1 device slots"):
        with slots.take(2, stop):
            pass
    with slots.take(1, stop):
        stop.set()
        with pytest.raises(SlotsWaitInterrupted):
            with slots.take(1, stop):
                pass
    stop.clear()
    with slots.take(1, stop, prefer="cpu0") as got:  # freed by the interrupted wait and the first holder
        assert got == ["cpu0"]
