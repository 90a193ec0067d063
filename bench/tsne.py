"""t-SNE: openTSNE settings (the engine's and the ones tried) vs scikit-learn's TSNE on the same embeddings.

Each line: wall time, the ratio scikit-learn / it, and the map's quality as k-NN preservation (the share of each
point's 10 nearest neighbours, cosine, in the features that stay among its 10 nearest in the map; 1 is perfect),
beside scikit-learn's. Embeddings: Fashion-MNIST test images through a random small CNN (256-d). 5,000 points by
default; --full adds 10,000 (minutes on a 2-core CPU). --torchdr adds TorchDR (the GPU choice) on this device.

    .venv/bin/python -m bench.tsne [--full] [--torchdr]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from contrastlab.core.spec import RunSpec
from worker.engine.data import load_dataset
from worker.engine.evaluate import encode, knn_preservation, tsne_2d
from worker.engine.models import build_encoder
from worker.engine.stream import as_tensor


def open_tsne(**settings: object) -> Callable[[np.ndarray], np.ndarray]:
    def run(x: np.ndarray) -> np.ndarray:
        from openTSNE import TSNE

        return np.asarray(TSNE(perplexity=30.0, metric="cosine", random_state=0, verbose=False,
                               **settings).fit(x))
    return run


def torchdr_tsne(x: np.ndarray) -> np.ndarray:
    from torchdr import TSNE

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return TSNE(perplexity=30.0, metric="cosine", random_state=0, device=device,
                max_iter=1000).fit_transform(torch.from_numpy(x).float()).cpu().numpy()


def scikit_learn(x: np.ndarray) -> np.ndarray:
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=30.0, metric="cosine", random_state=0, n_jobs=2).fit_transform(x)


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "openTSNE defaults, n_jobs=1 (the engine before)": open_tsne(n_jobs=1),
    "openTSNE defaults, n_jobs=2": open_tsne(n_jobs=2),
    "openTSNE Barnes-Hut gradients, n_jobs=2": open_tsne(n_jobs=2, negative_gradient_method="bh"),
    "openTSNE random init, n_jobs=2": open_tsne(n_jobs=2, initialization="random"),
    "openTSNE 125 + 250 iterations, n_jobs=2": open_tsne(n_jobs=2, early_exaggeration_iter=125, n_iter=250),
    "openTSNE 100 + 150 iterations, n_jobs=2": open_tsne(n_jobs=2, early_exaggeration_iter=100, n_iter=150),
    "engine (tsne_2d)": lambda x: tsne_2d(x, seed=0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also 10,000 points")
    parser.add_argument("--torchdr", action="store_true", help="also TorchDR on this machine's device")
    parser.add_argument("--only", default=None, help="run only the variants whose name contains one of these, "
                                                       "comma-separated")
    parser.add_argument("--points", type=int, nargs="*", default=None, help="point counts instead of 5,000")
    args = parser.parse_args()
    data = load_dataset("fashion_mnist")
    torch.manual_seed(0)
    encoder = build_encoder(RunSpec(), 1, 28)
    encoder.set_normalization(as_tensor(data.train_images)[:5000])
    features = encode(encoder, data.test_images, 256, "cpu").numpy().astype(np.float64)
    variants = {k: v for k, v in VARIANTS.items() if args.only is None or any(o in k for o in args.only.split(","))}
    if args.torchdr:
        variants["TorchDR (dense, exact gradients)"] = torchdr_tsne
    for n in args.points or ([5000, 10000] if args.full else [5000]):
        x = features[:n]
        started = time.perf_counter()
        reference = scikit_learn(x)
        reference_s = time.perf_counter() - started
        reference_q = knn_preservation(x, reference)
        print(f"{n} points, threads {torch.get_num_threads()}, load average "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
        print(f"  {'scikit-learn TSNE (Barnes-Hut, n_jobs=2)':50s} {reference_s:6.1f} s  ratio  1.00  "
              f"k-NN preservation {reference_q:.3f}", flush=True)
        for name, run in variants.items():
            started = time.perf_counter()
            points = run(x)
            seconds = time.perf_counter() - started
            print(f"  {name:50s} {seconds:6.1f} s  ratio {reference_s / seconds:5.2f}  "
                  f"k-NN preservation {knn_preservation(x, points):.3f} (scikit-learn {reference_q:.3f})", flush=True)


if __name__ == "__main__":
    main()
