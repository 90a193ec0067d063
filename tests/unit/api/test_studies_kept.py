"""A finished study's statistics and curves kept on disk (backend.studies.kept): a server just started serves them
without computing, they equal the recomputed bodies, and a study that changed is computed afresh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import update

from backend.models import Run
from backend.studies import kept
from tests.unit.api.conftest import FakeWorker

BASE = {"dataset": "digits", "epochs": 1, "batch_size": 64}
STATS = {"metric": "linear_acc"}
CURVES = {"points": 8}


def _create(client, seeds=(0, 1, 2)) -> dict:
    response = client.post("/api/studies", json={"name": "kept", "base": BASE, "axes": {"lr": [0.01, 0.02]},
                                                 "seeds": list(seeds)})
    assert response.status_code == 201, response.text
    return response.json()


def _train(client, run_ids: list[int], rng: np.random.Generator) -> None:
    """Each run claimed, 30 steps of loss reported, finished with a linear_acc."""
    for run_id in run_ids:
        worker = FakeWorker(client, run_id)
        worker.claim()
        points = [("loss", s, s / 10, float(2 / s + rng.normal(0, 0.05))) for s in range(1, 31)]
        assert worker.send(points).status_code == 200
        worker.finish(summary={"linear_acc": float(0.9 + rng.normal(0, 0.01))})


def _bodies(client, study_id: int) -> tuple[bytes, bytes]:
    stats = client.get(f"/api/studies/{study_id}/stats", params=STATS)
    curves = client.get(f"/api/studies/{study_id}/curves", params=CURVES)
    assert stats.status_code == curves.status_code == 200, (stats.text, curves.text)
    return stats.content, curves.content


def _cold(client, study_id: int, keep_files: bool = True) -> None:
    """As a server just started: nothing in memory; keep_files=False: nor on disk."""
    from backend.api.routes.studies import _curves_cache, _kept, kept_folder

    _curves_cache.clear()
    _kept.clear()
    if not keep_files:
        _kept.forget(kept_folder(client.app.state.settings, study_id))


def _folder(client, study_id: int) -> Path:
    from backend.api.routes.studies import kept_folder

    return kept_folder(client.app.state.settings, study_id)


def _no_computing(monkeypatch) -> None:
    from backend.studies import curves, stats

    def refuse(*args: Any) -> Any:
        raise AssertionError("computed instead of read from the kept body")

    monkeypatch.setattr(stats, "study_stats", refuse)
    monkeypatch.setattr(curves, "study_curves", refuse)


def test_a_finished_study_is_read_back_cold_and_equals_its_recomputed_bodies(client, monkeypatch) -> None:
    study = _create(client)
    ids = [run["id"] for run in study["runs"]]
    _train(client, ids[:-1], np.random.default_rng(0))
    live = _bodies(client, study["id"])  # a run still queued: kept in memory only
    assert not _folder(client, study["id"]).exists()

    _train(client, ids[-1:], np.random.default_rng(1))
    first = _bodies(client, study["id"])
    assert first != live and len(list(_folder(client, study["id"]).glob("*.json"))) == 2
    report = client.get(f"/api/studies/{study['id']}/report", params={"format": "md"}).text

    with monkeypatch.context() as patched:  # a server just started reads the files, computes nothing
        _no_computing(patched)
        _cold(client, study["id"])
        assert _bodies(client, study["id"]) == first
        assert client.get(f"/api/studies/{study['id']}/report", params={"format": "md"}).text == report
    _cold(client, study["id"], keep_files=False)  # the same bodies computed afresh from the runs
    assert _bodies(client, study["id"]) == first
    curves = client.get(f"/api/studies/{study['id']}/curves", params=CURVES).json()
    assert curves["finished"] is True and [c["n"][0] for c in curves["curves"]["loss"]] == [3, 3]


def test_a_study_that_changed_is_computed_afresh(client, monkeypatch) -> None:
    """An extended study, a run whose summary changed, a run removed for good: new numbers, never the kept ones;
    a run trashed and restored changes nothing the bodies are computed from."""
    study = _create(client, seeds=(0, 1))
    _train(client, [run["id"] for run in study["runs"]], np.random.default_rng(2))
    stats, curves = first = _bodies(client, study["id"])

    trashed = study["runs"][0]["id"]
    assert client.delete(f"/api/runs/{trashed}").status_code == 204
    assert _bodies(client, study["id"]) == first
    assert client.post(f"/api/runs/{trashed}/restore").status_code == 200
    with monkeypatch.context() as patched:
        _no_computing(patched)
        _cold(client, study["id"])
        assert _bodies(client, study["id"]) == first

    with client.app.state.sessionmaker() as session:  # a summary changed: its statistics, not its curves
        session.execute(update(Run).where(Run.id == trashed).values(summary={"linear_acc": 0.5}))
        session.commit()
    changed = _bodies(client, study["id"])
    assert changed[0] != stats and changed[1] == curves
    assert client.get(f"/api/studies/{study['id']}/stats", params=STATS).json()["cells"][0]["n"] == 2
    _cold(client, study["id"], keep_files=False)
    assert _bodies(client, study["id"]) == changed

    extended = client.post(f"/api/studies/{study['id']}/extend", json={"seeds": 1})
    assert extended.status_code == 201, extended.text
    assert not _folder(client, study["id"]).exists()  # the bodies of the runs it had: never read again
    new = [run["id"] for run in extended.json()["runs"]]
    live = client.get(f"/api/studies/{study['id']}/curves", params=CURVES).json()
    assert live["finished"] is False and not _folder(client, study["id"]).exists()
    _train(client, new, np.random.default_rng(3))
    grown = _bodies(client, study["id"])
    assert client.get(f"/api/studies/{study['id']}/stats", params=STATS).json()["cells"][0]["n"] == 3
    assert [c["n"][0] for c in client.get(f"/api/studies/{study['id']}/curves", params=CURVES).json()["curves"]
            ["loss"]] == [3, 3]
    _cold(client, study["id"], keep_files=False)
    assert _bodies(client, study["id"]) == grown

    gone = grown[0], grown[1]  # a run removed for good: the study has fewer runs, so other bodies
    assert client.delete(f"/api/runs/{new[0]}").status_code == 204
    assert client.delete("/api/trash", params={"ids": str(new[0])}).status_code == 200
    assert client.get(f"/api/studies/{study['id']}/stats", params=STATS).json()["cells"][0]["n"] == 2
    assert _bodies(client, study["id"]) != gone

    assert client.delete(f"/api/studies/{study['id']}").status_code == 204  # the study removed for good: its files
    assert _folder(client, study["id"]).exists()
    assert client.delete("/api/trash").status_code == 200
    assert not _folder(client, study["id"]).exists()


def test_kept_bodies_are_read_by_the_code_that_wrote_them_and_a_failing_disk_costs_nothing(tmp_path, monkeypatch
                                                                                         ) -> None:
    folder = tmp_path / "studies" / "1"
    store = kept.Kept("code 1", 2**20)
    store.put(folder, ("stats", 1), b"{}", durable=True)
    assert kept.Kept("code 1", 2**20).get(folder, ("stats", 1)) == b"{}"
    assert kept.Kept("code 2", 2**20).get(folder, ("stats", 1)) is None  # an upgraded server computes afresh
    assert kept.Kept("code 1", 2**20).get(folder, ("stats", 2)) is None
    store.put(folder, ("stats", 3), b"[]", durable=False)
    assert store.get(folder, ("stats", 3)) == b"[]" and len(list(folder.glob("*"))) == 1

    monkeypatch.setattr(kept, "FILES_PER_STUDY", 2)
    for i in range(4):
        store.put(folder, ("curves", i), b"[1]", durable=True)
    assert len(list(folder.glob("*"))) == 2

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    store.put(blocked / "2", ("stats", 1), b"{}", durable=True)  # logged; served from memory
    assert store.get(blocked / "2", ("stats", 1)) == b"{}"
    assert kept.code_digest([kept]) == kept.code_digest([kept]) != kept.code_digest([pytest])
