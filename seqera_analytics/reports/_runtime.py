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
* Runtime figures count **executed** tasks: CACHED tasks did not run in the run that lists
  them (:func:`run_runtimes` shows their requested CPU-hours apart, so that ``cpu_hours +
  cached_cpu_hours`` reconciles with Seqera's ``cpuTime``).

Attribution: tasks by ``complete`` (fallback ``start``, ``submit``, the run's ``submit``), runs
by their own ``complete`` (fallback ``start``, ``submit``); UTC periods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._common import (
    MS_PER_HOUR,
    MS_PER_MINUTE,
    RUN_KEYS,
    TASK_KEYS,
    ReportSpec,
    _id,
    _m,
    attributed_task_ms,
    bounds,
    distinct_per_group,
    document,
    factorize,
    finalize,
    group_sums,
    grouped_stats,
    is_value,
    normalize_by,
    normalize_period,
    num,
    ratio,
    require,
    run_frame,
    span_ms,
    task_groups,
    task_key_columns,
    td_ms,
    ts_ms,
    window_mask,
)

__all__ = ["process_runtimes", "run_runtimes", "runtime_report"]

_RUNTIME_TASK_COLUMNS = (
    "run_id",
    "status",
    "cpus",
    "pcpu",
    "realtime",
    "submit",
    "start",
    "complete",
)


def _runtime_metrics(t: pd.DataFrame) -> Mapping[str, np.ndarray]:
    executed = ~is_value(t["status"], "CACHED")
    cpus = num(t["cpus"])
    pcpu = num(t["pcpu"])
    real = td_ms(t["realtime"])
    wall = span_ms(ts_ms(t["complete"]), ts_ms(t["start"]))
    measured = executed & ~np.isnan(pcpu) & ~np.isnan(real) & ~np.isnan(cpus)
    cpu_ms = cpus * wall
    return {
        "tasks": executed,
        "realtime_ms": np.where(executed, np.nan_to_num(real), 0.0),
        "cpu_ms": np.where(executed, np.nan_to_num(cpu_ms), 0.0),
        "cached_cpu_ms": np.where(~executed, np.nan_to_num(cpu_ms), 0.0),
        "used_ms": np.where(measured, pcpu / 100.0 * real, 0.0),
        "req_real_ms": np.where(measured, cpus * real, 0.0),
    }


RUN_RUNTIMES = ReportSpec(
    "run_runtimes",
    (
        _id("run_id", "string", "workflow run id"),
        _id("run_name", "string", "run name"),
        _id("pipeline", "string", "runs.project_name"),
        _id("user", "string", "runs.user_name"),
        _id("workspace", "string", "'org/workspace'"),
        _id("run_status", "string", "runs.status"),
        _id("submit", "datetime64[ms, UTC]", "run submission", "UTC"),
        _id("start", "datetime64[ms, UTC]", "run start", "UTC"),
        _id("complete", "datetime64[ms, UTC]", "run completion (null while active)", "UTC"),
        _m("wall_hours", "Float64", "h", "complete - start"),
        _m("queue_minutes", "Float64", "min", "start - submit"),
        _m("tasks", "Int64", "count", "executed task attempts (not CACHED)"),
        _m("tasks_cached", "Int64", "count", "CACHED tasks"),
        _m("realtime_hours", "Float64", "h", "sum of realtime of executed tasks"),
        _m(
            "cpu_hours",
            "Float64",
            "h",
            "requested: sum of cpus x (complete - start) of executed tasks",
        ),
        _m(
            "cached_cpu_hours",
            "Float64",
            "h",
            "the same for CACHED tasks (Seqera's cpuTime counts "
            "them: cpu_hours + cached_cpu_hours ~ seqera_cpu_hours)",
        ),
        _m("seqera_cpu_hours", "Float64", "h", "Seqera's cpuTime (runs.cpu_time), for comparison"),
        _m("cpu_hours_used", "Float64", "h", "sum of pcpu / 100 x realtime of executed tasks"),
        _m(
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
    tasks: pd.DataFrame, runs: pd.DataFrame, since: Any = None, until: Any = None
) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame
        One row per run, sorted by ``submit``:

            {columns}

    Raises
    ------
    ReportError
        Malformed ``since``/``until`` or a frame lacking a needed column.

    Notes
    -----
    Tasks of a run count whole here, even when some complete outside the window.
    Source: ``GET /workflow`` (run times), ``GET /workflow/{id}/progress`` (``cpuTime``),
    ``GET /workflow/{id}/tasks``.
    """
    lo, hi = bounds(since, until)
    require(tasks, _RUNTIME_TASK_COLUMNS, "tasks")
    require(runs, ["run_id", "submit", "start", "complete"], "runs")
    shown = [
        c
        for c in ("run_name", "project_name", "user_name", "workspace", "status", "cpu_time")
        if c in runs.columns
    ]
    r = run_frame(
        runs, by=(), period=None, lo=lo, hi=hi, columns=["submit", "start", "complete", *shown]
    )
    g = group_sums(
        tasks,
        None,
        by=("run_id",),
        period=None,
        lo=None,
        hi=None,
        metrics=lambda t: {**_runtime_metrics(t), "tasks_cached": is_value(t["status"], "CACHED")},
    )
    df = r.merge(g.drop(columns=["period_ms", "runs"]), on="run_id", how="left")
    for c in (
        "tasks",
        "tasks_cached",
        "realtime_ms",
        "cpu_ms",
        "cached_cpu_ms",
        "used_ms",
        "req_real_ms",
    ):
        df[c] = df[c].astype("float64").fillna(0.0)
    df = df.rename(
        columns={"project_name": "pipeline", "user_name": "user", "status": "run_status"}
    )
    sub, st, co = ts_ms(df["submit"]), ts_ms(df["start"]), ts_ms(df["complete"])
    df["wall_hours"] = span_ms(co, st) / MS_PER_HOUR
    df["queue_minutes"] = span_ms(st, sub) / MS_PER_MINUTE
    df["realtime_hours"] = df["realtime_ms"] / MS_PER_HOUR
    df["cpu_hours"] = df["cpu_ms"] / MS_PER_HOUR
    df["cached_cpu_hours"] = df["cached_cpu_ms"] / MS_PER_HOUR
    df["cpu_hours_used"] = df["used_ms"] / MS_PER_HOUR
    df["cpu_efficiency"] = ratio(df["used_ms"], df["req_real_ms"])
    if "cpu_time" in df:
        df["seqera_cpu_hours"] = td_ms(df["cpu_time"]) / MS_PER_HOUR
    return finalize(df, RUN_RUNTIMES, sort=["submit", "run_id"])


RUNTIME_REPORT = ReportSpec(
    "runtime",
    (
        _m(
            "runs",
            "Int64",
            "count",
            "runs attributed to the period (by their complete, else start, else submit)",
        ),
        _m("wall_hours_median", "Float64", "h", "median run wall time (complete - start)"),
        _m("wall_hours_p90", "Float64", "h", "90th percentile of run wall time"),
        _m("wall_hours_max", "Float64", "h", "longest run wall time"),
        _m("queue_minutes_median", "Float64", "min", "median run queue time (start - submit)"),
        _m("queue_minutes_p90", "Float64", "min", "90th percentile of run queue time"),
        _m("queue_minutes_max", "Float64", "min", "longest run queue time"),
        _m(
            "tasks",
            "Int64",
            "count",
            "executed task attempts attributed to the period (by task complete time)",
        ),
        _m("realtime_hours", "Float64", "h", "sum of task realtime"),
        _m(
            "cpu_hours",
            "Float64",
            "h",
            "requested CPU time: sum of cpus x (complete - start) "
            "(Seqera's cpuTime definition), executed tasks",
        ),
        _m("cpu_hours_used", "Float64", "h", "sum of pcpu / 100 x realtime"),
        _m(
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
    tasks: pd.DataFrame,
    runs: pd.DataFrame,
    period: str | None = "month",
    by: str | Sequence[str] | None = ("pipeline",),
    since: Any = None,
    until: Any = None,
) -> pd.DataFrame:
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
    require(tasks, _RUNTIME_TASK_COLUMNS, "tasks")
    require(runs, ["run_id", "submit", "start", "complete"], "runs")

    t = group_sums(tasks, runs, by=keys, period=p, lo=lo, hi=hi, metrics=_runtime_metrics)
    t = t.drop(columns=["runs"])
    r = run_frame(runs, by=keys, period=p, lo=lo, hi=hi, columns=["submit", "start", "complete"])
    sub, st, co = ts_ms(r["submit"]), ts_ms(r["start"]), ts_ms(r["complete"])
    r["wall_hours"] = span_ms(co, st) / MS_PER_HOUR
    r["queue_minutes"] = span_ms(st, sub) / MS_PER_MINUTE
    rk = ["period_ms", *keys]
    if len(r):
        gb = r.groupby(rk, dropna=False, sort=True)
        rs = gb.agg(
            runs=("run_id", "nunique"),
            wall_hours_median=("wall_hours", "median"),
            wall_hours_max=("wall_hours", "max"),
            queue_minutes_median=("queue_minutes", "median"),
            queue_minutes_max=("queue_minutes", "max"),
        )
        rs["wall_hours_p90"] = gb["wall_hours"].quantile(0.9)
        rs["queue_minutes_p90"] = gb["queue_minutes"].quantile(0.9)
        rs = rs.reset_index()
    else:
        rs = r[rk].copy()
    for c in rk[1:]:
        rs[c] = rs[c].astype("string")
        t[c] = t[c].astype("string")
    df = t.merge(rs, on=rk, how="outer")
    for c in ("tasks", "realtime_ms", "cpu_ms", "used_ms", "req_real_ms"):
        df[c] = df[c].astype("float64").fillna(0.0)
    if "runs" in df:
        df["runs"] = df["runs"].astype("float64").fillna(0.0)
    df["realtime_hours"] = df["realtime_ms"] / MS_PER_HOUR
    df["cpu_hours"] = df["cpu_ms"] / MS_PER_HOUR
    df["cpu_hours_used"] = df["used_ms"] / MS_PER_HOUR
    df["cpu_efficiency"] = ratio(df["used_ms"], df["req_real_ms"])
    return finalize(df, RUNTIME_REPORT, by=keys, period=p, grouped=True)


PROCESS_RUNTIMES = ReportSpec(
    "process_runtimes",
    (
        _m(
            "tasks",
            "Int64",
            "count",
            "task attempts with the statuses asked for (default COMPLETED)",
        ),
        _m("runs", "Int64", "count", "distinct runs"),
        _m("realtime_minutes_median", "Float64", "min", "median task realtime"),
        _m("realtime_minutes_p90", "Float64", "min", "90th percentile of task realtime"),
        _m("realtime_minutes_max", "Float64", "min", "longest task realtime"),
        _m("realtime_minutes_mean", "Float64", "min", "mean task realtime"),
        _m("realtime_hours", "Float64", "h", "sum of task realtime"),
        _m("queue_minutes_median", "Float64", "min", "median task queue time (start - submit)"),
        _m("cpu_hours", "Float64", "h", "requested: sum of cpus x (complete - start)"),
        _m("cpu_hours_used", "Float64", "h", "sum of pcpu / 100 x realtime"),
    ),
    "Per-process task realtime distributions.",
)

_PROCESS_RUNTIME_KEYS = tuple(k for k in (*TASK_KEYS, *RUN_KEYS) if k != "label")


@document(PROCESS_RUNTIMES, grouped=True, keys=_PROCESS_RUNTIME_KEYS)
def process_runtimes(
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    by: str | Sequence[str] | None = ("process",),
    period: str | None = None,
    since: Any = None,
    until: Any = None,
    statuses: Sequence[str] = ("COMPLETED",),
) -> pd.DataFrame:
    """Per-process realtime distribution (median, p90, max), optionally per period.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``realtime``, ``cpus``, ``pcpu``, ``submit``, ``start``,
        ``complete`` and the columns of the task-level keys in ``by``.
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

    Returns
    -------
    pandas.DataFrame
        One row per group (and period), sorted by keys:

            {columns}

        ``period`` and ``period_label`` are present only when ``period`` is set.

    Raises
    ------
    ReportError
        Unknown ``period`` or ``by`` name, malformed ``since``/``until``, or a frame lacking
        a needed column.

    Notes
    -----
    Group keys:

    {keys}

    Source: ``GET /workflow/{id}/tasks`` (``realtime`` in ms, ``submit``/``start``/``complete``).
    """
    p = normalize_period(period)
    keys = normalize_by(by, _PROCESS_RUNTIME_KEYS, report="process runtime")
    lo, hi = bounds(since, until)
    need = [
        *_RUNTIME_TASK_COLUMNS,
        *(c for k in keys if k in TASK_KEYS for c in task_key_columns(k)),
    ]
    require(tasks, need, "tasks")
    ms = attributed_task_ms(tasks, runs)
    mask = window_mask(ms, lo, hi)
    keep = tasks["status"].isin(list(statuses)).to_numpy(dtype=bool, na_value=False)
    mask = keep if mask is None else (mask & keep)
    gi, groups = task_groups(tasks, runs, keys, period=p, ms=ms, mask=mask)
    ng = len(groups)
    real = td_ms(tasks["realtime"])[mask]
    sub, st, co = (
        ts_ms(tasks["submit"])[mask],
        ts_ms(tasks["start"])[mask],
        ts_ms(tasks["complete"])[mask],
    )
    cpus, pcpu = num(tasks["cpus"])[mask], num(tasks["pcpu"])[mask]
    stats = grouped_stats(
        gi,
        ng,
        {"realtime_minutes": real / MS_PER_MINUTE},
        {"median": 0.5, "p90": 0.9, "max": "max", "mean": "mean"},
    )
    stats = stats.join(
        grouped_stats(gi, ng, {"queue_minutes": span_ms(st, sub) / MS_PER_MINUTE}, {"median": 0.5})
    )
    df = pd.concat([groups.reset_index(drop=True), stats], axis=1)
    df["tasks"] = np.bincount(gi, minlength=ng)
    df["realtime_hours"] = np.bincount(gi, np.nan_to_num(real), ng) / MS_PER_HOUR
    df["cpu_hours"] = np.bincount(gi, np.nan_to_num(cpus * span_ms(co, st)), ng) / MS_PER_HOUR
    df["cpu_hours_used"] = np.bincount(gi, np.nan_to_num(pcpu / 100.0 * real), ng) / MS_PER_HOUR
    run_codes, run_uniq = factorize(tasks["run_id"])
    df["runs"] = distinct_per_group(gi, ng, run_codes[mask], len(run_uniq))
    return finalize(df, PROCESS_RUNTIMES, by=keys, period=p, grouped=True)
