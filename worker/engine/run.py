"""One run from a RunSpec: data, training, evaluation, artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from contrastlab.core.catalog import FINAL_METRICS, Artifact, Phase
from contrastlab.core.settings import LoaderConfig
from contrastlab.core.spec import RunSpec
from contrastlab.core.stability import stability

from .assess import Assessment, assess, probe_due, quick_probes, random_baseline
from .checkpoint import load_weights_into, save_encoder, save_module, save_tensors, write_json
from .data import ImageData, load_dataset, subset_train
from .device import resolve_device, runtime
from .distributed import SINGLE, Shard, local_device, main_first
from .errors import TrainingCanceled, TrainingFailed
from .evaluate import silhouette, tsne_2d, tsne_sample_indices
from .memory import check_step_fits
from .methods import Method, build_method
from .models import build_encoder
from .report import Reporter
from .stream import loader_failure
from .train import pretrain, training_label
from .versions import versions


def train(spec: RunSpec, out_dir: Path, reporter: Reporter, data_root: Path | None = None, *,
          resume_from: Path | None = None, init_encoder: Path | None = None,
          allowed_roots: Sequence[Path] = (), loader: LoaderConfig = LoaderConfig(),
          shard: Shard = SINGLE) -> dict[str, float]:
    """Train, evaluate and save one run into out_dir; returns the summary metrics.

    resume_from: a resume.pt of an earlier attempt; training continues after its epoch.
    init_encoder: an encoder.safetensors (spec.init_from_run's) to start from instead of random weights.
    allowed_roots: the folders an image_folder data_path may lie in.
    loader: the worker's STREAM_ABOVE_MB, DATA_WORKERS and DATA_TIMEOUT_S (see load_dataset).
    shard: this process's rank of a multi-device run (worker/rank.py); rank 0 evaluates and saves the artifacts,
    the others return after training.
    Raises TrainingCanceled when the reporter asks to stop, TrainingFailed with a
    message for the user when the run cannot finish (divergence, missing data, ...).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = local_device(resolve_device(spec.device), shard)
    reporter.phase(Phase.LOADING)
    with runtime(device):
        try:
            with main_first(shard):  # one download of a missing dataset, not one per rank
                data = load_dataset(spec, data_root, allowed_roots, loader)
            return _train(spec, out_dir, reporter, device, data, resume_from, init_encoder, shard)
        except torch.OutOfMemoryError as error:
            if device.type == "cuda":
                torch.cuda.empty_cache()  # the next run on this worker gets the memory back
            raise TrainingFailed(f"out of {device.type} memory with batch_size {spec.batch_size}; "
                                 "lower batch_size (halve it) or pick a smaller encoder") from error
        except RuntimeError as error:
            # A DataLoader worker that dies while a training step runs: torch's SIGCHLD handler raises it there.
            failure = loader_failure(error, loader)
            if failure is None:
                raise
            raise failure from error


def _train(spec: RunSpec, out_dir: Path, reporter: Reporter, device: torch.device, data: ImageData,
           resume_from: Path | None, init_encoder: Path | None, shard: Shard = SINGLE) -> dict[str, float]:
    data = subset_train(data, spec.max_train_samples, spec.seed)
    extra = f" + {len(data.unlabeled_images)} unlabeled" if data.unlabeled_images is not None else ""
    reporter.message(f"loading {spec.dataset}: {len(data.train_labels)} train{extra} / "
                     f"{len(data.test_labels)} test images" + (", streamed from disk" if data.streamed else ""))
    if spec.init_from_run is not None and init_encoder is None:
        raise TrainingFailed(f"init_from_run: the encoder of run {spec.init_from_run} was not handed to the "
                             "engine; check that the run exists and has an encoder.safetensors")

    torch.manual_seed(spec.seed)  # weight initialisation
    encoder = build_encoder(spec, data.image_shape[0], data.image_shape[-1])
    encoder.set_normalization(data.train_images)
    if init_encoder is not None:
        load_weights_into(encoder, init_encoder, spec)
        reporter.message(f"encoder initialised from run {spec.init_from_run}")
    method = build_method(spec, encoder, len(data.classes), shard)
    method.to(device)
    # NHWC is oneDNN's native layout on a CPU as cuDNN's on a GPU: convolutions skip a reorder each way.
    method.to(memory_format=torch.channels_last)

    if spec.epochs > 0:
        batch = min(spec.batch_size, len(data.pretrain_labels)) // shard.world  # this process's share of a step
        check_step_fits(encoder, data.image_shape[0], data.image_shape[-1], batch,
                        method.views.memory_views(data.image_shape[-1]), device,
                        method.target_passes * method.views.global_views)
        reporter.message(training_label(method))
    result = pretrain(spec, method, data, device, reporter, out_dir, resume_from, shard)
    if not shard.main:
        return {"final_loss": result.final_loss}

    reporter.message(f"features of {len(data.train_labels)} train / {len(data.test_labels)} test images")
    projection = method.probe_head() if spec.epochs > 0 else None
    assessment = assess(spec, method.probe_encoder(), projection, data, device, reporter)
    if probe_due(spec.epochs, spec.epochs, spec.knn_every, spec.probe_every):  # the probe curves' last point
        probes = quick_probes(spec, data, assessment.train_features, assessment.test_features, projection)
        for name, value in probes.items():
            reporter.metric(name, value, result.steps, float(spec.epochs))
    stop_if_asked(reporter)
    summary = dict(assessment.summary)
    summary.update(stability([*result.knn_curve, summary["knn_acc"]]))  # drawdown, volatility of the k-NN curve
    random_features = None
    if spec.random_baseline:
        reporter.message("probe and k-NN of a randomly initialised encoder (baseline)")
        reporter.phase(Phase.RANDOM_BASELINE)
        baseline = random_baseline(spec, data, device)
        summary.update(baseline.summary)
        random_features = baseline.test_features
        stop_if_asked(reporter)
    reporter.phase(Phase.TSNE)
    summary.update(_embed_and_save(spec, out_dir, reporter, data, assessment, random_features))
    summary["final_loss"] = result.final_loss
    summary["train_seconds"] = result.seconds

    for name in FINAL_METRICS:
        if name in summary and summary[name] == summary[name]:  # NaN (undefined silhouette) is not a point
            reporter.metric(name, summary[name], result.steps, float(spec.epochs))
    _save_checkpoints(spec, out_dir, reporter, data, method, assessment, summary)
    (out_dir / Artifact.RESUME).unlink(missing_ok=True)  # finished: the encoder files supersede it
    return summary


def stop_if_asked(reporter: Reporter) -> None:
    """Between the stages of the evaluation, as after every training step: a cancel, or a worker shutting down
    (its run is handed back: the next attempt resumes after the last epoch and evaluates), stops the run now
    rather than after a probe and a t-SNE that may outlast the worker's grace."""
    if reporter.should_stop():
        raise TrainingCanceled()


def _embed_and_save(spec: RunSpec, out_dir: Path, reporter: Reporter, data: ImageData, assessment: Assessment,
                    random_features: torch.Tensor | None = None) -> dict[str, float]:
    """t-SNE of a fixed sample of test embeddings, their silhouette, saved as embeddings.json + features.

    random_features: the random-init encoder's test features (spec.random_baseline); the same sample of them gets
    its own t-SNE and silhouette under "random_init", so a user sees what training changed in the map.
    """
    indices = tsne_sample_indices(len(data.test_labels), spec.tsne_samples)
    reporter.message(f"t-SNE of {len(indices)} test embeddings")
    sample_labels = data.test_labels[indices]
    sample_features, trained = _tsne_map(assessment.test_features, indices, sample_labels, spec.seed)
    save_tensors(out_dir / Artifact.FEATURES, {"features": sample_features, "indices": indices})
    embeddings = {"method": "tsne", "classes": data.classes, **trained}
    if random_features is not None:
        reporter.message(f"t-SNE of the random-init encoder's {len(indices)} test embeddings (baseline)")
        _, embeddings["random_init"] = _tsne_map(random_features, indices, sample_labels, spec.seed)
    write_json(out_dir / Artifact.EMBEDDINGS, embeddings)
    return {"silhouette": trained["silhouette"]}


def _tsne_map(test_features: torch.Tensor, indices: torch.Tensor, labels: torch.Tensor,
              seed: int) -> tuple[torch.Tensor, dict]:
    """The sampled features, and their silhouette and t-SNE points ({x, y, label, index}) as embeddings.json has."""
    features = test_features[indices.to(test_features.device)].cpu()
    coords = tsne_2d(features.numpy(), seed, device=str(test_features.device))
    return features, {
        "silhouette": silhouette(features.numpy(), labels.numpy()),
        "points": [{"x": round(float(x), 4), "y": round(float(y), 4), "label": int(label), "index": int(index)}
                   for (x, y), label, index in zip(coords, labels.tolist(), indices.tolist(), strict=True)],
    }


def _save_checkpoints(spec: RunSpec, out_dir: Path, reporter: Reporter, data: ImageData, method: Method,
                      assessment: Assessment, summary: dict[str, float]) -> None:
    """Encoder (the one the probe read), head and probe as safetensors; evaluation.json and run.json beside them."""
    reporter.message("saving artifacts")
    reporter.phase(Phase.SAVING)
    save_encoder(out_dir / Artifact.ENCODER, method.probe_encoder(), spec, data.image_shape)
    save_module(out_dir / Artifact.HEAD, method.head, spec, method.head_format)
    save_tensors(out_dir / Artifact.LINEAR_PROBE, assessment.probe.state_dict(),
                 {"spec": spec.model_dump_json(), "format": "contrastlab-linear-probe-v1"})
    write_json(out_dir / Artifact.EVALUATION, {
        "classes": data.classes,
        "confusion_matrix": assessment.confusion,  # rows: true class, columns: predicted class
        **{name: summary[name] for name in FINAL_METRICS if name in summary},
    })
    write_json(out_dir / Artifact.RUN_RECORD, {
        "spec": spec.model_dump(mode="json"),
        "metrics": summary,
        "versions": versions(),
        "dataset": {"name": spec.dataset, "train_size": len(data.train_labels),
                    "test_size": len(data.test_labels), "image_shape": data.image_shape,
                    "classes": data.classes},
    })
