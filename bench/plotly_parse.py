"""Time for Chromium to run plotly.js: the full bundle (the Python plotly package's) against the one built with
only the traces the pages draw (`make plotly-bundle`), served from memory, each in a fresh browser context.

    .venv/bin/python -m bench.plotly_parse [--repeat 7]

Prints, for each bundle, its size, the median and the spread of script insertion → its load event (parse, compile
and run, which the page pays once before its first chart), and the time of a first chart (newPlot of one scatter)
after it; with the machine's load average, since the browser shares the cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from playwright.sync_api import Browser, Route, sync_playwright

from backend.api.frontend import PLOTLY_BUNDLE, full_plotly_js_path
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS

TIMED = """async () => {
  const began = performance.now();
  await new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement("script"), { src: "/plotly.js" });
    script.onload = resolve; script.onerror = reject;
    document.head.append(script);
  });
  const loaded = performance.now();
  const div = document.createElement("div"); div.style.width = "600px"; div.style.height = "400px";
  document.body.append(div);
  await Plotly.newPlot(div, [{ type: "scatter", x: [1, 2, 3], y: [2, 1, 3] }]);
  return [loaded - began, performance.now() - loaded];
}"""


def measure(browser: Browser, bundle: Path) -> tuple[float, float]:
    body = bundle.read_bytes()
    context = browser.new_context()
    try:
        page = context.new_page()

        def serve(route: Route) -> None:
            if route.request.url.endswith("/plotly.js"):
                route.fulfill(body=body, content_type="text/javascript")
            else:
                route.fulfill(body="<!doctype html><title>bench</title>", content_type="text/html")

        page.route("**/*", serve)
        page.goto("http://bench.invalid/")
        loaded, drawn = page.evaluate(TIMED)
        return loaded, drawn
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    bundles = {"full (Python plotly package)": full_plotly_js_path()}
    if PLOTLY_BUNDLE.is_file():
        bundles["the pages' traces (make plotly-bundle)"] = PLOTLY_BUNDLE
    else:
        print("no built bundle: run `make plotly-bundle` to compare")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(2):  # warm the browser
                measure(browser, full_plotly_js_path())
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in bundles}
            for _ in range(args.repeat):  # interleaved, so that a change of machine load touches both
                for name, bundle in bundles.items():
                    times[name].append(measure(browser, bundle))
        finally:
            browser.close()
    for name, bundle in bundles.items():
        loads = [t[0] for t in times[name]]
        first = statistics.median(t[1] for t in times[name])
        print(f"{name}: {bundle.stat().st_size / 1e6:.1f} MB; script → loaded median {statistics.median(loads):.0f} ms "
              f"(min {min(loads):.0f}, max {max(loads):.0f}); then a first chart {first:.0f} ms  "
              f"[load {os.getloadavg()[0]:.2f}]")


if __name__ == "__main__":
    main()
