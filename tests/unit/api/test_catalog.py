"""GET /api/schema/catalog: the one list of methods, datasets, metrics and statuses the page and the CLI read."""

from __future__ import annotations

from fastapi.testclient import TestClient

UNITS = {"fraction", "nats", "seconds", "ratio", "rate", "count", "percent", "mebibytes", "watts", "none"}
FORMATS = {"percent", "number", "scientific", "duration", "integer"}


def test_every_choice_of_the_form_is_in_the_catalogue(client: TestClient) -> None:
    response = client.get("/api/schema/catalog")
    assert response.status_code == 200
    catalog = response.json()
    form = client.get("/api/schema/run-spec").json()["properties"]
    assert set(form["method"]["enum"]) == set(catalog["methods"]) and len(catalog["methods"]) >= 8
    assert set(form["dataset"]["enum"]) == set(catalog["datasets"])
    simclr = catalog["methods"]["simclr"]
    assert simclr["views"] == 2 and simclr["needs_labels"] is False and "temperature" in simclr["fields"]
    assert catalog["methods"]["supervised"]["head"] == "classifier"


def test_every_metric_says_how_to_label_format_and_judge_it(client: TestClient) -> None:
    catalog = client.get("/api/schema/catalog").json()
    metrics = catalog["metrics"]
    for name, info in metrics.items():
        assert info["label"], name
        assert info["unit"] in UNITS, name
        assert info["direction"] in ("higher", "lower", None), name
        assert info["format"] in FORMATS, name
    assert metrics["loss"]["direction"] == "lower" and metrics["loss"]["dense"] is True
    # Charts smooth the noisy loss, never the learning-rate schedule nor a sparse evaluation.
    assert [name for name, info in metrics.items() if info["smooth"]] == ["loss"]
    assert metrics["linear_acc"] == {**metrics["linear_acc"], "unit": "fraction", "direction": "higher",
                                     "format": "percent", "final": True}
    assert set(catalog["final_metrics"]) <= set(catalog["summary_metrics"]) <= set(metrics)
    assert catalog["statuses"] == ["queued", "running", "succeeded", "failed", "canceled", "pruned"]
    assert set(catalog["final_statuses"]) == {"succeeded", "failed", "canceled", "pruned"}
    assert "encoder.safetensors" in catalog["artifacts"]

