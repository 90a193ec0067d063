"""A two-axis study on digits runs to the end through the real stack, and its stats match scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from tests.stack import Stack

pytestmark = pytest.mark.integration

TINY = {"dataset": "digits", "epochs": 1, "batch_size": 64, "max_train_samples": 200, "probe_epochs": 5,
        "tsne_samples": 20, "random_baseline": False}
FINAL = {"succeeded", "failed", "canceled"}


@pytest.mark.parametrize("stack", ["redis"], indirect=True)
def test_two_axis_study_runs_to_the_end_and_its_stats_match_scipy(stack: Stack) -> None:
    body = {"name": "digits grid", "base": TINY, "axes": {"method": ["simclr", "supervised"],
                                                           "optimizer": ["adam", "sgd"]}, "seeds": [0, 1]}
    response = stack.http.post("/api/studies", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["cells"] == 4 and len(created["runs"]) == 8
    study_id = created["id"]

    def finished() -> dict | None:
        study = stack.get(f"/api/studies/{study_id}")
        counts = study["status_counts"]
        return study if sum(counts[s] for s in FINAL) == 8 else None

    study = stack.wait_until("every run of the study is final", finished, timeout=900)
    assert study["status_counts"]["succeeded"] == 8, stack.all_logs()
    runs = stack.get("/api/runs", study_id=study_id, limit=500)["items"]
    assert len(runs) == 8 and {r["study_id"] for r in runs} == {study_id}
    accuracy = {r["id"]: r["summary"]["linear_acc"] for r in runs}
    cell_of = {run_id: cell["key"] for cell in study["cells"] for run_id in cell["runs"]}
    samples = {cell["key"]: np.array([accuracy[i] for i in cell["runs"]]) for cell in study["cells"]}
    assert sorted(samples) == ["method=simclr,optimizer=adam", "method=simclr,optimizer=sgd",
                               "method=supervised,optimizer=adam", "method=supervised,optimizer=sgd"]
    assert all(cell_of[r["id"]] == f"method={r['spec']['method']},optimizer={r['spec']['optimizer']}" for r in runs)

    stats = stack.get(f"/api/studies/{study_id}/stats", metric="linear_acc")
    assert stats["baseline"] == "method=supervised,optimizer=adam"
    assert stats["excluded"]["failed"] == stats["excluded"]["canceled"] == 0
    for cell in stats["cells"]:
        x = samples[cell["key"]]
        assert cell["n"] == 2 and cell["status_counts"]["succeeded"] == 2
        assert cell["mean"] == pytest.approx(x.mean()) and cell["std"] == pytest.approx(x.std(ddof=1), abs=1e-12)
    baseline = samples[stats["baseline"]]
    assert len(stats["comparisons"]) == 3
    for comparison in stats["comparisons"]:
        x = samples[comparison["key"]]
        assert comparison["diff"] == pytest.approx(x.mean() - baseline.mean())
        if x.std() > 0 and baseline.std() > 0:  # scipy gives NaN at zero variance; the server an exact answer
            assert comparison["p_value"] == pytest.approx(sps.ttest_ind(x, baseline, equal_var=False).pvalue)
        assert comparison["verdict"] in {"better", "worse", "no detectable difference"}
