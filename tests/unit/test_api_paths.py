"""The API's paths live once, in contrastlab/core/paths.py: the app serves exactly those, and the client, the worker
and the benches spell none of their own."""

from __future__ import annotations

import ast
from pathlib import Path

from backend.main import create_app
from contrastlab.core import paths
from contrastlab.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = {value for name, value in vars(paths).items()
             if name.isupper() and isinstance(value, str) and value.startswith(f"{paths.API}/")}
CALLERS = [ROOT / "contrastlab" / "client", ROOT / "contrastlab" / "queue.py", ROOT / "worker", ROOT / "bench"]


def test_the_app_serves_exactly_the_paths_of_the_contract(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, database_url="", redis_url="", broker_url=""))
    assert set(app.openapi()["paths"]) == TEMPLATES


def test_fill_quotes_each_value_as_one_segment():
    assert paths.fill(paths.RUN_ARTIFACT, run_id=7, name="run.json") == "/api/runs/7/artifacts/run.json"
    assert paths.fill(paths.RUN_ARTIFACT, run_id=7, name="../a b") == "/api/runs/7/artifacts/..%2Fa%20b"


def _spelled_paths(source: Path) -> list[str]:
    """Strings (f-strings' literal parts too) that start with /api/, docstrings and comments aside."""
    tree = ast.parse(source.read_text())
    prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [f"{source.relative_to(ROOT)}:{node.lineno}: {node.value}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
            and node.value.startswith(f"{paths.API}/")]


def test_no_caller_spells_an_api_path_of_its_own():
    files = [f for place in CALLERS for f in ([place] if place.is_file() else sorted(place.rglob("*.py")))]
    assert len(files) > 30
    assert [hit for source in files for hit in _spelled_paths(source)] == []
