"""A search's decisions, each one transaction of ours: start its first trials, prune a trial as its k-NN monitor
arrives, sample the next trials as others end, and once the trials are spent, rerun the best configuration and
the baseline on fresh seeds (the confirmation).

Each decision first bumps the study's `search_version` from the value it read with a guarded UPDATE: of two API
processes deciding at once, one updates nothing and steps back (the other's decision stands), so a trial is never
sampled twice nor a confirmation started twice. A decision is also retaken from the rows whenever asked
(`advance`), so a restart or a run ended by the reconciler loses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from backend.models import Event, Run, SearchRun, Study, utcnow
from backend.runs import lifecycle
from backend.studies.grid import Cell, _text, _validated, cell_key
from backend.studies.schemas import SearchConfig
from backend.studies.search import optimizer
from backend.studies.search.optimizer import TrialRecord
from backend.studies.search.space import baseline_values, cell_values
from contrastlab.core.catalog import Status
from contrastlab.core.settings import Settings
from contrastlab.core.spec import SPEC_VERSION

MONITOR = "knn_acc"  # the k-NN monitor: the intermediate values the pruner compares
# A run's status as its trial's state (Optuna's own enum): a run not yet ended is a running trial.
STATE_OF = {Status.QUEUED: TrialState.RUNNING, Status.RUNNING: TrialState.RUNNING,
            Status.SUCCEEDED: TrialState.COMPLETE, Status.PRUNED: TrialState.PRUNED,
            Status.FAILED: TrialState.FAIL, Status.CANCELED: TrialState.FAIL}


def config_of(study: Study) -> SearchConfig:
    """The study's search settings, less what the service adds (`stopped`, `why`)."""
    stored = study.search or {}
    return SearchConfig.model_validate({k: v for k, v in stored.items() if k in SearchConfig.model_fields})


def _shown(values: dict[str, Any]) -> str:
    return ", ".join(f"{field}={_text(value)}" for field, value in values.items())


def _row(study: Study, name: str, cell: str, spec: dict[str, Any], now: Any) -> dict[str, Any]:
    return {"name": name[:120], "status": Status.QUEUED, "spec": spec, "spec_version": SPEC_VERSION, "summary": {},
            "progress": 0.0, "attempt": 0, "cancel_requested": False, "created_at": now, "method": spec["method"],
            "dataset": spec["dataset"], "encoder": spec["encoder"], "study_id": study.id, "study_cell": cell}


def _insert_runs(session: Session, study: Study, rows: list[dict[str, Any]], extra: list[dict[str, Any]],
                 settings: Settings) -> list[Run]:
    """Insert the runs and their search rows (same order), queued with their status event; the new runs."""
    if not rows:
        return []
    before = session.scalar(select(func.max(Run.id))) or 0
    session.execute(insert(Run), rows)
    created = list(session.scalars(select(Run).where(Run.study_id == study.id, Run.id > before).order_by(Run.id)))
    session.execute(insert(SearchRun), [{**e, "run_id": run.id, "study_id": study.id, "intermediate": {},
                                         "system_attrs": e.get("system_attrs", {})}
                                        for e, run in zip(extra, created, strict=True)])
    session.execute(insert(Event), [{"run_id": run.id, "kind": "status", "name": Status.QUEUED, "text": Status.QUEUED,
                                     "time": utcnow()} for run in created])
    return created


def members(session: Session, study_id: int) -> list[tuple[SearchRun, Run]]:
    """The search's rows with their runs, in the order they were created."""
    rows = session.execute(select(SearchRun, Run).join(Run, Run.id == SearchRun.run_id)
                           .where(SearchRun.study_id == study_id).order_by(Run.id)).all()
    return [(row, run) for row, run in rows]


def _value(run: Run, metric: str) -> float | None:
    value = (run.summary or {}).get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def records(pairs: Sequence[tuple[SearchRun, Run]], metric: str) -> list[TrialRecord]:
    """The trials as Optuna reads them: a finished run without the metric counts as failed."""
    found = []
    for row, run in pairs:
        if row.role != "trial":
            continue
        state = STATE_OF.get(Status(run.status), TrialState.FAIL)
        value = _value(run, metric) if state == TrialState.COMPLETE else None
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL
        found.append(TrialRecord(int(row.number or 0), dict(row.params), state, value,
                                 optimizer.intermediate_of(row.intermediate or {}), dict(row.system_attrs or {})))
    return found


def _claim_decision(session: Session, study: Study) -> bool:
    """Bump the study's decision counter from the value read; False (and rolled back) when another process did."""
    seen = study.search_version or 0
    done = session.execute(update(Study).where(Study.id == study.id, Study.search_version == seen)
                           .values(search_version=seen + 1))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    return True


def _trial_rows(session: Session, study: Study, config: SearchConfig, settings: Settings,
                pairs: list[tuple[SearchRun, Run]], count: int) -> tuple[list[dict], list[dict]]:
    """`count` new trials sampled one after the other (each sees the ones before as running)."""
    known = records(pairs, config.metric)
    rows, extra = [], []
    seed = study.seeds[0]
    for _ in range(count):
        number = len(known)
        params, attrs = optimizer.ask(config, study.axes, known, seed=study.id * 100_003 + number)
        values = cell_values(study.base, study.axes, params)
        cell = _validated(values, study.base, settings)
        known.append(TrialRecord(number, params, TrialState.RUNNING, system_attrs=attrs))
        name = f"{study.name} · trial {number} · {_shown(values)}"
        if isinstance(cell, Cell):
            spec = cell.spec.model_copy(update={"seed": seed, "name": name[:120]}).model_dump(mode="json")
            rows.append(_row(study, name, f"trial {number}: {cell_key(values)}", spec, utcnow()))
        else:  # a sampled value the spec refuses: the trial fails, with the reason, and the search goes on
            spec = {**study.base, **values, "seed": seed, "name": name[:120]}
            why = "; ".join(str(e["msg"]) for e in cell)[:4000]
            rows.append({**_row(study, name, f"trial {number}: {cell_key(values)}",
                                {"method": "", "dataset": "", "encoder": "", **spec}, utcnow()),
                         "status": Status.FAILED, "error": f"sampled spec refused: {why}", "finished_at": utcnow()})
        extra.append({"role": "trial", "number": number, "params": params, "system_attrs": attrs})
    return rows, extra


def _confirm_rows(study: Study, config: SearchConfig, settings: Settings, best: TrialRecord
                  ) -> tuple[list[dict], list[dict], list[int]]:
    """The baseline's and the best trial's configurations on `confirm_seeds` fresh seeds (after every seed the
    study has used), baseline first."""
    start = max(study.seeds) + 1
    seeds = list(range(start, start + config.confirm_seeds))
    cells = [baseline_values(study.base, study.axes), cell_values(study.base, study.axes, best.params)]
    if cell_key(cells[0]) == cell_key(cells[1]):
        cells = cells[:1]
    rows, extra = [], []
    for values in cells:
        cell = _validated(values, study.base, settings)
        assert isinstance(cell, Cell)  # the baseline was checked at creation, the best trial ran
        for seed in seeds:
            name = f"{study.name} · confirm · {_shown(values)} · seed {seed}"
            spec = cell.spec.model_copy(update={"seed": seed, "name": name[:120]}).model_dump(mode="json")
            rows.append(_row(study, name, cell_key(values), spec, utcnow()))
            extra.append({"role": "confirm", "number": None, "params": values})
    return rows, extra, seeds


def _group(session: Session, created: Sequence[Run], per_cell: int) -> None:
    """Each confirmation cell's seeds are a seed group (its first run's id), as a grid cell's."""
    for i in range(0, len(created), per_cell):
        ids = [run.id for run in created[i:i + per_cell]]
        session.execute(update(Run).where(Run.id.in_(ids)).values(group_id=ids[0]))


ATTEMPTS = 5  # a decision lost to another process is retaken from a fresh read this many times


def advance(session: Session, study: Study, settings: Settings) -> list[Run]:
    """Take the search's next decision from its rows: sample trials up to `parallel` live ones and `trials` in all;
    once every trial is final, start the confirmation. The new runs (committed, to be sent), or [] when nothing is
    due. A decision lost to another process is retaken from a fresh read (the other may not have seen the run
    that ended here), so two trials ending at once never leave a slot idle or the confirmation unstarted."""
    for _ in range(ATTEMPTS):
        created = _decide(session, study, settings)
        if created is not None:
            return created
        session.expire_all()
    return []


def _decide(session: Session, study: Study, settings: Settings) -> list[Run] | None:
    """One decision: the new runs, [] when nothing is due, None when another process decided first."""
    if not study.search or study.search.get("stopped"):
        return []
    config = config_of(study)
    pairs = members(session, study.id)
    trials = [(row, run) for row, run in pairs if row.role == "trial"]
    live = sum(run.status in (Status.QUEUED, Status.RUNNING) for _, run in trials)
    more = min(config.trials - len(trials), config.parallel - live)
    confirm = more <= 0 and len(trials) >= config.trials and live == 0 and \
        not any(row.role == "confirm" for row, _ in pairs)
    if more <= 0 and not confirm:
        return []
    if not _claim_decision(session, study):
        return None
    if more > 0:
        rows, extra = _trial_rows(session, study, config, settings, pairs, more)
        created = _insert_runs(session, study, rows, extra, settings)
    else:
        best = optimizer.best(records(pairs, config.metric), config.direction)
        if best is None:  # no trial completed: nothing to confirm; the search ends without a verdict
            session.execute(update(Study).where(Study.id == study.id).values(
                search={**study.search, "stopped": True, "why": "no trial finished with a value"}))
            session.commit()
            return []
        rows, extra, seeds = _confirm_rows(study, config, settings, best)
        created = _insert_runs(session, study, rows, extra, settings)
        _group(session, created, len(seeds))
        session.execute(update(Study).where(Study.id == study.id).values(seeds=sorted({*study.seeds, *seeds})))
    session.commit()
    session.refresh(study)
    return [run for run in created if run.status == Status.QUEUED]


def on_points(session: Session, run: Run, points: Sequence[tuple[int, float]]) -> bool:
    """Record the trial's k-NN monitor values (epoch, value) and ask the pruner about the last one; True when the
    run was told to stop (it ends `pruned`)."""
    row = session.get(SearchRun, run.id)
    study = session.get(Study, run.study_id) if run.study_id is not None else None
    if row is None or row.role != "trial" or study is None or not study.search or not points:
        return False
    values = {**(row.intermediate or {}), **{str(epoch): value for epoch, value in points}}
    config = config_of(study)
    if config.pruner == "none" or run.status != Status.RUNNING or run.cancel_requested:
        session.execute(update(SearchRun).where(SearchRun.run_id == run.id).values(intermediate=values))
        session.commit()
        return False
    for _ in range(ATTEMPTS):  # another process's decision first: retaken on a fresh read
        if _claim_decision(session, study):
            break
        session.expire_all()
    else:
        return False
    row = session.get(SearchRun, run.id)
    assert row is not None
    row.intermediate = values
    known = records(members(session, study.id), config.metric)
    prune, attrs = optimizer.should_prune(config, study.axes, known, int(row.number or 0))
    session.execute(update(SearchRun).where(SearchRun.run_id == run.id).values(
        intermediate=values, system_attrs=attrs, pruned_epoch=max(int(k) for k in values) if prune else None))
    stopped = prune and lifecycle.request_prune(
        session, run.id, f"k-NN accuracy {max(values.items(), key=lambda kv: int(kv[0]))[1]:.4f} at epoch "
                         f"{max(int(k) for k in values)} is not in the best 1/{config.reduction_factor} of the trials "
                         "there (ASHA)")
    session.commit()
    return stopped


def stop(session: Session, study: Study) -> None:
    """No new trial nor confirmation after a study's cancel."""
    if study.search and not study.search.get("stopped"):
        session.execute(update(Study).where(Study.id == study.id).values(
            search={**study.search, "stopped": True, "why": "canceled"}))
        session.commit()
        session.refresh(study)
