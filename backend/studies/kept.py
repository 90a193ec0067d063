"""A study's computed bodies (its statistics, its curves) kept once computed: in memory, and on disk under
Settings.study_cache_dir/<study id>/ once every run of the study is finished, so that a server just started answers
a finished study's first view by reading a file (cold, recomputing took ~1.1 s for 100 runs' curves and ~0.3 s for
the statistics, and the two competed for the server).

A body is filed under a digest of everything it is computed from (the caller's key: the query and each run's id,
status and values) and of the code that computes it (its source files, numpy's and scipy's versions), so a study
that changed (a run added by study-extend, a run removed for good, a summary changed) or a server upgraded never
reads an old body: nothing needs to be invalidated for the numbers to be right. forget() removes a study's files
when they cannot be read again (the study extended, or removed for good); a study keeps at most FILES_PER_STUDY
bodies (the least recently read go first). A file is written whole then renamed; a disk that fails costs only the
recomputation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Hashable, Iterable
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

from backend.studies.curves import Lru

FILES_PER_STUDY = 64  # a body per query (metric, baseline, paired; x, points, names): curves ~1 MB at 300 points
log = logging.getLogger(__name__)


def code_digest(modules: Iterable[ModuleType]) -> str:
    """The source of the modules (every .py file of a package) and numpy's and scipy's versions, as one digest."""
    digest = hashlib.sha256(f"numpy {version('numpy')} scipy {version('scipy')}".encode())
    for module in modules:
        path = Path(str(module.__file__))
        files = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
        for file in files:
            digest.update(file.name.encode() + file.read_bytes())
    return digest.hexdigest()


class Kept:
    """Bodies by key: a memory LRU in front of each study's folder (Settings.study_cache_dir / <study id>)."""

    def __init__(self, code: str, memory_bytes: int) -> None:
        self.code = code
        self.memory: Lru[bytes] = Lru(memory_bytes, len)

    def _file(self, folder: Path, key: Hashable) -> Path:
        text = json.dumps([self.code, key], default=str, separators=(",", ":"))
        return folder / f"{hashlib.sha256(text.encode()).hexdigest()}.json"

    def get(self, folder: Path, key: Hashable) -> bytes | None:
        """The body kept under `key`, from memory, else from the folder (then kept in memory too)."""
        file = self._file(folder, key)
        if (hit := self.memory.get(file)) is not None:
            return hit
        try:
            body = file.read_bytes()
            os.utime(file)  # the least recently read go first
        except OSError:
            return None
        self.memory.put(file, body)
        return body

    def put(self, folder: Path, key: Hashable, body: bytes, durable: bool) -> None:
        """Keep `body` in memory; durable (every run of the study finished): in the folder too."""
        file = self._file(folder, key)
        self.memory.put(file, body)
        if not durable:
            return
        written: Path | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".", suffix=".tmp", delete=False) as out:
                written = Path(out.name)
                out.write(body)
                out.flush()
                os.fsync(out.fileno())  # whole on disk before its name is: never a torn body after a crash
            os.replace(written, file)
            kept = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime)
            for old in kept[:-FILES_PER_STUDY]:
                old.unlink(missing_ok=True)
        except OSError as exc:  # a full or read-only disk: the next cold view computes it again
            log.warning("%s: a study's computed body was not kept on disk: %s", folder, exc)
            if written is not None:
                written.unlink(missing_ok=True)

    def forget(self, folder: Path) -> None:
        """Remove the bodies kept in the folder (memory and disk): none of them can be read again."""
        for file in [f for f in self.memory.items if isinstance(f, Path) and f.parent == folder]:
            self.memory.total -= len(self.memory.items.pop(file))
        shutil.rmtree(folder, ignore_errors=True)

    def clear(self) -> None:
        """Empty the memory, as a server just started; the files stay."""
        self.memory.clear()
