"""Every path of the REST API, once: the client, the worker and the benches read them from here.

A template names its parameters as FastAPI does (`{run_id}`); `fill` puts values in, each quoted as one path
segment. A test checks that the app serves exactly these paths, no more, no fewer.
"""

from __future__ import annotations

from urllib.parse import quote

API = "/api"

HEALTH = "/api/health"
RUN_SPEC_SCHEMA = "/api/schema/run-spec"
CATALOG = "/api/schema/catalog"
LOGIN = "/api/login"
LOGOUT = "/api/logout"

RUNS = "/api/runs"
RUN_GROUP = "/api/runs/group"
RUN = "/api/runs/{run_id}"
RUN_CANCEL = "/api/runs/{run_id}/cancel"
RUN_RESTORE = "/api/runs/{run_id}/restore"
RUNS_RESTORE = "/api/runs/restore"
TRASH = "/api/trash"
RUN_METRICS = "/api/runs/{run_id}/metrics"
RUN_METRICS_CSV = "/api/runs/{run_id}/metrics.csv"
RUN_SERIES = "/api/runs/{run_id}/series"
RUN_LOG = "/api/runs/{run_id}/log"
RUN_EVENTS = "/api/runs/{run_id}/events"  # GET: the live stream; POST: a worker's batch
RUN_ARTIFACTS = "/api/runs/{run_id}/artifacts"
RUN_ARTIFACT = "/api/runs/{run_id}/artifacts/{name}"
RUN_EMBEDDINGS = "/api/runs/{run_id}/embeddings"

# The worker protocol (contrastlab.core.protocol): claim, then events, artifacts, release or finish.
RUN_CLAIM = "/api/runs/{run_id}/claim"
RUN_RELEASE = "/api/runs/{run_id}/release"
RUN_FINISH = "/api/runs/{run_id}/finish"

# Workers: each says it is alive (protocol.WorkerBeat); anyone with a user token lists them.
WORKERS = "/api/workers"
WORKER_HEARTBEAT = "/api/workers/heartbeat"

# A spec's augmentation preview (PNG), drawn by the preview consumer beside the workers.
PREVIEW_AUGMENTATIONS = "/api/preview/augmentations"

STUDIES = "/api/studies"
STUDY = "/api/studies/{study_id}"
STUDY_CANCEL = "/api/studies/{study_id}/cancel"
STUDY_RESTORE = "/api/studies/{study_id}/restore"
STUDY_STATS = "/api/studies/{study_id}/stats"
STUDY_EXTEND = "/api/studies/{study_id}/extend"
STUDY_SEARCH = "/api/studies/{study_id}/search"
STUDY_CURVES = "/api/studies/{study_id}/curves"
STUDY_REPORT = "/api/studies/{study_id}/report"
STUDY_REPORT_FIGURE = "/api/studies/{study_id}/report/figure.svg"


def fill(template: str, **values: object) -> str:
    """The template with its parameters filled in: `fill(RUN_LOG, run_id=7)` is "/api/runs/7/log"."""
    return template.format(**{name: quote(str(value), safe="") for name, value in values.items()})

