"""Latency of a live metric point: the worker's timestamp → the run page in Chromium receiving it.

    .venv/bin/python -m bench.stream_latency [--epochs 4] [--batch-size 32]

Starts the API and one worker, opens the run page of a fresh SimCLR run on digits
before it starts, and records for every `metric` event the page's EventSource
receives: receipt time minus the point's `time` (set by the worker when the
point was measured). Both clocks are this machine's. Prints p50, p95 and max.
The worker batches points every 0.25 s, so that is the floor of what is measured.

Stalls: while points stream in, every animation frame's start is recorded, and
the main thread's long tasks (over 50 ms) through PerformanceObserver. Printed:
the longest gap between frames, the frames slower than 100 ms (a stall a person
sees) and the longest task, over the time the run was training.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from contrastlab.core.catalog import Status
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, start_service

# Wrap EventSource listeners so every metric event's receipt is noted before the page handles it.
RECORD_RECEIPTS = """
window.__latencies = [];
const add = EventSource.prototype.addEventListener;
EventSource.prototype.addEventListener = function (type, listener, options) {
  if (type !== "metric") return add.call(this, type, listener, options);
  return add.call(this, type, (event) => {
    const received = Date.now();
    try { window.__latencies.push(received - Date.parse(JSON.parse(event.data).time)); } catch (e) {}
    listener(event);
  }, options);
};
window.__frames = [];
window.__longTasks = [];
const frame = (t) => { window.__frames.push(t); requestAnimationFrame(frame); };
requestAnimationFrame(frame);
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push([entry.startTime, entry.duration]);
}).observe({ type: "longtask", buffered: true });
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contrastlab-latency-") as tmp:
        stack = start_service(Path(tmp) / "data")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(base_url=stack.url, viewport=VIEWPORT)
                page.add_init_script(RECORD_RECEIPTS)
                run = stack.submit(name="latency", dataset="digits", epochs=args.epochs, batch_size=args.batch_size)
                page.goto(f"/#/runs/{run['id']}")
                page.get_by_test_id("run-status").filter(has_text=Status.RUNNING).wait_for(timeout=600_000)
                training_from = float(page.evaluate("performance.now()"))
                page.get_by_test_id("run-status").filter(has_text=Status.SUCCEEDED).wait_for(timeout=600_000)
                latencies = [float(v) for v in page.evaluate("window.__latencies")]
                frames = [float(t) for t in page.evaluate("window.__frames") if t >= training_from]
                long_tasks = [(float(t), float(d)) for t, d in page.evaluate("window.__longTasks")
                              if t >= training_from]
                browser.close()
        finally:
            stack.stop()
    live = [v for v in latencies if v < 60_000]  # points loaded from history before the stream are not live
    if not live:
        raise SystemExit("no live metric events were received")
    print(f"{len(live)} live metric points: p50 {statistics.median(live):.0f} ms, "
          f"p95 {percentile(live, 0.95):.0f} ms, max {max(live):.0f} ms (worker timestamp → browser receipt)")
    gaps = [b - a for a, b in zip(frames, frames[1:], strict=False)]
    if gaps:
        print(f"{len(frames)} frames over {(frames[-1] - frames[0]) / 1000:.1f} s of streaming: longest gap "
              f"{max(gaps):.0f} ms, {sum(g > 100 for g in gaps)} frames over 100 ms; "
              f"{len(long_tasks)} long tasks, longest {max((d for _, d in long_tasks), default=0):.0f} ms")
        print("long tasks (ms after training started: duration):",
              ", ".join(f"{t - training_from:.0f}: {d:.0f}" for t, d in long_tasks) or "none")


if __name__ == "__main__":
    main()
