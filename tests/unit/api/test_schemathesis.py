"""Schemathesis against the OpenAPI document: no 5xx, responses match their schema, invalid data rejected.

Fixed seed (hypothesis derandomized), valid and invalid data, some 800 cases over every operation but
the SSE stream (it stays open while a run is live). Runs against the ASGI app, SQLite, the embedded broker.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import (
    CheckContext,
    Response,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.schemas import APIOperation

from backend.main import create_app
from backend.migrate import prestart
from contrastlab.core import paths
from contrastlab.core.settings import Settings
from contrastlab.core.spec import RunSpec
from tests.conftest import migrated_sqlite

TOKEN = "schemathesis-token"
EXAMPLES_PER_OPERATION = 20


@schemathesis.check
def invalid_data_rejected(ctx: CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """schemathesis's negative_data_rejection, except for query parameters the API does not know (like
    most HTTP APIs, it ignores those; schemathesis misses an empty name, `?=null`)."""
    query = [parameter for parameter in case.operation.iter_parameters() if parameter.location == "query"]
    if any(name not in {parameter.name for parameter in query} for name in case.query or {}):
        return None
    # A query string cannot tell one value from a list of one: `?tag=x` is a valid `tag: array`.
    lists = {p.name for p in query if (p.definition.get("schema") or {}).get("type") == "array"}
    if any(name in lists and not isinstance(value, list) for name, value in (case.query or {}).items()):
        return None
    return negative_data_rejection(ctx, response, case)


@schemathesis.check
def no_server_error(ctx: CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """not_a_server_error, except the preview's documented 503: no worker runs beside this app to draw it."""
    if case.operation.path == paths.PREVIEW_AUGMENTATIONS and response.status_code == 503:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [no_server_error, response_schema_conformance, invalid_data_rejected]


def exercise(operation: APIOperation, mode: GenerationMode, cases: list[str]) -> None:
    """Up to EXAMPLES_PER_OPERATION generated requests to one operation, each checked."""

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def one(case: schemathesis.Case) -> None:
        cases.append(f"{mode.value} {operation.label}")
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

    one()


def test_every_operation_answers_within_its_contract(tmp_path: Path) -> None:
    config = Settings(data_dir=tmp_path / "data", database_url="", redis_url="", broker_url="", api_token=TOKEN,
                      allowed_hosts="localhost,testserver")  # schemathesis calls the app as testserver
    migrated_sqlite(config.data_dir)
    prestart(config)
    app = create_app(config)
    client = TestClient(app, base_url="http://localhost", headers={"Authorization": f"Bearer {TOKEN}"})
    for _ in range(3):  # a few runs, so that ids 1-3 exist
        assert client.post("/api/runs", json={"epochs": 1}).status_code == 201
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(method="GET", path_regex=r"/events$")
    cases: list[str] = []
    for mode, result in product(GenerationMode, schema.get_all_operations()):
        operation = result.ok()
        try:
            exercise(operation, mode, cases)
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing invalid to send (no inputs)
    app.state.engine.dispose()
    negative = sum(c.startswith("negative") for c in cases)
    print(f"\nschemathesis: {len(cases)} cases ({negative} with invalid data) over "
          f"{len({c.split(' ', 1)[1] for c in cases})} operations")
    assert len(cases) >= 300 and negative >= 100


@pytest.mark.parametrize("field, value", [("jitter_prob", True), ("epochs", "3"), ("seed", 1.5), ("name", 5)])
def test_run_spec_takes_no_value_of_the_wrong_type(field: str, value: object) -> None:
    """Found by schemathesis: pydantic's lax mode took `true` as 1.0."""
    with pytest.raises(ValidationError, match=field):
        RunSpec.model_validate({field: value})
