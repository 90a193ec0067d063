"""t-SNE: openTSNE (what the engine uses) vs scikit-learn's TSNE on the same embeddings; prints times and ratio.

Embeddings: Fashion-MNIST test images through a random small CNN (256-d). 5,000 points by default;
--full adds 10,000 (several minutes on a 2-core CPU).

    .venv/bin/python -m bench.tsne [--full]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from contrastlab.core.spec import RunSpec
from worker.engine.data import load_dataset
from worker.engine.evaluate import encode, tsne_2d
from worker.engine.models import build_encoder
from worker.engine.stream import as_tensor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also 10,000 points")
    args = parser.parse_args()
    from sklearn.manifold import TSNE

    data = load_dataset("fashion_mnist")
    train_images = as_tensor(data.train_images)
    torch.manual_seed(0)
    encoder = build_encoder(RunSpec(), 1, 28)
    encoder.set_normalization(train_images[:5000])
    features = encode(encoder, data.test_images, 256, "cpu").numpy().astype(np.float64)
    for n in [5000, 10000] if args.full else [5000]:
        x = features[:n]
        started = time.perf_counter()
        tsne_2d(x, seed=0, n_jobs=2)
        ours = time.perf_counter() - started
        started = time.perf_counter()
        TSNE(n_components=2, perplexity=30.0, metric="cosine", random_state=0, n_jobs=2).fit_transform(x)
        theirs = time.perf_counter() - started
        print(f"{n} points: openTSNE {ours:6.1f} s, sklearn {theirs:6.1f} s, ratio sklearn / openTSNE = "
              f"{theirs / ours:.2f}", flush=True)


if __name__ == "__main__":
    main()
