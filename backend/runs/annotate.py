"""What people write on a run or a study: its name, `key` / `key:value` tags and Markdown notes (PATCH), bounded
so that a client cannot grow a row without limit; and the runs list's tag filter."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import ColumnElement, Select, Text, literal, select

from backend.models import Run, RunTag

MAX_TAGS = 32  # tags on one run or study
MAX_TAG_LENGTH = 64  # characters of one tag, key and value together
MAX_NOTES = 20_000  # characters of notes
MAX_NAME = 120  # as the column
# A key of letters, digits, `_`, `.`, `-`; a value may add `+ / = @ % #`. No comma (the query separates tags with
# it), no space, quote or backslash (a tag is one word in a URL); one colon at most, so a tag splits into the key
# and value that run_tags holds.
TAG_RE = re.compile(r"^[\w.-]+(:[\w.+/=@%#-]+)?$")


def _tag(text: str) -> str:
    tag = text.strip()
    if not tag or len(tag) > MAX_TAG_LENGTH or not TAG_RE.fullmatch(tag):
        raise ValueError(f"tag {text!r} is not allowed: write `key` or `key:value` with letters, digits, '_', "
                         f"'.', '-' (a value may also hold + / = @ % #), at most {MAX_TAG_LENGTH} characters")
    return tag


def _distinct_tags(tags: list[str]) -> list[str]:
    """Repeated tags kept once, in the order first given."""
    return list(dict.fromkeys(tags))


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain a NUL character (\\u0000); remove it")
    return text


Tag = Annotated[str, AfterValidator(_tag)]
TAG: TypeAdapter[str] = TypeAdapter(Tag)
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_distinct_tags)]
Notes = Annotated[str, Field(max_length=MAX_NOTES), AfterValidator(_no_nul)]
Name = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_no_nul)]


class AnnotationUpdate(BaseModel):
    """PATCH /api/runs/{id} and /api/studies/{id}: the fields given are replaced, the others kept."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description=f"The new name, at most {MAX_NAME} characters.")
    tags: Tags | None = Field(None, description=f"Every tag, replacing the old ones: `key` or `key:value`, at most "
                              f"{MAX_TAGS} of {MAX_TAG_LENGTH} characters each.")
    notes: Notes | None = Field(None, description=f"Markdown (the page renders it without HTML), at most "
                                f"{MAX_NOTES} characters.")


def apply(row: Any, update: AnnotationUpdate) -> None:
    """Copy the given fields onto a Run or Study row (the caller commits)."""
    for key, value in update.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(row, key, value)


def tagged(tag: str) -> Select[Any]:
    """The ids of the runs with `tag` ("opt:sgd"), or, for a bare key ("baseline"), the key with any value, in any
    case: a range of run_tags' (key, value) index."""
    key, _, value = tag.lower().partition(":")
    # Written into the SQL, not bound, so that PostgreSQL plans a tag on 100 runs and one on 10,000 each for itself
    # (a prepared statement's generic plan would serve both alike).
    having = select(RunTag.run_id).where(RunTag.key == literal(key, Text(), literal_execute=True))
    return having.where(RunTag.value == literal(value, Text(), literal_execute=True)) if value else having


def tag_condition(tag: str, common: bool = False) -> ColumnElement[bool]:
    """The run has `tag`: its id is among those run_tags lists, or (a `common` tag, listing.Plan) run_tags' primary
    key holds it, looked up run by run."""
    if common:
        return tagged(tag).where(RunTag.run_id == Run.id).exists()
    return Run.id.in_(tagged(tag))
