"""bf16 autocast, as the CUDA training step uses it, leaves every loss at its fp32 value; CPU autocast runs
the same numerics here, so a few real training steps under it are checked without a GPU."""

import pytest
import torch

from contrastlab.core.spec import RunSpec
from worker.engine import LOSSES, ListReporter, train
from worker.engine.device import CPU_AUTOCAST_ENV, autocast_enabled
from worker.engine.losses import LossParams

BATCH, DIM, CLASSES = 64, 32, 8


def _spec(method: str) -> RunSpec:
    # The lowest temperature the spec allows: the softmax is sharpest there, and bf16 logits were 10 % off.
    return RunSpec(method=method, temperature=0.01, margin=0.5)


def _head_outputs(method: str, dtype: torch.dtype) -> tuple[list[torch.Tensor], torch.Tensor]:
    """What the head hands the loss under autocast: values a bf16 matmul produces, in `dtype`, as leaves."""
    generator = torch.Generator().manual_seed(7)
    views = LOSSES[method].views
    base = torch.randn(BATCH, DIM, generator=generator)
    outputs = [(base + torch.randn(BATCH, DIM, generator=generator)).bfloat16().to(dtype).requires_grad_()
               for _ in range(views)]
    if method == "supervised":
        outputs = [torch.randn(BATCH, CLASSES, generator=generator).bfloat16().to(dtype).requires_grad_()]
    return outputs, torch.arange(BATCH) % CLASSES


def _loss_and_grads(method: str, dtype: torch.dtype, autocast: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    outputs, labels = _head_outputs(method, dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = LOSSES[method].loss(outputs, labels, LossParams.from_spec(_spec(method)))
    loss.backward()
    return loss, [out.grad for out in outputs if out.grad is not None]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=["bf16-inputs", "fp32-inputs"])
@pytest.mark.parametrize("method", sorted(LOSSES))
def test_every_loss_keeps_its_fp32_value_and_gradient_under_bf16_autocast(method, dtype):
    reference, reference_grads = _loss_and_grads(method, dtype, autocast=False)
    loss, grads = _loss_and_grads(method, dtype, autocast=True)
    assert loss.dtype == torch.float32 and reference.dtype == torch.float32
    assert loss.item() > 0
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    # Equal gradients: the triplet miners picked the same positives and negatives as in fp32.
    assert len(grads) == len(reference_grads) == len(_head_outputs(method, dtype)[0])
    for grad, expected in zip(grads, reference_grads, strict=True):
        assert grad.dtype == dtype
        torch.testing.assert_close(grad.float(), expected.float(), rtol=1e-5, atol=1e-7)


def test_the_public_loss_functions_are_fp32_under_autocast_too():
    from worker.engine.losses import nt_xent

    outputs, _ = _head_outputs("simclr", torch.bfloat16)
    expected = nt_xent(outputs[0].float(), outputs[1].float(), 0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = nt_xent(outputs[0], outputs[1], 0.01)
    assert got.dtype == torch.float32 and got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_cpu_autocast_is_off_unless_asked_for(monkeypatch):
    monkeypatch.delenv(CPU_AUTOCAST_ENV, raising=False)
    assert not autocast_enabled(torch.device("cpu"))
    monkeypatch.setenv(CPU_AUTOCAST_ENV, "1")
    assert autocast_enabled(torch.device("cpu"))
    monkeypatch.setenv(CPU_AUTOCAST_ENV, "0")
    assert not autocast_enabled(torch.device("cpu"))
    monkeypatch.setenv(CPU_AUTOCAST_ENV, "yes please")
    with pytest.raises(ValueError, match=CPU_AUTOCAST_ENV):
        autocast_enabled(torch.device("cpu"))


# Few, small steps: this CPU has no bf16 units, and bf16 convolutions take a slow path (about 16x fp32).
AUTOCAST_SPEC = RunSpec(method="supcon", dataset="digits", encoder="small_cnn", epochs=2, batch_size=16,
                        max_train_samples=64, probe_epochs=20, tsne_samples=50, random_baseline=False,
                        temperature=0.1, device="cpu")


def test_training_under_cpu_bf16_autocast_learns_like_fp32(monkeypatch, tmp_path):
    monkeypatch.delenv(CPU_AUTOCAST_ENV, raising=False)
    fp32 = ListReporter()
    fp32_summary = train(AUTOCAST_SPEC, tmp_path / "fp32", fp32)
    monkeypatch.setenv(CPU_AUTOCAST_ENV, "1")
    bf16 = ListReporter()
    bf16_summary = train(AUTOCAST_SPEC, tmp_path / "bf16", bf16)

    losses, fp32_losses = bf16.values("loss"), fp32.values("loss")
    assert len(losses) == len(fp32_losses) == 2 * (64 // 16)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3
    assert losses != fp32_losses  # the encoder really ran in bf16 ...
    # ... but the same weights give the same loss to bf16 rounding of the features, and the runs stay close.
    assert losses[0] == pytest.approx(fp32_losses[0], rel=5e-3)
    assert losses == pytest.approx(fp32_losses, rel=0.1)
    for name in ("knn_acc", "linear_acc", "linear_acc_head"):
        assert bf16_summary[name] == pytest.approx(fp32_summary[name], abs=0.08), name
    assert bf16_summary["linear_acc"] > 0.5
