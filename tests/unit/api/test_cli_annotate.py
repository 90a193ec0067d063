"""The client and the CLI's tag, untag, note, rename, rm, restore, trash and ls --tag against the real API
(SQLite and PostgreSQL); and the CLI's manners: a closed pipe, UTF-8, the seed column, word-wrapped lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from contrastlab.client import cli
from contrastlab.client.api import Client
from contrastlab.client.follow import final_line
from contrastlab.client.formats import Catalog
from contrastlab.client.models import Run
from contrastlab.client.render import runs_table
from contrastlab.core.catalog import catalog_document
from tests.unit.api.conftest import FakeWorker

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli_run(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    """Run a CLI command against the test app; returns (exit code, stdout)."""
    def api(ctx: Any) -> Client:
        http = httpx.Client(transport=client._transport, base_url="http://localhost",
                            headers={"X-Requested-With": "tests"})
        return Client("http://localhost", http=http)

    monkeypatch.setattr(cli, "_client", api)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli.app, list(args))
        return result.exit_code, result.output

    return run


def _finished(client: TestClient, submit, **spec) -> int:
    run = submit(**spec)
    worker = FakeWorker(client, run["id"])
    worker.claim()
    worker.finish(summary={"linear_acc": 0.5})
    return run["id"]


def test_tag_untag_note_rename_and_ls_by_tag(client, submit, cli_run) -> None:
    first, second = submit(name="first")["id"], submit(name="second")["id"]
    assert cli_run("tag", str(first), "baseline", "opt:sgd") == (0, f"run {first}: baseline opt:sgd\n")
    assert cli_run("tag", str(second), "opt:adam")[0] == 0
    assert cli_run("untag", str(first), "opt") == (0, f"run {first}: baseline\n")
    code, text = cli_run("note", str(first), "**why** this run")
    assert code == 0 and "16 characters" in text
    assert cli_run("rename", str(first), "renamed · é")[0] == 0
    run = client.get(f"/api/runs/{first}").json()
    assert (run["name"], run["tags"], run["notes"]) == ("renamed · é", ["baseline"], "**why** this run")
    code, text = cli_run("ls", "--tag", "baseline")
    assert code == 0 and "renamed · é" in text and "second" not in text and "1 of 1 runs" in text
    code, text = cli_run("show", str(first))
    assert "tags" in text and "baseline" in text and "**why** this run" in text
    code, text = cli_run("tag", str(first), "no spaces")
    assert code == 1 and "'no spaces'" in text


def test_rm_restore_and_empty_the_trash(client, submit, cli_run, settings) -> None:
    rid = _finished(client, submit)
    live = submit()["id"]
    code, text = cli_run("rm", str(rid), str(live))
    assert code == 1 and f"run {live} is queued" in text
    assert cli_run("rm", str(rid)) == (0, f"moved to the trash: #{rid} (contrastlab restore ID brings one back)\n")
    code, text = cli_run("ls", "--trashed")
    assert code == 0 and "1 of 1 runs" in text
    code, text = cli_run("trash")
    assert code == 0 and f"#{rid}" in text and "1 runs and 0 studies in the trash" in text and "30 days" in text
    assert cli_run("restore", str(rid)) == (0, f"restored: #{rid}\n")
    assert cli_run("rm", str(rid))[0] == 0
    code, text = cli_run("trash", "--empty")
    assert code == 0 and "removed 1 runs and 0 studies for good" in text
    assert client.get(f"/api/runs/{rid}").status_code == 404
    assert cli_run("rm")[0] == 1


def test_ls_has_a_seed_column_and_the_follow_line_wraps_between_words() -> None:
    catalog = Catalog(catalog_document())
    runs = [Run(id=7, name="grid", status="succeeded", group_id=7, spec={"seed": 3, "method": "simclr"})]
    console = Console(width=200, record=True)
    console.print(runs_table(runs, 1, catalog))
    header, row = [line for line in console.export_text().splitlines() if "grid" in line or "seed" in line][:2]
    assert header.index("seed") <= row.index("3") < header.index("seed") + 4
    line = final_line(Run(id=12, name="supcon-resnet18-cifar10-temperature-sweep", status="succeeded",
                          summary={"linear_acc": 0.9342, "knn_acc": 0.9101, "silhouette": 0.31}), catalog)
    narrow = Console(width=80, record=True)
    narrow.print(line, highlight=False, markup=False)
    printed = narrow.export_text().splitlines()
    assert len(printed) > 1 and " ".join(p.strip() for p in printed) == line  # broken at spaces only


def test_a_closed_pipe_is_silent_and_text_is_utf8(tmp_path: Path) -> None:
    """`contrastlab ... | head` exits 0 with nothing on stderr; a C locale still prints "·" as UTF-8."""
    script = ("import sys; from contrastlab.client import cli; "
              "cli.app.registered_commands.clear()\n"
              "@cli.app.command()\n@cli.friendly\ndef spill() -> None:\n"
              "    for i in range(100000): cli.out.say(f'row {i} · é')\n"
              "@cli.app.command()\ndef other() -> None: pass\n"
              "cli.main()")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}
    head = subprocess.run(f"{sys.executable} -c \"$SCRIPT\" spill | head -2", shell=True, capture_output=True,
                          env={**env, "SCRIPT": script}, timeout=60)
    assert head.stdout.decode("utf-8").splitlines() == ["row 0 · é", "row 1 · é"]
    assert head.stderr == b""
    piped = subprocess.run(f"set -o pipefail; {sys.executable} -c \"$SCRIPT\" spill | head -1", shell=True,
                           executable="/bin/bash", capture_output=True, env={**env, "SCRIPT": script}, timeout=60)
    assert piped.returncode == 0, piped.stderr
