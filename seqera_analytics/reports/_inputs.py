"""What a report reads: the DataFrames a user holds, or a cache's committed files.

Two ways in, one definition. From frames, only the columns a report names are handed to the
engine, as Arrow (:mod:`._convert`). From a cache, the engine reads exactly the tasks files
its ``state.json`` lists as committed plus those of the active area (runs not finished),
read once per report (a killed sync can leave files no commit names; they are never read),
with the workspace filter applied to the file list, the files a date window cannot touch
skipped, and columns and the other filters pushed down to the scan. The runs (one row per
run, small) come from :meth:`Cache.read_table`, so they carry the latest facts (labels,
deleted, ``unlisted_since``...) the cache keeps apart from the runs files. Either way the report sees the same columns, in the canonical form. Run filters
(pipeline, user, run status) select runs, and tasks through their runs.
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
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .._exceptions import CacheError, ReportError
from ..frames.schema import RUN_STATUSES
from ..store import Cache
from ._billed import open_billing
from ._convert import to_arrow
from ._engine import CANONICAL, SPARK_LOCAL_ONLY, Engine, engine_for
from ._notes import (
    coverage,
    deleted_runs,
    history_note,
    known_span,
    left_out,
    unlisted_runs,
    with_notes,
)

__all__ = ["Inputs", "Request", "Scope", "Sources", "run_query"]

_TIMES = ("complete", "start", "submit")


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
    task_columns: list[str] = field(default_factory=list)
    #: Runs the Platform marks deleted, left out of the report (in its scope and window).
    deleted_runs: int = 0
    #: Runs in scope and window that the Platform no longer lists (kept and counted).
    unlisted_runs: int = 0
    #: From a cache: the span its sync history covers, ``(covered since, last synced)`` in
    #: int ms (``None``: open), over the workspaces read.
    known: tuple[int | None, int | None] = (None, None)
    #: The imported bill (``_billed.BILLING_CANONICAL``) and the run ids it can match (every
    #: cached run, whatever the scope: a line of a run outside it is not "unattributed").
    billing: ir.Table | None = None
    cached_runs: ir.Table | None = None
    _views: dict[tuple[Any, ...], ir.Table] = field(default_factory=dict)

    def _tasks_from(self, files: list[Path], all_runs: bool) -> ir.Table:
        assert self.cache is not None
        c = self.cache
        if c.is_remote:  # an object store: DuckDB scans a pyarrow dataset over its files
            t = self.engine.from_dataset("tasks", c.arrow_dataset("tasks", files, int_times=True) if files else None,
                                         self.cleanup)
        else:
            active = [f for f in files if c.is_active_file(f)]
            tree = [f for f in files if not c.is_active_file(f)]
            t = self.engine.from_files("tasks", tree, c.path / "tasks", self.cleanup)
            if active:  # runs not finished: in the active area, a tree of their own
                more = self.engine.from_files("tasks", active, c.path / "_active" / "tasks", self.cleanup)
                t = t.union(more) if tree else more
        t = t.select(*self.task_columns)
        if self.run_filter and not all_runs:
            assert self.runs is not None
            t = t.semi_join(self.runs.select("run_id"), "run_id")
        return t

    def tasks_in(self, lo: int | None, hi: int | None, *, all_runs: bool = False) -> ir.Table:
        """The tasks that can be attributed to ``[lo, hi)`` (ms): from a cache, only the
        files whose footer statistics allow such a task (see :func:`_may_hold`), so a
        month's report on years of history reads about a month of files. Rows still need
        the window filter. ``all_runs`` skips the run filters (applied later by the caller).
        Reports whose figures need *all* of a run's tasks use :meth:`tasks_of`."""
        table = self.all_tasks if all_runs else self.tasks
        assert table is not None
        if self.cache is None or (lo is None and hi is None):
            return table
        key = ("window", lo, hi, all_runs)
        if key not in self._views:
            files = [f for f in self.task_files if _may_hold(self.cache, f, lo, hi)]
            self._views[key] = self._tasks_from(files, all_runs)
        return self._views[key]

    def flagged_tasks_in(self, lo: int | None, hi: int | None) -> ir.Table | None:
        """Tasks with a data-quality finding that ``[lo, hi)`` can hold, run filters applied
        (rows still need the window filter); from a cache only the files whose footers show
        findings are read, and ``None`` when no file has any."""
        if self.cache is None:
            table = self.all_tasks if lo is None and hi is None else self.tasks_in(lo, hi, all_runs=True)
        else:
            files = self.cache.with_quality_findings(
                [f for f in self.task_files if _may_hold(self.cache, f, lo, hi)])
            if not files:
                return None
            table = self._tasks_from(files, all_runs=True)
        assert table is not None
        t = table.filter(table.quality.notnull())
        t = t.filter(t.quality.length() > 0)
        if self.run_filter and self.runs is not None:
            t = t.semi_join(self.runs.select("run_id"), "run_id")
        return t

    def tasks_of(self, runs: ir.Table, windowed: bool) -> ir.Table:
        """All tasks of the selected runs, reading (from a cache, with a ``windowed`` run
        selection) only the partitions those runs live in: a run's tasks sit in its
        workspace and submission month. One small query finds the partitions."""
        assert self.tasks is not None
        if self.cache is None or not windowed:
            return self.tasks
        found = self.engine.execute(runs.select("workspace_id", "submit").distinct())
        ws = found.column("workspace_id").to_pylist()
        ms = found.column("submit").to_numpy(zero_copy_only=False)
        months = [
            "unknown" if np.isnan(m) else str(np.datetime64(int(m), "ms").astype("datetime64[M]"))
            for m in ms.astype("float64")
        ]
        parts = set(zip(ws, months))
        files = [f for f in self.task_files if self.cache.partition_of(f) in parts]
        return self._tasks_from(files, all_runs=False)

    def close(self) -> None:
        for fn in self.cleanup:
            try:
                fn()
            except Exception:  # pragma: no cover - best effort (a stopped Spark session)
                pass
        self.cleanup.clear()


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


# ------------------------------------------------------------------------------ arguments
def _names(value: Any, what: str) -> list[str] | None:
    """A filter value as a list of names: one str, or a sequence of str."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset, pd.Index, pd.Series, np.ndarray)):
        items = list(value)
        if all(isinstance(v, str) for v in items):
            return items
    raise ReportError(f"{what} must be a name or a list of names, got {value!r}")


def _statuses(value: Any) -> list[str] | None:
    values = _names(value, "run_status")
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


def _workspace(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, np.integer)):
        raise ReportError(f"workspace must be one 'org/workspace' name or id, got {value!r}")
    return str(value).strip()


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

    ``task_columns``/``run_columns``: the columns a report needs (``None``: the table is not
    read); ``run_optional``: runs columns used when present (null otherwise);
    ``runs_required``: why the report cannot do without runs ("" when it can: then runs are
    used when given, e.g. for run-level keys and the attribution fallback). Every report
    also reads the tasks' ``quality`` (null on frames without it), for its note.
    """

    task_columns: Sequence[str] | None = None
    run_columns: Sequence[str] | None = None
    run_optional: Sequence[str] = ()
    runs_required: str = ""
    #: The report's ``[since, until)`` (int ms), for the note on what it left out.
    window: tuple[int | None, int | None] = (None, None)
    #: Whether the report reads the imported bill (``Sources.billing``).
    billing: bool = False


@dataclass(frozen=True)
class Scope:
    """Which runs a report covers (see the ``{inputs}`` parameters of the reports)."""

    workspace: str | None = None
    pipeline: list[str] | None = None
    user: list[str] | None = None
    run_status: list[str] | None = None

    @classmethod
    def of(cls, workspace: Any, pipeline: Any, user: Any, run_status: Any) -> Scope:
        """Validated filters (one clear error for a value of the wrong kind)."""
        return cls(
            _workspace(workspace),
            _names(pipeline, "pipeline"),
            _names(user, "user"),
            _statuses(run_status),
        )

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
        if self.pipeline is not None:
            conds.append(r.project_name.isin(self.pipeline))
        if self.user is not None:
            conds.append(r.user_name.isin(self.user))
        if self.run_status is not None:
            conds.append(r.status.upper().isin(self.run_status))
        if self.workspace is not None and not from_cache:  # a cache prunes files instead
            text = self.workspace
            by_name = r.workspace.lower() == text.lower()
            conds.append((by_name | (r.workspace_id == int(text))) if text.isdigit() else by_name)
        return conds

    def check_frame(self, runs: pd.DataFrame) -> None:
        """On frames, a workspace the runs do not hold is an error, as on a cache."""
        if self.workspace is None:
            return
        text = self.workspace
        names = runs["workspace"].astype("string").str.lower()
        hit = (names == text.lower()).fillna(False)
        if text.isdigit():
            hit |= (pd.to_numeric(runs["workspace_id"], errors="coerce") == int(text)).fillna(False)
        if not hit.any():
            held = sorted(runs["workspace"].dropna().astype(str).unique())
            raise ReportError(
                f"workspace {text!r} is not in the runs frame (it holds: "
                f"{', '.join(held[:10]) or 'no workspace names'})"
            )


def _cache_of(cache: Any) -> Cache:
    if isinstance(cache, Cache):
        c = cache
    elif isinstance(cache, (str, Path)) or hasattr(cache, "__fspath__"):
        c = Cache(cache)
    else:
        raise ReportError(f"cache must be a directory path or a Cache, got {cache!r}")
    if not c.is_cache():
        raise CacheError(
            f"{c.path} is not a seqera-analytics cache (no state.json): sync into it "
            f"first (seqera-analytics sync --workspace ORG/WS --cache {c.path})"
        )
    return c


def _open(engine: Engine, req: Request, scope: Scope, tasks: Any, runs: Any, cache: Any,
          billing: Any = None) -> Sources:
    src = Sources(engine)
    from_cache = cache is not None
    filter_cols = scope.run_columns(from_cache)
    use_runs = req.run_columns is not None or bool(filter_cols)
    task_cols = _with([*(req.task_columns or []), "quality"], "run_id")
    run_cols = _with([*(req.run_columns or []), *filter_cols], "run_id")
    deleted: ir.Table | None = None
    try:
        if from_cache:
            if tasks is not None or runs is not None:
                raise ReportError("pass either the tasks/runs frames or cache=..., not both")
            c = _cache_of(cache)
            if c.is_remote and engine.name == "pyspark":
                raise ReportError(SPARK_LOCAL_ONLY)
            state = c.state()  # once: tasks and runs of the same commit
            wids = None if scope.workspace is None else [c.workspace_id(scope.workspace)]
            src.cache = c
            src.known = known_span(state, wids)
            if req.task_columns is not None:
                src.task_files = c.committed_files("tasks", wids, state=state)
                src.task_columns = task_cols
                src.all_tasks = src._tasks_from(src.task_files, all_runs=True)
            r = engine.from_arrow(_canonical_runs(c, wids), src.cleanup)
            deleted = deleted_runs(engine, r, req.window)
            src.unlisted_runs = unlisted_runs(engine, r, req.window, lambda t: scope.conditions(t, True))
            if use_runs or deleted is not None:
                # the partition columns too: tasks_of() finds a run's files with them
                cols = _with([*run_cols, *req.run_optional], "run_id", "workspace_id", "submit")
                src.runs = r.select(*_with(cols, "deleted"))
            if req.billing:
                open_billing(src, engine, billing, c, state, None, None)
        else:
            if tasks is None and runs is None:
                raise ReportError(
                    "pass the tasks (and runs) DataFrames, or cache=... to read a cache "
                    "(e.g. cache=seqera_analytics.Cache() for the default one)"
                )
            if req.task_columns is not None:
                given = [c for c in task_cols if c != "quality" or c in tasks.columns]
                _require(tasks, given, "tasks", "this report")
                table = to_arrow(tasks, given, "tasks")
                if "quality" not in given:  # frames of an older release, or made by hand
                    table = table.append_column("quality", pa.nulls(table.num_rows, CANONICAL["tasks"].field("quality").type))
                src.all_tasks = engine.from_arrow(table, src.cleanup)
            if req.runs_required:
                _require(runs, [], "runs", req.runs_required)
            if filter_cols:
                _require(runs, [], "runs", "filtering by pipeline, user, run status or workspace")
            marked = runs is not None and "deleted" in runs.columns and bool(
                pc.any(to_arrow(runs, ["deleted"], "runs").column("deleted")).as_py())
            if runs is not None and (use_runs or marked):
                _require(runs, run_cols, "runs", "this report")
                scope.check_frame(runs)
                extra = ["deleted", *(_TIMES if marked else ())]
                optional = list(dict.fromkeys(c for c in [*req.run_optional, *extra] if c not in run_cols))
                present = [c for c in optional if c in runs.columns]
                r = runs.drop_duplicates("run_id", keep="last")
                table = to_arrow(r, [*run_cols, *present], "runs")
                for name in optional:
                    if name not in present:
                        typ = CANONICAL["runs"].field(name).type
                        table = table.append_column(name, pa.nulls(table.num_rows, typ))
                src.runs = engine.from_arrow(table, src.cleanup)
                if marked:
                    deleted = deleted_runs(engine, src.runs, req.window)
            if req.billing:
                open_billing(src, engine, billing, None, None, tasks, runs)
        if src.runs is not None:
            conds = scope.conditions(src.runs, from_cache)
            if deleted is not None:
                src.deleted_runs = int(engine.execute(
                    deleted.semi_join(src.runs.filter(*conds) if conds else src.runs, "run_id")
                    .count().name("n").as_table()).column("n")[0].as_py())
                # Deleted runs are left out of every report (and said so in its note).
                conds.append(~src.runs.deleted.fill_null(False))
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
    billing: Any = None


#: How long a report keeps retrying while a sync replaces the files it was reading [s].
RETRY_WINDOW_S = 30.0


def run_query(build: Callable[[Sources], ir.Table], req: Request, inputs: Inputs) -> pa.Table:
    """Open the inputs, build the report's expression on them and execute it.

    A cache read that loses a race with a sync (a commit replaced files named by the state
    it read) starts again on the new state, for up to :data:`RETRY_WINDOW_S` while commits
    keep coming; a listed file that is gone, or damaged, with no commit in between, is a
    :class:`CacheError`.

    Raises
    ------
    ReportError
        Bad inputs: both or neither of frames and cache, a frame lacking a needed column or
        holding values of the wrong kind, a filter of the wrong kind or an unknown run status.
    CacheError
        ``cache`` is not a cache, the workspace is not cached, or a file it lists is gone or
        damaged.
    """
    engine = engine_for(inputs.backend)
    scope = Scope.of(inputs.workspace, inputs.pipeline, inputs.user, inputs.run_status)
    cache = inputs.cache
    deadline = time.monotonic() + RETRY_WINDOW_S
    delay = 0.02
    while True:
        src: Sources | None = None
        before = _state_files(cache)
        try:
            with engine.lock:
                src = _open(engine, req, scope, inputs.tasks, inputs.runs, cache, inputs.billing)
                table = engine.execute(build(src))
                return with_notes(table, [*left_out(src, req), *history_note(src, req)],
                                  coverage(src, req))
        except (ReportError, CacheError):
            raise
        except Exception as exc:
            if cache is None:
                raise
            problem = engine.file_problem(exc)
            if problem is None:
                raise
            changed = _state_files(cache) != before
            if changed and time.monotonic() < deadline:
                time.sleep(delay)  # a sync committed meanwhile: start again on its state
                delay = min(delay * 2, 1.0)
                continue
            path = src.cache.path if src is not None and src.cache is not None else cache
            if changed:
                raise CacheError(
                    f"The cache at {path} kept changing while the report read it (a sync is "
                    "committing); run the report again when the sync is done."
                ) from None
            if problem == "missing":
                raise CacheError(
                    f"The cache at {path} lists a file that is gone ({_first_line(exc)}). Run "
                    "`seqera-analytics sync` for the workspace: it drops the lost part and "
                    "fetches those runs again."
                ) from None
            raise CacheError(
                f"The cache at {path} has a damaged file ({_first_line(exc)}). Sync the "
                "workspace into a new cache directory."
            ) from None
        finally:
            if src is not None:
                with engine.lock:
                    src.close()


def _canonical_runs(c: Cache, wids: list[int] | None) -> pa.Table:
    """The cache's runs (facts overlaid) of some workspaces, in the canonical form."""
    filt = None
    if wids is not None:
        filt = ds.field("workspace_id").isin(pa.array([0 if w is None else int(w) for w in wids], pa.int64()))
    table = c.read_table("runs", filt)
    schema = CANONICAL["runs"]
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)


def _state_files(cache: Any) -> Any:
    """The committed state's generation and file lists, to tell a commit in between from damage."""
    if cache is None:
        return None
    try:
        c = cache if isinstance(cache, Cache) else Cache(cache)
        st = c.state()
        return st.generation, st.files, st.active, st.facts
    except (CacheError, OSError, TypeError, ValueError):
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
