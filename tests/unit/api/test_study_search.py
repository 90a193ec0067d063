"""Adaptive search through the API on SQLite and PostgreSQL: trials sampled as others end, ASHA pruning on the
k-NN monitor (the run ends `pruned`), the confirmation on fresh seeds, and the verdict from it only."""

from __future__ import annotations

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
    listed = client.get("/api/runs", params={"status": "pruned", "limit": 500}).json()
    assert {r["id"] for r in listed["items"]} == {t["run_id"] for t in pruned}
