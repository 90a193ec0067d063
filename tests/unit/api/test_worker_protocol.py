"""The worker's side: claim under a lease, idempotent batches, finish; and what readers see."""

import json

from tests.stack import parse_sse
from tests.unit.api.conftest import FakeWorker


def test_claim_is_exclusive_while_the_lease_lives(client, submit):
    run = submit()
    first = FakeWorker(client, run["id"], "w1")
    grant = first.claim()
    assert grant["attempt"] == 1 and grant["run"]["status"] == "running"
    again = client.post(f"/api/runs/{run['id']}/claim", json={"worker": "w2"})
    assert again.status_code == 409 and "live lease" in again.json()["detail"]


def test_retried_batch_is_stored_once_and_metrics_page_by_cursor(client, submit):
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    points = [("loss", s, s / 10, 5.0 - s / 100) for s in range(1, 31)]
    assert worker.send(points, logs=["pretraining"]).status_code == 200
    assert worker.send(points, logs=["pretraining"]).status_code == 200  # the same batch, retried
    seen, cursor = [], 0
    while True:
        page = client.get(f"/api/runs/{run['id']}/metrics", params={"after": cursor, "limit": 7}).json()
        if not page["items"]:
            break
        seen += page["items"]
        cursor = page["next_cursor"]
    assert [p["step"] for p in seen] == list(range(1, 31))
    assert seen[0]["name"] == "loss" and seen[0]["value"] == 4.99 and seen[0]["epoch"] == 0.1


def test_log_lists_status_changes_and_messages_in_order(client, submit):
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    worker.send([("loss", 1, 0.1, 2.0)], logs=["pretraining"])
    worker.finish("failed", error="loss diverged at step 1")
    items = client.get(f"/api/runs/{run['id']}/log").json()["items"]
    assert [(e["kind"], e["text"]) for e in items] == [
        ("status", "queued"), ("status", "running (attempt 1, worker w1)"), ("log", "pretraining"),
        ("status", "failed: loss diverged at step 1")]


def test_finish_records_summary_and_stale_worker_is_refused(client, submit):
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    done = worker.finish(summary={"linear_acc": 0.91, "knn_acc": 0.88})
    assert done["status"] == "succeeded" and done["summary"]["linear_acc"] == 0.91 and done["progress"] == 1.0
    late = worker.send([("loss", 99, 3.0, 1.0)])
    assert late.status_code == 409


def test_cancel_running_run_is_seen_by_the_worker(client, submit):
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    flagged = client.post(f"/api/runs/{run['id']}/cancel").json()
    assert flagged["status"] == "running" and flagged["cancel_requested"] is True
    assert worker.send([("loss", 1, 0.1, 2.0)]).json()["cancel_requested"] is True
    assert worker.finish("canceled")["status"] == "canceled"


def test_failed_run_keeps_its_reason(client, submit):
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    worker.finish("failed", error="loss diverged at step 812")
    shown = client.get(f"/api/runs/{run['id']}").json()
    assert shown["status"] == "failed" and shown["error"] == "loss diverged at step 812"


def _parse_sse(text: str) -> list[dict]:
    return [{"id": i, "event": e, "data": d} for i, e, d in parse_sse(text.splitlines())]


def test_event_stream_replays_everything_then_ends_and_resumes_by_last_event_id(client, submit):
    run = submit()
    worker = FakeWorker(client, run["id"])
    worker.claim()
    worker.send([("loss", s, s / 4, 2.0 / s) for s in range(1, 5)], logs=["pretraining"])
    worker.finish(summary={"linear_acc": 0.9})

    events = _parse_sse(client.get(f"/api/runs/{run['id']}/events").text)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "status" and kinds[-1] == "end"
    assert kinds.count("metric") == 4 and kinds.count("log") == 1
    assert [e["data"]["step"] for e in events if e["event"] == "metric"] == [1, 2, 3, 4]
    assert events[-1]["data"]["status"] == "succeeded"

    second_metric = [e for e in events if e["event"] == "metric"][1]
    resumed = _parse_sse(client.get(f"/api/runs/{run['id']}/events",
                                    headers={"Last-Event-ID": str(second_metric["id"])}).text)
    assert [e["data"]["step"] for e in resumed if e["event"] == "metric"] == [3, 4]


def test_artifacts_upload_list_download_and_embeddings(client, submit):
    run = submit()
    rid = run["id"]
    worker = FakeWorker(client, rid)
    worker.claim()
    assert client.get(f"/api/runs/{rid}/embeddings").status_code == 404
    payload = b"\x00\x01weights" * 1000
    put = client.put(f"/api/runs/{rid}/artifacts/encoder.safetensors", content=payload, headers=worker.headers)
    assert put.status_code == 201 and put.json()["size"] == len(payload)
    points = {"method": "tsne", "points": [{"x": 1.0, "y": 2.0, "label": 3, "index": 0}], "classes": ["0"]}
    client.put(f"/api/runs/{rid}/artifacts/embeddings.json", content=json.dumps(points).encode(),
               headers=worker.headers)
    listed = client.get(f"/api/runs/{rid}/artifacts").json()["items"]
    assert [a["name"] for a in listed] == ["embeddings.json", "encoder.safetensors"]
    download = client.get(listed[1]["url"])
    assert download.status_code == 200 and download.content == payload
    assert download.headers["content-disposition"] == f'attachment; filename="run-{rid}-encoder.safetensors"'
    assert listed[1]["filename"] == f"run-{rid}-encoder.safetensors"
    assert client.get(f"/api/runs/{rid}/embeddings").json()["points"][0]["label"] == 3


def test_artifact_names_that_are_paths_are_refused(client, submit):
    rid = submit()["id"]
    for name in [".hidden", "a..b", "x%00y", "a\\b", "%2e%2e"]:
        response = client.get(f"/api/runs/{rid}/artifacts/{name}")
        assert response.status_code in (400, 404), name
    assert client.put(f"/api/runs/{rid}/artifacts/..%2f..%2fescape", content=b"x").status_code in (400, 404)
    assert client.get(f"/api/runs/{rid}/artifacts/run.json").status_code == 404
