"""MkDocs hook: the configuration page's table of settings, generated from `contrastlab.core.settings.Settings`.

docs/configuration.md holds the placeholder below; this hook replaces it at build time with one row per field
(environment variable, type, default, bounds, description), so the page cannot drift from the code.
tests/unit/test_docs.py builds the site and checks every field is on the page.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

PLACEHOLDER = "<!-- settings-table -->"
ROOT = Path(__file__).resolve().parents[2]
BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) in (Union, types.UnionType):
        names = [_type_name(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(names) + " (or empty)"
    return {"str": "text", "int": "integer", "float": "number", "bool": "boolean", "Path": "path"}.get(
        getattr(annotation, "__name__", str(annotation)), str(annotation))


def _default(value: Any) -> str:
    if value is None or value == "":
        return "empty"
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, int) and value >= 1024**2 and value % 1024**2 == 0:
        mib = value // 1024**2
        return f"`{value}` ({mib // 1024} GiB)" if mib % 1024 == 0 else f"`{value}` ({mib} MiB)"
    if isinstance(value, int) and value >= 10_000:
        return f"`{value}` ({value:,})"
    return f"`{value}`"


def _bounds(metadata: list[Any]) -> str:
    parts = []
    for item in metadata:
        for attr, sign in BOUNDS:
            bound = getattr(item, attr, None)
            if bound is not None:
                parts.append(f"{sign} {bound:,}" if isinstance(bound, int) else f"{sign} {bound}")
        pattern = getattr(item, "pattern", None)
        choices = re.fullmatch(r"\^\(([\w|]+)\)\$", pattern or "")
        if choices:
            parts.append(" or ".join(f"`{choice}`" for choice in choices.group(1).split("|")))
        elif pattern:
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    """The Markdown table of every Settings field, in the class's order."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from contrastlab.core.settings import Settings

    rows = ["| variable | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        variable = (field.validation_alias if isinstance(field.validation_alias, str) else name).upper()
        rows.append("| " + " | ".join(_cell(cell) for cell in (
            f"`{variable}`", _type_name(field.annotation), _default(field.default), _bounds(field.metadata),
            field.description or "")) + " |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    return markdown.replace(PLACEHOLDER, settings_table())
