"""The plotly.js the page gets: built with every trace type the pages draw, served from disk (no network)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.api import frontend

ROOT = Path(__file__).resolve().parents[2]
BUILD = (ROOT / "frontend" / "vendor" / "plotly_bundle.js").read_text()


def _traces_in(bundle: str) -> set[str]:
    return set(re.findall(r'moduleType:"trace",name:"(\w+)"', bundle))


def test_every_trace_type_the_pages_draw_is_in_the_bundle() -> None:
    known = _traces_in(frontend.full_plotly_js_path().read_text())  # every trace plotly.js has
    source = "\n".join(p.read_text() for p in (ROOT / "frontend" / "js").rglob("*.js"))
    drawn = {name for name in re.findall(r'(?:type:\s*|\? )"(\w+)"', source) if name in known}  # and fastScatterType
    traces = re.search(r"const TRACES = \[(.*?)\];", BUILD)
    assert traces, "frontend/vendor/plotly_bundle.js lists its traces in `const TRACES = [...]`"
    listed = set(re.findall(r'"(\w+)"', traces.group(1)))
    assert {"scatter", "scattergl", "heatmap", "parcoords"} <= drawn
    assert drawn <= listed, f"add {sorted(drawn - listed)} to TRACES in frontend/vendor/plotly_bundle.js"
    if frontend.PLOTLY_BUNDLE.is_file():  # built (make plotly-bundle): it registers exactly those
        assert _traces_in(frontend.PLOTLY_BUNDLE.read_text()) == listed


@pytest.mark.parametrize("built", [True, False])
def test_the_page_gets_the_built_bundle_or_else_the_full_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            built: bool) -> None:
    bundle = tmp_path / "plotly.min.js"
    if built:
        bundle.write_text("/* plotly.js partial */ var Plotly = {};")
    monkeypatch.setattr(frontend, "PLOTLY_BUNDLE", bundle)
    from fastapi import FastAPI

    app = FastAPI()
    frontend.mount(app)
    body = TestClient(app).get("/static/vendor/plotly.min.js")
    assert body.status_code == 200 and body.headers["content-type"].startswith("text/javascript")
    if built:
        assert body.text == bundle.read_text()
    else:
        assert len(body.content) > 3_000_000  # the Python package's full bundle
