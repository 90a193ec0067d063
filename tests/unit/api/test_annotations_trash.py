"""Names, tags and notes (PATCH) and the trash (DELETE, restore, empty) on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.unit.api.conftest import FakeWorker


def _finished(client, submit, files: dict[str, bytes] | None = None, **spec) -> dict:
    """A succeeded run with three loss points, a message and the given artifact files."""
    run = submit(**spec)
    worker = FakeWorker(client, run["id"])
    worker.claim()
    assert worker.send([("loss", s, s / 10, 1.0 / s) for s in (1, 2, 3)], logs=["pretraining"]).status_code == 200
    for name, content in (files or {}).items():
        put = client.put(f"/api/runs/{run['id']}/artifacts/{name}", content=content, headers=worker.headers)
        assert put.status_code == 201, put.text
    worker.finish(summary={"linear_acc": 0.5})
    return client.get(f"/api/runs/{run['id']}").json()


def _disk_bytes(folder: Path) -> int:
    return sum(Path(d, n).stat().st_size for d, _, names in os.walk(folder) for n in names)


def test_patch_renames_tags_and_notes_a_run_and_the_list_filters_by_tag(client, submit) -> None:
    a, b, c = submit(name="a"), submit(name="b"), submit(name="c")
    notes = "# Why\n<script>alert(1)</script> **bold**"
    body = client.patch(f"/api/runs/{a['id']}", json={"name": "renamed", "tags": ["baseline", "opt:sgd", "baseline"],
                                                       "notes": notes}).json()
    assert (body["name"], body["tags"], body["notes"]) == ("renamed", ["baseline", "opt:sgd"], notes)
    assert client.patch(f"/api/runs/{b['id']}", json={"tags": ["Baseline:v2"]}).status_code == 200
    assert client.patch(f"/api/runs/{c['id']}", json={"tags": ["opt:adam", "lr_0.1"]}).status_code == 200
    # Fields left out are kept.
    assert client.patch(f"/api/runs/{a['id']}", json={"notes": "short"}).json()["tags"] == ["baseline", "opt:sgd"]

    def ids(**params) -> list[int]:
        return sorted(r["id"] for r in client.get("/api/runs", params=params).json()["items"])

    assert ids(tag="baseline") == [a["id"], b["id"]]  # a bare key matches it with any value, in any case
    assert ids(tag="opt:sgd") == [a["id"]]
    assert ids(tag="opt") == [a["id"], c["id"]]
    assert ids(tag="baseline,opt") == [a["id"]]  # every tag
    assert ids(tag="lr_0.1") == [c["id"]] and ids(tag="lr-0.1") == [] and ids(tag="lr") == []  # `_` is no wildcard
    assert client.get(f"/api/runs/{a['id']}").json()["name"] == "renamed"


def test_patch_bounds_what_a_client_can_grow_and_names_the_bad_value(client, submit) -> None:
    rid = submit()["id"]
    cases = {
        "tags": ({"tags": [f"t{i}" for i in range(33)]}, "at most 32"),
        "tag": ({"tags": ["ok", "no spaces"]}, "'no spaces'"),
        "comma": ({"tags": ["a,b"]}, "'a,b'"),
        "long": ({"tags": ["k" * 65]}, "at most 64 characters"),
        "notes": ({"notes": "x" * 20_001}, "20000"),
        "name": ({"name": "n" * 121}, "120"),
        "nul": ({"notes": "a\x00b"}, "NUL"),
        "extra": ({"status": "succeeded"}, "Extra inputs"),
    }
    for case, (body, says) in cases.items():
        response = client.patch(f"/api/runs/{rid}", json=body)
        assert response.status_code == 422, case
        assert says in str(response.json()["detail"]), (case, response.json())
    bad = client.get("/api/runs", params={"tag": "a b"})
    assert bad.status_code == 422 and "'a b'" in str(bad.json()["detail"])
    assert client.patch("/api/runs/424242", json={"name": "x"}).status_code == 404


def test_trash_restores_every_point_and_file_and_emptying_frees_the_bytes(client, submit, settings) -> None:
    weights = os.urandom(200_000)
    run = _finished(client, submit, {"encoder.safetensors": weights, "evaluation.json": b'{"a": 1}'})
    rid = run["id"]
    points = client.get(f"/api/runs/{rid}/metrics").json()["items"]
    log = client.get(f"/api/runs/{rid}/log").json()["items"]

    assert client.delete(f"/api/runs/{rid}").status_code == 204
    assert client.get("/api/runs").json()["total"] == 0
    trashed = client.get("/api/runs", params={"trashed": "true"}).json()["items"]
    assert [r["id"] for r in trashed] == [rid] and trashed[0]["trashed_at"]
    trash = client.get("/api/trash").json()
    assert (trash["runs"], trash["file_bytes"]) == (1, len(weights) + 8) and trash["record_bytes"] > 0

    restored = client.post(f"/api/runs/{rid}/restore").json()
    assert restored["trashed_at"] is None and restored["summary"] == run["summary"]
    assert client.get(f"/api/runs/{rid}/metrics").json()["items"] == points
    assert client.get(f"/api/runs/{rid}/log").json()["items"] == log
    download = client.get(f"/api/runs/{rid}/artifacts/encoder.safetensors").content
    listed = {a["name"]: a["sha256"] for a in client.get(f"/api/runs/{rid}/artifacts").json()["items"]}
    assert hashlib.sha256(download).hexdigest() == hashlib.sha256(weights).hexdigest() == \
        listed["encoder.safetensors"]

    assert client.delete(f"/api/runs/{rid}").status_code == 204
    artifacts = Path(settings.data_dir, "artifacts")
    before = _disk_bytes(artifacts)
    freed = client.delete("/api/trash").json()
    assert freed["runs"] == 1 and freed["file_bytes"] == before - _disk_bytes(artifacts) == len(weights) + 8
    assert not (artifacts / str(rid)).exists()
    assert client.get(f"/api/runs/{rid}").status_code == 404
    assert client.get("/api/trash").json() == {**freed, "runs": 0, "file_bytes": 0, "record_bytes": 0}


def test_a_selection_or_a_group_moves_to_the_trash_all_or_none(client, submit) -> None:
    done = [_finished(client, submit)["id"] for _ in range(2)]
    live = submit()["id"]
    refused = client.delete("/api/runs", params={"ids": f"{done[0]},{live}"})
    assert refused.status_code == 409 and f"run {live} is queued" in refused.json()["detail"]
    assert client.get("/api/runs", params={"trashed": "true"}).json()["total"] == 0
    assert client.delete("/api/runs", params={"ids": ",".join(map(str, done))}).json()["ids"] == done
    assert client.get("/api/runs").json()["total"] == 1
    assert client.get("/api/runs", params={"ids": ",".join(map(str, done))}).json()["total"] == 2  # a link still opens
    assert client.post("/api/runs/restore", json={"ids": done}).json()["ids"] == done
    assert client.get("/api/runs").json()["total"] == 3
    assert client.delete("/api/runs").status_code == 422
    assert client.delete("/api/runs", params={"ids": "424242"}).status_code == 404

    group = client.post("/api/runs/group", json={"spec": {"dataset": "digits", "epochs": 1}, "seeds": [0, 1]}).json()
    for member in group["items"]:
        client.post(f"/api/runs/{member['id']}/cancel")
    first, second = (m["id"] for m in group["items"])
    moved = client.delete("/api/runs", params={"group_id": group["group_id"]}).json()["ids"]
    assert moved == [first, second]  # in id order, on PostgreSQL too (where the cancels moved the rows)
    again = client.delete("/api/runs", params={"ids": str(second), "group_id": group["group_id"]}).json()["ids"]
    assert again == [second, first]  # the selection, then the rest of the group: each run once
    freed = client.delete("/api/trash", params={"ids": str(moved[0])}).json()
    assert freed["runs"] == 1 and client.get("/api/trash").json()["runs"] == 1


def test_a_study_is_annotated_trashed_with_its_runs_restored_and_emptied(client) -> None:
    study = client.post("/api/studies", json={"name": "temps", "base": {"dataset": "digits", "epochs": 1},
                                              "axes": {"temperature": [0.1, 0.2]}, "seeds": [0]}).json()
    sid = study["id"]
    patched = client.patch(f"/api/studies/{sid}", json={"name": "temperatures", "tags": ["paper"], "notes": "n"})
    assert (patched.json()["name"], patched.json()["tags"], patched.json()["notes"]) == ("temperatures", ["paper"],
                                                                                        "n")
    refused = client.delete(f"/api/studies/{sid}")
    assert refused.status_code == 409 and "queued" in refused.json()["detail"]
    client.post(f"/api/studies/{sid}/cancel")
    assert client.delete(f"/api/studies/{sid}").status_code == 204
    assert client.get("/api/studies").json()["total"] == 0
    assert [s["id"] for s in client.get("/api/studies", params={"trashed": "true"}).json()["items"]] == [sid]
    assert client.get("/api/runs", params={"trashed": "true"}).json()["total"] == 2
    assert client.post(f"/api/studies/{sid}/restore").json()["trashed_at"] is None
    assert client.get("/api/runs", params={"study_id": sid}).json()["total"] == 2
    assert client.delete(f"/api/studies/{sid}").status_code == 204
    assert client.delete("/api/trash").json()["studies"] == 1
    assert client.get(f"/api/studies/{sid}").status_code == 404


def test_trash_days_empties_what_is_old_enough(client, submit, settings) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from backend.models import Run, utcnow

    old, recent = (_finished(client, submit)["id"] for _ in range(2))
    client.delete("/api/runs", params={"ids": f"{old},{recent}"})
    with client.app.state.sessionmaker() as session:
        session.execute(update(Run).where(Run.id == old).values(trashed_at=utcnow() - timedelta(days=31)))
        session.commit()
    done = client.app.state.reconciler.tick()
    assert done.emptied is not None and done.emptied.runs == 1
    assert client.get(f"/api/runs/{old}").status_code == 404
    assert client.get(f"/api/runs/{recent}").json()["trashed_at"]
