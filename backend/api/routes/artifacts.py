"""Artifacts: list, download, upload (the worker holding the run's lease only), and the t-SNE embedding of a run."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from backend.access.admission import check_disk
from backend.api.deps import LeaseSecret, RunDep, RunId, SessionDep, SettingsDep
from backend.errors import Conflict, NotFound
from backend.models import Run
from backend.runs import artifacts, lifecycle
from backend.runs.schemas import ArtifactPublic, ArtifactsPublic
from contrastlab.core.catalog import Artifact
from contrastlab.core.settings import Settings

router = APIRouter(prefix="/runs/{run_id}", tags=["artifacts"])


def _stored_file(run: Run, name: str, session: SessionDep, settings: SettingsDep) -> Path:
    """The file of a recorded artifact: BadName for a name that is not one, NotFound when there is none."""
    artifacts.check_name(name)
    path = artifacts.served_path(settings.artifacts_dir, run.id, name)
    if artifacts.find(session, run.id, name) is None or path is None:
        raise NotFound(f"run {run.id} has no artifact {name!r} (status {run.status})")
    return path


def upload_limit(settings: Settings, stored: int, stored_bytes: int) -> tuple[int, str]:
    """The most bytes this upload may have, and the bound that sets it: one artifact's, the run's, or the
    disk's free space above MIN_FREE_DISK_BYTES. Conflict when the run already stores MAX_RUN_ARTIFACTS artifacts
    and Unavailable under the disk floor, before a byte is read."""
    if stored >= settings.max_run_artifacts:
        raise Conflict(f"the run already stores {stored} artifacts, the most MAX_RUN_ARTIFACTS allows: "
                       "replace one, or ask the server's operator to raise MAX_RUN_ARTIFACTS")
    check_disk(settings, "uploads")
    free = shutil.disk_usage(settings.artifacts_dir if settings.artifacts_dir.exists() else settings.data_dir).free
    return min((settings.max_artifact_bytes, "MAX_ARTIFACT_BYTES"),
               (settings.max_run_artifact_bytes - stored_bytes,
                f"MAX_RUN_ARTIFACT_BYTES: the run's other artifacts hold {stored_bytes} of "
                f"{settings.max_run_artifact_bytes} bytes"),
               (free - settings.min_free_disk_bytes, "the disk's free space above MIN_FREE_DISK_BYTES"))


@router.get("/artifacts", response_model=ArtifactsPublic)
def read_artifacts(run: RunDep, session: SessionDep) -> ArtifactsPublic:
    return ArtifactsPublic(items=[ArtifactPublic.of(a) for a in artifacts.list_for(session, run.id)])


@router.get("/artifacts/{name}", response_class=FileResponse)
def download_artifact(run: RunDep, name: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """The file itself, e.g. `encoder.safetensors` (with `run.json` beside it for spec and metrics), saved by a
    browser as `run-<id>-encoder.safetensors` so that the files of several runs do not overwrite each other."""
    path = _stored_file(run, name, session, settings)
    return FileResponse(path, filename=artifacts.download_name(run.id, name), media_type="application/octet-stream")


@router.put("/artifacts/{name}", status_code=201, response_model=ArtifactPublic)
async def upload_artifact(run_id: RunId, name: str, request: Request, settings: SettingsDep,
                          lease_secret: LeaseSecret = None) -> ArtifactPublic:
    """The worker holding the run's lease uploads each artifact as the raw request body, with its X-Lease-Secret;
    409 for anyone else, for a worker that was replaced, and once the run is finished (its files are final)."""
    factory = request.app.state.sessionmaker
    artifacts.check_name(name)
    who = f"this upload of {name!r}"

    def check() -> tuple[int, str]:
        with factory() as session:
            lifecycle.held(session, run_id, lease_secret, who)
            return upload_limit(settings, *artifacts.stored_by(session, run_id, name))

    limit, why = await run_in_threadpool(check)
    size, digest = await artifacts.receive(request.stream(), settings.artifacts_dir, run_id, name, limit, why)

    def save() -> ArtifactPublic:
        with factory() as session:
            lifecycle.held(session, run_id, lease_secret, who)  # the lease may have ended during the upload
            return ArtifactPublic.of(artifacts.record(session, run_id, name, size, digest))

    return await run_in_threadpool(save)


@router.get("/embeddings", response_class=FileResponse, responses={200: {"content": {"application/json": {}}}})
def read_embeddings(run: RunDep, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """The t-SNE points of sampled test images with their labels (404 until the run has them): the stored JSON
    file streamed as it is, never parsed here (parsing held about 8.5 times the file's size in memory)."""
    path = _stored_file(run, Artifact.EMBEDDINGS, session, settings)
    return FileResponse(path, media_type="application/json", headers={"Cache-Control": "no-cache"})
