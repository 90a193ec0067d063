"""Adaptive search through the API on SQLite and PostgreSQL: trials sampled as others end, ASHA pruning on the
k-NN monitor (the run ends `pruned`), the confirmation on fresh seeds, and the verdict from it only."""

from __future__ import annotations

from sqlalchemy import select, update

from backend.models import Run
from tests.unit.api.conftest import FakeWorker

BASE = {"dataset": "digits", "epochs": 9, "batch_size": 64, "lr": 0.001, "temperature": 0.2}
AXES = {"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "temperature": [0.1, 0.5]}


def _search(client, trials=6, parallel=2, pruner="asha", axes=None, **extra):
    body = {"name": "lr search", "base": BASE, "axes": axes or AXES, "seeds": [0],
            "search": {"sampler": "tpe", "pruner": pruner, "trials": trials, "parallel": parallel, **extra}}
    return client.post("/api/studies", json=body)


def _queued(client, study_id: int) -> list[dict]:
    runs = client.get("/api/runs", params={"study": study_id, "limit": 500}).json()["items"]
    return sorted((r for r in runs if r["status"] == "queued"), key=lambda r: r["id"])


def _trial_score(spec: dict) -> float:
    """A made-up k-NN accuracy: best near lr 1e-3 and at temperature 0.5."""
    import math
    return 0.9 - 0.1 * abs(math.log10(spec["lr"]) + 3) - (0.05 if spec.get("temperature") == 0.1 else 0.0)


def _drive(client, study_id: int, run: dict) -> str:
    """A worker's run: k-NN monitor points each epoch until told to stop, then its finish."""
    worker = FakeWorker(client, run["id"])
    worker.claim()
    spec = run["spec"]
    score = _trial_score(spec)
    for epoch in range(1, spec["epochs"]):
        answer = worker.send([("knn_acc", epoch * 10, epoch, score - 0.3 / epoch)], first_seq=epoch)
        assert answer.status_code == 200, answer.text
        if answer.json()["cancel_requested"]:
            return worker.finish("canceled")["status"]
    return worker.finish("succeeded", summary={"knn_acc": score, "linear_acc": score})["status"]


def test_search_samples_prunes_and_confirms(client, settings) -> None:
    created = _search(client)
    assert created.status_code == 201, created.text
    study = created.json()
    assert len(study["runs"]) == 2 and study["cells"] == 6
    endings = []
    for _ in range(40):
        queued = _queued(client, study["id"])
        if not queued:
            break
        endings.append(_drive(client, study["id"], queued[0]))
    view = client.get(f"/api/studies/{study['id']}/search").json()
    assert view["state"] == "done", view
    trials = view["trials"]
    assert len(trials) == 6 and [t["number"] for t in trials] == list(range(6))
    pruned = [t for t in trials if t["status"] == "pruned"]
    assert pruned and all(t["pruned_epoch"] is not None and t["value"] is None for t in pruned)
    assert all(t["steps"] < 80 for t in pruned)  # stopped before the last epoch's point
    confirm = view["confirmation"]
    assert confirm["seeds"] == [1, 2, 3]  # fresh: the trials ran on seed 0
    assert confirm["baseline"] == "lr=0.001,temperature=0.2"  # the base spec's values of the axes
    assert len(confirm["runs"]) == 6
    detail = client.get(f"/api/studies/{study['id']}").json()
    assert detail["status_counts"]["pruned"] == len(pruned)
    assert detail["search"]["trials"] == 6 and detail["seeds"] == [0, 1, 2, 3]
    stats = client.get(f"/api/studies/{study['id']}/stats", params={"metric": "knn_acc"}).json()
    assert [c["key"] for c in stats["cells"]] == [confirm["baseline"], confirm["best"]]
    assert sum(c["n"] for c in stats["cells"]) == 6  # the confirmation runs only, none of the trials
    assert [c["key"] for c in detail["cells"]] == [confirm["baseline"], confirm["best"]]  # the verdict's cells
    assert len(detail["run_ids"]) == 12
    curves = client.get(f"/api/studies/{study['id']}/curves", params={"names": "knn_acc"}).json()
    assert [c["key"] for c in curves["curves"]["knn_acc"]] == [confirm["baseline"], confirm["best"]]
    assert client.post(f"/api/studies/{study['id']}/extend", json={"seeds": 1}).status_code == 422
    listed = client.get("/api/runs", params={"status": "pruned", "limit": 500}).json()
    assert {r["id"] for r in listed["items"]} == {t["run_id"] for t in pruned}


def test_two_processes_deciding_at_once_sample_one_trial(client, settings) -> None:
    """A decision taken from a stale read of the study updates nothing: no trial is sampled twice."""
    from sqlalchemy.orm import Session

    from backend.models import Study
    from backend.studies.search import flow

    study = _search(client, trials=4, parallel=1).json()
    engine = client.app.state.engine
    with Session(engine) as first, Session(engine) as second:
        one, two = first.get(Study, study["id"]), second.get(Study, study["id"])
        assert one is not None and two is not None
        first.execute(update(Run).where(Run.study_id == study["id"]).values(status="succeeded",
                                                                           summary={"knn_acc": 0.9}))
        first.commit()
        first.refresh(one)
        assert len(flow.advance(first, one, settings)) == 1
        assert flow.advance(second, two, settings) == []  # it read version 1 before the first decision
    with Session(engine) as session:
        assert len(session.scalars(select(Run).where(Run.study_id == study["id"])).all()) == 2


def test_cancel_stops_the_search_and_a_lost_pruned_run_ends_pruned(client, settings) -> None:
    study = _search(client, trials=6, parallel=2).json()
    first, second = study["runs"]
    worker = FakeWorker(client, first["id"])
    worker.claim()
    canceled = client.post(f"/api/studies/{study['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["search"]["stopped"] is True
    assert worker.finish("canceled")["status"] == "canceled"  # a cancel is not a prune
    view = client.get(f"/api/studies/{study['id']}/search").json()
    assert view["state"] == "stopped" and len(view["trials"]) == 2 and view["confirmation"] is None


def test_a_pruned_run_whose_worker_dies_ends_pruned(client, settings) -> None:
    from datetime import timedelta

    from sqlalchemy.orm import Session

    from backend.models import utcnow
    from backend.runs import lifecycle

    run = _search(client, trials=2, parallel=1).json()["runs"][0]
    FakeWorker(client, run["id"]).claim()
    with Session(client.app.state.engine) as session:
        assert lifecycle.request_prune(session, run["id"], "test")
        session.execute(update(Run).where(Run.id == run["id"]).values(
            lease_expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        lifecycle.expire_leases(session, max_attempts=3)
    assert client.get(f"/api/runs/{run['id']}").json()["status"] == "pruned"


def test_search_refusals_name_the_field(client) -> None:
    bad = _search(client, axes={"lr": {"low": 1e-4, "high": 1e-2}, "temperature": {"low": 0.1, "high": 1}},
                  sampler="grid")
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "axes", "lr"), ("body", "axes", "temperature")}
    big = _search(client, trials=10_000)
    assert big.status_code == 422 and "trials" in big.text
    grid = client.post("/api/studies", json={"name": "g", "base": BASE, "axes": AXES, "seeds": [0]})
    assert grid.status_code == 422 and "only a search samples ranges" in grid.text
    plain = client.post("/api/studies", json={"name": "g", "base": BASE, "axes": {"lr": [0.001]}, "seeds": [0]})
    assert client.get(f"/api/studies/{plain.json()['id']}/search").status_code == 404


def test_the_example_search_file_is_accepted(client) -> None:
    from pathlib import Path

    from contrastlab.client.specs import load_study

    body = load_study(Path(__file__).resolve().parents[3] / "examples" / "studies" / "search_lr.yaml")
    created = client.post("/api/studies", json=body)
    assert created.status_code == 201, created.text
    assert len(created.json()["runs"]) == body["search"]["parallel"]
