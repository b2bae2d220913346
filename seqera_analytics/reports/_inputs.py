"""What a report reads: the DataFrames a user holds, or a cache's committed files.

Two ways in, one definition. From frames, only the columns a report names are handed to the
engine, as Arrow (numeric columns without a copy). From a cache, the engine reads exactly the
Parquet files its ``state.json`` lists as committed (a killed sync can leave files no commit
names; they are never read), with the workspace filter applied to the file list and every
other filter and column choice pushed down to the scan. Run filters (pipeline, user, run
status) select runs, and tasks through their runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from .._exceptions import CacheError, ReportError
from ..frames.schema import RUN_STATUSES
from ..store import Cache
from ._engine import CANONICAL, SPECS, Engine, engine_for

__all__ = ["Inputs", "Request", "Scope", "Sources", "run_query"]


@dataclass
class Sources:
    """The tables a report reads, on its engine.

    Attributes
    ----------
    tasks : ibis Table or None
        Tasks of the selected runs (run filters applied).
    runs : ibis Table or None
        Selected runs, one row per ``run_id``.
    all_tasks : ibis Table or None
        Tasks before the run filters (for reports that apply them after aggregating).
    run_filter : bool
        Whether a run filter (pipeline, user, run status, or a workspace on frames) is in
        force: ``tasks`` is then ``all_tasks`` semi-joined to ``runs``.
    """

    engine: Engine
    tasks: ir.Table | None = None
    runs: ir.Table | None = None
    all_tasks: ir.Table | None = None
    run_filter: bool = False
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    cache: Cache | None = None
    task_files: list[Path] = field(default_factory=list)
    _windows: dict[tuple[Any, ...], ir.Table] = field(default_factory=dict)

    def tasks_in(self, lo: int | None, hi: int | None, *, all_runs: bool = False) -> ir.Table:
        """The tasks that can be attributed to ``[lo, hi)`` (ms): from a cache, only the
        files whose footer statistics allow such a task (see :func:`_may_hold`), so a
        month's report on years of history reads about a month of files. Rows still need
        the window filter. ``all_runs`` skips the run filters (applied later by the caller).
        Reports whose figures need *all* of a run's tasks use :attr:`tasks` instead."""
        table = self.all_tasks if all_runs else self.tasks
        assert table is not None
        if self.cache is None or (lo is None and hi is None):
            return table
        key = (lo, hi, all_runs)
        if key not in self._windows:
            files = [f for f in self.task_files if _may_hold(self.cache, f, lo, hi)]
            t = self.engine.from_files("tasks", files, self.cache.path / "tasks", self.cleanup)
            if self.run_filter and not all_runs:
                assert self.runs is not None
                t = t.semi_join(self.runs.select("run_id"), "run_id")
            self._windows[key] = t
        return self._windows[key]

    def close(self) -> None:
        for fn in self.cleanup:
            try:
                fn()
            except Exception:  # pragma: no cover - best effort (a stopped Spark session)
                pass
        self.cleanup.clear()


_TIMES = ("complete", "start", "submit")


def _may_hold(cache: Cache, file: Path, lo: int | None, hi: int | None) -> bool:
    """Whether a tasks file can hold a task attributed to ``[lo, hi)``.

    A task's instant is its first non-null of complete, start, submit, so it lies within the
    union of those columns' ranges (from the footer). A task with all three null falls back
    to its run's submission, which lies in the file's partition month. Missing statistics
    keep the file.
    """
    ranges = cache.time_ranges([file], _TIMES)[0]
    if not all(r.known for r in ranges.values()):
        return True
    values = [(r.lo, r.hi) for r in ranges.values() if r.lo is not None]
    first = min((v[0] for v in values), default=None)
    last = max((v[1] for v in values), default=None)
    if all(r.nulls > 0 for r in ranges.values()):
        part = cache.partition_of(file)
        if part is None:
            return True
        if part[1] != "unknown":  # "unknown": no run submission, no instant, no window
            start = pd.Timestamp(part[1] + "-01", tz="UTC")
            month = (
                int(start.value // 1_000_000),
                int((start + pd.offsets.MonthBegin(1)).value // 1_000_000) - 1,
            )
            first = month[0] if first is None else min(first, month[0])
            last = month[1] if last is None else max(last, month[1])
    if first is None or last is None:
        return False
    return not ((lo is not None and last < lo) or (hi is not None and first >= hi))


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(value)] if isinstance(value, (str, int)) else [str(v) for v in value]


def _statuses(value: Any) -> list[str] | None:
    values = _as_list(value)
    if values is None:
        return None
    out = [v.strip().upper() for v in values]
    bad = [v for v in out if v not in RUN_STATUSES]
    if bad:
        raise ReportError(
            f"run_status={bad[0]!r} is not a run status; use one of "
            f"{', '.join(s.lower() for s in RUN_STATUSES)}"
        )
    return out


def _to_arrow(df: pd.DataFrame, columns: Sequence[str], table: str) -> pa.Table:
    """The named columns of a user's frame as a canonical Arrow table."""
    schema = CANONICAL[table]
    spec = SPECS[table]
    arrays = []
    for name in columns:
        target = schema.field(name).type
        s = df[name]
        kind = spec[name].type
        if pa.types.is_timestamp(kind):
            ts = s if isinstance(s.dtype, pd.DatetimeTZDtype) else pd.to_datetime(s, utc=True)
            arr = pa.array(ts.dt.tz_convert("UTC").astype("datetime64[ms, UTC]")).cast(pa.int64())
        elif pa.types.is_duration(kind):
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                arr = pa.array(pd.to_numeric(s).astype("Float64")).cast(pa.int64(), safe=False)
            else:
                td = pd.to_timedelta(s).astype("timedelta64[ms]")
                arr = pa.array(td).cast(pa.int64())
        elif pa.types.is_list(target):
            arr = pa.array([_as_labels(v) for v in s.to_numpy(dtype=object)], target)
        elif pa.types.is_string(target):
            arr = pa.array(s.astype("string").to_numpy(dtype=object, na_value=None), pa.string())
        else:
            arr = pa.Array.from_pandas(s)
            if arr.type != target:
                try:
                    arr = arr.cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    numeric = pd.to_numeric(pd.Series(s.to_numpy(dtype=object)), errors="coerce")
                    arr = pa.array(numeric.astype("Float64"))  # e.g. fractional "cpus"
                    if pa.types.is_integer(target):
                        arr = arr.cast(pa.float64())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(columns)) if columns else pa.table({})


def _as_labels(v: Any) -> list[str] | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, str):
        return [v]
    return [str(x) for x in list(v) if x is not None]


def _require(df: Any, columns: Sequence[str], table: str, why: str) -> None:
    if df is None:
        raise ReportError(f"{why} needs the {table} frame (pass {table}=...)")
    if not isinstance(df, pd.DataFrame):
        raise ReportError(f"{table} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportError(
            f"the {table} frame lacks column(s) {', '.join(missing)} that this "
            f"report needs (see seqera_analytics.frames.describe({table!r}))"
        )


def _with(columns: Sequence[str], *names: str) -> list[str]:
    """``columns`` without duplicates, with ``names`` first when missing."""
    cols = list(dict.fromkeys(columns))
    return [*(n for n in names if n not in cols), *cols]


@dataclass(frozen=True)
class Request:
    """What a report reads.

    ``task_columns``/``run_columns``: the columns a report needs from frames (``None``: the
    table is not read); ``run_optional``: runs columns used when present (null otherwise);
    ``runs_required``: why the report cannot do without runs ("" when it can: then runs are
    used when given, e.g. for run-level keys and the attribution fallback).
    """

    task_columns: Sequence[str] | None = None
    run_columns: Sequence[str] | None = None
    run_optional: Sequence[str] = ()
    runs_required: str = ""


@dataclass(frozen=True)
class Scope:
    """Which runs a report covers (see the ``{inputs}`` parameters of the reports)."""

    workspace: Any = None
    pipeline: Any = None
    user: Any = None
    run_status: Any = None

    def run_columns(self, from_cache: bool) -> list[str]:
        cols = []
        if self.pipeline is not None:
            cols.append("project_name")
        if self.user is not None:
            cols.append("user_name")
        if self.run_status is not None:
            cols.append("status")
        if self.workspace is not None and not from_cache:
            cols += ["workspace", "workspace_id"]
        return cols

    def conditions(self, r: ir.Table, from_cache: bool) -> list[ir.BooleanValue]:
        conds = []
        if (pipelines := _as_list(self.pipeline)) is not None:
            conds.append(r.project_name.isin(pipelines))
        if (users := _as_list(self.user)) is not None:
            conds.append(r.user_name.isin(users))
        if (statuses := _statuses(self.run_status)) is not None:
            conds.append(r.status.upper().isin(statuses))
        if self.workspace is not None and not from_cache:  # a cache prunes files instead
            text = str(self.workspace).strip()
            by_name = r.workspace.lower() == text.lower()
            conds.append((by_name | (r.workspace_id == int(text))) if text.isdigit() else by_name)
        return conds


def _open(engine: Engine, req: Request, scope: Scope, tasks: Any, runs: Any, cache: Any) -> Sources:
    src = Sources(engine)
    filter_cols = scope.run_columns(cache is not None)
    use_runs = req.run_columns is not None or bool(filter_cols)
    try:
        if cache is not None:
            if tasks is not None or runs is not None:
                raise ReportError("pass either the tasks/runs frames or cache=..., not both")
            c = cache if isinstance(cache, Cache) else Cache(cache)
            if not c.is_cache():
                raise CacheError(
                    f"{c.path} is not a seqera-analytics cache (no state.json): sync into it "
                    f"first (seqera-analytics sync --workspace ORG/WS --cache {c.path})"
                )
            wids = None if scope.workspace is None else [c.workspace_id(scope.workspace)]
            src.cache = c
            if req.task_columns is not None:
                src.task_files = c.committed_files("tasks", wids)
                src.all_tasks = engine.from_files(
                    "tasks", src.task_files, c.path / "tasks", src.cleanup
                )
            if use_runs:
                files = c.committed_files("runs", wids)
                src.runs = engine.from_files("runs", files, c.path / "runs", src.cleanup)
        else:
            if tasks is None and runs is None:
                raise ReportError(
                    "pass the tasks (and runs) DataFrames, or cache=... to read a cache "
                    "(e.g. cache=seqera_analytics.store.default_cache_dir())"
                )
            if req.task_columns is not None:
                _require(tasks, req.task_columns, "tasks", "this report")
                cols = _with(req.task_columns, "run_id")
                src.all_tasks = engine.from_arrow(_to_arrow(tasks, cols, "tasks"), src.cleanup)
            if req.runs_required:
                _require(runs, [], "runs", req.runs_required)
            if filter_cols:
                _require(runs, [], "runs", "filtering by pipeline, user, run status or workspace")
            if runs is not None and use_runs:
                cols = _with([*(req.run_columns or []), *filter_cols], "run_id")
                _require(runs, cols, "runs", "this report")
                optional = [c for c in req.run_optional if c not in cols]
                present = [c for c in optional if c in runs.columns]
                r = runs.drop_duplicates("run_id", keep="last")
                table = _to_arrow(r, [*cols, *present], "runs")
                for name in optional:
                    if name not in present:
                        typ = CANONICAL["runs"].field(name).type
                        table = table.append_column(name, pa.nulls(table.num_rows, typ))
                src.runs = engine.from_arrow(table, src.cleanup)
        if src.runs is not None:
            conds = scope.conditions(src.runs, cache is not None)
            if conds:
                src.runs = src.runs.filter(*conds)
                src.run_filter = True
        src.tasks = src.all_tasks
        if src.run_filter and src.all_tasks is not None and src.runs is not None:
            src.tasks = src.all_tasks.semi_join(src.runs.select("run_id"), "run_id")
        return src
    except BaseException:
        src.close()
        raise


@dataclass(frozen=True)
class Inputs:
    """What a report was given to read: frames or a cache, the run scope and the engine
    (the parameters every report function takes; see ``{inputs}`` in their docstrings)."""

    tasks: Any = None
    runs: Any = None
    cache: Any = None
    workspace: Any = None
    pipeline: Any = None
    user: Any = None
    run_status: Any = None
    backend: Any = None


def run_query(build: Callable[[Sources], ir.Table], req: Request, inputs: Inputs) -> pa.Table:
    """Open the inputs, build the report's expression on them and execute it.

    A cache read that loses a race with a sync (a file named by the state it read was
    replaced meanwhile) is retried with the new state, twice.

    Raises
    ------
    ReportError
        Bad inputs: both or neither of frames and cache, a frame lacking a needed column, an
        unknown run status.
    CacheError
        ``cache`` is not a cache, the workspace is not cached, or its files are gone.
    """
    engine = engine_for(inputs.backend)
    scope = Scope(inputs.workspace, inputs.pipeline, inputs.user, inputs.run_status)
    cache = inputs.cache
    for attempt in range(3):
        src: Sources | None = None
        try:
            with engine.lock:
                src = _open(engine, req, scope, inputs.tasks, inputs.runs, cache)
                return engine.execute(build(src))
        except (ReportError, CacheError):
            raise
        except Exception as exc:
            if cache is None or not engine.missing_file(exc):
                raise
            if attempt == 2:
                raise CacheError(
                    f"The cache at {cache} lists a file that is gone ({str(exc).splitlines()[0]}). "
                    "Run `seqera-analytics sync` for the workspace: it drops the damaged part and "
                    "fetches those runs again."
                ) from None
            time.sleep(0.05)
        finally:
            if src is not None:
                with engine.lock:
                    src.close()
    raise AssertionError("unreachable")  # pragma: no cover
