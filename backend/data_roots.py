"""image_folder datasets come only from folders the server allows (ALLOWED_DATA_ROOTS).

The API refuses a data_path outside them with a 422 naming the field; the
worker checks again before it reads anything (the engine's allowed_roots).
"""

from __future__ import annotations

from pathlib import Path

from fastapi.exceptions import RequestValidationError

from contrastlab.core.settings import Settings
from contrastlab.core.spec import RunSpec


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


def check_data_path(spec: RunSpec, settings: Settings, loc: tuple[str, ...] = ("body", "data_path")) -> None:
    """422 naming data_path (as the spec's own validation errors do) when it is not allowed."""
    problem = data_path_problem(spec.data_path, settings.data_roots)
    if problem:
        raise RequestValidationError([{"loc": loc, "msg": problem, "type": "value_error", "input": spec.data_path}])
