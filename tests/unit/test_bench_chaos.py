"""The chaos soak's checks (bench/chaos_check.py): what a lost, duplicated or changed point, a wrong artifact and a
process left running look like to them. The soak itself runs with `python -m bench.chaos` (minutes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.chaos_check import (
    Attempt,
    Process,
    alive,
    check_artifacts,
    check_points,
    final_problems,
    read_attempts,
    tree,
)


def _write(folder: Path, run_id: int, attempt: int, lines: list[dict | str]) -> None:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (folder / f"run{run_id}-a{attempt}.jsonl").write_text(text)


def _stored(*points: tuple[str, int, float]) -> list[dict]:
    return [{"name": name, "step": step, "value": value} for name, step, value in points]


def test_a_killed_attempt_then_a_resumed_one_reads_back_as_sent(tmp_path: Path):
    _write(tmp_path, 7, 1, [{"pid": 41, "worker": "w1"}, {"name": "loss", "step": 1, "value": 2.0},
                            {"name": "loss", "step": 2, "value": 1.5}, {"name": "loss", "step": 3, "value": 1.4},
                            '{"name": "loss", "st'])  # the line a SIGKILL cut
    _write(tmp_path, 7, 2, [{"pid": 42, "worker": "w2"}, {"name": "loss", "step": 3, "value": 1.3},
                            {"artifact": "run.json", "sha256": "ab" * 32, "size": 10}, {"finished": "succeeded"}])
    runs = read_attempts(tmp_path)
    first, second = runs[7][1], runs[7][2]
    assert (first.pid, first.finished, second.pid, second.finished) == (41, None, 42, "succeeded")
    assert first.points == {("loss", 1): 2.0, ("loss", 2): 1.5, ("loss", 3): 1.4}
    assert second.uploads == {"run.json": "ab" * 32}
    # step 3 belongs to the resumed attempt, which sent it again with its own value
    check = check_points(7, runs[7], _stored(("loss", 1, 2.0), ("loss", 2, 1.5), ("loss", 3, 1.3)))
    assert (check.checked, check.lost, check.duplicates, check.changed, check.problems) == (3, 0, 0, 0, [])


def test_lost_duplicated_changed_and_unknown_points_are_counted():
    attempts = {1: Attempt(3, 1, points={("loss", 1): 1.0, ("loss", 2): 0.9, ("lr", 1): 0.1}, finished="failed")}
    stored = _stored(("loss", 1, 1.0), ("loss", 1, 1.0), ("lr", 1, 0.2), ("knn_acc", 2, 0.5))
    check = check_points(3, attempts, stored)
    assert (check.checked, check.lost, check.duplicates, check.changed, check.unknown) == (3, 1, 1, 1, 1)
    assert "run 3: ('loss', 2) sent by attempt 1 is not stored" in check.problems


def test_the_workers_samples_of_the_machine_are_not_engine_points():
    attempts = {1: Attempt(3, 1, points={("loss", 1): 1.0}, finished="succeeded")}
    # Two samples at one step (taken while evaluation runs): neither duplicated nor unknown.
    stored = _stored(("loss", 1, 1.0), ("system.rss_mb", 1, 900.0), ("system.rss_mb", 1, 910.0))
    check = check_points(3, attempts, stored)
    assert (check.checked, check.duplicates, check.unknown, check.problems) == (1, 0, 0, [])


def test_points_a_cut_last_attempt_never_sent_are_not_lost_but_earlier_ones_are():
    attempts = {1: Attempt(5, 1, points={("loss", 1): 1.0, ("loss", 2): 0.9}),  # lease lost: retried
                2: Attempt(5, 2, points={("loss", 2): 0.9, ("loss", 3): 0.8})}  # killed: the run failed
    check = check_points(5, attempts, _stored(("loss", 2, 0.9)))
    assert (check.lost, check.unsent) == (1, 1)  # step 1 was the first attempt's to send, step 3 the cut one's


def test_an_artifact_must_match_its_download_and_the_bytes_sent():
    attempts = {1: Attempt(2, 1, uploads={"a.json": "1" * 64}), 2: Attempt(2, 2, uploads={"a.json": "2" * 64})}
    good = [{"name": "a.json", "sha256": "2" * 64}]
    assert check_artifacts(2, attempts, good, {"a.json": "2" * 64}) == []
    assert len(check_artifacts(2, attempts, good, {"a.json": "3" * 64})) == 1  # the file on disk changed
    assert len(check_artifacts(2, attempts, [{"name": "a.json", "sha256": "1" * 64}], {"a.json": "1" * 64})) == 1
    assert len(check_artifacts(2, {}, good, {"a.json": "2" * 64})) == 1  # stored, but no worker sent it


def test_a_run_ends_succeeded_or_failed_with_a_reason():
    assert final_problems({"id": 1, "status": "succeeded"}) == []
    assert final_problems({"id": 2, "status": "failed", "error": "loss diverged at step 3"}) == []
    assert final_problems({"id": 3, "status": "failed", "error": " "}) != []
    assert final_problems({"id": 4, "status": "running"}) != []


def test_the_process_tree_and_what_is_left_of_it():
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                               "time.sleep(60)"])
    seen: set[Process] = set()
    try:
        for _ in range(200):
            seen = tree([parent.pid])
            if len(seen) == 2:
                break
            time.sleep(0.05)
        assert len(seen) == 2 and alive(seen) == seen
        parent.kill()
        parent.wait()
        orphans = alive(seen)
        assert {pid for pid, _ in orphans} == {pid for pid, _ in seen} - {parent.pid}  # the soak reports it
    finally:
        for pid, _ in alive(seen):
            os.kill(pid, signal.SIGKILL)
