"""A small typed client of the ContrastLab REST API; the CLI is built on it and scripts can import it.

    from contrastlab import Client
    with Client("http://127.0.0.1:8000") as lab:
        run = lab.submit({"method": "simclr", "dataset": "digits", "epochs": 2})
        final = lab.wait(run.id, callback=print)

Every call goes through the one HTTP layer (`contrastlab.client.http`): idempotent calls (GET, PUT) are
retried on connection errors and 502/503/504 with backoff; a POST is sent once, so a submit never creates a
run twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from contrastlab.client.http import ApiError, Http, checked, describe_detail
from contrastlab.client.models import (
    Artifact,
    LogEntry,
    MetricPoint,
    Run,
    StreamEvent,
    Study,
    StudyCreated,
    StudyStats,
    Total,
    Trash,
    WorkerInfo,
)
from contrastlab.core import paths
from contrastlab.core.protocol import RETRY_CAP_S

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8000"
UNREACHABLE_HINT = " (is the server running? set --url or CONTRASTLAB_URL)"
__all__ = ["ApiError", "Client", "describe_detail", "env_token", "env_url", "parse_sse"]


def env_url() -> str:
    return os.environ.get("CONTRASTLAB_URL") or os.environ.get("API_URL") or DEFAULT_URL


def env_token() -> str | None:
    return os.environ.get("CONTRASTLAB_TOKEN") or os.environ.get("API_TOKEN") or None


def parse_sse(lines: Iterable[str]) -> Iterator[StreamEvent]:
    """Events of a Server-Sent Events stream (comments and `retry:` skipped; multi-line data joined)."""
    event_id: int | None = None
    event, data = "", []
    for line in lines:
        if line.startswith(":") or line.startswith("retry:"):
            continue
        if line.startswith("id:"):
            event_id = int(line[3:].strip())
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "" and event:
            yield StreamEvent(id=event_id, event=event, data=json.loads("\n".join(data) or "{}"))
            event_id, event, data = None, "", []


class Client:
    """One ContrastLab server. URL and token default to CONTRASTLAB_URL/CONTRASTLAB_TOKEN (or API_URL/API_TOKEN)."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0,
                 retries: int = 5, backoff_s: float = 0.2, http: httpx.Client | None = None) -> None:
        token = token if token is not None else env_token()
        self.transport = Http(url or env_url(), token, timeout=timeout, retries=retries, backoff_s=backoff_s,
                              client=http, hint=UNREACHABLE_HINT)
        self.url, self.http = self.transport.url, self.transport.client
        self.retries, self.backoff_s = retries, backoff_s

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- transport -----------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send; retry idempotent methods on connection errors and 502/503/504; raise ApiError on 4xx/5xx."""
        return checked(self.transport.request(method, path, **kwargs))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # -- runs ----------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return dict(self._json("GET", paths.HEALTH))

    def schema(self) -> dict[str, Any]:
        """The RunSpec JSON Schema the server validates with."""
        return dict(self._json("GET", paths.RUN_SPEC_SCHEMA))

    def submit(self, spec: Mapping[str, Any] | BaseModel) -> Run:
        """Queue one run; a field the server rejects raises ApiError (422) naming it."""
        body = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else dict(spec)
        return Run.model_validate(self._json("POST", paths.RUNS, json=body))

    def submit_group(self, spec: Mapping[str, Any] | BaseModel, seeds: Sequence[int]) -> list[Run]:
        """Queue the spec once per seed as one group (the runs share `group_id`; compare shows mean ± std)."""
        body = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else dict(spec)
        page = self._json("POST", paths.RUN_GROUP, json={"spec": body, "seeds": list(seeds)})
        return [Run.model_validate({**item, "warnings": page.get("warnings", [])}) for item in page["items"]]

    def preview(self, spec: Mapping[str, Any] | BaseModel, images: int = 8, views: int = 2,
                pick_seed: int = 0) -> bytes:
        """PNG bytes of the spec's augmentation preview: `images` rows of a training image and `views` views of it,
        drawn beside the workers (by their preview consumer) with the engine's augment code; ApiError 503 says why
        when no one can."""
        body = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else dict(spec)
        return self.request("POST", paths.PREVIEW_AUGMENTATIONS, json={"spec": body, "images": images,
                                                                       "views": views, "pick_seed": pick_seed},
                            timeout=60.0).content

    def get(self, run_id: int) -> Run:
        return Run.model_validate(self._json("GET", paths.fill(paths.RUN, run_id=run_id)))

    def list_runs(self, limit: int = 50, offset: int = 0, status: Sequence[str] = (), search: str = "",
                  group_id: int | None = None, *, methods: Sequence[str] = (),
                  datasets: Sequence[str] = (), tags: Sequence[str] = (),
                  trashed: bool = False) -> tuple[list[Run], int]:
        """One page of runs, newest first (filtered by status, method, dataset, name or id, group, tags; those in
        the trash with `trashed`), and how many match."""
        params: dict[str, Any] = {"limit": limit, "offset": offset, "status": ",".join(status), "q": search,
                                  "method": ",".join(methods), "dataset": ",".join(datasets), "tag": ",".join(tags)}
        if group_id is not None:
            params["group_id"] = group_id
        if trashed:
            params["trashed"] = "true"
        page = self._json("GET", paths.RUNS, params={k: v for k, v in params.items() if v != ""})
        return [Run.model_validate(item) for item in page["items"]], Total(page["total"], page.get("total_exact", True))

    def cancel(self, run_id: int) -> Run:
        """Queued: canceled at once; running: stops at the worker's next check. ApiError 409 when already final."""
        return Run.model_validate(self._json("POST", paths.fill(paths.RUN_CANCEL, run_id=run_id)))

    # -- names, tags, notes and the trash -----------------------------------
    def annotate(self, run_id: int, *, name: str | None = None, tags: Sequence[str] | None = None,
                 notes: str | None = None) -> Run:
        """Set the run's name, tags (all of them) or notes; the fields left None are kept."""
        body = {k: v for k, v in {"name": name, "tags": None if tags is None else list(tags),
                                  "notes": notes}.items() if v is not None}
        return Run.model_validate(self._json("PATCH", paths.fill(paths.RUN, run_id=run_id), json=body))

    def tag(self, run_id: int, *tags: str) -> Run:
        """Add tags (those it has stay; a tag given twice is kept once)."""
        return self.annotate(run_id, tags=[*self.get(run_id).tags, *tags])

    def untag(self, run_id: int, *tags: str) -> Run:
        """Remove tags; a bare key removes it with any value (`untag 3 opt` drops `opt:sgd`)."""
        def dropped(tag: str) -> bool:
            return tag in tags or tag.split(":", 1)[0] in tags
        return self.annotate(run_id, tags=[t for t in self.get(run_id).tags if not dropped(t)])

    def trash(self, run_ids: Sequence[int] = (), group_id: int | None = None) -> list[int]:
        """Move finished runs (or a seed group) to the trash, all or none; returns their ids."""
        params: dict[str, Any] = {"ids": ",".join(str(i) for i in run_ids)} if run_ids else {}
        if group_id is not None:
            params["group_id"] = group_id
        return list(self._json("DELETE", paths.RUNS, params=params)["ids"])

    def restore(self, run_ids: Sequence[int]) -> list[int]:
        """Bring runs back from the trash with every point and file."""
        return list(self._json("POST", paths.RUNS_RESTORE, json={"ids": list(run_ids)})["ids"])

    def trash_contents(self) -> Trash:
        return Trash.model_validate(self._json("GET", paths.TRASH))

    def empty_trash(self, run_ids: Sequence[int] = ()) -> Trash:
        """Remove for good what the trash holds (or these runs in it); returns what went and the bytes freed."""
        params = {"ids": ",".join(str(i) for i in run_ids)} if run_ids else {}
        return Trash.model_validate(self._json("DELETE", paths.TRASH, params=params))

    def annotate_study(self, study_id: int, *, name: str | None = None, tags: Sequence[str] | None = None,
                       notes: str | None = None) -> Study:
        body = {k: v for k, v in {"name": name, "tags": None if tags is None else list(tags),
                                  "notes": notes}.items() if v is not None}
        return Study.model_validate(self._json("PATCH", paths.fill(paths.STUDY, study_id=study_id), json=body))

    def trash_study(self, study_id: int) -> None:
        self.request("DELETE", paths.fill(paths.STUDY, study_id=study_id))

    def restore_study(self, study_id: int) -> Study:
        return Study.model_validate(self._json("POST", paths.fill(paths.STUDY_RESTORE, study_id=study_id)))

    # -- history and live events ---------------------------------------------
    def _pages(self, path: str, after: int, page_size: int) -> Iterator[dict[str, Any]]:
        while True:
            page = self._json("GET", path, params={"after": after, "limit": page_size})
            yield from page["items"]
            if not page["items"]:
                return
            after = int(page["next_cursor"])

    def metrics(self, run_id: int, after: int = 0, page_size: int = 5000) -> Iterator[MetricPoint]:
        """Every recorded metric point in order, fetched page by page with the server's cursor."""
        for item in self._pages(paths.fill(paths.RUN_METRICS, run_id=run_id), after, page_size):
            yield MetricPoint.model_validate(item)

    def log(self, run_id: int) -> list[LogEntry]:
        """Status changes and the worker's messages, in order."""
        pages = self._pages(paths.fill(paths.RUN_LOG, run_id=run_id), 0, 5000)
        return [LogEntry.model_validate(item) for item in pages]

    def follow(self, run_id: int, after: int = 0) -> Iterator[StreamEvent]:
        """The run's live events until `end`; a dropped connection resumes with Last-Event-ID, losing nothing."""
        cursor, failures = after, 0
        while True:
            try:
                headers = {"Last-Event-ID": str(cursor)}
                with self.http.stream("GET", paths.fill(paths.RUN_EVENTS, run_id=run_id), headers=headers,
                                      timeout=httpx.Timeout(30.0, read=120.0)) as response:
                    if response.status_code != 200:
                        response.read()
                        checked(response)
                    for event in parse_sse(response.iter_lines()):
                        failures = 0
                        cursor = event.id if event.id is not None else cursor
                        yield event
                        if event.event == "end":
                            return
            except httpx.TransportError as exc:
                failures += 1
                if failures > self.retries:
                    raise ConnectionError(f"lost the event stream of run {run_id}: {exc}") from exc
                log.warning("event stream of run %s dropped (%s); resuming after %s", run_id, exc, cursor)
                time.sleep(min(self.backoff_s * 2 ** failures, RETRY_CAP_S))

    def wait(self, run_id: int, callback: Callable[[StreamEvent], object] | None = None) -> Run:
        """Block until the run is final, calling `callback` with each live event; returns the final run."""
        for event in self.follow(run_id):
            if callback is not None:
                callback(event)
            if event.event == "end":
                return Run.model_validate(event.data)
        return self.get(run_id)

    # -- artifacts -----------------------------------------------------------
    def artifacts(self, run_id: int) -> list[Artifact]:
        page = self._json("GET", paths.fill(paths.RUN_ARTIFACTS, run_id=run_id))
        return [Artifact.model_validate(a) for a in page["items"]]

    def download(self, run_id: int, name: str, directory: Path | str = ".") -> Path:
        """Save one artifact into `directory` and check its sha256 against the server's record."""
        found = {a.name: a for a in self.artifacts(run_id)}
        if name not in found:
            raise ApiError("GET", paths.fill(paths.RUN_ARTIFACT, run_id=run_id, name=name), 404,
                           f"run {run_id} has no artifact {name!r}; it has: {', '.join(sorted(found)) or 'none'}")
        target = Path(directory) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{name}.part")

        def fetch() -> httpx.Response:
            with self.http.stream("GET", found[name].url) as response:
                if response.status_code != 200:
                    response.read()  # the error body, for the message
                    return response
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                return response

        checked(self.transport.retrying("GET", found[name].url, fetch))
        digest = _sha256(partial)
        if digest != found[name].sha256:
            partial.unlink(missing_ok=True)
            raise ValueError(f"{name}: sha256 {digest} does not match the server's {found[name].sha256}")
        partial.replace(target)
        return target

    # -- catalogue and studies ------------------------------------------------
    def workers(self) -> list[WorkerInfo]:
        """Every recorded worker, the most recently heard first (online, lost or stopped)."""
        return [WorkerInfo.model_validate(item) for item in self._json("GET", paths.WORKERS)["items"]]

    def catalog(self) -> dict[str, Any]:
        """The catalogue (GET /api/schema/catalog): methods, datasets, metrics (label, unit, direction, format),
        statuses and artifacts, as contrastlab.core.catalog.catalog_document() builds it on the server."""
        return dict(self._json("GET", paths.CATALOG))

    def create_study(self, name: str, base: Mapping[str, Any], axes: Mapping[str, Any],
                     seeds: Sequence[int], search: Mapping[str, Any] | None = None) -> StudyCreated:
        """Queue the grid of a study (axes product x seeds), or with `search` its first trials (axes may then be
        ranges, {low, high, log}); a bad cell or field raises ApiError (422) naming it."""
        body: dict[str, Any] = {"name": name, "base": dict(base), "seeds": list(seeds),
                                "axes": {f: dict(v) if isinstance(v, Mapping) else list(v) for f, v in axes.items()}}
        if search is not None:
            body["search"] = dict(search)
        return StudyCreated.model_validate(self._json("POST", paths.STUDIES, json=body))

    def study_search(self, study_id: int) -> dict[str, Any]:
        """A search's trials, its best trial and its confirmation (GET /api/studies/{id}/search)."""
        return dict(self._json("GET", paths.fill(paths.STUDY_SEARCH, study_id=study_id)))

    def list_studies(self, limit: int = 50, offset: int = 0) -> tuple[list[Study], int]:
        """One page of studies, newest first, and how many there are."""
        page = self._json("GET", paths.STUDIES, params={"limit": limit, "offset": offset})
        return [Study.model_validate(item) for item in page["items"]], int(page["total"])

    def get_study(self, study_id: int) -> Study:
        return Study.model_validate(self._json("GET", paths.fill(paths.STUDY, study_id=study_id)))

    def study_stats(self, study_id: int, metric: str, baseline: str | None = None,
                    paired: str | None = None) -> StudyStats:
        """Per-cell mean and 95 % interval of `metric`, and each cell against the baseline cell (the server's);
        with `paired`, each cell's metric against that second metric of the same runs."""
        params = {"metric": metric} | ({"baseline": baseline} if baseline is not None else {})
        params |= {"paired": paired} if paired is not None else {}
        path = paths.fill(paths.STUDY_STATS, study_id=study_id)
        return StudyStats.model_validate(self._json("GET", path, params=params))

    def study_report(self, study_id: int, fmt: str = "md", metric: str | None = None,
                     baseline: str | None = None) -> tuple[str, str]:
        """The study's report (md, tex or html) and its figure (SVG), both from the server's /stats."""
        params = ({"metric": metric} if metric else {}) | ({"baseline": baseline} if baseline is not None else {})
        text = self.request("GET", paths.fill(paths.STUDY_REPORT, study_id=study_id),
                            params={"format": fmt} | params).text
        svg = self.request("GET", paths.fill(paths.STUDY_REPORT_FIGURE, study_id=study_id), params=params).text
        return text, svg

    def extend_study(self, study_id: int, seeds: int, cells: Sequence[str] | None = None) -> StudyCreated:
        """Queue `seeds` more runs in each chosen cell (every cell when None): new runs of the same study."""
        body: dict[str, Any] = {"seeds": seeds} | ({"cells": list(cells)} if cells else {})
        return StudyCreated.model_validate(self._json("POST", paths.fill(paths.STUDY_EXTEND, study_id=study_id),
                                                      json=body))

    def study_runs(self, study_id: int, page_size: int = 500) -> list[Run]:
        """Every run of a study (GET /api/runs?study_id=), newest first."""
        runs: list[Run] = []
        while True:
            page = self._json("GET", paths.RUNS, params={"study_id": study_id, "limit": page_size,
                                                           "offset": len(runs)})
            runs += [Run.model_validate(item) for item in page["items"]]
            if len(page["items"]) < page_size:  # the last page (a total past 10,000 is only a lower bound)
                return runs


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
