"""Artifact files: stored under DATA_DIR/artifacts/<run id>/<name>, looked up by database row.

A client never names a path: the name must match NAME_RE, the row must exist,
and the file served is rebuilt from the run id and that name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import Invalid, QuotaExceeded
from backend.models import Artifact, utcnow

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_ARTIFACT_BYTES = 8 * 1024**3


class BadName(Invalid):
    """A name that cannot be an artifact's: a path, a dot file, a character outside NAME_RE."""


class TooLarge(QuotaExceeded):
    """An upload past its limit; the message names the bound."""


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or ".." in name:
        raise BadName(
            f"artifact name {name!r} is not allowed: use letters, digits, '.', '_' and '-' (at most 128)"
        )
    return name


def download_name(run_id: int, name: str) -> str:
    """The file name a browser saves an artifact under: `run-7-encoder.safetensors`, so that the files of
    several runs do not overwrite each other in one downloads folder."""
    return f"run-{int(run_id)}-{name}"


def artifact_path(root: Path, run_id: int, name: str) -> Path:
    return root / str(int(run_id)) / check_name(name)


def served_path(root: Path, run_id: int, name: str) -> Path | None:
    """The artifact's file if it is a regular file inside the artifact root; never a symlink out of it."""
    path = artifact_path(root, run_id, name)
    if path.is_symlink() or path.parent.is_symlink() or not path.is_file():
        return None
    if not path.resolve().is_relative_to(root.resolve()):
        return None
    return path


async def receive(chunks: AsyncIterator[bytes], root: Path, run_id: int, name: str,
                  limit: int = MAX_ARTIFACT_BYTES, why: str = "MAX_ARTIFACT_BYTES") -> tuple[int, str]:
    """Write an upload atomically (temp file + rename); return its size and sha256. Past `limit` bytes the
    upload stops with TooLarge naming `why`, and nothing is kept of it."""
    target = artifact_path(root, run_id, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"artifact larger than {limit} bytes ({why})")
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def record(session: Session, run_id: int, name: str, size: int, sha256: str) -> Artifact:
    artifact = session.scalar(select(Artifact).where(Artifact.run_id == run_id, Artifact.name == name))
    if artifact is None:
        artifact = Artifact(run_id=run_id, name=name, size=size, sha256=sha256)
        session.add(artifact)
    else:
        artifact.size, artifact.sha256, artifact.created_at = size, sha256, utcnow()
    session.commit()
    return artifact


def find(session: Session, run_id: int, name: str) -> Artifact | None:
    return session.scalar(select(Artifact).where(Artifact.run_id == run_id, Artifact.name == name))


def list_for(session: Session, run_id: int) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.name)).all())


def stored_by(session: Session, run_id: int, but: str) -> tuple[int, int]:
    """How many artifacts the run stores, and their bytes, leaving out `but` (an upload replaces it)."""
    count, size = session.execute(select(func.count(), func.coalesce(func.sum(Artifact.size), 0)).where(
        Artifact.run_id == run_id, Artifact.name != but)).one()
    return int(count), int(size)


def discard(session: Session, root: Path, run_id: int, name: str) -> None:
    """Forget one artifact: its row, then its file."""
    artifact = find(session, run_id, name)
    if artifact is None:
        return
    session.delete(artifact)
    session.commit()
    artifact_path(root, run_id, name).unlink(missing_ok=True)
