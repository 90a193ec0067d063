"""image_folder datasets come only from folders the server allows (ALLOWED_DATA_ROOTS).

The API refuses a data_path outside them with a 422 naming the field; the
worker checks again before it reads anything (the engine's allowed_roots).
"""

from __future__ import annotations

from pathlib import Path


def data_path_problem(data_path: str | None, roots: tuple[Path, ...]) -> str | None:
    """Why this data_path is not allowed, or None when it is (or there is none)."""
    if not data_path:
        return None
    if not roots:
        return "image_folder datasets are off on this server: ask its operator to set ALLOWED_DATA_ROOTS"
    path = Path(data_path)
    if not path.is_absolute():
        return f"must be an absolute path under one of: {', '.join(map(str, roots))}"
    resolved = path.resolve()  # symlinks and '..' cannot lead out of a root
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        return f"{data_path} is outside the folders this server allows: {', '.join(map(str, roots))}"
    return None
