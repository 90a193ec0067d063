"""The runs list on 10 000 rows, SQLite and PostgreSQL: filters, sorts and pages are right, and index-backed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.runs import listing
from tests.conftest import MigratedTemplates
from tests.unit.api.conftest import api_on_rows

N = 10_000
METHODS, DATASETS, STATUSES = ("simclr", "supervised", "supcon"), ("digits", "fashion_mnist"), (
    "queued", "running", "succeeded", "failed", "canceled")


def _rows() -> list[dict[str, Any]]:
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(1, N + 1):
        method, dataset, status = rng.choice(METHODS), rng.choice(DATASETS), rng.choice(STATUSES)
        started = start + timedelta(minutes=i)
        done = status in ("succeeded", "failed", "canceled")
        accuracies = {"linear_acc": round(rng.random(), 4), "knn_acc": round(rng.random(), 4)}
        summary = accuracies if status == "succeeded" else {}
        rows.append({
            "id": i, "name": f"run {i:05d} {'needle' if i % 1000 == 0 else ''}", "status": status,
            "spec": {"method": method, "dataset": dataset, "encoder": "small_cnn"}, "summary": summary,
            "progress": rng.random(), "attempt": 1, "cancel_requested": False,
            "created_at": start + timedelta(seconds=i * 7 % N), "started_at": started,
            "finished_at": started + timedelta(seconds=rng.randint(1, 5000)) if done else None,
            "group_id": (i // 3) * 3 or None if i < 30 else None,
        })
    return rows


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def big(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        migrated_templates: MigratedTemplates) -> Iterator[tuple[TestClient, list[dict[str, Any]]]]:
    """The API on 10 000 runs, inserted once per database for the tests that only read them."""
    rows = _rows()
    with api_on_rows(request.param, tmp_path_factory.mktemp("big") / "data", migrated_templates, rows) as client:
        yield client, rows


def _ids(client: TestClient, **params: Any) -> tuple[list[int], int]:
    response = client.get("/api/runs", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [r["id"] for r in body["items"]], body["total"]


def test_filters_sorts_and_pages_match_python_on_10k_runs(big) -> None:
    client, rows = big
    done = [r for r in rows if r["status"] == "succeeded" and r["spec"]["method"] == "simclr"]
    expected = [r["id"] for r in sorted(done, key=lambda r: (-r["summary"]["linear_acc"], -r["id"]))]
    ids, total = _ids(client, status="succeeded", method="simclr", sort="linear_acc", order="desc", limit=50, offset=50)
    assert total == len(done) and ids == expected[50:100]

    # Ascending by created time, then the last page.
    by_created = [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]
    assert _ids(client, sort="created", order="asc", limit=20)[0] == by_created[:20]
    assert _ids(client, sort="created", order="asc", limit=20, offset=N - 20)[0] == by_created[-20:]

    # Runs without an accuracy sort last whichever the order; several statuses at once; text search.
    ids, total = _ids(client, sort="knn_acc", order="asc", status="running,succeeded", limit=500, offset=0)
    assert total == sum(r["status"] in ("running", "succeeded") for r in rows)
    page_rows = [rows[i - 1] for i in ids]
    known = [r["summary"]["knn_acc"] for r in page_rows if r["summary"]]
    assert known == sorted(known) and page_rows[0]["summary"]
    ids, total = _ids(client, q="NEEDLE", sort="id", order="asc")
    assert ids == list(range(1000, N + 1, 1000)) and total == 10
    assert _ids(client, q="#42")[0] == [42]
    assert _ids(client, ids="5,3,9999", sort="id", order="asc")[0] == [3, 5, 9999]
    assert _ids(client, dataset="fashion_mnist", encoder="small_cnn", limit=1)[1] == sum(
        r["spec"]["dataset"] == "fashion_mnist" for r in rows)

    # Duration: longest finished runs first, runs not started or running last is not required; finite order.
    ids, _ = _ids(client, sort="duration", order="desc", status="succeeded,failed,canceled", limit=10)
    durations = [(rows[i - 1]["finished_at"] - rows[i - 1]["started_at"]).total_seconds() for i in ids]
    assert durations == sorted(durations, reverse=True)


def test_bad_sort_key_is_422_naming_it(client: TestClient) -> None:
    response = client.get("/api/runs", params={"sort": "secret"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "sort"]
    assert client.get("/api/runs", params={"ids": "1;DROP"}).status_code == 422


def _plan(session: Any, where: listing.RunFilter, sort: str) -> str:
    dialect = session.get_bind().dialect.name
    query = listing.page_query(where, sort, True, 50, 0, dialect)
    sql = str(query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    return "\n".join(str(row) for row in session.execute(text(prefix + sql)).all())


def test_page_queries_use_indexes(big) -> None:
    client, _ = big
    with client.app.state.sessionmaker() as session:
        newest = _plan(session, listing.RunFilter(), "created")
        by_method = _plan(session, listing.RunFilter(methods=("supcon",)), "id")
        group = _plan(session, listing.RunFilter(group_id=3), "id")
    for plan, index in ((newest, "ix_runs_created_at"), (group, "ix_runs_group_id")):
        assert index in plan, plan
    # PostgreSQL may prefer walking the primary key backwards and filtering: still no full sort.
    assert "ix_runs_method" in by_method or "Index Scan Backward using runs_pkey" in by_method, by_method
    assert "TEMP B-TREE FOR ORDER BY" not in newest and "Seq Scan" not in newest, newest


def test_every_summary_metric_of_the_catalogue_sorts_with_missing_values_last(client: TestClient, submit) -> None:
    from contrastlab.core.catalog import SUMMARY_METRICS
    from tests.unit.api.conftest import FakeWorker

    low, high, empty = (submit(name=n)["id"] for n in ("low", "high", "empty"))
    for rid, value in ((low, 0.25), (high, 0.75)):
        worker = FakeWorker(client, rid)
        worker.claim()
        worker.finish(summary={name: value for name in SUMMARY_METRICS})
    for name in SUMMARY_METRICS:
        assert _ids(client, sort=name, order="asc")[0] == [low, high, empty], name
        assert _ids(client, sort=name, order="desc")[0] == [high, low, empty], name
    for key in ("id", "name", "method", "dataset", "encoder", "status", "progress", "duration", "created"):
        assert sorted(_ids(client, sort=key)[0]) == [low, high, empty], key


def test_filters_by_any_spec_field_typed_as_the_spec_says(client: TestClient, submit) -> None:
    """?spec=field=value keeps the runs whose spec holds that value (numbers, choices, booleans, unset)."""
    sgd = submit(name="sgd", optimizer="sgd", lr=0.01, nesterov=True)["id"]
    adam = submit(name="adam", lr=0.001, image_size=16)["id"]
    plain = submit(name="plain", lr=0.001, data_path="")["id"]
    assert sorted(_ids(client, spec="lr=0.001")[0]) == [adam, plain]
    assert _ids(client, spec=["lr=0.001", "image_size=16"]) == ([adam], 1)
    assert _ids(client, spec="optimizer=sgd")[0] == [sgd]
    assert _ids(client, spec="nesterov=true")[0] == [sgd]
    assert sorted(_ids(client, spec="image_size=none")[0]) == [sgd, plain]
    for bad, says in (("seed=x", "seed='x'"), ("colour=red", "RunSpec field"), ("optimizer=bogus", "'sgd'")):
        response = client.get("/api/runs", params={"spec": bad})
        assert response.status_code == 422, bad
        error = response.json()["detail"][0]
        assert error["loc"] == ["query", "spec"] and says in error["msg"], error


def test_sorts_by_any_spec_field_numbers_as_numbers_and_unset_last(client: TestClient, submit) -> None:
    """?sort=spec.<field>: 64 < 256 < 1024 (as text "1024" would come first); a run without the field is last."""
    big = submit(name="big", batch_size=1024, optimizer="sgd", image_size=32)["id"]
    small = submit(name="small", batch_size=64, optimizer="adam")["id"]
    mid = submit(name="mid", batch_size=256, optimizer="lars", image_size=16)["id"]
    assert _ids(client, sort="spec.batch_size", order="asc")[0] == [small, mid, big]
    assert _ids(client, sort="spec.batch_size", order="desc")[0] == [big, mid, small]
    assert _ids(client, sort="spec.optimizer", order="asc")[0] == [small, mid, big]
    assert _ids(client, sort="spec.image_size", order="asc")[0] == [mid, big, small]
    assert _ids(client, sort="spec.image_size", order="desc")[0] == [big, mid, small]
    response = client.get("/api/runs", params={"sort": "spec.colour"})
    assert response.status_code == 422 and "spec.lr" in response.text


def _walk(client: TestClient, **params: Any) -> list[int]:
    """Every id of a listing, page after page by the `after` cursor."""
    ids: list[int] = []
    after = None
    while True:
        body = client.get("/api/runs", params={**params, **({"after": after} if after else {})}).json()
        ids += [r["id"] for r in body["items"]]
        after = body["next_after"]
        if after is None:
            return ids


@pytest.mark.parametrize(("sort", "order", "status"), [
    ("id", "desc", ""), ("linear_acc", "asc", "succeeded,running"), ("linear_acc", "desc", "succeeded,running"),
    ("duration", "asc", "queued,failed"), ("created", "asc", "failed"), ("name", "desc", "canceled"),
    ("spec.lr", "desc", "running"), ("spec.batch_size", "asc", "canceled")])
def test_keyset_pages_concatenate_to_the_offset_order(big, sort: str, order: str, status: str) -> None:
    """Pages by `after` give the same runs in the same order as pages by offset, across the rows without a value."""
    client, _ = big
    params = {"sort": sort, "order": order, "status": status, "limit": 500}
    by_offset: list[int] = []
    while True:
        ids, total = _ids(client, **params, offset=len(by_offset))
        by_offset += ids
        if len(ids) < 500:
            break
    assert len(by_offset) == total == len(set(by_offset))
    assert _walk(client, **params) == by_offset
    # An offset past every run with a value lands among those without one, in the same order.
    assert _ids(client, **{**params, "limit": 7}, offset=total - 9)[0] == by_offset[-9:-2]


def test_bad_cursor_is_422(client: TestClient) -> None:
    wrong_type = listing.Cursor("id", True, "five", 5).dump()
    for bad in ("nonsense", "W10", listing.Cursor("id", True, 5, 5).dump(), wrong_type):
        response = client.get("/api/runs", params={"after": bad, "sort": "name"})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "after"], bad
    assert client.get("/api/runs", params={"after": wrong_type}).status_code == 422


def test_the_count_stops_at_its_cap(big, monkeypatch: pytest.MonkeyPatch) -> None:
    client, rows = big
    monkeypatch.setattr(listing, "COUNT_CAP", 1000)
    body = client.get("/api/runs", params={"limit": 3}).json()
    assert (body["total"], body["total_exact"]) == (1000, False)
    needles = client.get("/api/runs", params={"q": "needle"}).json()
    assert (needles["total"], needles["total_exact"]) == (10, True)


@pytest.mark.parametrize(("sort", "where", "index"), [
    ("linear_acc", listing.RunFilter(), "ix_runs_summary_linear_acc"),
    ("knn_acc", listing.RunFilter(statuses=("succeeded",)), "ix_runs_summary_knn_acc"),
    ("duration", listing.RunFilter(), "ix_runs_duration"),
    ("spec.lr", listing.RunFilter(), "ix_runs_spec_lr"),
    ("spec.optimizer", listing.RunFilter(), "ix_runs_spec_optimizer"),
    ("id", listing.RunFilter(spec=(("lr", 0.001),)), "ix_runs_spec_lr")])
def test_metric_duration_and_spec_sorts_walk_their_index(big, sort: str, where: listing.RunFilter,
                                                          index: str) -> None:
    client, _ = big
    with client.app.state.sessionmaker() as session:
        plan = _plan(session, where, sort)
    assert index in plan and "TEMP B-TREE FOR ORDER BY" not in plan and "Seq Scan" not in plan, plan
