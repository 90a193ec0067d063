"""A study's paired comparisons, robust aggregates, power and extension over REST, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from sqlalchemy import update

from backend.models import Run

BASE = {"dataset": "digits", "epochs": 1, "batch_size": 64}
HEADLESS = [0.90, 0.92, 0.91, 0.93, 0.92, 0.94]  # linear_acc of six simclr seeds
HEAD = [0.85, 0.86, 0.86, 0.88, 0.85, 0.87]  # linear_acc_head of the same runs
RANDOM = [0.78, 0.80, 0.79, 0.78, 0.81, 0.79]  # random_linear_acc of the same runs


def _create(client, axes: dict, seeds, base: dict | None = None) -> dict:
    response = client.post("/api/studies", json={"name": "head", "base": base or BASE, "axes": axes,
                                                 "seeds": list(seeds)})
    assert response.status_code == 201, response.text
    return response.json()


def _finish(client, run_id: int, summary: dict[str, float], status: str = "succeeded") -> None:
    with client.app.state.sessionmaker() as session:
        session.execute(update(Run).where(Run.id == run_id).values(status=status, summary=summary))
        session.commit()


def _study_with_head_and_random(client) -> tuple[dict, dict[str, list[int]]]:
    study = _create(client, {"method": ["simclr", "supervised"]}, range(6))
    ids = {m: [r["id"] for r in study["runs"] if r["spec"]["method"] == m] for m in ("simclr", "supervised")}
    for i, run_id in enumerate(ids["simclr"]):
        _finish(client, run_id, {"linear_acc": HEADLESS[i], "linear_acc_head": HEAD[i],
                                 "random_linear_acc": RANDOM[i]})
    for i, run_id in enumerate(ids["supervised"]):  # cross-entropy has no head: no linear_acc_head
        _finish(client, run_id, {"linear_acc": 0.95 + i / 1000, "random_linear_acc": 0.79})
    return study, ids


def test_paired_head_and_random_init_comparisons_match_scipy(client) -> None:
    study, ids = _study_with_head_and_random(client)
    url = f"/api/studies/{study['id']}/stats"
    body = client.get(url, params={"metric": "linear_acc", "paired": "linear_acc_head"}).json()
    simclr, supervised = body["paired"]["comparisons"]
    a, b = np.array(HEADLESS), np.array(HEAD)
    assert body["paired"]["metric"] == "linear_acc" and body["paired"]["paired"] == "linear_acc_head"
    assert simclr["key"] == "method=simclr" and simclr["n"] == 6 and simclr["runs"] == ids["simclr"]
    assert simclr["mean_diff"] == pytest.approx((a - b).mean())
    assert simclr["p_value"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert simclr["ci95"] == pytest.approx(list(sps.t.interval(0.95, 5, loc=(a - b).mean(), scale=sps.sem(a - b))))
    assert simclr["wilcoxon_p"] == pytest.approx(sps.wilcoxon(a, b).pvalue)
    low, high = simclr["bootstrap_ci95"]
    assert low < simclr["mean_diff"] < high and simclr["verdict"] == "better"
    assert simclr["power"] > 0.99 and simclr["seeds_for_80"] >= 2
    assert supervised["verdict"] == "not recorded for this cell" and supervised["n"] == 0

    random = client.get(url, params={"metric": "linear_acc", "paired": "random_linear_acc"}).json()["paired"]
    trained, ce = random["comparisons"]
    assert trained["mean_diff"] == pytest.approx((a - np.array(RANDOM)).mean())
    low_p, high_p = sorted([trained["p_value"], ce["p_value"]])  # Holm over the two cells: 2·p₁, max(2·p₁, p₂)
    assert sorted([trained["p_holm"], ce["p_holm"]]) == pytest.approx([2 * low_p, max(2 * low_p, high_p)])

    # The unpaired body gains the IQM and its interval; "not recorded" replaces "too few seeds".
    head = client.get(url, params={"metric": "linear_acc_head", "baseline": "method=supervised"}).json()
    assert head["paired"] is None
    assert [c["verdict"] for c in head["comparisons"]] == ["not recorded for this cell"]
    assert "the baseline" in head["comparisons"][0]["reason"] and head["cells"][1]["recorded"] is False
    assert head["cells"][0]["iqm"] == pytest.approx(sps.trim_mean(HEAD, 0.25))
    assert head["best"] is None

    # Runs too short for a stability measure do not record it (not a 0): the reason says what to change.
    steady = client.get(url, params={"metric": "volatility"}).json()
    assert [c["verdict"] for c in steady["comparisons"]] == ["not recorded for this cell"]
    assert steady["comparisons"][0]["reason"].endswith(
        "(it needs 3 k-NN evaluations a run: at least 3 epochs, knn_every at most (epochs - 1) / 2)")
    fell = client.get(url, params={"metric": "drawdown"}).json()
    assert fell["comparisons"][0]["reason"].endswith(
        "(it needs 2 k-NN evaluations a run: at least 2 epochs, knn_every at most epochs - 1)")


def test_paired_refuses_an_unknown_or_incomparable_metric(client) -> None:
    study = _create(client, {"method": ["simclr"]}, [0, 1])
    url = f"/api/studies/{study['id']}/stats"
    for paired, says in (("nope", "not a metric"), ("linear_acc", "cannot be paired"),
                         ("final_loss", "same unit")):
        error = client.get(url, params={"metric": "linear_acc", "paired": paired}).json()["detail"][0]
        assert error["loc"] == ["query", "paired"] and says in error["msg"]


def test_intervals_of_accuracies_stay_within_0_and_1_and_best_follows_the_verdict(client) -> None:
    study = _create(client, {"method": ["supervised", "simclr"]}, range(3))
    runs = {m: [r["id"] for r in study["runs"] if r["spec"]["method"] == m] for m in ("supervised", "simclr")}
    for run_id, value in zip(runs["supervised"], [0.99, 0.999, 0.93], strict=True):
        _finish(client, run_id, {"linear_acc": value})
    for run_id, value in zip(runs["simclr"], [0.995, 0.95, 0.90], strict=True):
        _finish(client, run_id, {"linear_acc": value})
    body = client.get(f"/api/studies/{study['id']}/stats").json()
    for cell in body["cells"]:
        assert 0.0 <= cell["ci95"][0] and cell["ci95"][1] <= 1.0
        assert 0.0 <= cell["iqm_ci95"][0] <= cell["iqm"] <= cell["iqm_ci95"][1] <= 1.0
    (comparison,) = body["comparisons"]
    assert comparison["verdict"] == "no detectable difference" and body["best"] is None
    low, high = comparison["prob_better_ci95"]
    assert 0.0 <= low <= comparison["prob_better"] <= high <= 1.0
    assert 0.0 < comparison["power"] < 0.8 and comparison["seeds_for_80"] > 3


def test_stats_are_computed_once_per_inputs_and_again_when_a_run_changes(client, monkeypatch) -> None:
    """The page asks for the same stats on every view: computed once (the bootstraps are seeded, so a repeat is the
    same body); a new value, status, baseline or paired metric is computed afresh, with the new numbers."""
    from backend.api.routes import studies as routes
    from backend.studies import stats

    routes._kept.clear()
    computed: list[str] = []
    real = stats.study_stats

    def counted(*args: Any) -> dict[str, Any]:
        computed.append(args[0])
        return real(*args)

    monkeypatch.setattr(stats, "study_stats", counted)
    study, ids = _study_with_head_and_random(client)
    url = f"/api/studies/{study['id']}/stats"
    first = client.get(url).json()
    assert client.get(url).json() == first and len(computed) == 1
    simclr = first["cells"][0]
    assert simclr["key"] == "method=simclr" and simclr["mean"] == pytest.approx(np.mean(HEADLESS))
    assert client.get(url, params={"baseline": "method=simclr"}).json()["baseline"] == "method=simclr"
    assert client.get(url, params={"paired": "linear_acc_head"}).json()["paired"] is not None
    assert len(computed) == 3

    _finish(client, ids["simclr"][0], {"linear_acc": 0.99, "linear_acc_head": HEAD[0]})
    changed = client.get(url).json()
    assert len(computed) == 4
    assert changed["cells"][0]["mean"] == pytest.approx(np.mean([0.99, *HEADLESS[1:]]))
    _finish(client, ids["simclr"][1], {}, status="failed")
    failed = client.get(url).json()
    assert len(computed) == 5 and failed["cells"][0]["n"] == 5 and failed["excluded"]["failed"] == 1
    assert failed["cells"][0]["status_counts"]["failed"] == 1
    assert client.get(url).json() == failed and len(computed) == 5


def test_aggregates_over_datasets_when_the_study_varies_it(client) -> None:
    study = _create(client, {"method": ["simclr", "supervised"], "dataset": ["digits", "fashion_mnist"]}, range(3),
                    base={"epochs": 1, "batch_size": 64})
    for i, run in enumerate(study["runs"]):
        _finish(client, run["id"], {"linear_acc": 0.5 + (i % 7) / 20})
    body = client.get(f"/api/studies/{study['id']}/stats").json()["datasets"]
    assert body["datasets"] == ["digits", "fashion_mnist"]
    assert [g["key"] for g in body["groups"]] == ["method=simclr", "method=supervised"]
    assert all(len(g["profile"]) == len(body["taus"]) and g["runs"] == [3, 3] for g in body["groups"])


def test_extend_adds_seeds_to_chosen_cells_and_the_verdict_counts_them(client, settings) -> None:
    study = _create(client, {"method": ["supervised", "simclr"]}, [0, 1])
    url = f"/api/studies/{study['id']}"
    runs = {m: [r["id"] for r in study["runs"] if r["spec"]["method"] == m] for m in ("supervised", "simclr")}
    for run_id, value in zip(runs["supervised"] + runs["simclr"], [0.80, 0.81, 0.84, 0.86], strict=True):
        _finish(client, run_id, {"linear_acc": value})
    before = client.get(f"{url}/stats").json()["comparisons"][0]
    queued = len(list(Path(settings.data_dir, "broker", "queue").glob("*.msg")))

    added = client.post(f"{url}/extend", json={"seeds": 3, "cells": ["method=simclr"]})
    assert added.status_code == 201, added.text
    new = added.json()["runs"]
    assert [r["spec"]["seed"] for r in new] == [2, 3, 4] and {r["status"] for r in new} == {"queued"}
    assert {r["spec"]["method"] for r in new} == {"simclr"} and {r["group_id"] for r in new} == {runs["simclr"][0]}
    assert new[0]["name"] == "head · method=simclr · seed 2"
    assert len(list(Path(settings.data_dir, "broker", "queue").glob("*.msg"))) == queued + 3
    detail = client.get(url).json()
    assert detail["seeds"] == [0, 1, 2, 3, 4] and len(detail["run_ids"]) == 7
    assert {c["key"]: len(c["runs"]) for c in detail["cells"]} == {"method=supervised": 2, "method=simclr": 5}

    for run, value in zip(new, [0.85, 0.86, 0.85], strict=True):
        _finish(client, run["id"], {"linear_acc": value})
    after = client.get(f"{url}/stats").json()["comparisons"][0]
    simclr = [0.84, 0.86, 0.85, 0.86, 0.85]
    assert after["p_value"] == pytest.approx(sps.ttest_ind(simclr, [0.80, 0.81], equal_var=False).pvalue)
    assert after["p_value"] != before["p_value"]

    every = client.post(f"{url}/extend", json={"seeds": 1}).json()  # no cells: every cell
    assert sorted(r["spec"]["seed"] for r in every["runs"]) == [2, 5]
    bad = client.post(f"{url}/extend", json={"seeds": 1, "cells": ["method=byol"]})
    assert bad.status_code == 422 and "method=supervised" in bad.json()["detail"][0]["msg"]
    assert client.post(f"{url}/extend", json={"seeds": 0}).status_code == 422
    assert client.post("/api/studies/999999/extend", json={"seeds": 1}).status_code == 404
