"""The layering the design depends on: the API stays torch-free, the engine stays a library."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_backend_never_imports_torch():
    assert "torch" not in _modules_after_import("backend.main")


def test_client_and_cli_never_import_torch():
    assert "torch" not in _modules_after_import("contrastlab.client.cli")


def test_engine_imports_no_web_queue_or_database_code():
    loaded = _modules_after_import("worker.engine")
    assert not loaded & {"celery", "fastapi", "sqlalchemy", "starlette", "httpx", "backend", "kombu"}


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_is_clean():
    result = subprocess.run([sys.executable, "-m", "mypy", "backend", "worker", "tests", "bench", "contrastlab"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
