"""Submitting, listing, reading and canceling runs."""

from pathlib import Path


def test_minimal_body_is_accepted_with_defaults_filled_in(client, settings):
    response = client.post("/api/runs", json={"method": "simclr", "dataset": "digits", "epochs": 2,
                                              "batch_size": 128})
    assert response.status_code == 201
    run = response.json()
    assert run["status"] == "queued" and run["attempt"] == 0 and run["error"] is None
    assert run["spec"]["epochs"] == 2 and run["spec"]["temperature"] == 0.5 and run["spec"]["encoder"] == "small_cnn"
    assert run["created_at"].endswith("Z") and run["started_at"] is None
    # Enqueued after the commit: the embedded broker holds exactly one message for it.
    messages = list(Path(settings.data_dir, "broker", "queue").glob("*.msg"))
    assert len(messages) == 1 and f"[{run['id']}]" in messages[0].read_text()


def test_bad_value_is_422_naming_the_field_and_stores_nothing(client):
    response = client.post("/api/runs", json={"epochs": 0, "method": "byol_v2"})
    assert response.status_code == 422
    locations = sorted(tuple(e["loc"]) for e in response.json()["detail"])
    assert locations == [("body", "epochs"), ("body", "method")]
    assert client.get("/api/runs").json()["total"] == 0


def test_list_is_paginated_newest_first(client, submit):
    ids = [submit(name=f"r{i}")["id"] for i in range(5)]
    page = client.get("/api/runs", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5
    assert [r["id"] for r in page["items"]] == [ids[3], ids[2]]


def test_missing_run_is_404(client):
    response = client.get("/api/runs/999")
    assert response.status_code == 404 and response.json()["detail"] == "run 999 not found"


def test_cancel_queued_run_ends_it_and_a_second_cancel_is_409(client, submit):
    run = submit()
    canceled = client.post(f"/api/runs/{run['id']}/cancel").json()
    assert canceled["status"] == "canceled" and canceled["finished_at"] is not None
    assert client.post(f"/api/runs/{run['id']}/cancel").status_code == 409
    # A worker that receives the message afterwards does nothing with it.
    assert client.post(f"/api/runs/{run['id']}/claim", json={"worker": "w"}).status_code == 409


def test_schema_and_health(client):
    schema = client.get("/api/schema/run-spec").json()
    # The form's bounds are this server's caps (MAX_BATCH_SIZE, MAX_EPOCHS), not the spec's own (65,536 and 10,000).
    assert schema["properties"]["batch_size"]["maximum"] == 8192
    assert schema["properties"]["epochs"]["maximum"] == 1000
    assert schema["properties"]["epochs"]["x-server-cap"] == "MAX_EPOCHS"
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["broker"] == "filesystem"
    assert health["database"] in ("sqlite", "postgresql")


def test_dashboard_and_plotly_are_served_offline(client):
    assert client.get("/").status_code == 200
    plotly = client.get("/static/vendor/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000


def test_api_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/api/runs"]["post"]


def test_a_run_reads_the_same_everywhere_and_carries_its_spec_version(client, submit):
    from contrastlab.core.spec import SPEC_VERSION

    run = submit()
    assert set(run) >= {"id", "name", "status", "spec", "created_at", "started_at", "finished_at", "attempt",
                        "progress", "cancel_requested", "error", "summary", "group_id", "lost_leases",
                        "requeue_reason", "spec_version"}
    assert run["spec_version"] == SPEC_VERSION and run["summary"] == {} and run["lost_leases"] == 0
    grant = client.post(f"/api/runs/{run['id']}/claim", json={"worker": "w1"}).json()
    read = client.get(f"/api/runs/{run['id']}").json()
    assert grant["run"] == read and read["status"] == "running" and read["started_at"].endswith("Z")
    listed = client.get("/api/runs").json()["items"]
    assert listed == [read]
