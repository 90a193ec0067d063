"""Latency of a live metric point: the worker's timestamp → the run page in Chromium receiving it.

    .venv/bin/python -m bench.stream_latency [--epochs 4] [--batch-size 32]

Starts the API and one worker, opens the run page of a fresh SimCLR run on digits
before it starts, and records for every `metric` event the page's EventSource
receives: receipt time minus the point's `time` (set by the worker when the
point was measured). Both clocks are this machine's. Prints p50, p95 and max.
The worker batches points every 0.25 s, so that is the floor of what is measured.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

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
                page.get_by_test_id("run-status").filter(has_text="succeeded").wait_for(timeout=600_000)
                latencies = [float(v) for v in page.evaluate("window.__latencies")]
                browser.close()
        finally:
            stack.stop()
    live = [v for v in latencies if v < 60_000]  # points loaded from history before the stream are not live
    if not live:
        raise SystemExit("no live metric events were received")
    print(f"{len(live)} live metric points: p50 {statistics.median(live):.0f} ms, "
          f"p95 {percentile(live, 0.95):.0f} ms, max {max(live):.0f} ms (worker timestamp → browser receipt)")


if __name__ == "__main__":
    main()
