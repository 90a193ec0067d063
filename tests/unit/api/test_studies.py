"""Studies through the API on SQLite and PostgreSQL: the grid, its 422s, cancel, delete, the runs filter, stats."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from sqlalchemy import delete, func, select, update

from backend.models import Event, Run, Study
from tests.unit.api.conftest import FakeWorker

BASE = {"dataset": "digits", "epochs": 1, "batch_size": 64}


def _post(client, axes: dict, seeds=(0, 1), name: str = "losses", base: dict | None = None):
    return client.post("/api/studies", json={"name": name, "base": base if base is not None else BASE,
                                             "axes": axes, "seeds": list(seeds)})


def _create(client, axes: dict, seeds=(0, 1), **kwargs) -> dict:
    response = _post(client, axes, seeds, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def _messages(settings) -> int:
    return len(list(Path(settings.data_dir, "broker", "queue").glob("*.msg")))


def test_grid_is_axes_times_seeds_and_inapplicable_fields_collapse(client, settings) -> None:
    study = _create(client, {"method": ["simclr", "supcon", "supervised"], "temperature": [0.1, 0.5]},
                    seeds=[0, 1], base={**BASE, "temperature": 0.2})
    # simclr and supcon read temperature (2 × 2 cells); supervised does not: one cell, not two identical ones.
    assert study["cells"] == 5 and len(study["runs"]) == 10 and study["name"] == "losses"
    by_name = {r["name"]: r for r in study["runs"]}
    assert set(by_name) == {f"losses · method={m}, temperature={t} · seed {s}" for m in ("simclr", "supcon")
                            for t in (0.1, 0.5) for s in (0, 1)} | {f"losses · method=supervised · seed {s}"
                                                                    for s in (0, 1)}
    supcon = by_name["losses · method=supcon, temperature=0.5 · seed 1"]["spec"]
    assert (supcon["method"], supcon["temperature"], supcon["seed"], supcon["epochs"]) == ("supcon", 0.5, 1, 1)
    assert {r["study_id"] for r in study["runs"]} == {study["id"]}
    # A cell's seeds are a seed group, as a run's seeds are: group_id is the cell's first run's id.
    cell = [r for r in study["runs"] if r["name"].startswith("losses · method=supcon, temperature=0.5 ·")]
    assert [r["group_id"] for r in cell] == [min(r["id"] for r in cell)] * 2
    assert len({r["group_id"] for r in study["runs"]}) == 5
    assert _messages(settings) == 10  # every run enqueued, after the commit

    detail = client.get(f"/api/studies/{study['id']}").json()
    assert [c["key"] for c in detail["cells"]] == [
        "method=simclr,temperature=0.1", "method=simclr,temperature=0.5", "method=supcon,temperature=0.1",
        "method=supcon,temperature=0.5", "method=supervised"]
    assert detail["cells"][4]["values"] == {"method": "supervised"}
    assert detail["cells"][1]["values"] == {"method": "simclr", "temperature": 0.5}
    assert sorted(i for c in detail["cells"] for i in c["runs"]) == sorted(detail["run_ids"])
    assert detail["axes"] == {"method": ["simclr", "supcon", "supervised"], "temperature": [0.1, 0.5]}
    assert detail["seeds"] == [0, 1] and detail["base"]["temperature"] == 0.2
    assert detail["status_counts"] == {"queued": 10, "running": 0, "succeeded": 0, "failed": 0, "canceled": 0,
                                       "pruned": 0}


def test_runs_filter_by_study_and_studies_list_newest_first(client, submit) -> None:
    first = _create(client, {"lr": [0.001, 0.01]}, name="first")
    second = _create(client, {"optimizer": ["sgd", "adam", "rmsprop"]}, seeds=[4], name="second")
    plain = submit()
    assert plain["study_id"] is None
    listed = client.get("/api/runs", params={"study_id": first["id"]}).json()
    assert listed["total"] == 4 and {r["id"] for r in listed["items"]} == {r["id"] for r in first["runs"]}
    assert client.get("/api/runs", params={"study_id": second["id"]}).json()["total"] == 3
    page = client.get("/api/studies", params={"limit": 1}).json()
    assert page["total"] == 2 and [s["name"] for s in page["items"]] == ["second"]
    assert page["items"][0]["status_counts"]["queued"] == 3 and page["items"][0]["seeds"] == [4]
    assert [s["name"] for s in client.get("/api/studies", params={"offset": 1}).json()["items"]] == ["first"]
    assert client.get("/api/studies/999999").status_code == 404


def test_invalid_cell_is_a_422_naming_the_cell_and_the_field_and_stores_nothing(client, settings) -> None:
    response = _post(client, {"method": ["simclr", "supervised"], "temperature": [0.1, 20]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [e["loc"] for e in detail] == [["body", "axes", "temperature"]]
    assert detail[0]["msg"].startswith("cell method=simclr,temperature=20: temperature: ")
    assert "10" in detail[0]["msg"]
    # A base field that breaks every cell is named once, at the base.
    detail = _post(client, {"lr": [0.1, 0.2]}, base={**BASE, "epochs": -1}).json()["detail"]
    assert [e["loc"] for e in detail] == [["body", "base", "epochs"]] and "cell lr=0.1: epochs" in detail[0]["msg"]
    # A combination that fails a check across fields names the cell too.
    detail = _post(client, {"epochs": [1, 5]}, base={**BASE, "warmup_epochs": 2}).json()["detail"]
    assert [e["loc"] for e in detail] == [["body", "base", "warmup_epochs"]]
    assert detail[0]["msg"].startswith("cell epochs=1: warmup_epochs: must be smaller than epochs (1)")
    assert client.get("/api/studies").json()["total"] == 0 and client.get("/api/runs").json()["total"] == 0
    assert _messages(settings) == 0


def test_data_path_outside_the_allowed_roots_is_refused_per_cell(client) -> None:
    base = {**BASE, "dataset": "image_folder", "data_path": "/etc"}
    detail = _post(client, {"lr": [0.1, 0.2]}, base=base).json()["detail"]
    assert [e["loc"] for e in detail] == [["body", "base", "data_path"]]
    assert detail[0]["msg"].startswith("cell lr=0.1: data_path: ") and "ALLOWED_DATA_ROOTS" in detail[0]["msg"]
    assert client.get("/api/runs").json()["total"] == 0


@pytest.mark.parametrize(("axes", "says"), [
    ({"temprature": [0.1]}, "temprature is not a RunSpec field; did you mean temperature?"),
    ({"seed": [0, 1]}, "seeds vary through `seeds`"),
    ({"lr": []}, "lr has no values"),
    ({"lr": [0.1, 0.2, 0.1]}, "lr lists 0.1 twice"),
    ({"temperature": [0.1, 0.2]}, "temperature applies to no cell of this study"),  # base method: supervised
    ({"image_size": [16, 32]}, "image_size applies to no cell of this study"),  # digits keeps its own size
    ({"lr_step_gamma": [0.1, 0.5]}, "lr_step_gamma applies to no cell of this study"),  # a cosine schedule
])
def test_bad_axes_are_named(client, axes, says) -> None:
    response = _post(client, axes, base={**BASE, "method": "supervised"})
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    field = next(iter(axes))
    assert any(e["loc"] == ["body", "axes", field] and says in e["msg"] for e in errors), errors


def test_more_runs_than_study_max_runs_is_refused_with_the_count(client) -> None:
    temperatures = [round(0.01 * i, 2) for i in range(1, 101)]
    response = _post(client, {"method": ["simclr", "supervised"], "temperature": temperatures}, seeds=range(5))
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    # 100 simclr cells and one supervised cell (temperature does not apply to it), 5 seeds each.
    assert "505 runs (101 cells × 5 seeds)" in message and "STUDY_MAX_RUNS" in message and "500" in message
    assert client.get("/api/runs").json()["total"] == 0


def test_five_hundred_runs_are_stored_and_enqueued(client, settings) -> None:
    lrs = [round(0.001 * i, 3) for i in range(1, 51)]
    started = time.perf_counter()
    study = _create(client, {"lr": lrs}, seeds=range(10), name="big")
    elapsed = time.perf_counter() - started
    print(f"POST /api/studies with 500 runs: {elapsed:.3f} s")  # measured, not asserted: the machine is shared
    assert len(study["runs"]) == 500 and study["cells"] == 50
    assert len({r["id"] for r in study["runs"]}) == 500 and _messages(settings) == 500
    assert client.get("/api/runs", params={"study_id": study["id"]}).json()["total"] == 500
    with client.app.state.sessionmaker() as session:  # each run got its `queued` status event
        queued = select(func.count()).select_from(Event).where(Event.kind == "status", Event.name == "queued")
        assert session.scalar(queued) == 500


@pytest.mark.parametrize("fails_at", [0, 2])
def test_broker_failure_fails_the_unsent_runs(client, monkeypatch, fails_at: int) -> None:
    """Down from the start: 503 and every run failed. Failing after the answer: the runs it did not take fail."""
    from backend.runs import dispatch as route

    sent: list[int] = []

    def flaky(celery, run_id: int, queue: str, devices: int = 1) -> None:
        if len(sent) == fails_at:
            raise OSError("connection refused")
        sent.append(run_id)

    monkeypatch.setattr(route, "send_run", flaky)
    response = _post(client, {"lr": [0.01, 0.02]})
    if fails_at == 0:
        assert response.status_code == 503 and "its 4 runs were not queued" in response.json()["detail"]
    else:
        assert response.status_code == 201, response.text
    runs = client.get("/api/runs").json()["items"]
    assert len(runs) == 4 and len(sent) == fails_at
    assert sorted((r["id"], r["status"]) for r in runs) == sorted(
        [(i, "queued") for i in sent] + [(r["id"], "failed") for r in runs if r["id"] not in sent])
    assert all("broker unavailable: connection refused" in r["error"] for r in runs if r["status"] == "failed")


def test_cancel_stops_queued_and_flags_running_runs(client) -> None:
    study = _create(client, {"lr": [0.01, 0.02]})
    running = FakeWorker(client, study["runs"][0]["id"])
    running.claim()
    body = client.post(f"/api/studies/{study['id']}/cancel").json()
    assert body["status_counts"] == {"queued": 0, "running": 1, "succeeded": 0, "failed": 0, "canceled": 3,
                                     "pruned": 0}
    assert client.get(f"/api/runs/{running.run_id}").json()["cancel_requested"] is True
    running.finish("canceled")
    assert client.get(f"/api/studies/{study['id']}").json()["status_counts"]["canceled"] == 4
    assert client.post("/api/studies/424242/cancel").status_code == 404


def test_delete_is_409_while_a_run_runs_then_removes_runs_events_and_files(client, settings) -> None:
    study = _create(client, {"lr": [0.01, 0.02]}, seeds=[0])
    worker = FakeWorker(client, study["runs"][0]["id"])
    worker.claim()
    assert client.put(f"/api/runs/{worker.run_id}/artifacts/encoder.safetensors", content=b"w",
                      headers=worker.headers).status_code == 201
    client.post(f"/api/runs/{study['runs'][1]['id']}/cancel")
    response = client.delete(f"/api/studies/{study['id']}")
    assert response.status_code == 409 and f"run {worker.run_id} is running" in response.json()["detail"]

    worker.finish()
    files = Path(settings.data_dir, "artifacts", str(worker.run_id))
    assert (files / "encoder.safetensors").is_file()
    assert client.delete(f"/api/studies/{study['id']}").status_code == 204
    assert client.delete("/api/trash").json()["studies"] == 1
    assert not files.exists()
    assert client.get(f"/api/studies/{study['id']}").status_code == 404
    assert client.get(f"/api/runs/{worker.run_id}").status_code == 404
    with client.app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 0
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        assert session.scalar(select(func.count()).select_from(Study)) == 0


def _finish(client, run_id: int, status: str, summary: dict[str, float]) -> None:
    """Write a run's outcome straight into its row, as a worker's finish would leave it."""
    with client.app.state.sessionmaker() as session:
        session.execute(update(Run).where(Run.id == run_id).values(status=status, summary=summary))
        session.commit()


def test_stats_match_scipy_over_succeeded_runs(client) -> None:
    study = _create(client, {"method": ["simclr", "supervised", "supcon"]}, seeds=[0, 1, 2, 3])
    cells = {m: [r["id"] for r in study["runs"] if r["spec"]["method"] == m] for m in ("simclr", "supervised",
                                                                                        "supcon")}
    accuracy = {"simclr": [0.80, 0.82, 0.81, 0.5], "supervised": [0.90, 0.93, 0.91, 0.92],
                "supcon": [0.91, 0.92, 0.95, 0.94]}
    for method, ids in cells.items():
        for run_id, value in zip(ids, accuracy[method], strict=True):
            _finish(client, run_id, "succeeded", {"linear_acc": value, "knn_acc": value - 0.1})
    _finish(client, cells["simclr"][3], "failed", {"linear_acc": 0.5})  # left out: counted, not averaged
    _finish(client, cells["supcon"][3], "canceled", {})

    body = client.get(f"/api/studies/{study['id']}/stats", params={"metric": "linear_acc"}).json()
    assert body["metric"] == "linear_acc" and body["direction"] == "higher"
    assert body["baseline"] == "method=supervised"  # the supervised cell by default
    assert body["excluded"]["failed"] == 1 and body["excluded"]["canceled"] == 1
    rows = {c["key"]: c for c in body["cells"]}
    simclr, supervised = np.array([0.80, 0.82, 0.81]), np.array([0.90, 0.93, 0.91, 0.92])
    assert rows["method=simclr"]["n"] == 3 and rows["method=simclr"]["runs"] == cells["simclr"][:3]
    assert rows["method=simclr"]["mean"] == pytest.approx(simclr.mean())
    assert rows["method=simclr"]["std"] == pytest.approx(simclr.std(ddof=1))
    low, high = sps.t.interval(0.95, 2, loc=simclr.mean(), scale=sps.sem(simclr))
    assert rows["method=simclr"]["ci95"] == pytest.approx([low, high])
    assert rows["method=simclr"]["status_counts"] == {"queued": 0, "running": 0, "succeeded": 3, "failed": 1,
                                                      "canceled": 0, "pruned": 0}
    comparison = {c["key"]: c for c in body["comparisons"]}["method=simclr"]
    expected = sps.ttest_ind(simclr, supervised, equal_var=False)
    assert comparison["p_value"] == pytest.approx(expected.pvalue)
    assert comparison["diff"] == pytest.approx(simclr.mean() - supervised.mean())
    assert comparison["prob_better"] == 0.0 and comparison["verdict"] == "worse"

    # Another baseline, another metric: the comparisons follow.
    other = client.get(f"/api/studies/{study['id']}/stats",
                       params={"metric": "knn_acc", "baseline": "method=simclr"}).json()
    assert other["baseline"] == "method=simclr" and {c["key"] for c in other["comparisons"]} == {
        "method=supervised", "method=supcon"}
    supcon = np.array([0.91, 0.92, 0.95]) - 0.1
    p = {c["key"]: c["p_value"] for c in other["comparisons"]}["method=supcon"]
    assert p == pytest.approx(sps.ttest_ind(supcon, simclr - 0.1, equal_var=False).pvalue)


def test_stats_refuse_an_unknown_metric_or_baseline_listing_the_choices(client) -> None:
    study = _create(client, {"method": ["simclr", "supervised"]})
    url = f"/api/studies/{study['id']}/stats"
    for metric in ("accuracy", "lr"):  # lr is a catalogue metric without a better direction
        error = client.get(url, params={"metric": metric}).json()["detail"][0]
        assert error["loc"] == ["query", "metric"] and "linear_acc" in error["msg"] and "knn_acc" in error["msg"]
    error = client.get(url, params={"baseline": "method=supcon"}).json()["detail"][0]
    assert error["loc"] == ["query", "baseline"] and "method=simclr, method=supervised" in error["msg"]
    # Before any run finishes: every cell is listed with n = 0 and its progress.
    body = client.get(url).json()
    assert [(c["n"], c["status_counts"]["queued"]) for c in body["cells"]] == [(0, 2), (0, 2)]
    assert [c["verdict"] for c in body["comparisons"]] == ["too few seeds"]


def _expected_curves(series_by_run: dict[int, list[tuple[int, float]]], cells: dict[str, list[int]],
                     points: int) -> dict[str, dict[str, list]]:
    """Each cell's curve straight from the points sent: per bucket of [lo, hi] over every run, each run's mean of
    its points there, then numpy's mean and std (ddof 1) over the cell's runs, and the points' mean x."""
    steps = [s for pts in series_by_run.values() for s, _ in pts]
    lo, hi = min(steps), max(steps)
    out = {}
    for key, run_ids in cells.items():
        x, mean, std, n = [], [], [], []
        for bucket in range(points):
            inside = {r: [(s, v) for s, v in series_by_run[r] if min(int((s - lo) * points / (hi - lo)), points - 1)
                          == bucket] for r in run_ids if r in series_by_run}
            run_means = [np.mean([v for _, v in pts]) for pts in inside.values() if pts]
            if not run_means:
                continue
            x.append(np.mean([s for pts in inside.values() for s, _ in pts]))
            mean.append(np.mean(run_means))
            std.append(np.std(run_means, ddof=1) if len(run_means) > 1 else None)
            n.append(len(run_means))
        out[key] = {"x": x, "mean": mean, "std": std, "n": n}
    return out


def _assert_curves(body: dict, metric: str, expected: dict[str, dict[str, list]]) -> None:
    got = {c["key"]: c for c in body["curves"][metric]}
    assert list(got) == list(expected)
    for key, want in expected.items():
        assert got[key]["n"] == want["n"], key
        assert got[key]["x"] == pytest.approx(want["x"], rel=1e-12), key
        assert got[key]["mean"] == pytest.approx(want["mean"], rel=1e-12), key
        assert [s is None for s in got[key]["std"]] == [s is None for s in want["std"]], key
        assert [s for s in got[key]["std"] if s is not None] == pytest.approx(
            [s for s in want["std"] if s is not None], rel=1e-9), key


def test_curves_are_each_cells_mean_and_std_over_its_runs(client) -> None:
    """One request: per cell and metric, numpy's mean ± std over its runs on the study's common step grid, from
    the finished runs' stored overviews, a live run's events, and overviews built when missing."""
    from backend.models import SeriesOverview

    study = _create(client, {"lr": [0.01, 0.02]}, seeds=[0, 1, 2])
    cells = {c["key"]: c["runs"] for c in client.get(f"/api/studies/{study['id']}").json()["cells"]}
    rng = np.random.default_rng(0)
    loss: dict[int, list[tuple[int, float]]] = {}
    workers = []
    for i, run in enumerate(study["runs"]):
        if i == 4:
            continue  # never claimed: no points, left out of its cell's n
        last = 40 if i % 2 else 25  # runs of different lengths: the tail of a cell has fewer runs
        loss[run["id"]] = [(s, float(2 / s + rng.normal(0, 0.05))) for s in range(1, last + 1)]
        worker = FakeWorker(client, run["id"])
        worker.claim()
        accuracy = [("knn_acc", s, s / 10, 0.5 + s / 100) for s in (10, 20)]
        assert worker.send([("loss", s, s / 10, v) for s, v in loss[run["id"]]] + accuracy).status_code == 200
        workers.append(worker)
    for worker in workers[:-1]:
        worker.finish()  # the last one stays running: its points come from its events
    url = f"/api/studies/{study['id']}/curves"

    body = client.get(url, params={"points": 8}).json()
    assert body["x_axis"] == "step" and body["points"] == 8 and body["finished"] is False
    assert set(body["curves"]) == {"loss", "knn_acc"}
    _assert_curves(body, "loss", _expected_curves(loss, cells, 8))
    accuracy_points = {r: [(10, 0.6), (20, 0.7)] for r in loss}
    _assert_curves(body, "knn_acc", _expected_curves(accuracy_points, cells, 8))
    # The first cell: runs of 25, 40 and 25 steps, so its tail is one run's, with no std; the second cell: two
    # runs (its third never ran).
    first, second = body["curves"]["loss"]
    assert (first["n"][0], first["n"][-1], first["std"][-1]) == (3, 1, None)
    assert set(second["n"]) == {2}

    # Every run finished: the same numbers, from stored overviews; then built again where they are missing.
    workers[-1].finish()
    client.post(f"/api/runs/{study['runs'][4]['id']}/cancel")
    body = client.get(url, params={"points": 8, "names": "loss,loss"}).json()
    assert body["finished"] is True and set(body["curves"]) == {"loss"}
    _assert_curves(body, "loss", _expected_curves(loss, cells, 8))
    from backend.api.routes.studies import _curves_cache, _kept, kept_folder

    def forget_all() -> None:  # a server just started on a data dir without the study's kept bodies
        _curves_cache.clear()
        _kept.forget(kept_folder(client.app.state.settings, study["id"]))

    # Read from the overviews' packed arrays; overviews stored before they were packed give the same bodies from
    # their JSON lists, on every x axis.
    packed = {x: client.get(url, params={"points": 8, "x": x}).json() for x in ("step", "epoch", "time")}
    with client.app.state.sessionmaker() as session:
        for overview in session.scalars(select(SeriesOverview)):
            assert set(overview.points["packed"]) == {"step", "epoch", "time", "value"}
            overview.points = {k: v for k, v in overview.points.items() if k != "packed"}
        session.commit()
    forget_all()
    assert {x: client.get(url, params={"points": 8, "x": x}).json() for x in packed} == packed
    with client.app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(SeriesOverview)) == 2 * len(loss)
        session.execute(delete(SeriesOverview))
        session.commit()
    forget_all()
    body = client.get(url, params={"points": 5}).json()
    _assert_curves(body, "loss", _expected_curves(loss, cells, 5))
    with client.app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(SeriesOverview)) == 2 * len(loss)

    # On the epoch axis the grid is the epochs'.
    epochs = client.get(url, params={"points": 8, "x": "epoch", "names": "loss"}).json()
    _assert_curves(epochs, "loss", {k: {**v, "x": [x / 10 for x in v["x"]]}
                                    for k, v in _expected_curves(loss, cells, 8).items()})


def test_curves_refuse_a_bad_query_and_an_unknown_study(client) -> None:
    study = _create(client, {"lr": [0.01, 0.02]}, seeds=[0])
    url = f"/api/studies/{study['id']}/curves"
    too_many = ",".join(f"m{i}" for i in range(200))
    for params in ({"points": 1}, {"points": 5000}, {"x": "wall"}, {"names": too_many}):
        response = client.get(url, params=params)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][1] in params
    assert client.get("/api/studies/424242/curves").status_code == 404
    # No run has a point yet: no curves, and nothing cached for good.
    assert client.get(url).json() == {"x_axis": "step", "points": 300, "finished": False, "curves": {}}


def test_axes_that_apply_to_no_cell_are_refused_without_walking_their_product(client, monkeypatch) -> None:
    """Three axes of 100 values that supervised does not read make one cell; the old expansion still walked their
    10^6 combinations (8 s of CPU for a 3.6 KB body). Refused now from the method alone, naming each axis."""
    from backend.studies import grid

    calls = [0]
    real = grid.applies

    def counted(field, spec):
        calls[0] += 1
        assert calls[0] < 10_000, "the expansion walks the product of axes that apply to no cell"
        return real(field, spec)

    monkeypatch.setattr(grid, "applies", counted)
    values = [round(0.01 + 0.001 * i, 3) for i in range(100)]
    response = _post(client, {"temperature": values, "margin": values, "npairs_l2_reg": values},
                     base={**BASE, "method": "supervised"})
    assert response.status_code == 422, response.text
    named = {e["loc"][-1]: e["msg"] for e in response.json()["detail"]}
    assert set(named) == {"temperature", "margin", "npairs_l2_reg"}
    assert all("applies to no cell of this study" in msg for msg in named.values())
    assert client.get("/api/runs").json()["total"] == 0


def test_an_axis_longer_than_study_max_axis_values_is_refused_naming_it(client) -> None:
    response = _post(client, {"lr": [round(1e-6 * (i + 1), 8) for i in range(1001)]}, seeds=[0])
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "axes", "lr"] and "1001 values" in error["msg"]
    assert "STUDY_MAX_AXIS_VALUES" in error["msg"] and "1000" in error["msg"]


class _Counted(float):
    """A float that counts its comparisons: the duplicate check must not compare every pair."""

    compared = 0
    __hash__ = float.__hash__

    def __eq__(self, other: object) -> bool:
        _Counted.compared += 1
        return float.__eq__(self, other)


def test_the_duplicate_check_on_a_long_axis_is_linear() -> None:
    from backend.studies import grid

    values: list = [_Counted(1e-6 * (i + 1)) for i in range(3000)]
    grid.check_axes({"lr": values}, 10_000)  # all distinct: no error
    assert _Counted.compared < 3 * len(values)  # comparing every pair would be 4.5 million
    for same in ([0.1, 0.2, 0.1], [1, 1.0], [[1, 2], [1.0, 2]], [{"a": 1}, {"a": 1.0}]):
        with pytest.raises(grid.StudyInvalid, match="twice"):
            grid.check_axes({"lr": same}, 10_000)
    grid.check_axes({"lr": [0.1, 0.10001, "0.1"]}, 10_000)
