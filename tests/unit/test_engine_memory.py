"""A step that cannot fit fails before training, naming batch_size and the largest that fits."""

from __future__ import annotations

import pytest
import torch

from contrastlab.core.spec import RunSpec
from worker.engine.errors import TrainingFailed
from worker.engine.memory import bytes_per_image, check_step_fits, saved_bytes
from worker.engine.models import build_encoder

CPU = torch.device("cpu")


def test_the_per_image_cost_is_what_autograd_saves_and_grows_with_image_size() -> None:
    encoder = build_encoder(RunSpec(encoder="small_cnn"), 1, 28)
    small = bytes_per_image(encoder, 1, 28, CPU)
    assert bytes_per_image(encoder, 1, 56, CPU) == pytest.approx(4 * small, rel=0.05)  # 4x the pixels
    # The conv stack's first block alone saves its input, conv output, BN output and ReLU output per image.
    assert small > 3 * 28 * 28 * 32 * 4
    running_mean = encoder.state_dict()["backbone.1.running_mean"].clone()
    bytes_per_image(encoder, 1, 28, CPU)
    assert torch.equal(encoder.state_dict()["backbone.1.running_mean"], running_mean)  # measured on a copy
    linear = torch.nn.Linear(10, 10)
    assert saved_bytes(linear, torch.rand(8, 10, requires_grad=True)) == (8 * 10 + 10 * 10) * 4  # input, weight


def test_a_batch_that_cannot_fit_fails_naming_batch_size_and_the_largest_that_fits() -> None:
    encoder = build_encoder(RunSpec(encoder="small_cnn"), 1, 28)
    free = 2 * 10**9
    with pytest.raises(TrainingFailed) as failed:
        check_step_fits(encoder, 1, 28, batch=65536, views=2, device=CPU, free=free)
    message = failed.value.message
    assert message.startswith("batch_size 65536 needs about") and "GB per training step on cpu" in message
    largest = int(message.rsplit("fits is about ", 1)[1])
    assert 2 <= largest < 65536
    assert check_step_fits(encoder, 1, 28, batch=largest, views=2, device=CPU, free=free) <= 0.9 * free
    with pytest.raises(TrainingFailed):
        check_step_fits(encoder, 1, 28, batch=largest + 2, views=2, device=CPU, free=free)
