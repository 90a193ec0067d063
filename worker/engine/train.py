"""The training loop: data resident on the device, batched augmentation, one optimiser step per batch."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from contrastlab.core.catalog import RESUME_ARTIFACT
from contrastlab.core.spec import RunSpec

from . import distributed
from .assess import features, probe_due, quick_probes
from .augment import Part, augment
from .data import ImageData
from .device import autocast_enabled
from .distributed import SINGLE, Shard
from .errors import TrainingCanceled, TrainingFailed
from .evaluate import knn_accuracy
from .losses import LOSSES
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


def pretrain(spec: RunSpec, encoder: nn.Module, head: nn.Module, data: ImageData, device: torch.device,
             reporter: Reporter, out_dir: Path, resume_from: Path | None = None,
             shard: Shard = SINGLE) -> TrainResult:
    """Train encoder and head with the spec's method; reports loss/lr per step, train_acc per epoch, and knn_acc
    (with probe_acc and probe_acc_head when probe_every asks for them) every knn_every epochs.

    After every epoch a resumable checkpoint goes to out_dir/resume.pt and the reporter hears of it;
    with resume_from, training continues after that checkpoint's epoch and reports only later steps.
    shard: this process's rank in a multi-device run; it trains its rows of each global batch, on the global
    batch's loss, and only rank 0 writes the checkpoint.
    """
    started = time.perf_counter()
    objective = LOSSES[spec.method]
    on_cuda = device.type == "cuda"
    bf16 = autocast_enabled(device)
    projection = head if objective.head == "projection" else None  # the quick probes look through it too
    images, labels = resident(data.pretrain_images, device), data.pretrain_labels.to(device)
    batch_size = min(spec.batch_size, len(images))
    batch_size -= batch_size % shard.world  # equal shares (spec.batch_size is a multiple of devices already)
    rows = shard.rows(batch_size)
    # The ragged last batch is dropped: BatchNorm and NT-Xent's negatives want full batches.
    steps_per_epoch = len(images) // batch_size
    model = distributed.wrap(nn.Sequential(encoder, head), shard, device, spec.sync_batchnorm)
    optimizer = build_optimizer(spec, [encoder, head])
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    state = TrainState(epoch=0, step=0, last_loss=math.nan)
    if resume_from is not None:
        state = load_resume(resume_from, {"encoder": encoder, "head": head}, optimizer, generator)
        reporter.message(f"resuming after epoch {state.epoch} (step {state.step})")
    forward = torch.compile(model) if spec.torch_compile else model

    # The run page's progress: steps of the whole training, each standing for its batch's augmented views.
    phase = "pretraining" if objective.head == "projection" else "supervised"
    total_steps, views_per_step = spec.epochs * steps_per_epoch, batch_size * objective.views
    if total_steps:
        reporter.phase(phase, state.step, total_steps, views_per_step)

    def stopping() -> bool:
        return distributed.agree(reporter.should_stop(), shard, device)  # every rank stops at the same step
    sync_every = CUDA_SYNC_EVERY if on_cuda else 1
    pending: list[tuple[int, float, torch.Tensor]] = []  # (step, lr, loss) not yet fetched from the device
    step, last_loss, knn_curve = state.step, state.last_loss, state.knn_curve

    writer = BackgroundWriter()  # one epoch checkpoint in flight at a time
    try:
        for epoch in range(state.epoch + 1, spec.epochs + 1):
            encoder.train()
            head.train()
            order = torch.randperm(len(images), generator=generator, device=device)
            correct = torch.zeros((), dtype=torch.long, device=device)
            shares = [ids[rows] for ids in order[:steps_per_epoch * batch_size].split(batch_size)]
            for i, batch in enumerate(batches(images, shares, device)):
                step += 1
                lr = set_lr(optimizer, lr_at(step, spec, steps_per_epoch))
                idx = order[i * batch_size:(i + 1) * batch_size]
                batch_labels = labels[idx]
                # All views go through the encoder as one batch: one forward and backward instead of several.
                x = torch.cat([augment(batch, spec, generator, Part(rows.start, batch_size))
                               for _ in range(objective.views)])
                if on_cuda:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    # The global batch's outputs, gathered with their gradients: negatives from every rank.
                    outputs = distributed.gather_views(forward(x), objective.views, shard).chunk(objective.views)
                    loss = objective.loss(outputs, batch_labels, spec)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if objective.head == "classifier":
                    correct += (outputs[0].argmax(dim=1) == batch_labels).sum()
                pending.append((step, lr, loss.detach()))
                if len(pending) >= sync_every or i == steps_per_epoch - 1:
                    last_loss = _flush(pending, reporter, steps_per_epoch, stopping)
                    reporter.phase(phase, step, total_steps, views_per_step)

            if objective.head == "classifier":
                reporter.metric("train_acc", correct.item() / (steps_per_epoch * batch_size), step, float(epoch))
            # The last epoch's k-NN comes from the final evaluation, on the same features as the probe.
            if epoch % spec.knn_every == 0 and epoch < spec.epochs:
                evaluation = _monitor(spec, encoder, projection, data, device, epoch)
                knn_curve.append(evaluation["knn_acc"])
                for name, value in evaluation.items():
                    reporter.metric(name, value, step, float(epoch))
            if shard.main:  # the ranks' weights are equal: one checkpoint
                path = out_dir / RESUME_ARTIFACT
                payload = snapshot({"encoder": encoder, "head": head}, optimizer, generator,
                                   TrainState(epoch, step, last_loss, knn_curve))
                # Written while the next epoch trains; the reporter hears of the file once it is whole.
                writer.submit(path, payload, functools.partial(reporter.checkpoint, path, epoch, step))
            if stopping():
                raise TrainingCanceled()
    finally:
        writer.wait()
    return TrainResult(final_loss=last_loss, steps=step, seconds=time.perf_counter() - started,
                       knn_curve=knn_curve)


def _monitor(spec: RunSpec, encoder: nn.Module, projection: nn.Module | None, data: ImageData,
             device: torch.device, epoch: int) -> dict[str, float]:
    """knn_acc of the current encoder (labelled train images vote for each test image), and on the same
    features the quick probes when one is due: features are the cost, so they are computed once."""
    train_features = features(encoder, data.train_images, device)
    test_features = features(encoder, data.test_images, device)
    result = {"knn_acc": knn_accuracy(train_features, data.train_labels, test_features, data.test_labels,
                                      spec.knn_k, spec.knn_temperature, len(data.classes))}
    if probe_due(epoch, spec.epochs, spec.knn_every, spec.probe_every):
        result.update(quick_probes(spec, data, train_features, test_features, projection))
    return result


def _flush(pending: list[tuple[int, float, torch.Tensor]], reporter: Reporter, steps_per_epoch: int,
           stopping: Callable[[], bool]) -> float:
    """Report the pending losses, stop on a non-finite one or a cancel; returns the last loss."""
    values = torch.stack([loss for _, _, loss in pending]).tolist()  # sync point: waits for the device
    for (step, lr, _), value in zip(pending, values, strict=True):
        if not math.isfinite(value):
            raise TrainingFailed(f"loss diverged at step {step}")
        epoch = step / steps_per_epoch
        reporter.metric("loss", value, step, epoch)
        reporter.metric("lr", lr, step, epoch)
    pending.clear()
    if stopping():
        raise TrainingCanceled()
    return values[-1]
