"""Every `contrastlab` command against the real stack (uvicorn, a Celery worker, Redis, real training on digits)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from contrastlab.client.cli import app
from contrastlab.client.formats import Catalog
from contrastlab.core.catalog import catalog_document
from tests.integration.conftest import Stacks
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.integration
QUICK = ROOT / "examples" / "digits_quick.yaml"
CATALOG = Catalog(catalog_document())
FAST = ["--set", "probe_epochs=20", "--set", "tsne_samples=100", "--set", "random_baseline=false", "--set",
        "max_train_samples=400"]


@pytest.fixture(scope="module")
def stack(stacks: Stacks) -> Iterator[Stack]:
    """The session's API and worker on Redis (the CLI's commands share its runs; they find theirs by id, name or
    group, so the runs of other modules on it do not matter)."""
    shared = stacks.get("redis")
    yield shared
    print(shared.all_logs())  # shown by pytest only when a test failed


def cli(stack: Stack, *args: str) -> Result:
    """`contrastlab --url <stack> ARGS` in this process, with a wide terminal so tables do not wrap."""
    return CliRunner().invoke(app, ["--url", stack.url, *args], env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def followed(stack: Stack) -> tuple[list[dict], Result]:
    """Two seeds of the digits example, submitted and followed to the end by the CLI."""
    result = cli(stack, "submit", str(QUICK), "--seeds", "2", "--follow", *FAST)
    assert result.exit_code == 0, result.stdout + result.stderr + stack.all_logs()
    runs = [r for r in stack.http.get("/api/runs").json()["items"] if r["name"] == "digits quick"]
    assert len(runs) == 2
    return sorted(runs, key=lambda r: r["id"]), result


@pytest.fixture(scope="module")
def seeded(followed: tuple[list[dict], Result]) -> list[dict]:
    return followed[0]


def test_submit_seeds_as_one_group(seeded):
    assert [r["spec"]["seed"] for r in seeded] == [0, 1]
    assert all(r["status"] == "succeeded" for r in seeded)
    assert seeded[0]["group_id"] == seeded[1]["group_id"] is not None
    assert seeded[0]["spec"]["probe_epochs"] == 20  # --set applied


def test_submit_follow_prints_each_run_its_final_metrics_and_the_groups_mean(stack, followed):
    runs, result = followed
    for run in runs:
        assert f"run {run['id']} queued: digits quick (seed {run['spec']['seed']})" in result.stdout
        assert f"run {run['id']} (digits quick) succeeded: " in result.stdout
        assert f"Linear probe {run['summary']['linear_acc'] * 100:.1f} %" in result.stdout  # as the page shows it
    assert result.stdout.count("epoch 2.0/2") == 2  # each bar's last state
    ids = ",".join(str(run["id"]) for run in runs)
    assert f"dashboard: {stack.url}/#/compare?runs={ids}" in result.stdout
    values = [run["summary"]["linear_acc"] for run in runs]
    spread = CATALOG.format_spread("linear_acc", statistics.fmean(values), statistics.stdev(values))
    last = result.stdout.strip().splitlines()[-1]  # the group's aggregate ends the output
    assert last.startswith(f"group {runs[0]['group_id']} (digits quick, 2 seeds, mean ± std): ")
    assert f"Linear probe {spread}" in last


def test_submit_rejected_field_is_named_and_exits_nonzero(stack):
    result = cli(stack, "submit", str(QUICK), "--set", "temperature=0")
    assert result.exit_code == 1
    assert "digits_quick.yaml: the server rejected the spec: temperature: " in result.stderr
    assert "(got 0)" in result.stderr


def test_submit_unreadable_spec_file(stack, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    result = cli(stack, "submit", str(bad))
    assert result.exit_code == 1 and "a spec is a mapping of RunSpec fields" in result.stderr
    result = cli(stack, "submit", str(QUICK), "--set", "epochs")
    assert result.exit_code == 1 and "write it as field=value" in result.stderr


def test_cancel_stops_a_followed_run_and_follow_exits_nonzero(stack, tmp_path):
    long_run = tmp_path / "long.yaml"
    long_run.write_text("name: long\nmethod: simclr\ndataset: digits\nepochs: 300\nbatch_size: 64\n")
    env = dict(os.environ, CONTRASTLAB_URL=stack.url, COLUMNS="200")
    follower = subprocess.Popen([sys.executable, "-m", "contrastlab", "submit", str(long_run), "--follow"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        first = follower.stdout.readline()  # "run N queued: long (seed 0)"
        run_id = int(first.split()[1])
        stack.wait(run_id, {"running"}, timeout=60)
        result = cli(stack, "cancel", str(run_id))
        assert result.exit_code == 0 and f"run {run_id}: cancel requested" in result.stdout
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 1, out + err
    assert f"run {run_id} (long) canceled" in out
    assert "error" not in err  # a run that did not succeed is the exit code, not an error
    again = cli(stack, "cancel", str(run_id))
    assert again.exit_code == 1 and "409" in again.stderr and "already canceled" in again.stderr


def test_ls_lists_runs(stack, seeded):
    table = cli(stack, "ls")
    assert table.exit_code == 0
    for run in seeded:
        assert f" {run['id']} " in table.stdout
    assert "digits quick" in table.stdout and "succeeded" in table.stdout
    listed = json.loads(cli(stack, "ls", "--json", "--limit", "500").stdout)
    assert {r["id"] for r in seeded} <= {r["id"] for r in listed["items"]}
    assert listed["total"] >= 2
    group = json.loads(cli(stack, "ls", "--json", "--group", str(seeded[0]["group_id"])).stdout)
    assert sorted(r["id"] for r in group["items"]) == [r["id"] for r in seeded]
    failed = json.loads(cli(stack, "ls", "--json", "--status", "failed", "--search", "digits quick").stdout)
    assert failed["total"] == 0
    # the connection options after the command, and every filter through the real API
    after = CliRunner().invoke(app, ["ls", "--json", "--method", "simclr", "--dataset", "digits", "--status",
                                     "succeeded", "--search", "digits quick", "--url", stack.url])
    assert after.exit_code == 0, after.output
    assert sorted(r["id"] for r in json.loads(after.stdout)["items"]) == [r["id"] for r in seeded]
    other = json.loads(cli(stack, "ls", "--json", "--method", "supcon", "--search", "digits quick").stdout)
    assert other["total"] == 0


def test_show_prints_state_metrics_spec_and_artifacts(stack, seeded):
    run = seeded[0]
    result = cli(stack, "show", str(run["id"]))
    assert result.exit_code == 0, result.stderr
    for text in ("succeeded", "linear_acc", "probe_epochs: 20", "encoder.safetensors", "run.json"):
        assert text in result.stdout
    assert json.loads(cli(stack, "show", str(run["id"]), "--json").stdout)["summary"] == run["summary"]
    missing = cli(stack, "show", "999999")
    assert missing.exit_code == 1 and "404" in missing.stderr and "run 999999 not found" in missing.stderr


def test_metrics_csv_has_every_point(stack, seeded, tmp_path):
    run_id = seeded[0]["id"]
    stored = stack.http.get(f"/api/runs/{run_id}/metrics", params={"limit": 10000}).json()["items"]
    result = cli(stack, "metrics", str(run_id), "--csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(stored) > 0
    assert [(r["name"], int(r["step"]), float(r["value"])) for r in rows] == \
        [(p["name"], p["step"], p["value"]) for p in stored]
    assert cli(stack, "metrics", str(run_id), "--csv", "-o", str(tmp_path / "m.csv")).exit_code == 0
    assert (tmp_path / "m.csv").read_text() == result.stdout
    table = cli(stack, "metrics", str(run_id))
    assert "loss" in table.stdout and "last value" in table.stdout


def test_download_every_artifact_or_one(stack, seeded, tmp_path):
    run_id = seeded[0]["id"]
    listed = {a["name"]: a for a in stack.http.get(f"/api/runs/{run_id}/artifacts").json()["items"]}
    result = cli(stack, "download", str(run_id), "-o", str(tmp_path / "all"))
    assert result.exit_code == 0, result.stderr
    for name, artifact in listed.items():
        assert hashlib.sha256((tmp_path / "all" / name).read_bytes()).hexdigest() == artifact["sha256"]
    one = cli(stack, "download", str(run_id), "--artifact", "run.json", "-o", str(tmp_path / "one"))
    assert one.exit_code == 0 and [p.name for p in (tmp_path / "one").iterdir()] == ["run.json"]
    absent = cli(stack, "download", str(run_id), "--artifact", "nope.bin", "-o", str(tmp_path))
    assert absent.exit_code == 1 and "has no artifact 'nope.bin'" in absent.stderr


def test_compare_shows_final_metrics_and_differing_fields(stack, seeded):
    result = cli(stack, "compare", *(str(r["id"]) for r in seeded))
    assert result.exit_code == 0, result.stderr
    assert "spec fields that differ" in result.stdout and "Linear probe" in result.stdout
    differing = result.stdout.split("spec fields that differ")[1]
    assert "seed" in differing and "epochs" not in differing  # only the seed differs
    values = [run["summary"]["linear_acc"] for run in seeded]
    mean, std = statistics.fmean(values), statistics.stdev(values)
    row = next(line for line in result.stdout.splitlines() if f"group {seeded[0]['group_id']}" in line)
    assert "mean ± std of 2 seeds" in row and CATALOG.format_spread("linear_acc", mean, std) in row
    document = json.loads(cli(stack, "compare", *(str(r["id"]) for r in seeded), "--json").stdout)
    linear = document["groups"][0]["metrics"]["linear_acc"]
    assert (linear["mean"], linear["std"], linear["n"]) == (pytest.approx(mean), pytest.approx(std), 2)
    rows = list(csv.DictReader(io.StringIO(cli(stack, "compare", "--group", str(seeded[0]["group_id"]),
                                               "--csv").stdout)))
    assert [r["row"] for r in rows] == ["run", "run", "group"]
    assert [float(r["linear_acc"]) for r in rows] == [*values, pytest.approx(mean)]


def test_export_tensorboard_reads_back_with_tensorboard(stack, seeded, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = seeded[0]
    result = cli(stack, "export", str(run["id"]), "--tensorboard", str(tmp_path / "tb"), "--csv",
                 str(tmp_path / "m.csv"))
    assert result.exit_code == 0, result.stderr
    events = EventAccumulator(str(tmp_path / "tb" / f"run-{run['id']}"))
    events.Reload()
    losses = [p for p in stack.http.get(f"/api/runs/{run['id']}/metrics", params={"limit": 10000}).json()["items"]
              if p["name"] == "loss"]
    scalars = events.Scalars("loss")
    assert [(s.step, s.value) for s in scalars] == [(p["step"], pytest.approx(p["value"], rel=1e-6)) for p in losses]
    assert events.Scalars("final/linear_acc")[0].value == pytest.approx(run["summary"]["linear_acc"], rel=1e-6)
    assert (tmp_path / "tb" / f"run-{run['id']}" / "spec.yaml").read_text().count("seed: 0") == 1
    assert (tmp_path / "m.csv").read_text().startswith("name,step,epoch,value,time\n")


@pytest.mark.parametrize(("gpus", "message"), [("0,0", "names a GPU twice"), ("a", "not a GPU index")])
def test_worker_refuses_a_bad_gpu_list(gpus, message):
    # `contrastlab worker` execs the worker supervisor (the client imports no worker code): run it as a program.
    result = subprocess.run([sys.executable, "-m", "contrastlab", "worker", "--gpus", gpus], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr  # 2: a usage error, as argparse's
    assert "started" not in result.stderr  # no worker process was started


def test_unreachable_server_is_one_clear_line():
    result = CliRunner().invoke(app, ["--url", "http://127.0.0.1:9", "--retries", "1", "show", "1"])
    assert result.exit_code == 1
    assert "is the server running? set --url or CONTRASTLAB_URL" in result.stderr


def test_study_follow_prints_the_servers_stats_and_lists_it(stack, tmp_path):
    """A 2-cell x 2-seed study from a file: followed to the end, then the same table as the stats endpoint."""
    study = tmp_path / "study.yaml"
    study.write_text("name: cli study\nbase: {dataset: digits, encoder: small_cnn, epochs: 1, batch_size: 128}\n"
                     "axes: {method: [simclr, supervised]}\nseeds: [7]\n")
    result = cli(stack, "study", str(study), "--follow", "--seeds", "0,1", *FAST)
    assert result.exit_code == 0, result.stdout + result.stderr + stack.all_logs()
    assert "runs in 2 cells" in result.stdout.splitlines()[0]
    study_id = int(result.stdout.split()[1])
    stats = stack.http.get(f"/api/studies/{study_id}/stats", params={"metric": "linear_acc"}).json()
    rows = {line.split("│")[2].strip(): line for line in result.stdout.splitlines() if line.count("│") > 5}
    assert len(stats["cells"]) == 2
    for cell in stats["cells"]:
        row = rows[cell["values"]["method"]]
        assert CATALOG.format_interval("linear_acc", cell["mean"], cell["ci95"]) in row and " 2 " in row
    assert "baseline" in rows["supervised"]  # the default baseline is the supervised cell
    listed = cli(stack, "studies")
    assert listed.exit_code == 0 and "cli study" in listed.stdout
    table = list(csv.DictReader(io.StringIO(cli(stack, "study-stats", str(study_id), "--csv").stdout)))
    assert {r["method"]: float(r["mean"]) for r in table} == \
        {c["values"]["method"]: pytest.approx(c["mean"]) for c in stats["cells"]}
    # The head against no head, run by run: SimCLR has both probes, cross-entropy has no head to probe.
    paired = cli(stack, "study-stats", str(study_id), "--paired", "linear_acc_head")
    assert paired.exit_code == 0, paired.stdout + paired.stderr
    assert "linear_acc − linear_acc_head" in paired.stdout and "not recorded for this cell" in paired.stdout
    # One more seed for the SimCLR cell: a new run of the same study, on seed 2.
    extended = cli(stack, "study-extend", str(study_id), "--seeds", "1", "--cell", "method=simclr")
    assert extended.exit_code == 0 and "1 runs queued in 1 cells (seeds 2)" in extended.stdout, extended.stdout
    detail = stack.http.get(f"/api/studies/{study_id}").json()
    assert detail["seeds"] == [0, 1, 2] and len(detail["run_ids"]) == 5
    assert stack.wait(max(detail["run_ids"]), {"succeeded"})["spec"]["seed"] == 2
    after = stack.http.get(f"/api/studies/{study_id}/stats").json()
    assert {c["key"]: c["n"] for c in after["cells"]} == {"method=simclr": 3, "method=supervised": 2}


def test_workers_lists_the_worker_and_a_submit_warns_when_no_worker_offers_the_devices(stack: Stack) -> None:
    stack.wait_until("the worker and its preview consumer to beat",
                     lambda: {w["role"] for w in stack.get("/api/workers")["items"]} == {"runs", "previews"})
    result = cli(stack, "workers")
    assert result.exit_code == 0, result.stdout + result.stderr
    rows = result.stdout.splitlines()
    row = next(line for line in rows if "worker1@" in line and "preview-worker1@" not in line)
    assert "online" in row and "1 CPU" in row
    consumer = next(line for line in rows if "preview-worker1@" in line)  # beside it, drawing previews: no slot
    assert "previews (CPU)" in consumer and "1 CPU" not in consumer
    listed = json.loads(cli(stack, "workers", "--json").stdout)["items"]
    assert any(w["name"].startswith("worker1@") and w["status"] == "online" and w["last_seen"] for w in listed)

    submitted = cli(stack, "submit", str(QUICK), "--set", "devices=2", "--set", "name=two devices")
    assert submitted.exit_code == 0, submitted.stdout + submitted.stderr
    assert "warning: needs 2 devices; the largest connected worker has 1" in submitted.stderr
    run_id = int(submitted.stdout.split()[1])
    shown = cli(stack, "show", str(run_id))
    assert "needs 2 devices; the largest connected worker has 1" in shown.stdout
    assert cli(stack, "cancel", str(run_id)).exit_code == 0  # it would wait for ever on this stack
