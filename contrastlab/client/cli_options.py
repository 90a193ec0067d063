"""The CLI's connection options (--url, --token, --retries), accepted before the command or after it."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

F = TypeVar("F", bound=Callable[..., Any])

CONNECTION = "Connection (before or after the command)"
Url = Annotated[str | None, typer.Option(help="Server URL (env CONTRASTLAB_URL or API_URL).",
                                         rich_help_panel=CONNECTION)]
Token = Annotated[str | None, typer.Option(help="Bearer token (env CONTRASTLAB_TOKEN or API_TOKEN).",
                                           rich_help_panel=CONNECTION)]
Retries = Annotated[int | None, typer.Option(help="Retries of an idempotent call on connection errors and "
                                             "502/503/504 (default 5).", min=0, max=20, rich_help_panel=CONNECTION)]
CONNECTION_OPTIONS: dict[str, Any] = {"url": Url, "token": Token, "retries": Retries}


def connected(command: F) -> F:
    """Let a command take --url, --token and --retries after its name too (`contrastlab ls --url ...`); given
    there, they win over the same options before it."""
    signature = inspect.signature(command, eval_str=True)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint)
             for name, hint in CONNECTION_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx: typer.Context = kwargs["ctx"]
        for name in CONNECTION_OPTIONS:
            value = kwargs.pop(name, None)
            if value is not None:
                ctx.obj[name] = value
        return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra])
    wrapper.__annotations__ = get_type_hints(command, include_extras=True) | CONNECTION_OPTIONS
    return wrapper  # type: ignore[return-value]
