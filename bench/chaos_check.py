"""The chaos soak's checks: what the workers sent (bench/chaos_worker.py's files) against what the API stored,
and the processes a soak started against those still alive. Pure functions of what they are given."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.system import SAMPLED

Key = tuple[str, int]  # a metric point's identity: (name, step), the same in every attempt


@dataclass
class Attempt:
    """One attempt as its worker wrote it down."""

    run_id: int
    attempt: int
    pid: int | None = None
    points: dict[Key, float] = field(default_factory=dict)  # the last value sent for each key
    uploads: dict[str, str] = field(default_factory=dict)  # artifact -> sha256 of the bytes sent
    finished: str | None = None  # the final status the API took from this attempt; None: it was cut short


def read_attempt(path: Path) -> Attempt:
    """What one attempt sent, from its run<id>-a<attempt>.jsonl file (bench/chaos_worker.py)."""
    run_text, attempt_text = path.stem[3:].split("-a")
    record = Attempt(int(run_text), int(attempt_text))
    for line in path.read_text().splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a SIGKILL: it was not sent either
            continue
        if "pid" in item:
            record.pid = int(item["pid"])
        elif "name" in item:
            record.points[(item["name"], int(item["step"]))] = float(item["value"])
        elif "artifact" in item:
            record.uploads[item["artifact"]] = item["sha256"]
        elif "finished" in item:
            record.finished = item["finished"]
    return record


def read_attempts(folder: Path) -> dict[int, dict[int, Attempt]]:
    """run id -> attempt -> what that attempt sent, from every attempt's file in folder."""
    runs: dict[int, dict[int, Attempt]] = {}
    for path in sorted(folder.glob("run*-a*.jsonl")):
        record = read_attempt(path)
        runs.setdefault(record.run_id, {})[record.attempt] = record
    return runs


@dataclass
class PointCheck:
    checked: int = 0  # distinct points the workers sent
    lost: int = 0  # sent by the attempt that owns them, never stored
    duplicates: int = 0  # stored more than once
    changed: int = 0  # stored with another value than the owning attempt sent
    unsent: int = 0  # owned by a last attempt that was cut short (killed, lease lost) before it could send them
    unknown: int = 0  # stored but never sent by any attempt
    problems: list[str] = field(default_factory=list)

    def add(self, other: PointCheck) -> None:
        for name in ("checked", "lost", "duplicates", "changed", "unsent", "unknown"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems


def check_points(run_id: int, attempts: dict[int, Attempt], stored: list[dict[str, Any]]) -> PointCheck:
    """A run's stored points against its attempts' sent ones. A point belongs to the latest attempt that sent it
    (a resumed attempt sends again what came after its checkpoint); every owned point must be stored once, with
    the owner's value, except those of a last attempt that was cut short before sending them."""
    owner: dict[Key, tuple[int, float]] = {}
    for number in sorted(attempts):
        for key, value in attempts[number].points.items():
            owner[key] = (number, value)
    last = max(attempts, default=0)
    cut = last in attempts and attempts[last].finished is None
    # The worker's samples of the machine are not the engine's points: keyed by sample, several may share a step.
    stored = [p for p in stored if p["name"] not in SAMPLED]
    counts = Counter((p["name"], int(p["step"])) for p in stored)
    values = {(p["name"], int(p["step"])): float(p["value"]) for p in stored}
    result = PointCheck(checked=len(owner))
    for key, (number, value) in owner.items():
        if key not in counts:
            if cut and number == last:
                result.unsent += 1
            else:
                result.lost += 1
                result.problems.append(f"run {run_id}: {key} sent by attempt {number} is not stored")
        elif not math.isclose(values[key], value, rel_tol=1e-6, abs_tol=1e-9):
            result.changed += 1
            result.problems.append(f"run {run_id}: {key} stored as {values[key]}, attempt {number} sent {value}")
    for key, count in counts.items():
        if count > 1:
            result.duplicates += count - 1
            result.problems.append(f"run {run_id}: {key} stored {count} times")
        if key not in owner:
            result.unknown += 1
            result.problems.append(f"run {run_id}: {key} stored but never sent")
    return result


def check_artifacts(run_id: int, attempts: dict[int, Attempt], listed: list[dict[str, Any]],
                    downloaded: dict[str, str]) -> list[str]:
    """Problems with a run's artifacts: a listed sha256 that is not the downloaded file's, or not that of the
    bytes the last attempt that uploaded the artifact sent."""
    problems = []
    for item in listed:
        name, sha256 = item["name"], item["sha256"]
        if downloaded.get(name) != sha256:
            problems.append(f"run {run_id}: {name} lists sha256 {sha256[:12]}, its download has "
                            f"{(downloaded.get(name) or 'none')[:12]}")
        sent = [a.uploads[name] for _, a in sorted(attempts.items()) if name in a.uploads]
        if sent and sent[-1] != sha256:
            problems.append(f"run {run_id}: {name} lists sha256 {sha256[:12]}, the worker sent {sent[-1][:12]}")
        if not sent:
            problems.append(f"run {run_id}: {name} is listed but no worker's upload of it was recorded")
    return problems


def final_problems(run: dict[str, Any]) -> list[str]:
    """A run that did not end succeeded, or failed with a reason."""
    if run["status"] == "succeeded" or (run["status"] == "failed" and (run.get("error") or "").strip()):
        return []
    return [f"run {run['id']}: {run['status']} (error {run.get('error')!r})"]


# -- processes -------------------------------------------------------------------------------------------------

Process = tuple[int, int]  # (pid, start time in clock ticks since boot): a pid may be reused, the pair is not


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time, state) of a live process; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (name) "
    return int(fields[1]), int(fields[19]), fields[0]


def tree(roots: list[int]) -> set[Process]:
    """The live processes among roots and all their descendants."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents.setdefault(stat[0], []).append(int(entry))
            starts[int(entry)] = stat[1]
    found, todo = set(), [pid for pid in roots if pid in starts]
    while todo:
        pid = todo.pop()
        found.add((pid, starts[pid]))
        todo += parents.get(pid, [])
    return found


def alive(processes: set[Process]) -> set[Process]:
    """Those still running (a zombie, dead but not yet reaped by its parent, is not running)."""
    left = set()
    for pid, start in processes:
        stat = _stat(pid)
        if stat is not None and stat[1] == start and stat[2] != "Z":
            left.add((pid, start))
    return left
