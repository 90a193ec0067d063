"""What every `contrastlab` command shares: the Typer app and its connection options, the output, the client,
the catalogue, and the decorator that turns an error a user can act on into one red line (cli.py and
cli_study.py add the commands)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from contrastlab.client.api import ApiError, Client, env_token, env_url
from contrastlab.client.cli_options import Retries, Token, Url
from contrastlab.client.formats import Catalog
from contrastlab.client.specs import SpecFileError
from contrastlab.client.terminal import Output

app = typer.Typer(help="Launch, watch, compare and export contrastive-learning runs.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
F = TypeVar("F", bound=Callable[..., Any])
out = Output()

RunId = Annotated[int, typer.Argument(help="A run id, as `contrastlab ls` shows it.")]
StudyId = Annotated[int, typer.Argument(help="A study id, as `contrastlab studies` shows it.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")]


@app.callback()
def _options(ctx: typer.Context, url: Url = None, token: Token = None, retries: Retries = None) -> None:
    out.__init__()  # type: ignore[misc]  # per invocation: stdout may be a terminal now and a pipe next time
    ctx.obj = {"url": url or env_url(), "token": token or env_token(), "retries": 5 if retries is None else retries}


def _client(ctx: typer.Context) -> Client:
    return Client(ctx.obj["url"], ctx.obj["token"], retries=ctx.obj["retries"])


def _catalog(client: Client) -> Catalog:
    """The server's catalogue; this package's own when the server is older than /api/schema/catalog (404)."""
    try:
        return Catalog(client.catalog())
    except ApiError as exc:
        if exc.status_code != 404:
            raise
        return Catalog.bundled()


def friendly(command: F) -> F:
    """Errors a user can act on become one red line and exit code 1, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except typer.Exit:  # a chosen exit code (click's Exit is a RuntimeError)
            raise
        except BrokenPipeError:  # `contrastlab compare --csv | head`: the reader has what it wanted
            quiet_closed_stdout()
            raise typer.Exit(0) from None
        except (ApiError, ConnectionError, SpecFileError, ValueError, RuntimeError, OSError) as exc:
            out.error(str(exc))
            raise typer.Exit(1) from exc

    return wrapper  # type: ignore[return-value]


def quiet_closed_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush into the closed pipe prints nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def dashboard(client: Client, page: str) -> str:
    """The address of a page of the dashboard this server serves: `#/runs/3`, `#/compare?runs=3,4`."""
    return f"{client.url}/#/{page}"


