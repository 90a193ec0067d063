"""Package versions and code version saved beside every checkpoint, so a result can be reproduced."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = {"torch": "torch", "torchvision": "torchvision", "numpy": "numpy", "sklearn": "scikit-learn",
            "openTSNE": "openTSNE", "safetensors": "safetensors", "kornia": "kornia", "contrastlab": "contrastlab"}
REPO = Path(__file__).resolve().parents[2]


def versions() -> dict[str, str | None]:
    """Installed versions (None when a package is missing), Python's, and the git commit when in a checkout."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for key, distribution in PACKAGES.items():
        try:
            found[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[key] = None
    found["git_commit"] = git_commit()
    return found


def git_commit() -> str | None:
    """HEAD of the checkout this code runs from, with "-dirty" when files differ; None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head or None
