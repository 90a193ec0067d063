"""Real (short) runs on digits: loss goes down, artifacts are complete, results repeat, failures are clear."""

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from contrastlab.core.catalog import Phase
from contrastlab.core.spec import RunSpec
from worker.engine import (
    LOSSES,
    ListReporter,
    TrainingCanceled,
    TrainingFailed,
    encode,
    load_dataset,
    load_encoder,
    spec_from_checkpoint,
    train,
)
from worker.engine.losses import Objective
from worker.engine.optim import lr_at
from worker.engine.resume import BackgroundWriter, TrainState, snapshot
from worker.engine.stream import as_tensor

ARTIFACTS = {"encoder.safetensors", "projection_head.safetensors", "linear_probe.safetensors", "run.json",
             "embeddings.json", "features.safetensors", "evaluation.json"}
# Two k-NN evaluations (epochs 1 and 2): drawdown, but no volatility (it needs three).
FINAL = {"linear_acc", "linear_acc_head", "knn_acc", "silhouette", "random_linear_acc", "random_knn_acc", "drawdown"}
SIMCLR = RunSpec(method="simclr", dataset="digits", encoder="small_cnn", epochs=2, batch_size=128,
                 probe_epochs=50, tsne_samples=200, device="cpu")
SUPERVISED = SIMCLR.model_copy(update={"method": "supervised"})
SMALL = SIMCLR.model_copy(update={"max_train_samples": 256, "batch_size": 64, "epochs": 1})


def _run(spec: RunSpec, out_dir: Path) -> tuple[dict[str, float], ListReporter]:
    reporter = ListReporter()
    return train(spec, out_dir, reporter), reporter


@pytest.fixture(scope="module")
def simclr_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("simclr")
    summary, reporter = _run(SIMCLR, out)
    return out, summary, reporter


@pytest.fixture(scope="module")
def supervised_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("supervised")
    summary, reporter = _run(SUPERVISED, out)
    return out, summary, reporter


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_simclr_lowers_the_loss_and_learns(simclr_run):
    _, summary, reporter = simclr_run
    losses = reporter.values("loss")
    assert len(losses) == 2 * (1437 // 128)
    assert _mean(losses[-3:]) < _mean(losses[:3]) - 0.2
    assert summary["linear_acc"] > 0.5 and summary["knn_acc"] > 0.5 and summary["linear_acc_head"] > 0.5
    assert set(summary) == FINAL | {"final_loss", "train_seconds"}
    assert 0.1 < summary["random_linear_acc"] <= 1 and 0.1 < summary["random_knn_acc"] <= 1
    assert summary["final_loss"] == losses[-1]


def test_metrics_carry_steps_and_epochs(simclr_run):
    _, summary, reporter = simclr_run
    steps = [m.step for m in reporter.metrics if m.name == "loss"]
    assert steps == list(range(1, 23))
    assert [m.epoch for m in reporter.metrics if m.name == "loss"][10] == 1.0
    assert [(m.step, m.epoch) for m in reporter.metrics if m.name == "knn_acc"] == [(11, 1.0), (22, 2.0)]
    assert [m.step for m in reporter.metrics if m.name == "embedding_std"] == steps  # the collapse monitor
    final = {m.name: m for m in reporter.metrics
             if m.step == 22 and m.name not in ("loss", "lr", "embedding_std", "system.data_wait_share")}
    assert set(final) == FINAL
    # Each epoch's share of time spent waiting for batches, at its last step: small for a tensor in memory.
    waits = [(m.step, m.epoch, m.value) for m in reporter.metrics if m.name == "system.data_wait_share"]
    assert [(s, e) for s, e, _ in waits] == [(11, 1.0), (22, 2.0)] and all(0 <= v < 0.5 for *_, v in waits)
    assert final["linear_acc"].value == summary["linear_acc"] and final["linear_acc"].epoch == 2.0
    assert reporter.messages[0] == "loading digits: 1437 train / 360 test images"
    assert "t-SNE of 200 test embeddings" in reporter.messages


def test_stability_of_the_knn_curve_is_in_the_summary(simclr_run):
    _, summary, reporter = simclr_run
    curve = reporter.values("knn_acc")  # epoch 1 from the monitor, epoch 2 from the final evaluation
    assert len(curve) == 2
    assert summary["drawdown"] == pytest.approx(max(0.0, curve[0] - curve[1]))
    assert "volatility" not in summary  # one change has no spread: not recorded, rather than a steady-looking 0
    assert not reporter.values("probe_acc")  # probe_every is off by default


def test_probe_every_epoch_adds_two_probe_curves_without_changing_training(simclr_run, tmp_path):
    _, summary, reporter = simclr_run
    probed_summary, probed = _run(SIMCLR.model_copy(update={"probe_every": 1}), tmp_path)
    for name in ("probe_acc", "probe_acc_head"):
        points = [(m.step, m.epoch) for m in probed.metrics if m.name == name]
        assert points == [(11, 1.0), (22, 2.0)], name
        assert all(0.0 <= value <= 1.0 for value in probed.values(name))
    # A quick probe on trained features beats chance (0.1) by far, and the curve ends near the full probe.
    assert min(probed.values("probe_acc")) > 0.5
    assert probed.values("probe_acc")[-1] == pytest.approx(probed_summary["linear_acc"], abs=0.1)
    assert probed.values("loss") == reporter.values("loss")  # probing draws no randomness training uses
    assert probed.values("knn_acc") == reporter.values("knn_acc")
    assert "probe_acc" not in probed_summary  # a curve, not a final figure


def test_supervised_probes_its_features_only(tmp_path):
    _, reporter = _run(SMALL.model_copy(update={"method": "supervised", "epochs": 2, "probe_every": 2,
                                                "random_baseline": False}), tmp_path)
    assert [(m.step, m.epoch) for m in reporter.metrics if m.name == "probe_acc"] == [(8, 2.0)]
    assert reporter.values("probe_acc_head") == []


def test_simclr_writes_every_artifact(simclr_run):
    out, summary, _ = simclr_run
    assert ARTIFACTS <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    run = json.loads((out / "run.json").read_text())
    assert run["spec"] == SIMCLR.model_dump(mode="json")
    assert run["metrics"] == pytest.approx(summary)
    assert set(run["versions"]) == {"torch", "torchvision", "python", "numpy", "sklearn", "openTSNE",
                                    "safetensors", "kornia", "contrastlab", "git_commit"}
    assert run["versions"]["contrastlab"] and run["versions"]["numpy"]
    evaluation = json.loads((out / "evaluation.json").read_text())
    matrix = evaluation["confusion_matrix"]
    assert evaluation["classes"] == [str(d) for d in range(10)] and len(matrix) == 10
    assert [sum(row) for row in matrix] == torch.bincount(load_dataset("digits").test_labels).tolist()
    assert sum(matrix[i][i] for i in range(10)) / 360 == pytest.approx(summary["linear_acc"])
    assert {k: evaluation[k] for k in FINAL} == pytest.approx({k: summary[k] for k in FINAL})
    assert not (out / "resume.pt").exists()  # superseded by the encoder files once the run is done
    assert run["dataset"] == {"name": "digits", "train_size": 1437, "test_size": 360,
                              "image_shape": [1, 16, 16], "classes": [str(d) for d in range(10)]}
    embeddings = json.loads((out / "embeddings.json").read_text())
    assert embeddings["method"] == "tsne" and embeddings["silhouette"] == pytest.approx(summary["silhouette"])
    assert len(embeddings["points"]) == 200 and set(embeddings["points"][0]) == {"x", "y", "label", "index"}
    probe = load_file(out / "linear_probe.safetensors")
    assert set(probe) == {"weight", "bias", "mean", "std"} and probe["weight"].shape == (10, 256)
    head = load_file(out / "projection_head.safetensors")
    assert head["3.weight"].shape == (SIMCLR.projection_dim, SIMCLR.projection_hidden_dim)


def test_embeddings_hold_the_random_init_map_of_the_same_test_images(simclr_run):
    out, _, reporter = simclr_run  # SIMCLR keeps random_baseline on (the default)
    embeddings = json.loads((out / "embeddings.json").read_text())
    random_init = embeddings["random_init"]
    assert set(random_init) == {"silhouette", "points"} and -1 <= random_init["silhouette"] <= 1
    trained, random = embeddings["points"], random_init["points"]
    assert [(p["index"], p["label"]) for p in random] == [(p["index"], p["label"]) for p in trained]
    assert all(set(p) == {"x", "y", "label", "index"} for p in random)
    assert [(p["x"], p["y"]) for p in random] != [(p["x"], p["y"]) for p in trained]  # another encoder's map
    assert "t-SNE of the random-init encoder's 200 test embeddings (baseline)" in reporter.messages


def test_no_random_init_map_without_the_random_baseline(tmp_path):
    _run(SMALL.model_copy(update={"random_baseline": False, "tsne_samples": 50}), tmp_path)
    embeddings = json.loads((tmp_path / "embeddings.json").read_text())
    assert len(embeddings["points"]) == 50 and "random_init" not in embeddings


def test_reloaded_encoder_reproduces_the_saved_features(simclr_run):
    out, _, _ = simclr_run
    with safe_open(out / "encoder.safetensors", framework="pt") as f:
        assert f.metadata()["format"] == "contrastlab-encoder-v1"
    spec = spec_from_checkpoint(out / "encoder.safetensors")
    assert spec == SIMCLR
    data = load_dataset("digits")
    saved = load_file(out / "features.safetensors")
    embeddings = json.loads((out / "embeddings.json").read_text())
    assert saved["indices"].tolist() == [p["index"] for p in embeddings["points"]]
    assert [p["label"] for p in embeddings["points"]] == data.test_labels[saved["indices"]].tolist()
    encoder = load_encoder(out / "encoder.safetensors", spec, in_channels=1)
    features = encode(encoder, as_tensor(data.test_images)[saved["indices"]], 256, torch.device("cpu"))
    torch.testing.assert_close(features, saved["features"], atol=1e-4, rtol=1e-4)


def test_same_seed_same_metrics(simclr_run, tmp_path):
    _, summary, reporter = simclr_run
    again_summary, again = _run(SIMCLR, tmp_path)
    assert again.learned == reporter.learned
    assert {k: v for k, v in again_summary.items() if k != "train_seconds"} == \
        {k: v for k, v in summary.items() if k != "train_seconds"}


def test_supervised_trains_a_classifier(supervised_run, tmp_path):
    out, summary, reporter = supervised_run
    assert ARTIFACTS <= {p.name for p in out.iterdir()}
    assert "linear_acc_head" not in summary
    assert summary["linear_acc"] > 0.5
    train_acc = reporter.values("train_acc")
    assert len(train_acc) == 2 and train_acc[-1] > 0.5
    losses = reporter.values("loss")
    assert _mean(losses[-3:]) < _mean(losses[:3])
    head = load_file(out / "projection_head.safetensors")
    assert head["weight"].shape == (10, 256)
    again_summary, again = _run(SUPERVISED, tmp_path)
    assert again.learned == reporter.learned


def test_nan_loss_fails_with_the_step(monkeypatch, tmp_path):
    calls = {"n": 0}
    real = LOSSES["simclr"]

    def poisoned(outputs, labels, spec):
        calls["n"] += 1
        loss = real.loss(outputs, labels, spec)
        return loss * math.nan if calls["n"] == 3 else loss

    monkeypatch.setitem(LOSSES, "simclr", Objective("simclr", poisoned))
    reporter = ListReporter()
    with pytest.raises(TrainingFailed, match="loss diverged at step 3"):
        train(SMALL, tmp_path, reporter)
    assert [m.step for m in reporter.metrics if m.name == "loss"] == [1, 2]  # what was recorded stays
    assert not (tmp_path / "encoder.safetensors").exists()


def test_cancel_stops_the_run(tmp_path):
    class CancelAfterTwoSteps(ListReporter):
        def should_stop(self) -> bool:
            return len(self.values("loss")) >= 2

    reporter = CancelAfterTwoSteps()
    with pytest.raises(TrainingCanceled):
        train(SMALL, tmp_path, reporter)
    assert len(reporter.values("loss")) == 2
    assert not (tmp_path / "encoder.safetensors").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_failure(tmp_path):
    with pytest.raises(TrainingFailed, match="no usable CUDA GPU"):
        train(SMALL.model_copy(update={"device": "cuda"}), tmp_path, ListReporter())


def test_learning_rate_warms_up_then_follows_a_cosine():
    spec = RunSpec(epochs=10, warmup_epochs=2, lr=0.1)
    rates = [lr_at(step, spec, steps_per_epoch=10) for step in range(1, 101)]
    assert rates[0] == pytest.approx(0.1 / 20) and rates[19] == pytest.approx(0.1)
    assert rates[20] == pytest.approx(0.1) and 0 < rates[-1] < 0.001
    assert all(a >= b for a, b in zip(rates[20:], rates[21:], strict=False))
    constant = spec.model_copy(update={"schedule": "constant"})
    assert {lr_at(step, constant, 10) for step in range(21, 101)} == {0.1}


def test_train_reports_lr_every_step(simclr_run):
    _, _, reporter = simclr_run
    rates = reporter.values("lr")
    assert len(rates) == 22 and rates[0] == SIMCLR.lr and rates[-1] < rates[0]


class StopAfterStep(ListReporter):
    """Cancels once `step` has been reported, as a worker killed mid-epoch would leave the run."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.stop_step = step

    def should_stop(self) -> bool:
        return any(m.step >= self.stop_step for m in self.metrics)


def test_resume_from_an_epoch_checkpoint_equals_an_uninterrupted_run(tmp_path):
    spec = SMALL.model_copy(update={"epochs": 3, "random_baseline": False})
    whole = ListReporter()
    whole_summary = train(spec, tmp_path / "whole", whole)
    assert whole.checkpoints == [(1, 4), (2, 8), (3, 12)]

    first = StopAfterStep(10)  # two steps into epoch 3
    with pytest.raises(TrainingCanceled):
        train(spec, tmp_path / "first", first)
    checkpoint = tmp_path / "first" / "resume.pt"
    # The epoch-2 checkpoint is written in the background; a cancel still waits for it to be whole.
    assert first.checkpoints == [(1, 4), (2, 8)] and checkpoint.is_file()
    saved = torch.load(checkpoint, weights_only=True)
    assert set(saved) >= {"encoder", "head", "optimizer", "generator", "epoch", "step", "last_loss"}
    assert (saved["epoch"], saved["step"]) == (2, 8)
    assert saved["knn_curve"] == [m.value for m in first.metrics if m.name == "knn_acc"]  # feeds drawdown later
    assert max(m.step for m in first.metrics) == 10
    second = ListReporter()
    resumed_summary = train(spec, tmp_path / "second", second, resume_from=checkpoint)

    assert min(m.step for m in second.metrics) == 9  # nothing at or before the checkpoint's step again
    assert [m for m in first.learned if m.step <= 8] + second.learned == whole.learned
    drop = {"train_seconds"}
    assert whole_summary["drawdown"] >= 0 and whole_summary["volatility"] >= 0  # three evaluations
    assert {k: v for k, v in resumed_summary.items() if k not in drop} == \
        {k: v for k, v in whole_summary.items() if k not in drop}

    # Stopped during the evaluation (a worker shutting down after the last epoch): no artifact but the checkpoint
    # of the last epoch, from which the next attempt evaluates alone and ends as the whole run did.
    late = StopInEvaluation()
    with pytest.raises(TrainingCanceled):
        train(spec, tmp_path / "late", late)
    assert late.checkpoints[-1] == (3, 12) and not (tmp_path / "late" / "encoder.safetensors").exists()
    assert not any(p.name in (Phase.RANDOM_BASELINE, Phase.TSNE) for p in late.phases)
    last = ListReporter()
    evaluated = train(spec, tmp_path / "last", last, resume_from=tmp_path / "late" / "resume.pt")
    assert not last.values("loss") and (tmp_path / "last" / "encoder.safetensors").is_file()
    assert {k: v for k, v in evaluated.items() if k not in drop} == \
        {k: v for k, v in whole_summary.items() if k not in drop}


class StopInEvaluation(ListReporter):
    """Asks to stop once the evaluation has begun (its first message), after every training step."""

    def should_stop(self) -> bool:
        return any(text.startswith("features of") for text in self.messages)


def test_evaluate_only_from_an_earlier_encoder_reproduces_its_probe(simclr_run, tmp_path):
    out, summary, _ = simclr_run
    spec = SIMCLR.model_copy(update={"epochs": 0, "init_from_run": 1, "random_baseline": False})
    reporter = ListReporter()
    again = train(spec, tmp_path, reporter, init_encoder=out / "encoder.safetensors")
    assert reporter.values("loss") == [] and "encoder initialised from run 1" in reporter.messages
    assert again["linear_acc"] == summary["linear_acc"] and again["knn_acc"] == summary["knn_acc"]
    assert {m.step for m in reporter.metrics} == {0}


def test_init_from_a_different_architecture_is_refused(simclr_run, tmp_path):
    out, _, _ = simclr_run
    spec = SMALL.model_copy(update={"encoder": "resnet18", "init_from_run": 1})
    with pytest.raises(TrainingFailed, match=r"encoder \(small_cnn\) does not fit this spec's encoder \(resnet18\)"):
        train(spec, tmp_path, ListReporter(), init_encoder=out / "encoder.safetensors")
    with pytest.raises(TrainingFailed, match="was not handed to the engine"):
        train(spec, tmp_path, ListReporter())


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "lars"])
def test_every_optimiser_takes_a_finite_step(optimizer):
    from worker.engine.optim import build_optimizer

    spec = RunSpec(optimizer=optimizer, lr=0.01, nesterov=True, weight_decay=1e-4)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=False), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    before = [p.detach().clone() for p in model.parameters()]
    opt = build_optimizer(spec, [model])
    model(torch.randn(16, 4)).pow(2).mean().backward()
    opt.step()
    after = list(model.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert all(not torch.equal(a, b) for a, b in zip(after, before, strict=True))


def test_lars_scales_each_layer_step_to_its_norm():
    from worker.engine.optim import LARS

    weight = torch.nn.Parameter(torch.full((10, 10), 2.0))
    weight.grad = torch.full((10, 10), 1000.0)
    LARS([{"params": [weight], "weight_decay": 0.0}], lr=1.0, momentum=0.0, trust_coefficient=0.01).step()
    # The step is trust * ||w|| / ||g|| * g: 1% of the weight's norm, whatever the gradient's size.
    assert torch.allclose(weight, torch.full((10, 10), 2.0 * 0.99))


def test_step_schedule_decays_every_n_epochs():
    spec = RunSpec(schedule="step", lr=1.0, lr_step_epochs=2, lr_step_gamma=0.5, epochs=6)
    assert [lr_at(step, spec, steps_per_epoch=3) for step in (1, 6, 7, 12, 13)] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_checkpoint_snapshot_is_a_copy_and_a_failed_write_surfaces_in_the_training_thread(tmp_path):
    layer = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(layer.parameters())
    layer(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    payload = snapshot({"encoder": layer}, optimizer, torch.Generator(), TrainState(1, 1, 0.5))
    before = payload["encoder"]["weight"].clone()
    with torch.no_grad():
        layer.weight.add_(1.0)  # training goes on while the file is written
    assert torch.equal(payload["encoder"]["weight"], before)

    writer = BackgroundWriter()
    heard: list[int] = []
    writer.submit(tmp_path / "resume.pt", payload, lambda: heard.append(1))
    writer.wait()
    assert heard == [1] and torch.equal(torch.load(tmp_path / "resume.pt", weights_only=True)["encoder"]["weight"],
                                        before)

    writer.submit(tmp_path / "missing" / "resume.pt", payload, lambda: heard.append(2))
    with pytest.raises(TrainingFailed, match="cannot write the resume checkpoint"):
        writer.wait()
    assert heard == [1]
    writer.wait()  # the error is reported once
