"""Methods as objects: each of the catalogue's methods learns on digits through its own step and hooks; BYOL's
target network follows its cosine tau, resumes exactly, and a collapsed embedding is reported."""

import pytest
import torch

from contrastlab.core.catalog import METHODS, METRICS, Artifact
from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, TrainingCanceled, train
from worker.engine.augment import Part
from worker.engine.ema import cosine_schedule
from worker.engine.methods import REGISTRY, Progress, build_method
from worker.engine.methods.base import embedding_std
from worker.engine.models import build_encoder
from worker.engine.multicrop import multi_crop
from worker.engine.queue import FeatureQueue

BYOL = RunSpec(method="byol", dataset="digits", encoder="small_cnn", epochs=3, batch_size=64, max_train_samples=256,
               probe_epochs=5, tsne_samples=50, random_baseline=False, device="cpu")


@pytest.fixture(scope="module")
def digits_batch() -> tuple[torch.Tensor, torch.Tensor]:
    from worker.engine.data import load_dataset
    from worker.engine.stream import as_tensor

    data = load_dataset("digits")
    return as_tensor(data.train_images)[:64], data.train_labels[:64]


def test_every_catalogue_method_has_a_registered_method_object():
    assert set(REGISTRY) == set(METHODS)
    assert {"byol", "moco_v3", "simsiam"} <= set(METHODS)
    assert {"tau", "embedding_std"} <= set(METRICS)
    for name in ("byol", "simsiam"):
        assert METHODS[name].family == "self_distillation"


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_a_few_steps_of_the_method_lower_its_loss_on_digits(method, digits_batch):
    """The loop's protocol by hand on fixed views: forward, training_step, backward, the hooks around the
    optimiser step; the loss on the same views is lower after five steps."""
    images, labels = digits_batch
    spec = RunSpec(method=method, device="cpu")
    torch.manual_seed(0)
    encoder = build_encoder(spec, 1, 16)
    encoder.set_normalization(images)
    model = build_method(spec, encoder, 10)
    optimizer = torch.optim.Adam([p for m in model.trainable() for p in m.parameters() if p.requires_grad], lr=1e-3)
    plan = model.views
    x, small = multi_crop(images, spec, torch.Generator().manual_seed(0), Part(0, len(images)), plan.global_views,
                          plan.small_crops, plan.small_scale_min)
    total = 6

    def loss(step: int) -> torch.Tensor:
        return model.training_step(model(x, small), x, small, labels, Progress(step, 1, total, total)).loss

    before = loss(1).item()
    for step in range(1, total):
        progress = Progress(step, 1, total, total)
        out = model.training_step(model(x, small), x, small, labels, progress)
        optimizer.zero_grad()
        out.loss.backward()
        model.before_optimizer_step(progress)
        optimizer.step()
        model.after_optimizer_step(progress)
    assert loss(total).item() < before


def test_byol_trains_reports_tau_and_saves_the_catalogue_artifacts(tmp_path):
    reporter = ListReporter()
    summary = train(BYOL.model_copy(update={"epochs": 2}), tmp_path, reporter)
    losses, taus = reporter.values("loss"), reporter.values("tau")
    assert len(taus) == len(losses) == 8 and len(reporter.values("embedding_std")) == 8
    assert taus == pytest.approx([cosine_schedule(k, 8, 0.99, 1.0) for k in range(8)])
    assert taus[0] == pytest.approx(0.99) and all(a < b for a, b in zip(taus, taus[1:], strict=False))
    assert sum(losses[-3:]) < sum(losses[:3])
    assert summary["linear_acc"] > 0.5 and "linear_acc_head" in summary
    assert {Artifact.ENCODER, Artifact.HEAD, Artifact.LINEAR_PROBE, Artifact.RUN_RECORD} <= \
        {p.name for p in tmp_path.iterdir()}
    assert not (tmp_path / Artifact.RESUME).exists()


def test_a_resumed_byol_run_continues_its_loss_curve_and_tau_as_if_never_stopped(tmp_path):
    class StopAfterStep(ListReporter):
        def should_stop(self) -> bool:
            return any(m.step >= 6 for m in self.metrics)

    whole = ListReporter()
    train(BYOL, tmp_path / "whole", whole)
    first = StopAfterStep()
    with pytest.raises(TrainingCanceled):
        train(BYOL, tmp_path / "first", first)
    checkpoint = tmp_path / "first" / Artifact.RESUME
    saved = torch.load(checkpoint, weights_only=True)
    # The target network is part of the checkpoint, beside the catalogue's encoder and head.
    assert {"encoder", "head", "predictor", "target_encoder", "target_head"} <= set(saved)
    assert (saved["epoch"], saved["step"]) == (1, 4)
    second = ListReporter()
    train(BYOL, tmp_path / "second", second, resume_from=checkpoint)
    assert min(m.step for m in second.metrics) == 5
    assert [m for m in first.learned if m.step <= 4] + second.learned == whole.learned  # loss, tau, everything
    assert len(second.values("tau")) == 8


def test_a_collapsing_embedding_is_said_in_the_log(tmp_path, monkeypatch):
    normed = torch.nn.functional.normalize(torch.randn(512, 64), dim=1)
    assert embedding_std(torch.ones(32, 64)).item() == 0.0
    assert embedding_std(normed).item() == pytest.approx(64 ** -0.5, rel=0.1)
    import worker.engine.methods.simsiam as simsiam

    monkeypatch.setattr(simsiam, "embedding_std", lambda z: torch.zeros(()))  # as a collapsed SimSiam reads
    reporter = ListReporter()
    train(BYOL.model_copy(update={"method": "simsiam", "epochs": 1}), tmp_path, reporter)
    assert reporter.values("embedding_std") == [0.0] * 4
    said = [message for message in reporter.messages if "collapsing" in message]
    assert len(said) == 1 and said[0].startswith("embedding_std 0.0000 at step 1")


def test_moco_v2_queue_is_saved_and_fills_with_the_batch_keys():
    spec = RunSpec(method="moco_v3", moco_queue_size=48, device="cpu")
    model = build_method(spec, build_encoder(spec, 1, 16), 10)
    modules = model.checkpoint_modules()
    assert "queue" in modules and "target_encoder" in modules
    x = torch.rand(2 * 16, 1, 16, 16)
    for step in (1, 2):
        progress = Progress(step, 1, 2, 2)
        model.training_step(model(x), x, None, torch.zeros(16, dtype=torch.long), progress).loss.backward()
        model.after_optimizer_step(progress)
    queue = modules["queue"]
    assert isinstance(queue, FeatureQueue)
    assert int(queue.count) == 48 and int(queue.pointer) == 64 % 48


def test_only_the_online_networks_are_trained():
    spec = RunSpec(method="byol", device="cpu")
    model = build_method(spec, build_encoder(spec, 1, 16), 10)
    trained = {id(p) for m in model.trainable() for p in m.parameters() if p.requires_grad}
    assert trained == {id(p) for name in ("encoder", "head", "predictor")
                       for p in getattr(model, name).parameters()}


def test_the_probe_reads_the_projector_for_head_methods_and_not_a_classifier():
    for name in ("simclr", "byol", "simsiam", "moco_v3"):
        spec = RunSpec(method=name, device="cpu")
        model = build_method(spec, build_encoder(spec, 1, 16), 10)
        assert model.probe_head() is model.head and model.probe_encoder() is model.encoder
    spec = RunSpec(method="supervised", device="cpu")
    assert build_method(spec, build_encoder(spec, 1, 16), 10).probe_head() is None


def test_paper_defaults_are_spec_fields_with_bounds():
    schema = RunSpec.model_json_schema()["properties"]
    assert schema["byol_momentum"]["default"] == 0.99 and schema["byol_momentum"]["maximum"] == 1.0
    assert schema["moco_temperature"]["default"] == 0.2 and schema["moco_queue_size"]["default"] == 0
    assert set(schema["predictor_hidden_dim"]["methods"]) >= {"byol", "simsiam", "moco_v3"}
    assert schema["byol_momentum"]["methods"] == ["byol"]

