"""A tiny search on digits runs through the real stack (API, Celery worker): ASHA prunes trials on the k-NN monitor
(the worker stops them and they end `pruned`), then the best and the baseline are confirmed on fresh seeds."""

from __future__ import annotations

import pytest

from contrastlab.core.catalog import FINAL_STATUSES
from tests.stack import Stack

pytestmark = pytest.mark.integration

TINY = {"dataset": "digits", "epochs": 4, "batch_size": 64, "max_train_samples": 200, "probe_epochs": 5,
        "tsne_samples": 20, "random_baseline": False, "knn_every": 1, "lr": 0.001}


@pytest.mark.parametrize("stack", ["redis"], indirect=True)
def test_search_prunes_trials_and_confirms_its_winner(stack: Stack) -> None:
    body = {"name": "tiny search", "base": TINY, "seeds": [0],
            "axes": {"lr": {"low": 1e-5, "high": 0.3, "log": True}},
            "search": {"sampler": "random", "pruner": "asha", "trials": 5, "parallel": 1, "reduction_factor": 2,
                       "confirm_seeds": 2}}
    response = stack.http.post("/api/studies", json=body)
    assert response.status_code == 201, response.text
    study_id = response.json()["id"]

    def done() -> dict | None:
        view = stack.get(f"/api/studies/{study_id}/search")
        return view if view["state"] in {"done", "stopped"} else None

    view = stack.wait_until("the search confirmed its winner", done, timeout=1800)
    assert view["state"] == "done", stack.all_logs()
    trials = view["trials"]
    assert len(trials) == 5 and all(t["status"] in FINAL_STATUSES for t in trials)
    pruned = [t for t in trials if t["status"] == "pruned"]
    assert pruned, trials
    for trial in pruned:  # stopped by the worker before its last epoch, with the reason in its log
        assert trial["pruned_epoch"] < TINY["epochs"] and trial["value"] is None
        run = stack.get(f"/api/runs/{trial['run_id']}")
        assert run["status"] == "pruned" and run["error"] is None
        assert any("prune requested" in e["text"] for e in stack.log_entries(trial["run_id"]))
        epochs = [p["epoch"] for p in stack.points(trial["run_id"]) if p["name"] == "knn_acc"]
        assert max(epochs) < TINY["epochs"]
    confirm = view["confirmation"]
    assert confirm["seeds"] == [1, 2]
    runs = [stack.get(f"/api/runs/{run_id}") for run_id in confirm["runs"]]
    assert all(r["status"] == "succeeded" for r in runs), stack.all_logs()
    assert {r["spec"]["seed"] for r in runs} == {1, 2}
    stats = stack.get(f"/api/studies/{study_id}/stats", metric="knn_acc")
    assert sum(c["n"] for c in stats["cells"]) == len(runs)  # the verdict counts the confirmation runs only
    assert stats["baseline"] == confirm["baseline"] == "lr=0.001"
    listed = stack.get("/api/runs", status="pruned", study_id=study_id)["items"]
    assert {r["id"] for r in listed} == {t["run_id"] for t in pruned}
