"""The layering the design depends on, checked by import-linter (contracts in pyproject.toml) and at run time.

import-linter reads every import statement, lazy ones included, so it replaces the loaded-module tests; what
stays at run time is what only running can show: the CLI and the API start without loading heavy libraries.
"""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = [c["name"] for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
             ["contracts"]]


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "400"})


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_import_contracts_are_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


# One import per contract that breaks it: a copy of the packages with these planted must fail every contract.
PLANTED = {
    "contrastlab/core/_planted.py": "import torch\n",
    "worker/engine/_planted.py": "from worker import tasks\n",
    "backend/_planted.py": "import worker.engine\n",
    "contrastlab/queue.py": "import backend.runs.lifecycle\n",
    "worker/_planted.py": "from contrastlab.client import render\n",
    "contrastlab/client/_planted.py": "import celery\n",
    "backend/runs/_planted.py": "from backend.api import deps\n",
    "backend/studies/_planted.py": "from backend.streams import notifier\n",
    "backend/streams/_planted.py": "from backend.access import security\n",
    "backend/access/_planted.py": "from backend.runs import lifecycle\n",
    "backend/operations/_planted.py": "from backend.studies import store\n",
    "backend/workers/_planted.py": "from backend.operations import reconciler\n",
    "contrastlab/launch.py": "import worker.tasks\n",
}


def test_the_worker_may_use_the_clients_http_layer_and_no_other_client_module():
    contract = next(c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
                    ["contracts"] if c["source_modules"] == ["worker"])
    client_modules = {f"contrastlab.client.{p.stem}" for p in (ROOT / "contrastlab" / "client").glob("*.py")
                      if p.stem != "__init__"}
    assert client_modules - {"contrastlab.client.http"} == {m for m in contract["forbidden_modules"]
                                                           if m.startswith("contrastlab.client")}


def test_each_contract_fails_on_a_planted_import(tmp_path):
    """The contracts are not vacuous: each one names the import planted against it."""
    for package in ("backend", "worker", "contrastlab"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for path, line in PLANTED.items():
        with (tmp_path / path).open("a") as file:
            file.write(line)
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert f"Contracts: 0 kept, {len(CONTRACTS)} broken." in result.stdout, result.stdout
    assert len(PLANTED) == len(CONTRACTS)


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return seen


def _circles(graph: grimp.ImportGraph, package: str) -> set[frozenset[str]]:
    """The circles among a package's direct children (a subpackage counts as one, with everything inside it)."""
    children = sorted(graph.find_children(package))
    owner = {module: child for child in children for module in {child, *graph.find_descendants(child)}}
    edges: dict[str, set[str]] = {child: set() for child in children}
    for module, child in owner.items():
        edges[child] |= {owner[m] for m in graph.find_modules_directly_imported_by(module)
                         if owner.get(m, child) != child}
    reach = {child: _reachable(edges, child) for child in children}
    return {frozenset(c for c in children if c in reach[child] and child in reach[c])
            for child in children if child in reach[child]}


def test_no_import_circle_between_modules_of_one_package():
    """Within every package of ours, modules (and subpackages) import each other one way only: a circle means two
    modules that cannot be read, tested or moved apart (as streams.py and stream_feeds.py once were)."""
    graph = grimp.build_graph("backend", "worker", "contrastlab", cache_dir=None)
    packages = [module for module in graph.modules if graph.find_children(module)]
    assert len(packages) > 10  # the graph holds backend's folders, worker.engine, contrastlab.core, ...
    circles = {circle for package in packages for circle in _circles(graph, package)}
    assert circles == set(), sorted(map(sorted, circles))


def test_backend_never_imports_torch():
    assert "torch" not in _modules_after_import("backend.main")


def test_the_api_starts_without_scipy_stats():
    """The study statistics import scipy.stats when they compute: at start it cost 0.9 s of CPU, every start."""
    assert "scipy.stats" not in _modules_after_import("backend.main")


@pytest.mark.parametrize("module", ["contrastlab.client.cli", "contrastlab"])
def test_cli_starts_without_server_or_training_libraries(module):
    """`contrastlab ls` must start fast: typer and httpx, never torch, FastAPI, SQLAlchemy or Celery."""
    loaded = _modules_after_import(module)
    assert not loaded & {"torch", "torchvision", "numpy", "fastapi", "starlette", "sqlalchemy", "celery", "kombu"}


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_is_clean():
    result = subprocess.run([sys.executable, "-m", "mypy", "backend", "worker", "tests", "bench", "contrastlab"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
