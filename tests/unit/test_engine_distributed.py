"""One run on two CPU processes through the real launcher (torchrun, gloo): it trains as one process on the same
global batch, resumes from its epoch checkpoint, and a failing rank ends the run with that rank's error."""

import shutil
from pathlib import Path

import pytest

from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, train
from worker.launch import train_on_devices

# SGD: Adam's first updates are ±lr per weight whatever the gradient's size, so it amplifies rounding (1e-7 on
# the initial weights moves its loss by 1e-4 within 5 steps, one process or two; bench.ddp_equality).
SPEC = RunSpec(method="simclr", dataset="digits", encoder="small_cnn", epochs=2, batch_size=64, max_train_samples=320,
               devices=2, optimizer="sgd", knn_every=2, probe_epochs=5, tsne_samples=50, random_baseline=False,
               device="cpu")
SLOTS = ["cpu0", "cpu1"]
STEPS_PER_EPOCH = 320 // 64


class KeepingReporter(ListReporter):
    """Keeps a copy of each epoch's checkpoint (the launcher deletes its link once the reporter has it)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        folder.mkdir()

    def checkpoint(self, path: Path, epoch: int, step: int) -> None:
        shutil.copy(path, self.folder / f"epoch-{epoch}.pt")
        super().checkpoint(path, epoch, step)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple, KeepingReporter, Path]:
    out = tmp_path_factory.mktemp("two")
    reporter = KeepingReporter(tmp_path_factory.mktemp("kept") / "checkpoints")
    return train_on_devices(SPEC, out, reporter, {}, SLOTS), reporter, out


def test_two_processes_train_as_one_on_the_global_batch(two_processes, tmp_path: Path) -> None:
    (status, error, summary), reporter, out = two_processes
    assert (status, error) == ("succeeded", None) and summary["linear_acc"] > 0.1
    one = ListReporter()
    train(SPEC, tmp_path, one)  # one process, the same global batch of 64 and seed
    two_losses, one_losses = reporter.values("loss"), one.values("loss")
    assert [p.step for p in reporter.metrics if p.name == "loss"] == list(range(1, 2 * STEPS_PER_EPOCH + 1))
    first = max(abs(a - b) for a, b in zip(two_losses[:STEPS_PER_EPOCH], one_losses, strict=False))
    print(f"max |loss difference| over the first {STEPS_PER_EPOCH} steps: {first:.2e}")
    # fp32 sums in another order on half the batch (channels_last convolutions): measured 2e-5 to 5e-5 on losses of
    # about 4 (a relative 1e-5); gradients not all-reduced, or another global batch, move it by 1e-2 or more.
    assert first < 2e-4
    # Rank 0 alone reported, checkpointed and wrote the artifacts.
    assert reporter.checkpoints == [(1, STEPS_PER_EPOCH), (2, 2 * STEPS_PER_EPOCH)]
    assert reporter.messages.count("pretraining") == 1
    assert {"encoder.safetensors", "run.json", "embeddings.json"} <= {p.name for p in out.iterdir()}


def test_a_resumed_run_continues_and_a_failing_rank_fails_it_with_its_error(two_processes, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, uninterrupted, _ = two_processes
    monkeypatch.setenv("FAULT_RANK", "1")
    monkeypatch.setenv("FAULT_STEP", "3")  # rank 1's third step after the resume: step 8
    reporter = ListReporter()
    status, error, _ = train_on_devices(SPEC, tmp_path, reporter,
                                        {"resume_from": uninterrupted.folder / "epoch-1.pt"}, SLOTS,
                                        module="tests.faulty_rank")
    # The run ends (rank 0 does not wait in a collective for ever) with rank 1's error, not rank 0's.
    assert status == "failed" and error is not None
    assert error.startswith("RuntimeError: fault injected on rank 1") and error.endswith("(rank 1 of 2)")
    assert f"resuming after epoch 1 (step {STEPS_PER_EPOCH})" in reporter.messages
    resumed = [(p.step, p.value) for p in reporter.metrics if p.name == "loss"]
    assert [step for step, _ in resumed] == [6, 7]
    assert [value for _, value in resumed] == pytest.approx(uninterrupted.values("loss")[5:7], abs=1e-6)


def test_two_processes_train_byol_as_one_on_the_first_steps(tmp_path: Path) -> None:
    """BYOL gathers nothing: each rank's loss is its rows' mean, DDP averages the gradients, the target networks
    follow equal online weights; the reported loss (averaged over ranks) and tau equal one process's."""
    spec = SPEC.model_copy(update={"method": "byol", "epochs": 1, "knn_every": 1, "probe_epochs": 2})
    reporter = ListReporter()
    (tmp_path / "two").mkdir()
    status, error, _ = train_on_devices(spec, tmp_path / "two", reporter, {}, SLOTS)
    assert (status, error) == ("succeeded", None)
    one = ListReporter()
    train(spec, tmp_path / "one", one)
    first = max(abs(a - b) for a, b in zip(reporter.values("loss"), one.values("loss"), strict=True))
    print(f"BYOL: max |loss difference| over {STEPS_PER_EPOCH} steps: {first:.2e}")
    assert first < 2e-4  # as above
    assert reporter.values("tau") == pytest.approx(one.values("tau")) and len(one.values("tau")) == STEPS_PER_EPOCH
