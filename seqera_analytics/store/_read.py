"""Filtered reads of the cache; filters are pushed down to the Parquet scan.

Partition pruning uses ``workspace_id`` and ``month`` (of the run's submission); the rest
are row filters evaluated by the Arrow scanner. Per-run tables (tasks, metrics, progress)
are selected through the runs that match, so every filter a runs read takes (pipeline,
user, status...) works for tasks too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .._time import parse_instant
from ..frames import to_pandas
from ._cache import Cache, statuses_upper
from ._layout import PERSONAL_WORKSPACE_ID, month_of

__all__ = ["load_process_metrics", "load_process_progress", "load_runs", "load_tasks", "load_workspaces"]

CacheLike = Cache | str | Path | None


def _cache(cache: CacheLike) -> Cache:
    return cache if isinstance(cache, Cache) else Cache(cache)


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _instant(value: Any, name: str) -> pd.Timestamp | None:
    return parse_instant(value, name)


def _runs_filter(c: Cache, workspace: Any, since: Any, until: Any, pipeline: Any, user: Any,
                 status: Any, run_ids: Any) -> ds.Expression | None:
    parts: list[ds.Expression] = []
    if workspace is not None:
        parts.append(ds.field("workspace_id") == c.workspace_id(workspace))
    lo, hi = _instant(since, "since"), _instant(until, "until")
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(f"until ({hi}) must be after since ({lo})")
    if lo is not None:
        _warn_if_not_covered(c, workspace, lo)
    if hi is not None:
        # Prune months after `until`; then runs submitted before it.
        parts.append((ds.field("month") <= hi.strftime("%Y-%m")) | (ds.field("month") == "unknown"))
        parts.append(ds.field("submit") < pa.scalar(hi.to_pydatetime(), pa.timestamp("ms", tz="UTC")))
    if lo is not None:
        # Active in the window: not completed before it (still-running runs have no complete).
        lo_s = pa.scalar(lo.to_pydatetime(), pa.timestamp("ms", tz="UTC"))
        parts.append(ds.field("complete").is_null() | (ds.field("complete") >= lo_s))
    for col, value in (("project_name", pipeline), ("user_name", user), ("run_id", run_ids)):
        values = _as_list(value)
        if values is not None:
            parts.append(ds.field(col).isin(pa.array(values, pa.string())))
    if status is not None:
        parts.append(ds.field("status").isin(pa.array(statuses_upper(status), pa.string())))
    if not parts:
        return None
    expr = parts[0]
    for p in parts[1:]:
        expr = expr & p
    return expr


def _warn_if_not_covered(c: Cache, workspace: Any, lo: pd.Timestamp) -> None:
    """Say so when the cache was synced with a later ``--since`` than the window asks for."""
    state = c.state()
    keys = [str(c.workspace_id(workspace))] if workspace is not None else list(state.workspaces)
    for key in keys:
        ws = state.workspaces.get(key)
        covered = pd.Timestamp(ws.covered_since) if ws and ws.covered_since else None
        if covered is not None and lo < covered:
            warnings.warn(
                f"the cache holds runs of {ws.workspace or key} submitted since {covered:%Y-%m-%d} only "  # type: ignore[union-attr]
                f"(synced with --since); earlier runs are missing. Run `seqera-analytics sync "
                f"--workspace {ws.workspace or key} --since {lo:%Y-%m-%d}` to extend it.", stacklevel=4)  # type: ignore[union-attr]


def _runs_table(c: Cache, columns: Sequence[str] | None = None, **filters: Any) -> pa.Table:
    return c.read_table("runs", _runs_filter(c, **filters), columns=columns)


def load_runs(workspace: str | int | None = None, since: Any = None, until: Any = None,
              pipeline: str | Sequence[str] | None = None, user: str | Sequence[str] | None = None,
              status: str | Sequence[str] | None = None, run_ids: Sequence[str] | None = None, *,
              columns: Sequence[str] | None = None, cache: CacheLike = None) -> pd.DataFrame:
    """Cached runs, newest first. Never touches the network.

    Parameters
    ----------
    workspace : str or int, optional
        ``org/workspace`` or id of a cached workspace (default: all).
    since, until : date-like, optional
        Runs *active* in ``[since, until)`` (UTC): submitted before ``until`` and not
        completed before ``since``. ``"2025-09"``, ``"2025-09-01"``, ISO date-times,
        ``datetime`` are accepted.
    pipeline, user, status, run_ids : str or list of str, optional
        Exact ``project_name``, ``user_name``, ``status`` (case-insensitive) and ``run_id``.
    columns : list of str, optional
        Read only these columns (``submit`` and ``run_id`` are always read, for the order).
    cache : Cache or path, optional
        Default ``$SEQERA_ANALYTICS_CACHE`` or the user cache dir.

    Returns
    -------
    pandas.DataFrame
        The :data:`~seqera_analytics.frames.RUNS` columns and dtypes.

    Raises
    ------
    CacheError
        The workspace is not cached (the message says how to sync), or the cache is of
        another schema version.
    ValueError
        A malformed date or status.
    """
    cols = None if columns is None else list(dict.fromkeys(["run_id", "submit", *columns]))
    table = _runs_table(_cache(cache), cols, workspace=workspace, since=since, until=until, pipeline=pipeline,
                        user=user, status=status, run_ids=run_ids)
    if table.num_rows:
        table = table.sort_by([("submit", "descending"), ("run_id", "ascending")])
    return to_pandas(table)


def _per_run(table_name: str, cache: CacheLike, columns: Sequence[str] | None, filters: dict[str, Any]) -> pa.Table:
    c = _cache(cache)
    if all(v is None for v in filters.values()):
        return c.read_table(table_name, columns=columns)
    runs = _runs_table(c, ["run_id", "workspace_id", "submit"], **filters)
    if runs.num_rows == 0:
        return c.read_table(table_name, ds.field("run_id").isin(pa.array([], pa.string())), columns=columns)
    ws = pc.fill_null(runs["workspace_id"], PERSONAL_WORKSPACE_ID)
    months = month_of(runs["submit"])
    parts = sorted(set(zip(ws.to_pylist(), months.to_pylist())))
    part_expr = None
    for w, m in parts:
        e = (ds.field("workspace_id") == w) & (ds.field("month") == m)
        part_expr = e if part_expr is None else part_expr | e
    expr = part_expr & ds.field("run_id").isin(runs["run_id"])
    return c.read_table(table_name, expr, columns=columns)


def load_tasks(workspace: str | int | None = None, since: Any = None, until: Any = None,
               pipeline: str | Sequence[str] | None = None, user: str | Sequence[str] | None = None,
               status: str | Sequence[str] | None = None, run_ids: Sequence[str] | None = None, *,
               columns: Sequence[str] | None = None, cache: CacheLike = None) -> pd.DataFrame:
    """Cached task attempts of the runs :func:`load_runs` would select with the same filters.

    ``status`` filters *runs* (e.g. tasks of failed runs); filter the result for task
    statuses. ``columns`` reads only those columns (faster for wide scans).

    Returns
    -------
    pandas.DataFrame
        The :data:`~seqera_analytics.frames.TASKS` columns and dtypes (``realtime``
        ``timedelta64[ms]``, ``peak_rss`` ``Int64`` [bytes], ``cost`` ``Float64`` [USD]...).

    Raises
    ------
    CacheError, ValueError
        As :func:`load_runs`.
    """
    return to_pandas(_per_run("tasks", cache, columns, dict(
        workspace=workspace, since=since, until=until, pipeline=pipeline, user=user, status=status,
        run_ids=run_ids)))


def load_process_metrics(workspace: str | int | None = None, since: Any = None, until: Any = None,
                         pipeline: str | Sequence[str] | None = None, user: str | Sequence[str] | None = None,
                         status: str | Sequence[str] | None = None, run_ids: Sequence[str] | None = None, *,
                         cache: CacheLike = None) -> pd.DataFrame:
    """Cached ``/metrics`` summaries (:data:`~seqera_analytics.frames.PROCESS_METRICS`,
    long form) of the runs selected as in :func:`load_runs`; present only for runs synced
    with ``metrics=True``."""
    return to_pandas(_per_run("process_metrics", cache, None, dict(
        workspace=workspace, since=since, until=until, pipeline=pipeline, user=user, status=status,
        run_ids=run_ids)))


def load_process_progress(workspace: str | int | None = None, since: Any = None, until: Any = None,
                          pipeline: str | Sequence[str] | None = None, user: str | Sequence[str] | None = None,
                          status: str | Sequence[str] | None = None, run_ids: Sequence[str] | None = None, *,
                          cache: CacheLike = None) -> pd.DataFrame:
    """Cached per-process counters (:data:`~seqera_analytics.frames.PROCESS_PROGRESS`) of
    the runs selected as in :func:`load_runs`."""
    return to_pandas(_per_run("process_progress", cache, None, dict(
        workspace=workspace, since=since, until=until, pipeline=pipeline, user=user, status=status,
        run_ids=run_ids)))


def load_workspaces(*, cache: CacheLike = None) -> pd.DataFrame:
    """Workspaces the syncing token could see (:data:`~seqera_analytics.frames.WORKSPACES`)."""
    return to_pandas(_cache(cache).read_table("workspaces"))
