"""The training loop: data resident on the device, batched augmentation, one optimiser step per batch."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from contrastlab.core.catalog import PHASES, Artifact
from contrastlab.core.spec import RunSpec

from . import distributed
from .assess import features, probe_due, quick_probes
from .augment import Part
from .data import ImageData
from .device import autocast_enabled, compiled
from .distributed import SINGLE, Shard
from .errors import TrainingCanceled, TrainingFailed
from .evaluate import knn_accuracy
from .methods import Method, Progress, ViewPlan
from .multicrop import multi_crop
from .optim import build_optimizer, lr_at, set_lr
from .report import Reporter
from .resume import BackgroundWriter, TrainState, load_resume, snapshot
from .stream import Images, batches

CUDA_SYNC_EVERY = 10  # steps between loss fetches on a GPU; on a CPU fetching costs nothing
DEVICE_DATA_FRACTION = 0.25  # uint8 images up to this share of GPU memory live there; larger sets stream


@dataclass
class TrainResult:
    final_loss: float
    steps: int
    seconds: float
    knn_curve: list[float]  # the k-NN monitor's values, in order; the final evaluation adds the last one


def resident(images: Images, device: torch.device) -> Images:
    """The images on the device when they fit its budget; otherwise in pinned host memory, sent per batch
    (a streamed source stays on disk: `batches` decodes it)."""
    if not isinstance(images, torch.Tensor):
        return images
    if device.type != "cuda":
        return images.to(device)
    budget = DEVICE_DATA_FRACTION * torch.cuda.get_device_properties(device).total_memory
    return images.to(device) if images.numel() <= budget else images.pin_memory()


def pretrain(spec: RunSpec, method: Method, data: ImageData, device: torch.device,
             reporter: Reporter, out_dir: Path, resume_from: Path | None = None,
             shard: Shard = SINGLE) -> TrainResult:
    """Train the method (its encoder and whatever it trains beside); reports loss/lr and the method's per-step
    metrics (embedding_std, tau...) per step, train_acc per epoch for a classifier, and knn_acc (with probe_acc
    and probe_acc_head when probe_every asks for them) every knn_every epochs.

    After every epoch a resumable checkpoint goes to out_dir/resume.pt and the reporter hears of it;
    with resume_from, training continues after that checkpoint's epoch and reports only later steps.
    shard: this process's rank in a multi-device run; it trains its rows of each global batch, on the global
    batch's loss, and only rank 0 writes the checkpoint.
    """
    started = time.perf_counter()
    on_cuda = device.type == "cuda"
    bf16 = autocast_enabled(device)
    images, labels = resident(data.pretrain_images, device), data.pretrain_labels.to(device)
    batch_size = min(spec.batch_size, len(images))
    batch_size -= batch_size % shard.world  # equal shares (spec.batch_size is a multiple of devices already)
    rows = shard.rows(batch_size)
    # The ragged last batch is dropped: BatchNorm and NT-Xent's negatives want full batches.
    steps_per_epoch = len(images) // batch_size
    model = distributed.wrap(method, shard, device, spec.sync_batchnorm)
    optimizer = build_optimizer(spec, method.trainable())
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    state = TrainState(epoch=0, step=0, last_loss=math.nan)
    modules = method.checkpoint_modules()
    if resume_from is not None:
        state = load_resume(resume_from, modules, optimizer, generator)
        reporter.message(f"resuming after epoch {state.epoch} (step {state.step})")
    forward = compiled(model) if spec.torch_compile else model

    # The run page's progress: steps of the whole training, each standing for its batch's augmented views.
    plan = method.views
    total_steps = spec.epochs * steps_per_epoch
    views_per_step = batch_size * (plan.global_views + plan.small_crops)
    if total_steps:
        reporter.phase(method.phase, state.step, total_steps, views_per_step)

    def stopping() -> bool:
        return distributed.agree(reporter.should_stop(), shard, device)  # every rank stops at the same step
    sync_every = CUDA_SYNC_EVERY if on_cuda else 1
    pending: list[_Pending] = []  # steps whose numbers are not yet fetched from the device
    step, last_loss, knn_curve = state.step, state.last_loss, state.knn_curve
    floor = _Floor(reporter)

    writer = BackgroundWriter()  # one epoch checkpoint in flight at a time
    try:
        for epoch in range(state.epoch + 1, spec.epochs + 1):
            method.train()
            order = torch.randperm(len(images), generator=generator, device=device)
            correct = torch.zeros((), dtype=torch.long, device=device)
            counted = False
            shares = [ids[rows] for ids in order[:steps_per_epoch * batch_size].split(batch_size)]
            waited, began = 0.0, time.perf_counter()
            asked = began
            for i, batch in enumerate(batches(images, shares, device)):
                waited += time.perf_counter() - asked  # the loop stood still until this batch came
                step += 1
                progress = Progress(step, epoch, steps_per_epoch, total_steps)
                lr = set_lr(optimizer, lr_at(step, spec, steps_per_epoch))
                batch_labels = labels[order[i * batch_size:(i + 1) * batch_size]]
                x, small = _views(batch, spec, generator, Part(rows.start, batch_size), plan)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    out = method.training_step(forward(x, small), x, small, batch_labels, progress)
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                method.before_optimizer_step(progress)
                optimizer.step()
                numbers = method.after_optimizer_step(progress)
                if out.correct is not None:
                    correct += out.correct
                    counted = True
                pending.append(_Pending(step, lr, distributed.mean(out.loss.detach(), shard), out.metrics, numbers))
                if len(pending) >= sync_every or i == steps_per_epoch - 1:
                    last_loss = _flush(pending, reporter, steps_per_epoch, stopping, floor)
                    reporter.phase(method.phase, step, total_steps, views_per_step)
                asked = time.perf_counter()
            if steps_per_epoch:
                reporter.metric("system.data_wait_share", waited / max(time.perf_counter() - began, 1e-9), step,
                                float(epoch))

            if counted:
                reporter.metric("train_acc", correct.item() / (steps_per_epoch * batch_size), step, float(epoch))
            # The last epoch's k-NN comes from the final evaluation, on the same features as the probe.
            if epoch % spec.knn_every == 0 and epoch < spec.epochs:
                evaluation = _monitor(spec, method, data, device, epoch)
                knn_curve.append(evaluation["knn_acc"])
                for name, value in evaluation.items():
                    reporter.metric(name, value, step, float(epoch))
            if shard.main:  # the ranks' weights are equal: one checkpoint
                path = out_dir / Artifact.RESUME
                payload = snapshot(modules, optimizer, generator, TrainState(epoch, step, last_loss, knn_curve))
                # Written while the next epoch trains; the reporter hears of the file once it is whole.
                writer.submit(path, payload, functools.partial(reporter.checkpoint, path, epoch, step))
            if stopping():
                raise TrainingCanceled()
    finally:
        writer.wait()
    return TrainResult(final_loss=last_loss, steps=step, seconds=time.perf_counter() - started,
                       knn_curve=knn_curve)


def training_label(method: Method) -> str:
    """What the run's log says when training starts: "pretraining" or "supervised training"."""
    return PHASES[method.phase].label


def _views(batch: torch.Tensor, spec: RunSpec, generator: torch.Generator, part: Part,
           plan: ViewPlan) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch's global views as one tensor (one forward and backward instead of several), and its small
    crops as another (None without multi-crop)."""
    x, small = multi_crop(batch, spec, generator, part, plan.global_views, plan.small_crops, plan.small_scale_min)
    x = x.contiguous(memory_format=torch.channels_last)  # the encoder's layout (run.py), on a CPU as on a GPU
    small = small.contiguous(memory_format=torch.channels_last) if small is not None else None
    return x, small


def _monitor(spec: RunSpec, method: Method, data: ImageData, device: torch.device, epoch: int) -> dict[str, float]:
    """knn_acc of the current encoder (labelled train images vote for each test image), and on the same
    features the quick probes when one is due: features are the cost, so they are computed once."""
    encoder = method.probe_encoder()
    train_features = features(encoder, data.train_images, device)
    test_features = features(encoder, data.test_images, device)
    result = {"knn_acc": knn_accuracy(train_features, data.train_labels, test_features, data.test_labels,
                                      spec.knn_k, spec.knn_temperature, len(data.classes))}
    if probe_due(epoch, spec.epochs, spec.knn_every, spec.probe_every):
        result.update(quick_probes(spec, data, train_features, test_features, method.probe_head()))
    return result


@dataclass
class _Pending:
    """A step's numbers, fetched from the device at the next sync point."""

    step: int
    lr: float
    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]
    numbers: dict[str, float]


COLLAPSE_FLOOR = 0.01  # embedding_std below this: the embeddings have (nearly) collapsed to a point


class _Floor:
    """Says once in the run's log when embedding_std falls below the collapse floor."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.said = False

    def check(self, step: int, value: float) -> None:
        if value < COLLAPSE_FLOOR and not self.said:
            self.said = True
            self.reporter.message(f"embedding_std {value:.4f} at step {step} is below {COLLAPSE_FLOOR}: "
                                  "the embeddings are collapsing to a point")


def _flush(pending: list[_Pending], reporter: Reporter, steps_per_epoch: int, stopping: Callable[[], bool],
           floor: _Floor) -> float:
    """Report the pending losses and metrics, stop on a non-finite loss or a cancel; returns the last loss."""
    names = sorted(pending[0].metrics)
    # sync point: waits for the device
    values = torch.stack([torch.stack([p.loss, *(p.metrics[n] for n in names)]).float() for p in pending]).tolist()
    for p, (loss, *metrics) in zip(pending, values, strict=True):
        if not math.isfinite(loss):
            raise TrainingFailed(f"loss diverged at step {p.step}")
        epoch = p.step / steps_per_epoch
        reporter.metric("loss", loss, p.step, epoch)
        reporter.metric("lr", p.lr, p.step, epoch)
        for name, value in [*zip(names, metrics, strict=True), *p.numbers.items()]:
            reporter.metric(name, value, p.step, epoch)
        if "embedding_std" in p.metrics:
            floor.check(p.step, metrics[names.index("embedding_std")])
    pending.clear()
    if stopping():
        raise TrainingCanceled()
    return values[-1][0]
