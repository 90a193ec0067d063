"""The runs list's free text (`q`) and tags on 10 000 rows, SQLite and PostgreSQL: the answers a scan gives, by an
index (migration 0017: FTS5 or pg_trgm for names, run_tags for tags), and run_tags in step with every write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from backend.models import RunTag, tag_rows
from backend.runs import listing
from tests.conftest import MigratedTemplates
from tests.unit.api.conftest import api_on_rows

N = 10_000
OPTIMIZERS = ("sgd", "adam", "lars")


def _tags(i: int) -> list[str] | None:
    """One run in ten: baseline and an optimiser; one in 500: Paper:V1 too; one in seven of the rest: others."""
    if i % 10 == 0:
        return ["baseline", f"opt:{OPTIMIZERS[i // 10 % 3]}", *(["Paper:V1"] if i % 500 == 0 else [])]
    return ["Baseline:v2", "lr_0.1"] if i % 7 == 0 else None


def _rows() -> list[dict[str, Any]]:
    created = datetime(2025, 1, 1, tzinfo=UTC)
    # Needles off the multiples of 100, where PostgreSQL's histogram of 10,000 names takes its samples.
    return [{"id": i, "name": f"Run {i:05d}" + (" NEEDLE" if i % 1000 == 337 else "") + (" 100%_done" if i % 2500 == 1
                                                                                           else ""),
             "status": "succeeded", "spec": {"method": "simclr", "dataset": "digits", "encoder": "small_cnn"},
             "summary": {"linear_acc": i % 97 / 97}, "progress": 1.0, "attempt": 1, "cancel_requested": False,
             "created_at": created, "tags": _tags(i)} for i in range(1, N + 1)]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def tagged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           migrated_templates: MigratedTemplates) -> Iterator[tuple[TestClient, list[dict[str, Any]]]]:
    """The API on 10 000 runs with names and tags, their run_tags rows written as the bench writes them."""
    rows = _rows()
    with api_on_rows(request.param, tmp_path_factory.mktemp("tagged") / "data", migrated_templates, rows,
                     [tag for row in rows for tag in tag_rows(row["id"], row["tags"])]) as client:
        yield client, rows


def _listed(client: TestClient, **params: Any) -> tuple[list[int], int]:
    response = client.get("/api/runs", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["items"]], response.json()["total"]


def _has_tag(tags: list[str] | None, wanted: str) -> bool:
    pairs = {tuple(t.lower().partition(":")[::2]) for t in tags or ()}
    key, _, value = wanted.lower().partition(":")
    return any(k == key and (not value or v == value) for k, v in pairs)


@pytest.mark.parametrize("q", ["needle", "NEEDLE", "run 0123", "un 0", "0%_d", "%", "_", "ne", "7", "#42", "42",
                               "#", "zzz", "100%_done", "  Run 09999  "])
def test_text_finds_what_a_scan_finds(tagged, q: str) -> None:
    """Name contains the text in any case (`%` and `_` are no wildcards), or the text is the run's id."""
    client, rows = tagged
    wanted = q.strip().lower()
    digits = wanted.lstrip("#")
    found = [r for r in reversed(rows) if wanted in r["name"].lower() or (digits.isdigit() and
                                                                          r["id"] == int(digits))]
    assert _listed(client, q=q) == ([r["id"] for r in found[:100]], len(found)), q
    # Under another sort, text that matches many runs is checked run by run on SQLite (listing.Plan): the same runs.
    by_accuracy = [r["id"] for r in sorted(found, key=lambda r: (-r["summary"]["linear_acc"], -r["id"]))]
    assert _listed(client, q=q, sort="linear_acc") == (by_accuracy[:100], len(found)), q


@pytest.mark.parametrize("tags", ["baseline", "BASELINE", "baseline:v2", "opt", "opt:SGD", "paper:v1", "paper",
                                  "lr_0.1", "lr-0.1", "lr", "baseline,opt:adam", "opt:adam,paper"])
def test_tags_find_what_the_tags_say(tagged, tags: str) -> None:
    """A bare key matches it with any value, key:value exactly, in any case; several tags: every one."""
    client, rows = tagged
    found = [r for r in reversed(rows) if all(_has_tag(r["tags"], t) for t in tags.split(","))]
    assert _listed(client, tag=tags) == ([r["id"] for r in found[:100]], len(found)), tags
    by_accuracy = [r["id"] for r in sorted(found, key=lambda r: (-r["summary"]["linear_acc"], -r["id"]))]
    assert _listed(client, tag=tags, sort="linear_acc") == (by_accuracy[:100], len(found)), tags


def test_text_tags_and_a_sort_together(tagged) -> None:
    client, rows = tagged
    chosen = [r for r in rows if "run 0" in r["name"].lower() and _has_tag(r["tags"], "opt:lars")]
    expected = [r["id"] for r in sorted(chosen, key=lambda r: (-r["summary"]["linear_acc"], -r["id"]))]
    assert _listed(client, q="RUN 0", tag="opt:lars", sort="linear_acc") == (expected[:100], len(expected))


def _plan(session: Any, where: listing.RunFilter, sort: str = "id", plan: listing.Plan = listing.Plan()) -> str:
    dialect = session.get_bind().dialect
    query = listing.page_query(where, sort, True, 50, 0, plan=plan)
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if dialect.name == "sqlite" else "EXPLAIN "
    return "\n".join(str(row) for row in session.connection().exec_driver_sql(prefix + sql).all())


def test_text_and_tags_are_index_lookups(tagged) -> None:
    """SQLite: the FTS5 trigram table and run_tags' index; PostgreSQL: the trigram index and run_tags' index. The
    name sort walks the index on lower(name)."""
    client, _ = tagged
    with client.app.state.sessionmaker() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        name_index = "runs_name_fts VIRTUAL TABLE INDEX" if sqlite else "ix_runs_name_trgm"
        for where, sort in ((listing.RunFilter(text="needle"), "id"), (listing.RunFilter(text="#4337 needle"), "id"),
                            (listing.RunFilter(text="needle"), "linear_acc")):
            plan = _plan(session, where, sort)
            assert name_index in plan, plan
        for where, sort in ((listing.RunFilter(tags=("paper",)), "id"), (listing.RunFilter(tags=("paper:v1",)), "id"),
                            (listing.RunFilter(tags=("paper",)), "linear_acc")):
            plan = _plan(session, where, sort)
            assert "ix_run_tags_key_value_run_id" in plan or "run_tags_pkey" in plan, plan
            assert "SCAN runs" not in plan.replace("SCAN runs_", "") and "Seq Scan on runs" not in plan, plan
        if sqlite:  # two characters hold no trigram: a scan, which a page fills quickly (each matches many runs)
            assert "runs_name_fts" not in _plan(session, listing.RunFilter(text="ne"))
        by_name = _plan(session, listing.RunFilter(), "name")
        assert "ix_runs_name_lower" in by_name and "TEMP B-TREE" not in by_name and "Sort" not in by_name, by_name


def test_sqlite_checks_common_tags_and_text_run_by_run_along_the_sort(tagged) -> None:
    """SQLite starts from any list of ids; for a tag on 2,286 of the 10,000 runs (COMMON: 1,000), or text on every
    run, under a sort by accuracy, the plan walks the accuracy's index instead. PostgreSQL weighs that itself."""
    client, _ = tagged
    with client.app.state.sessionmaker() as session:
        common = listing.RunFilter(tags=("baseline", "paper"), text="run 0")
        plan = listing.plan_for(session, common, "linear_acc")
        if session.get_bind().dialect.name != "sqlite":
            assert plan == listing.Plan()
            return
        assert plan == listing.Plan(text=True, tags=frozenset({"baseline"}))
        assert listing.plan_for(session, common, "id") == listing.Plan(tags=frozenset({"baseline"}))
        for where in (listing.RunFilter(tags=("baseline",)), listing.RunFilter(text="run 0")):
            page = _plan(session, where, "linear_acc", listing.plan_for(session, where, "linear_acc"))
            assert "ix_runs_summary_linear_acc" in page and "TEMP B-TREE" not in page, page
        page = _plan(session, listing.RunFilter(tags=("baseline",)), "linear_acc", plan)
        assert "sqlite_autoindex_run_tags_1" in page, page  # run_tags' primary key, run by run


def _session(client: TestClient) -> Session:
    return cast(FastAPI, client.app).state.sessionmaker()


def test_text_and_tags_are_written_into_the_sql(tagged) -> None:
    """Not bound: PostgreSQL plans each text and tag for itself, never a prepared statement's one generic plan for
    all (after a text without a trigram, that plan would read the whole trigram index for every text)."""
    client, _ = tagged
    engine = cast(FastAPI, client.app).state.engine
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for _ in range(7):
            assert _listed(client, q="zz", tag="paper:v1")[1] == 0
        assert _listed(client, q="needle", tag="paper:v1") == ([], 0)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert "needle%" in statements[-1] and "'v1'" in statements[-1], statements[-1]


def _tag_rows(client: TestClient, run_id: int) -> set[tuple[str, str]]:
    with _session(client) as session:
        return {(row.key, row.value) for row in session.scalars(select(RunTag).where(RunTag.run_id == run_id))}


def test_run_tags_follow_patch_the_trash_and_emptying_it(client: TestClient, submit) -> None:
    first, second, third = (submit(name=name)["id"] for name in ("alpha one", "beta two", "gamma three"))
    for run_id in (first, second, third):
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200  # final: the trash takes it

    def ids(**params: Any) -> list[int]:
        return sorted(_listed(client, **params)[0])

    assert client.patch(f"/api/runs/{first}", json={"tags": ["Baseline", "opt:SGD"]}).status_code == 200
    assert _tag_rows(client, first) == {("baseline", ""), ("opt", "sgd")}
    assert client.patch(f"/api/runs/{first}", json={"tags": ["opt:lars"]}).status_code == 200
    assert _tag_rows(client, first) == {("opt", "lars")} and ids(tag="baseline") == []
    assert client.patch(f"/api/runs/{first}", json={"notes": "kept"}).status_code == 200
    assert _tag_rows(client, first) == {("opt", "lars")}
    # Tagging a selection (the page and `contrastlab tag` PATCH each run), then clearing one.
    for run_id in (first, second, third):
        tags = client.get(f"/api/runs/{run_id}").json()["tags"]
        assert client.patch(f"/api/runs/{run_id}", json={"tags": [*tags, "paper"]}).status_code == 200
    assert ids(tag="paper") == [first, second, third] and ids(tag="opt:lars,paper") == [first]
    assert client.patch(f"/api/runs/{third}", json={"tags": []}).status_code == 200
    assert _tag_rows(client, third) == set() and ids(tag="paper") == [first, second]

    # A new name is found, the old one no more.
    assert client.patch(f"/api/runs/{second}", json={"name": "Delta Four"}).status_code == 200
    assert ids(q="delta") == [second] and ids(q="beta") == []

    # The trash keeps a run's tags (a trashed run is found with trashed=true), restore brings it back as it was.
    assert client.delete(f"/api/runs/{first}").status_code == 204
    assert ids(tag="paper") == [second] and ids(tag="paper", trashed="true") == [first]
    assert ids(q=f"#{first}") == [] and ids(q="alpha") == []  # the id and the name keep the trash filter
    assert client.post("/api/runs/restore", json={"ids": [first]}).status_code == 200
    assert ids(tag="opt:lars") == [first] and ids(q=f"#{first}") == [first]
    # Emptying the trash removes the run's tag rows and its name from the index with it.
    assert client.delete(f"/api/runs/{first}").status_code == 204
    assert client.delete("/api/trash").json()["runs"] == 1
    assert _tag_rows(client, first) == set() and ids(tag="paper", trashed="true") == []

    # A seed group's runs start without tags and take them as any run does.
    group = client.post("/api/runs/group", json={"spec": {"dataset": "digits", "epochs": 1}, "seeds": [0, 1]}).json()
    member = group["items"][1]["id"]
    assert all(_tag_rows(client, run["id"]) == set() for run in group["items"])
    assert client.patch(f"/api/runs/{member}", json={"tags": ["seeded:1"]}).status_code == 200
    assert ids(tag="seeded") == [member]


def test_quotes_and_sql_in_text_and_tags_are_data(client: TestClient, submit) -> None:
    """Text and tags are written into the SQL (above), so quoting is the driver's literal rendering: a quote, a
    backslash, a wildcard or a statement in them finds the run that has them and nothing else."""
    hostile = "o'brien'); DROP TABLE runs; --"
    odd, plain = submit(name=f"run {hostile} 100%_\\x")["id"], submit(name="run plain")["id"]
    assert client.patch(f"/api/runs/{odd}", json={"tags": ["why:100%", "who:a@b"]}).status_code == 200
    assert client.patch(f"/api/runs/{plain}", json={"tags": ["why:plain"]}).status_code == 200
    for q in (hostile, "o'b", "'", "100%_", "%_\\", "\\x"):
        assert _listed(client, q=q) == ([odd], 1), q
    assert _listed(client, q="%") == ([odd], 1)  # a wildcard typed is a character searched
    assert _listed(client, tag="why:100%") == ([odd], 1)
    assert _listed(client, tag="why:1%") == ([], 0)
    for tag in ("why:it's'); DELETE FROM run_tags; --", "x' OR '1'='1", "why:plain' OR 'a'='a", "\\"):
        assert client.get("/api/runs", params={"tag": tag}).status_code == 422, tag  # refused before any SQL
    assert _listed(client, tag="why") == ([plain, odd], 2)  # both still tagged: nothing was deleted
    assert _listed(client)[1] == 2  # the table is whole
