"""VICReg, Barlow Twins, DINO, SwAV and NNCLR as method objects: short runs on digits learn, and each method's
schedules and state (teacher EMA and tau, centre, frozen layers, prototypes, queues) do what its paper says."""

import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

from contrastlab.core.catalog import METHODS
from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, load_dataset
from worker.engine.data import subset_train
from worker.engine.methods import Progress, ViewPlan, build_method
from worker.engine.methods.dino import DINOConfig
from worker.engine.models import MLPConfig, build_encoder
from worker.engine.multicrop import multi_crop, small_side
from worker.engine.train import pretrain

EPOCHS, SAMPLES, BATCH = 4, 256, 64
STEPS = EPOCHS * SAMPLES // BATCH
SMALL: dict[str, dict[str, Any]] = {  # sizes a CPU test affords; the rest is the paper's defaults
    "vicreg": {},
    "barlow_twins": {},
    # At the default teacher temperature 0.04 DINO's loss is flat for its first few dozen steps (the centring
    # flattens the teacher as fast as the student learns); at the paper's 0.07 it falls from the first epoch.
    "dino": {"dino_prototypes": 256, "small_crops": 2, "dino_teacher_temperature": 0.07,
             "dino_warmup_teacher_epochs": 0},
    "swav": {"swav_prototypes": 64, "small_crops": 2, "swav_queue_length": 128},
    "nnclr": {"nnclr_support_size": 512},
}


def _spec(method: str, **fields) -> RunSpec:
    base = {"epochs": EPOCHS, "batch_size": BATCH, "max_train_samples": SAMPLES, "knn_every": 1000}
    return RunSpec(method=method, dataset="digits", encoder="small_cnn", device="cpu",
                   **{**base, **SMALL[method], **fields})


def _method(spec: RunSpec):
    data = subset_train(load_dataset(spec), spec.max_train_samples, spec.seed)
    torch.manual_seed(spec.seed)
    encoder = build_encoder(spec, 1, 16)
    encoder.set_normalization(data.train_images)
    return build_method(spec, encoder, 10), data


@pytest.fixture(scope="module")
def runs():
    """Each method trained once for EPOCHS epochs: (method, reporter, the method's initial state)."""
    torch.set_num_threads(1)
    result = {}
    for name in SMALL:
        spec = _spec(name)
        method, data = _method(spec)
        initial = {key: value.clone() for key, value in method.state_dict().items()}
        reporter = ListReporter()
        pretrain(spec, method, data, torch.device("cpu"), reporter, Path(tempfile.mkdtemp()))
        result[name] = (method, reporter, initial)
    return result


def test_the_catalogue_knows_each_method_and_its_family():
    families = {name: METHODS[name].family for name in SMALL}
    assert families == {"vicreg": "redundancy_reduction", "barlow_twins": "redundancy_reduction",
                        "dino": "self_distillation", "swav": "clustering", "nnclr": "contrastive"}


@pytest.mark.parametrize("name", list(SMALL))
def test_a_short_run_on_digits_lowers_the_loss(runs, name):
    _, reporter, _ = runs[name]
    losses = reporter.values("loss")
    assert len(losses) == STEPS and all(torch.isfinite(torch.tensor(losses)))
    per_epoch = [sum(losses[i:i + STEPS // EPOCHS]) / (STEPS // EPOCHS) for i in range(0, STEPS, STEPS // EPOCHS)]
    print(name, [round(value, 4) for value in per_epoch])
    assert per_epoch[-1] < per_epoch[0]
    assert len(reporter.values("embedding_std")) == STEPS


def test_dino_teacher_follows_the_student_with_a_cosine_tau_and_reads_for_the_probes(runs):
    method, reporter, initial = runs["dino"]
    taus = reporter.values("tau")
    assert taus[0] == pytest.approx(0.996) and all(a < b for a, b in zip(taus, taus[1:], strict=False))
    assert taus[-1] < 1
    teacher, student = method.teacher_encoder.state_dict(), method.encoder.state_dict()
    moved = [key for key in teacher if teacher[key].is_floating_point() and "running" not in key
             and not torch.equal(teacher[key], initial[f"teacher_encoder.{key}"])]
    assert moved and not all(torch.equal(teacher[key], student[key]) for key in moved)
    assert not any(p.requires_grad for p in method.teacher_encoder.parameters())
    assert method.probe_encoder() is method.teacher_encoder
    assert method.center.value.abs().sum() > 0  # the centre moved from zero


def test_dino_last_layer_is_frozen_in_the_first_epoch_only():
    spec = _spec("dino", epochs=2)
    method, data = _method(spec)
    before = method.head.last_layer.weight.detach().clone()
    pretrain(spec.model_copy(update={"epochs": 1}), method, data, torch.device("cpu"), ListReporter(),
             Path(tempfile.mkdtemp()))
    assert torch.equal(method.head.last_layer.weight, before)
    assert not torch.equal(method.head.mlp[0].weight, _method(spec)[0].head.mlp[0].weight)  # the rest trained
    progress = Progress(step=5, epoch=2, steps_per_epoch=4, total_steps=8)
    method.head.last_layer.weight.grad = torch.ones_like(before)
    method.before_optimizer_step(progress)
    assert method.head.last_layer.weight.grad is not None  # epoch 2: trained


def test_dino_teacher_temperature_warms_up_linearly_per_epoch():
    config = DINOConfig(MLPConfig(2, 8, 4), warmup_teacher_temperature=0.04, teacher_temperature=0.07,
                        warmup_teacher_epochs=4)
    assert [config.teacher_temperature_at(epoch) for epoch in (1, 2, 3, 4, 5, 50)] == pytest.approx(
        [0.04, 0.05, 0.06, 0.07, 0.07, 0.07])


def test_swav_prototypes_stay_normalised_frozen_in_the_first_epoch_and_the_queue_fills(runs):
    method, _, initial = runs["swav"]
    norms = method.prototypes.weight.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    assert not torch.equal(method.prototypes.weight, initial["prototypes.weight"])  # trained after epoch 1
    assert all(int(queue.count) == 128 for queue in method.queues.each())
    spec = _spec("swav", epochs=1)
    fresh, data = _method(spec)
    before = fresh.prototypes.weight.detach().clone()
    pretrain(spec, fresh, data, torch.device("cpu"), ListReporter(), Path(tempfile.mkdtemp()))
    assert torch.equal(fresh.prototypes.weight, before)


def test_nnclr_support_set_holds_the_last_projections(runs):
    method, _, _ = runs["nnclr"]
    assert int(method.support.count) == 512  # 16 steps of 64 first views, the last 512 kept
    assert method.support.contents().abs().sum() > 0


@pytest.mark.parametrize("name", ["dino", "swav", "nnclr"])
def test_the_state_a_resume_needs_is_in_the_checkpointed_modules(runs, name):
    method, _, _ = runs[name]
    modules = method.checkpoint_modules()
    expected = {"dino": {"teacher_encoder", "teacher_head", "center"}, "swav": {"prototypes", "queues"},
                "nnclr": {"predictor", "support"}}[name]
    assert {"encoder", "head"} | expected <= set(modules)
    saved = {key: module.state_dict() for key, module in modules.items()}
    twin, _ = _method(_spec(name))
    for key, module in twin.checkpoint_modules().items():
        module.load_state_dict(saved[key])
    for (key, a), b in zip(method.state_dict().items(), twin.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


@pytest.mark.parametrize("name", ["dino", "swav"])
def test_multi_crop_methods_plan_two_large_and_the_specs_small_crops(name):
    spec = _spec(name, small_crops=3, small_crop_scale_min=0.1)
    method, data = _method(spec)
    assert method.views == ViewPlan(2, 3, 0.1)
    crops = multi_crop(data.train_images[:5], spec, torch.Generator().manual_seed(0), None, 2, 3, 0.1)
    assert crops.small is not None
    assert crops.large.shape == (10, 1, 16, 16) and crops.small.shape == (15, 1, small_side(16), small_side(16))
    outputs = method(crops.large, crops.small)  # DINO: the student on every crop; SwAV: (z, scores, small scores)
    rows = outputs.shape[0] if name == "dino" else outputs[1].shape[0] + outputs[2].shape[0]
    assert rows == 25


@pytest.mark.parametrize("name", ["dino", "swav", "nnclr"])
def test_a_resumed_run_continues_as_if_never_stopped(tmp_path, name):
    """The teacher, its centre, the prototypes, the queues and the support set are restored exactly."""
    from contrastlab.core.catalog import Artifact
    from worker.engine import TrainingCanceled, train

    class StopAfterStep(ListReporter):
        def should_stop(self) -> bool:
            return any(m.step >= 6 for m in self.metrics)

    spec = _spec(name, epochs=3, probe_epochs=5, tsne_samples=50, random_baseline=False)
    whole = ListReporter()
    train(spec, tmp_path / "whole", whole)
    first = StopAfterStep()
    with pytest.raises(TrainingCanceled):
        train(spec, tmp_path / "first", first)
    second = ListReporter()
    train(spec, tmp_path / "second", second, resume_from=tmp_path / "first" / Artifact.RESUME)
    assert min(m.step for m in second.metrics) == STEPS // EPOCHS + 1
    assert [m for m in first.learned if m.step <= STEPS // EPOCHS] + second.learned == whole.learned
