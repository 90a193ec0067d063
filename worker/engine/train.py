"""The training loop: data resident on the device, batched augmentation, one optimiser step per batch."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from worker.spec import RunSpec

from .augment import augment
from .data import ImageData
from .errors import TrainingCanceled, TrainingFailed
from .evaluate import encode, knn_accuracy
from .losses import LOSSES
from .optim import build_optimizer, lr_at, set_lr
from .report import Reporter

EVAL_BATCH_SIZE = {"cpu": 256, "cuda": 1024}  # a CPU is fastest on cache-sized batches, a GPU on large ones
CUDA_SYNC_EVERY = 10  # steps between loss fetches on a GPU; on a CPU fetching costs nothing


@dataclass
class TrainResult:
    final_loss: float
    steps: int
    seconds: float


def pretrain(spec: RunSpec, encoder: nn.Module, head: nn.Module, data: ImageData, device: torch.device,
             reporter: Reporter) -> TrainResult:
    """Train encoder and head with the spec's method; reports loss/lr per step, train_acc and knn_acc per epoch."""
    started = time.perf_counter()
    objective = LOSSES[spec.method]
    on_cuda = device.type == "cuda"
    images, labels = data.train_images.to(device), data.train_labels.to(device)
    test_images = data.test_images.to(device)
    batch_size = min(spec.batch_size, len(images))
    # The ragged last batch is dropped: BatchNorm and NT-Xent's negatives want full batches.
    steps_per_epoch = len(images) // batch_size
    optimizer = build_optimizer(spec, [encoder, head])
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    sync_every = CUDA_SYNC_EVERY if on_cuda else 1
    pending: list[tuple[int, float, torch.Tensor]] = []  # (step, lr, loss) not yet fetched from the device
    step, last_loss = 0, math.nan

    for epoch in range(1, spec.epochs + 1):
        encoder.train()
        head.train()
        order = torch.randperm(len(images), generator=generator, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        for i in range(steps_per_epoch):
            step += 1
            lr = set_lr(optimizer, lr_at(step, spec, steps_per_epoch))
            idx = order[i * batch_size:(i + 1) * batch_size]
            batch_labels = labels[idx]
            # All views go through the encoder as one batch: one forward and backward instead of several.
            x = torch.cat([augment(images[idx], spec, generator) for _ in range(objective.views)])
            if on_cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda):
                outputs = head(encoder(x)).chunk(objective.views)
                loss = objective.loss(outputs, batch_labels, spec)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if objective.head == "classifier":
                correct += (outputs[0].argmax(dim=1) == batch_labels).sum()
            pending.append((step, lr, loss.detach()))
            if len(pending) >= sync_every or i == steps_per_epoch - 1:
                last_loss = _flush(pending, reporter, steps_per_epoch)

        if objective.head == "classifier":
            reporter.metric("train_acc", correct.item() / (steps_per_epoch * batch_size), step, float(epoch))
        # The last epoch's k-NN comes from the final evaluation, on the same features as the probe.
        if epoch % spec.knn_every == 0 and epoch < spec.epochs:
            train_features = encode(encoder, images, EVAL_BATCH_SIZE[device.type], device)
            test_features = encode(encoder, test_images, EVAL_BATCH_SIZE[device.type], device)
            accuracy = knn_accuracy(train_features, labels, test_features, data.test_labels, spec.knn_k,
                                    spec.knn_temperature, len(data.classes))
            reporter.metric("knn_acc", accuracy, step, float(epoch))
            if reporter.should_stop():
                raise TrainingCanceled()

    return TrainResult(final_loss=last_loss, steps=step, seconds=time.perf_counter() - started)


def _flush(pending: list[tuple[int, float, torch.Tensor]], reporter: Reporter, steps_per_epoch: int) -> float:
    """Report the pending losses, stop on a non-finite one or a cancel; returns the last loss."""
    values = torch.stack([loss for _, _, loss in pending]).tolist()  # sync point: waits for the device
    for (step, lr, _), value in zip(pending, values, strict=True):
        if not math.isfinite(value):
            raise TrainingFailed(f"loss diverged at step {step}")
        epoch = step / steps_per_epoch
        reporter.metric("loss", value, step, epoch)
        reporter.metric("lr", lr, step, epoch)
    pending.clear()
    if reporter.should_stop():
        raise TrainingCanceled()
    return values[-1]
