#!/usr/bin/env bash
# Every CPU figure of the evaluation-speed issue, back to back in one sitting, each with the load average:
# the linear probe, t-SNE, training throughput, the runs list, ingestion and the study page.
#     bash bench/cpu_sitting.sh 2>&1 | tee sitting.log
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
step() {
  echo "== $* ($(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$PY" -u -m "$@"
}
step bench.linear_probe --dataset fashion_mnist
step bench.linear_probe --features 50000 --dim 512
step bench.tsne --full --only "n_jobs=1,engine"
step bench.train_throughput --images 2048 --batch 256 --cpu-bf16
step bench.list_runs --runs 100000 --repeat 20
step bench.load --streams 50 --runs 10
paint=$(mktemp -d)
step bench.study_paint --data-dir "$paint"
step bench.study_paint --data-dir "$paint" --no-kept
rm -rf "$paint"
echo "== done ($(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg))"
