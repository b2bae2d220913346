"""Per-process runtimes: the distribution of task realtime (quartiles, p90, box-plot
whiskers, outliers), queue time and CPU-hours per process (definitions in :mod:`._runtime`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir

from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._relations import implausible, merge_parts, ms_span, task_rows
from ._rules import (
    HOUR_MS,
    MINUTE_MS,
    bounds,
    normalize_by,
    normalize_period,
    run_key_columns,
    task_key_columns,
    task_statuses,
)
from ._runtime import RUNTIME_TASK_COLUMNS
from ._spec import RUN_KEYS, TASK_KEYS, ReportSpec, document, metric

__all__ = ["process_runtimes"]


PROCESS_RUNTIMES = ReportSpec(
    "process_runtimes",
    (
        metric(
            "tasks",
            "Int64",
            "count",
            "task attempts with the statuses asked for (default COMPLETED)",
        ),
        metric("runs", "Int64", "count", "distinct runs"),
        metric("realtime_minutes_median", "Float64", "min", "median task realtime"),
        metric("realtime_minutes_p90", "Float64", "min", "90th percentile of task realtime"),
        metric("realtime_minutes_max", "Float64", "min", "longest task realtime"),
        metric("realtime_minutes_mean", "Float64", "min", "mean task realtime"),
        metric("realtime_minutes_q1", "Float64", "min", "first quartile of task realtime"),
        metric("realtime_minutes_q3", "Float64", "min", "third quartile of task realtime"),
        metric(
            "realtime_minutes_whisker_low",
            "Float64",
            "min",
            "shortest realtime within 1.5 IQR below q1 (box-plot whisker)",
        ),
        metric(
            "realtime_minutes_whisker_high",
            "Float64",
            "min",
            "longest realtime within 1.5 IQR above q3 (box-plot whisker)",
        ),
        metric(
            "realtime_outliers", "Int64", "count", "tasks whose realtime is beyond the whiskers"
        ),
        metric("realtime_hours", "Float64", "h", "sum of task realtime"),
        metric(
            "time_requested_minutes_median",
            "Float64",
            "min",
            "median requested time limit (tasks.time)",
        ),
        metric("queue_minutes_median", "Float64", "min", "median task queue time (start - submit)"),
        metric("cpu_hours", "Float64", "h", "requested: sum of cpus x (complete - start)"),
        metric("cpu_hours_used", "Float64", "h", "sum of pcpu / 100 x realtime"),
    ),
    "Per-process task realtime distributions.",
)

_PROCESS_RUNTIME_KEYS = tuple(k for k in (*TASK_KEYS, *RUN_KEYS) if k != "label")


@document(PROCESS_RUNTIMES, grouped=True, keys=_PROCESS_RUNTIME_KEYS)
def process_runtimes(
    tasks: Any = None,
    runs: Any = None,
    by: str | Sequence[str] | None = ("process",),
    period: str | None = None,
    since: Any = None,
    until: Any = None,
    statuses: Sequence[str] = ("COMPLETED",),
    *,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Per-process realtime distribution (quartiles, p90, whiskers, max), optionally per period.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``realtime``, ``time``, ``cpus``, ``pcpu``, ``submit``,
        ``start``, ``complete`` and the columns of the task-level keys in ``by``.
    runs : pandas.DataFrame, optional
        Needed for run-level keys in ``by`` (e.g. ``pipeline``).
    by : sequence of str or comma-separated str, default ("process",)
        Group keys (see Notes; ``label`` is not supported here).
    period : {"month", "week", "day", "quarter", "year"} or None, default None
        Set it for per-process trends.
    since, until : str, datetime or Timestamp, optional
        Keep tasks attributed to ``[since, until)``.
    statuses : sequence of str, default ("COMPLETED",)
        Task statuses included. CACHED tasks repeat an earlier execution's numbers; FAILED
        attempts are in :func:`seqera_analytics.reports.failure_report`.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per group (and period), sorted by keys:

            {columns}

        ``period`` and ``period_label`` are present only when ``period`` is set. The
        quartile and whisker columns are what a box plot draws
        (:func:`seqera_analytics.plots.plot_runtime_boxes` takes this frame).

    Raises
    ------
    ReportError
        Unknown ``period`` or ``by`` name, malformed ``since``/``until``, or a frame lacking
        a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    Notes
    -----
    Group keys:

    {keys}

    Source: ``GET /workflow/{id}/tasks`` (``realtime`` in ms, ``submit``/``start``/``complete``).
    """
    p = normalize_period(period)
    keys = normalize_by(by, _PROCESS_RUNTIME_KEYS, report="process runtime")
    lo, hi = bounds(since, until)
    wanted = task_statuses(statuses)
    run_keys = [k for k in keys if k in RUN_KEYS and k != "run_id"]
    req = Request(
        window=(lo, hi),
        task_columns=[*RUNTIME_TASK_COLUMNS, "time", *task_key_columns(keys)],
        run_columns=run_key_columns(run_keys),
        run_optional=["submit"],
        runs_required=f"grouping by {', '.join(run_keys)}" if run_keys else "",
    )
    gk = [*(["period_ms"] if p else []), *keys]

    def build(src: Sources) -> ir.Table:
        assert src.tasks is not None
        t = src.tasks_in(lo, hi)
        t = t.filter(t.status.isin(wanted))
        t = task_rows(src, keys=keys, period=p, lo=lo, hi=hi, tasks=t)
        # an implausible realtime (longer than its run) is no reading of the process
        real = ibis.ifelse(implausible(t, "realtime"), ibis.null("int64"), t.realtime)
        t = t.mutate(realtime=real, _rt=real.cast("float64") / MINUTE_MS)
        g = t.aggregate(
            by=gk,
            tasks=t.count(),
            runs=t.run_id.nunique(),
            realtime_minutes_median=t._rt.quantile(0.5),
            realtime_minutes_p90=t._rt.quantile(0.9),
            realtime_minutes_max=t._rt.max(),
            realtime_minutes_mean=t._rt.mean(),
            realtime_minutes_q1=t._rt.quantile(0.25),
            realtime_minutes_q3=t._rt.quantile(0.75),
            realtime_hours=(t.realtime.cast("float64").sum() / HOUR_MS).fill_null(0.0),
            time_requested_minutes_median=(t.time.cast("float64") / MINUTE_MS).quantile(0.5),
            queue_minutes_median=(ms_span(t.start, t.submit) / MINUTE_MS).quantile(0.5),
            cpu_hours=(
                (t.cpus.cast("float64") * ms_span(t.complete, t.start)).sum() / HOUR_MS
            ).fill_null(0.0),
            cpu_hours_used=(
                (t.pcpu / 100.0 * t.realtime.cast("float64")).sum() / HOUR_MS
            ).fill_null(0.0),
        )
        g = g.filter(g.tasks > 0)  # no row for a group-less total of nothing
        # Whiskers: the most extreme realtimes within 1.5 IQR of the quartiles.
        fences = g.select(
            *gk,
            _lo=g.realtime_minutes_q1 - 1.5 * (g.realtime_minutes_q3 - g.realtime_minutes_q1),
            _hi=g.realtime_minutes_q3 + 1.5 * (g.realtime_minutes_q3 - g.realtime_minutes_q1),
        )
        j = t.join(fences, [t[k].identical_to(fences[k]) for k in gk] or [ibis.literal(True)])
        inside = (j._rt >= j._lo) & (j._rt <= j._hi)
        w = j.aggregate(
            by=[j[k] for k in gk],
            realtime_minutes_whisker_low=j._rt.min(where=inside),
            realtime_minutes_whisker_high=j._rt.max(where=inside),
            realtime_outliers=j.count(where=j._rt.notnull() & ~inside),
        )
        return merge_parts([g, w], on=gk) if gk else g.cross_join(w)

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend)
    )
    return finish(table, PROCESS_RUNTIMES, by=keys, period=p, grouped=True)
