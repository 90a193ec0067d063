"""A real (tiny) digits run reports its phases in order, each with a sane progress, for the run page."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from contrastlab.core.catalog import PHASES
from contrastlab.core.spec import RunSpec
from worker.engine import ListReporter, train
from worker.engine.probe import probe_iterations

TINY = RunSpec(method="simclr", dataset="digits", encoder="small_cnn", epochs=2, batch_size=64, max_train_samples=256,
               probe_epochs=5, tsne_samples=50, device="cpu")


def test_a_run_reports_its_phases_in_order_with_their_progress(tmp_path: Path) -> None:
    reporter = ListReporter()
    train(TINY, tmp_path, reporter)
    order = [name for name, _ in groupby(point.name for point in reporter.phases)]
    assert order == ["loading", "pretraining", "features", "knn", "probe", "random_baseline", "tsne", "saving"]
    assert all(name in PHASES for name in order)
    by_phase = {name: [(p.done, p.total) for p in reporter.phases if p.name == name] for name in order}

    steps = by_phase["pretraining"]
    steps_per_epoch = 256 // 64
    assert steps[0] == (0, 2 * steps_per_epoch) and steps[-1] == (2 * steps_per_epoch, 2 * steps_per_epoch)
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)  # never goes back
    # A step stands for its batch's augmented views: 64 images, 2 views each.
    assert {p.views_per_unit for p in reporter.phases if p.name == "pretraining"} == {64 * 2}

    images = by_phase["features"]  # the train subset, then the test set
    test_images = int(images[-1][1] or 0) - 256
    assert images[0] == (0, 256 + test_images) and images[-1] == (256 + test_images,) * 2 and test_images > 0
    assert [done for done, _ in images] == sorted(done for done, _ in images)

    # The probe on the features, then the one through the projection head: one count of both, in solver
    # iterations (a solve that converges early counts its unused budget as done).
    probe = by_phase["probe"]
    assert {total for _, total in probe} == {2 * probe_iterations(5)}
    assert [done for done, _ in probe] == sorted(done for done, _ in probe) and probe[-1][0] == 2 * probe_iterations(5)
    assert any(done == probe_iterations(5) for done, _ in probe)  # the first probe ends half way
    for name in ("loading", "knn", "random_baseline", "tsne", "saving"):  # no measure: the page names them
        assert by_phase[name] == [(0, None)]


def test_supervised_training_is_its_own_phase_and_a_run_without_training_has_none(tmp_path: Path) -> None:
    reporter = ListReporter()
    train(TINY.model_copy(update={"method": "supervised", "epochs": 1, "random_baseline": False}), tmp_path / "s",
          reporter)
    names = [point.name for point in reporter.phases]
    assert "supervised" in names and "pretraining" not in names and "random_baseline" not in names
    assert [p.done for p in reporter.phases if p.name == "probe"][-1] == probe_iterations(5)  # no head: one probe

    untrained = ListReporter()
    train(TINY.model_copy(update={"epochs": 0}), tmp_path / "e", untrained)
    assert "pretraining" not in {point.name for point in untrained.phases}


def test_rank_zero_of_a_multi_device_run_relays_its_phases(tmp_path: Path) -> None:
    """Rank 0 writes its phases to the events file; the task reads them back into its reporter, as they were."""
    from worker.launch import EVENTS, Relay
    from worker.rank import FileReporter

    rank_zero = FileReporter(tmp_path)
    rank_zero.phase("pretraining", 12, 40, views_per_unit=256)
    rank_zero.phase("tsne")
    received = ListReporter()
    Relay(tmp_path / EVENTS, received).pump()
    assert received.phases == [("pretraining", 12, 40, 256), ("tsne", 0, None, 0)]
