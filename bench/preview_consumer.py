"""What the preview consumer costs, and how fast it answers while the only worker trains.

    .venv/bin/python -m bench.preview_consumer [--previews 4] [--dataset fashion_mnist] [--broker redis://...]

Starts `make run`'s launcher (the API, its worker and the preview consumer beside it) on a fresh data dir, then
reads the memory of the launcher's processes with `ps -o rss` (and PSS from /proc/<pid>/smaps_rollup, which
shares the pages of the torch libraries the worker maps too among the processes that map them): idle, then after
each preview. The previews are asked for while a run trains on the only worker (SimCLR on digits), and each one's
time through the API is printed: the first includes the consumer's import of torch (it loads the engine at its
first preview, not at start-up).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from contrastlab.core import paths
from tests.stack import Stack

MIB = 1024


def processes(root: int) -> list[tuple[int, str]]:
    """(pid, role) of every process below `root`: the preview consumer, a worker's main or pool process."""
    listed = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    parents = [tuple(int(field) for field in line.split()) for line in listed.splitlines()]
    found, todo = [], [root]
    while todo:
        parent = todo.pop()
        for pid, ppid in parents:
            if ppid == parent:
                found.append(pid)
                todo.append(pid)
    return [(pid, role(pid, root)) for pid in sorted(found)]


def role(pid: int, root: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return "gone"
    if b"solo" in command:
        return "preview consumer"
    return "worker (main)" if parent == root else "worker (pool)"


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in MiB; (0, 0) for a process that ended."""
    rss = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        pss = next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
    except (OSError, StopIteration):
        pss = 0
    return int(rss or 0) // MIB, pss // MIB


def show(label: str, root: int) -> None:
    for pid, what in processes(root):
        rss, pss = memory(pid)
        print(f"{label:<22} {what:<17} pid {pid:<7} RSS {rss:>5} MiB   PSS {pss:>5} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previews", type=int, default=4)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--broker", default="", help="BROKER_URL (default: the embedded broker)")
    args = parser.parse_args()
    stack = Stack(Path(tempfile.mkdtemp(prefix="bench-preview-")) / "data", broker_url=args.broker,
                  OMP_NUM_THREADS="1")
    try:
        stack.start_api(with_worker=True)
        assert stack.api is not None
        stack.wait_until("the worker and the preview consumer beat", lambda: {
            w["role"] for w in stack.get(paths.WORKERS)["items"] if w["status"] == "online"} == {"runs", "previews"},
            timeout=300)
        time.sleep(5)  # the worker's pool process imports torch after it is ready
        show("idle", stack.api.pid)
        run = stack.submit(method="simclr", dataset="digits", epochs=200, batch_size=64, name="trains meanwhile")
        stack.wait_until("the run trains", lambda: stack.points(run["id"]), timeout=300)
        for i in range(1, args.previews + 1):
            started = time.monotonic()
            response = stack.http.post(paths.PREVIEW_AUGMENTATIONS, json={"spec": {"dataset": args.dataset}},
                                       timeout=60)
            took = time.monotonic() - started
            status = stack.get(paths.fill(paths.RUN, run_id=run["id"]))["status"]
            print(f"preview {i}: {response.status_code} {response.headers.get('content-type')}, {len(response.content)}"
                  f" bytes in {took:.1f} s; the run is {status}")
            show(f"after preview {i}", stack.api.pid)
        stack.http.post(paths.fill(paths.RUN_CANCEL, run_id=run["id"]))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
