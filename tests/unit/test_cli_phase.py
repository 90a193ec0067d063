"""The CLI says where a run is: `show` gives a running run's phase and a queued run's place; `--follow` shows
the phase from the stream's progress events."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from contrastlab.client.formats import Catalog
from contrastlab.client.models import Run
from contrastlab.client.render import run_details
from contrastlab.core.catalog import catalog_document

CATALOG = Catalog(catalog_document())


def _text(parts: list[Any]) -> str:
    console = Console(width=120, record=True)
    for part in parts:
        console.print(part)
    return console.export_text()


def test_a_phase_reads_as_on_the_page() -> None:
    assert CATALOG.phase_text({"name": "probe", "done": 30, "total": 100}) == "linear probe 30/100"
    assert CATALOG.phase_text({"name": "pretraining", "done": 1200, "total": 4000}) == "pretraining 1,200/4,000"
    assert CATALOG.phase_text({"name": "tsne", "done": 0, "total": None}) == "t-SNE"
    assert CATALOG.phase_text({"name": "new_phase"}) == "new phase"  # a newer server's phase reads as its words
    assert CATALOG.phase_text(None) == ""


def test_show_gives_the_phase_of_a_running_run_and_the_place_of_a_queued_one() -> None:
    running = Run(id=1, status="running", progress=0.5, phase={"name": "features", "done": 900, "total": 1797})
    assert "phase     features 900/1,797" in _text(run_details(running, [], [], CATALOG))
    queued = Run(id=2, status="queued", queue_position=2)
    text = _text(run_details(queued, [], [], CATALOG))
    assert "queue     place 2 (1: starts next)" in text and "phase" not in text
