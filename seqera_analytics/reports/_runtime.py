"""Runtime: run wall and queue time, CPU-hours requested and used, per-process realtime.

Definitions
-----------
* Run wall time = run ``complete - start``; queue time = run ``start - submit``.
* ``cpu_hours`` (requested) = sum of ``cpus x (complete - start)`` over tasks: Seqera's
  ``cpuTime`` definition (``progress.workflowProgress.cpuTime``, which the docs describe as
  CPU time based on the CPUs *requested* and runtime = complete - start).
* ``cpu_hours_used`` = sum of ``pcpu / 100 x realtime``: CPU actually used while the task
  script ran (``pcpu`` is % of one core; ``realtime`` excludes staging).
* ``cpu_efficiency`` = ``cpu_hours_used / sum(cpus x realtime)`` over the same tasks (those
  with a ``pcpu``): both on the realtime basis, so staging does not count as idle CPU.
  Seqera's ``cpuEfficiency`` uses ``complete - start`` for both and is lower on runs with
  long staging.
* Figures read from a task's measurements (``realtime``, ``pcpu``) leave out tasks whose
  reading is implausible (``frames._quality``; counted in the report's note).
* Runtime figures count **executed** tasks: CACHED tasks did not run in the run that lists
  them (:func:`run_runtimes` shows their requested CPU-hours apart, so that ``cpu_hours +
  cached_cpu_hours`` reconciles with Seqera's ``cpuTime``).
* Quantiles (median, p90, quartiles) interpolate linearly between observations, as
  :func:`numpy.quantile`, on every engine.

Attribution: tasks by ``complete`` (fallback ``start``, ``submit``, the run's ``submit``), runs
by their own ``complete`` (fallback ``start``, ``submit``); UTC periods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis.expr.types as ir

from ._frame import finish
from ._inputs import Inputs, Request, Sources, run_query
from ._relations import (
    flag,
    implausible,
    join_on_run,
    merge_parts,
    ms_span,
    ratio,
    run_rows,
    task_sums,
)
from ._rules import (
    HOUR_MS,
    MINUTE_MS,
    bounds,
    normalize_by,
    normalize_period,
    run_key_columns,
)
from ._spec import RUN_KEYS, ReportSpec, document, id_col, metric

__all__ = ["RUNTIME_TASK_COLUMNS", "run_runtimes", "runtime_report"]

RUNTIME_TASK_COLUMNS = (
    "run_id",
    "status",
    "cpus",
    "pcpu",
    "realtime",
    "submit",
    "start",
    "complete",
)


def _runtime_sums(t: ir.Table) -> dict[str, ir.Value]:
    """Additive runtime figures of task rows (executed tasks; cached CPU apart)."""
    executed = ~flag(t.status == "CACHED")
    real = t.realtime.cast("float64")
    cpu_ms = t.cpus.cast("float64") * ms_span(t.complete, t.start)
    # an implausible reading (pcpu beyond the machine, realtime beyond the run) is in no
    # figure read from the task's measurements
    measured = executed & ~implausible(t) & t.pcpu.notnull() & t.realtime.notnull() & t.cpus.notnull()
    return {
        "tasks": t.count(where=executed),
        "tasks_cached": t.count(where=~executed),
        "realtime_ms": real.sum(where=executed & ~implausible(t, "realtime")),
        "cpu_ms": cpu_ms.sum(where=executed),
        "cached_cpu_ms": cpu_ms.sum(where=~executed),
        "used_ms": (t.pcpu / 100.0 * real).sum(where=measured),
        "req_real_ms": (t.cpus.cast("float64") * real).sum(where=measured),
    }


def _runtime_columns(g: ir.Table) -> ir.Table:
    """Hours and efficiency from summed :func:`_runtime_sums` figures (nothing -> 0)."""
    z = {c: g[c].fill_null(0) for c in _runtime_sums_names if c in g.columns}
    hours = {
        "realtime_hours": "realtime_ms",
        "cpu_hours": "cpu_ms",
        "cached_cpu_hours": "cached_cpu_ms",
        "cpu_hours_used": "used_ms",
    }
    return g.mutate(
        **{c: z[c] for c in ("tasks", "tasks_cached") if c in z},
        **{h: z[ms] / HOUR_MS for h, ms in hours.items() if ms in z},
        cpu_efficiency=ratio(z["used_ms"], z["req_real_ms"]),
    )


_runtime_sums_names = (
    "tasks",
    "tasks_cached",
    "realtime_ms",
    "cpu_ms",
    "cached_cpu_ms",
    "used_ms",
    "req_real_ms",
)


RUN_RUNTIMES = ReportSpec(
    "run_runtimes",
    (
        id_col("run_id", "string", "workflow run id"),
        id_col("run_name", "string", "run name"),
        id_col("pipeline", "string", "runs.project_name"),
        id_col("user", "string", "runs.user_name"),
        id_col("workspace", "string", "'org/workspace'"),
        id_col("run_status", "string", "runs.status"),
        id_col("submit", "datetime64[ms, UTC]", "run submission", "UTC"),
        id_col("start", "datetime64[ms, UTC]", "run start", "UTC"),
        id_col("complete", "datetime64[ms, UTC]", "run completion (null while active)", "UTC"),
        metric("wall_hours", "Float64", "h", "complete - start"),
        metric("queue_minutes", "Float64", "min", "start - submit"),
        metric("tasks", "Int64", "count", "executed task attempts (not CACHED)"),
        metric("tasks_cached", "Int64", "count", "CACHED tasks"),
        metric("realtime_hours", "Float64", "h", "sum of realtime of executed tasks"),
        metric(
            "cpu_hours",
            "Float64",
            "h",
            "requested: sum of cpus x (complete - start) of executed tasks",
        ),
        metric(
            "cached_cpu_hours",
            "Float64",
            "h",
            "the same for CACHED tasks (Seqera's cpuTime counts "
            "them: cpu_hours + cached_cpu_hours ~ seqera_cpu_hours)",
        ),
        metric(
            "seqera_cpu_hours", "Float64", "h", "Seqera's cpuTime (runs.cpu_time), for comparison"
        ),
        metric("cpu_hours_used", "Float64", "h", "sum of pcpu / 100 x realtime of executed tasks"),
        metric(
            "cpu_efficiency",
            "Float64",
            "fraction",
            "cpu_hours_used / sum(cpus x realtime) over "
            "tasks with a pcpu (1 = every requested core busy; can exceed 1)",
        ),
    ),
    "Per-run wall time, queue time and CPU-hours.",
)


@document(RUN_RUNTIMES)
def run_runtimes(
    tasks: Any = None,
    runs: Any = None,
    since: Any = None,
    until: Any = None,
    *,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Wall time, queue time and CPU-hours (requested and used) of every run.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cpus``, ``pcpu``, ``realtime``, ``submit``, ``start``,
        ``complete``.
    runs : pandas.DataFrame
        Needs ``run_id``, ``submit``, ``start``, ``complete``; ``run_name``,
        ``project_name``, ``user_name``, ``workspace``, ``status`` and ``cpu_time`` are shown
        when present.
    since, until : str, datetime or Timestamp, optional
        Keep runs attributed (``complete``, else ``start``, else ``submit``) to
        ``[since, until)``.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per run, sorted by ``submit``:

            {columns}

    Raises
    ------
    ReportError
        Malformed ``since``/``until`` or a frame lacking a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    Notes
    -----
    Tasks of a run count whole here, even when some complete outside the window.
    Source: ``GET /workflow`` (run times), ``GET /workflow/{id}/progress`` (``cpuTime``),
    ``GET /workflow/{id}/tasks``.
    """
    lo, hi = bounds(since, until)
    req = Request(
        window=(lo, hi),
        task_columns=RUNTIME_TASK_COLUMNS,
        run_columns=["run_id", "submit", "start", "complete"],
        run_optional=["run_name", "project_name", "user_name", "workspace", "status", "cpu_time"],
        runs_required="the per-run runtime report",
    )

    def build(src: Sources) -> ir.Table:
        assert src.tasks is not None
        r = run_rows(src, keys=(), period=None, lo=lo, hi=hi)
        t = src.tasks_of(r, windowed=lo is not None or hi is not None)
        per_run = t.group_by("run_id").aggregate(**_runtime_sums(t))
        d = join_on_run(r, per_run)
        d = _runtime_columns(d)
        return d.mutate(
            pipeline=d.project_name,
            user=d.user_name,
            run_status=d.status,
            wall_hours=ms_span(d.complete, d.start) / HOUR_MS,
            queue_minutes=ms_span(d.start, d.submit) / MINUTE_MS,
            seqera_cpu_hours=d.cpu_time.cast("float64") / HOUR_MS,
        )

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend)
    )
    return finish(table, RUN_RUNTIMES, sort=["submit", "run_id"])


RUNTIME_REPORT = ReportSpec(
    "runtime",
    (
        metric(
            "runs",
            "Int64",
            "count",
            "runs attributed to the period (by their complete, else start, else submit)",
        ),
        metric("wall_hours_median", "Float64", "h", "median run wall time (complete - start)"),
        metric("wall_hours_p90", "Float64", "h", "90th percentile of run wall time"),
        metric("wall_hours_max", "Float64", "h", "longest run wall time"),
        metric("queue_minutes_median", "Float64", "min", "median run queue time (start - submit)"),
        metric("queue_minutes_p90", "Float64", "min", "90th percentile of run queue time"),
        metric("queue_minutes_max", "Float64", "min", "longest run queue time"),
        metric(
            "tasks",
            "Int64",
            "count",
            "executed task attempts attributed to the period (by task complete time)",
        ),
        metric("realtime_hours", "Float64", "h", "sum of task realtime"),
        metric(
            "cpu_hours",
            "Float64",
            "h",
            "requested CPU time: sum of cpus x (complete - start) "
            "(Seqera's cpuTime definition), executed tasks",
        ),
        metric("cpu_hours_used", "Float64", "h", "sum of pcpu / 100 x realtime"),
        metric(
            "cpu_efficiency",
            "Float64",
            "fraction",
            "cpu_hours_used / sum(cpus x realtime) over tasks with a pcpu",
        ),
    ),
    "Runtime trends by period and group.",
)


@document(RUNTIME_REPORT, grouped=True, keys=tuple(RUN_KEYS))
def runtime_report(
    tasks: Any = None,
    runs: Any = None,
    period: str | None = "month",
    by: str | Sequence[str] | None = ("pipeline",),
    since: Any = None,
    until: Any = None,
    *,
    cache: Any = None,
    workspace: Any = None,
    pipeline: Any = None,
    user: Any = None,
    run_status: Any = None,
    backend: Any = None,
) -> Any:
    """Runtime trends: run wall/queue time distributions and CPU-hours by period and group.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cpus``, ``pcpu``, ``realtime``, ``submit``, ``start``,
        ``complete``.
    runs : pandas.DataFrame
        Needs ``run_id``, ``submit``, ``start``, ``complete`` and the columns of the keys in
        ``by``.
    period : {"month", "week", "day", "quarter", "year"} or None, default "month"
        UTC period length; ``None`` for all time.
    by : sequence of str or comma-separated str, default ("pipeline",)
        Run-level group keys (see Notes). Per-process figures are in
        :func:`process_runtimes`.
    since, until : str, datetime or Timestamp, optional
        Keep runs and tasks attributed to ``[since, until)``.
    {inputs}

    Returns
    -------
    pandas.DataFrame
        One row per period and group:

            {columns}

    Raises
    ------
    ReportError
        Unknown ``period`` or ``by`` name (listing the valid ones), malformed
        ``since``/``until``, or a frame lacking a needed column.
    CacheError
        ``cache`` is not a cache, or ``workspace`` is not in it.

    See Also
    --------
    run_runtimes : the per-run table behind the distributions.
    process_runtimes : per-process realtime distributions.

    Notes
    -----
    Group keys:

    {keys}

    Run columns (``runs``, ``wall_*``, ``queue_*``) count runs by the run's own attributed
    time; task columns count tasks by their completion time, so a run spanning a period
    boundary adds CPU-hours to both periods. A row has zero runs when only tasks fall in it.

    Source: ``GET /workflow`` and ``GET /workflow/{id}/tasks``.
    """
    p = normalize_period(period)
    keys = normalize_by(
        by,
        tuple(RUN_KEYS),
        report="runtime",
        hint="For per-process runtimes use process_runtimes().",
    )
    lo, hi = bounds(since, until)
    req = Request(
        window=(lo, hi),
        task_columns=RUNTIME_TASK_COLUMNS,
        run_columns=[*run_key_columns(keys), "submit", "start", "complete"],
        runs_required="the runtime report",
    )

    def build(src: Sources) -> ir.Table:
        t = task_sums(src, keys=keys, period=p, lo=lo, hi=hi, metrics=_runtime_sums)
        t = t.drop("runs", "tasks_cached", "cached_cpu_ms")
        r = run_rows(src, keys=keys, period=p, lo=lo, hi=hi)
        wall = ms_span(r.complete, r.start) / HOUR_MS
        queue = ms_span(r.start, r.submit) / MINUTE_MS
        rs = r.group_by(["period_ms", *keys]).aggregate(
            runs=r.run_id.nunique(),
            wall_hours_median=wall.quantile(0.5),
            wall_hours_p90=wall.quantile(0.9),
            wall_hours_max=wall.max(),
            queue_minutes_median=queue.quantile(0.5),
            queue_minutes_p90=queue.quantile(0.9),
            queue_minutes_max=queue.max(),
        )
        d = merge_parts([t, rs], on=["period_ms", *keys])
        d = _runtime_columns(d.mutate(runs=d.runs.fill_null(0)))
        return d.filter((d.runs > 0) | (d.tasks > 0))  # e.g. only CACHED tasks: no row

    table = run_query(
        build, req, Inputs(tasks, runs, cache, workspace, pipeline, user, run_status, backend)
    )
    return finish(table, RUNTIME_REPORT, by=keys, period=p, grouped=True)
